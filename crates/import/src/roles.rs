//! Roles from the names the document gives its components: a cell may name
//! several ("PBX / SBC / SIP Trunk", "Agent Manager, Campaign Director",
//! "JTEL support IPs or customer admin network"); a name may carry a
//! qualifier ("REM server (RESC)", "Any (jtel Support)"). Names that differ
//! only in case, punctuation or their qualifier are one role, and every
//! wording is kept as an alias.

use indexmap::IndexMap;

/// What an endpoint cell names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// `any`: the document allows every initiator.
    Any,
    /// A named component: the base name and the full wording.
    Named { base: String, wording: String },
}

/// The result of reading one endpoint cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ends {
    pub ends: Vec<End>,
    /// Conditions written beside the names: "if SBC is used".
    pub conditions: Vec<String>,
    /// The cell ended in "etc." or similar: the list is incomplete.
    pub incomplete: bool,
}

/// Splits `text` at separators that stand outside parentheses.
fn split_outside(text: &str, seps: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    'outer: while i < chars.len() {
        let c = chars[i];
        if c == '(' || c == '[' {
            depth += 1;
        } else if c == ')' || c == ']' {
            depth -= 1;
        }
        if depth <= 0 {
            for sep in seps {
                let sc: Vec<char> = sep.chars().collect();
                if chars[i..].starts_with(&sc) {
                    // "/" inside a URL ("https://x") is no separator.
                    // Nor is the "/" of a CIDR ("10.0.0.0/8", "::/0").
                    let cidr =
                        cur.ends_with(|c: char| c.is_ascii_digit() || c == ':') && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
                    if *sep == "/" && (cidr || cur.ends_with(':') || cur.ends_with(":/") || chars.get(i + 1) == Some(&'/')) {
                        break;
                    }
                    out.push(std::mem::take(&mut cur));
                    i += sc.len();
                    continue 'outer;
                }
            }
        }
        cur.push(c);
        i += 1;
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// Removes parentheses and returns (base, [contents of parentheses]).
fn parens(s: &str) -> (String, Vec<String>) {
    let mut base = String::new();
    let mut inner = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                if depth > 0 {
                    cur.push(c);
                }
                depth += 1;
            }
            ')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    inner.push(std::mem::take(&mut cur).trim().to_string());
                } else {
                    cur.push(c);
                }
            }
            _ if depth > 0 => cur.push(c),
            _ => base.push(c),
        }
    }
    if !cur.is_empty() {
        inner.push(cur.trim().to_string());
    }
    (crate::doc::squeeze(&base), inner)
}

fn is_condition(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("if ") || l.starts_with("when ") || l.starts_with("only ") || l.starts_with("optional") || l.contains(" if ")
}

fn is_any(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().trim(),
        "any" | "all" | "*" | "0.0.0.0/0" | "::/0" | "anywhere" | "any host" | "any ip" | "all networks"
    )
}

fn is_etc(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().trim_end_matches('.').trim(), "etc" | "and so on" | "others" | "...")
}

/// The names a one-line cell offers as alternatives ("Indexers or heavy
/// forwarders (HTTP Event Collector)" → ["Indexers", "heavy forwarders"]):
/// `or` outside parentheses, between at least two names. Empty when the
/// cell states no alternative.
pub fn alternatives(cell: &str) -> Vec<String> {
    if cell.trim().contains('\n') {
        return Vec::new();
    }
    let (base, _) = parens(cell.trim());
    let parts = split_outside(&base, &[" or ", " OR ", " Or "]);
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty() || is_any(p)) {
        return Vec::new();
    }
    parts
}

/// Reads an endpoint cell.
pub fn read_ends(cell: &str) -> Ends {
    let mut out = Ends::default();
    let cell = cell.replace('\r', "");
    for line in cell.split('\n') {
        for part in split_outside(line, &[",", ";", " / ", "/ ", " /", "/", " or ", " and ", " & ", " + "]) {
            if is_etc(&part) {
                out.incomplete = true;
                continue;
            }
            let part = part.trim_end_matches(['.', ':']).trim().to_string();
            if part.is_empty() {
                continue;
            }
            let (base, inner) = parens(&part);
            let mut wording = part.clone();
            for i in &inner {
                if is_condition(i) {
                    out.conditions.push(i.clone());
                    wording = crate::doc::squeeze(&wording.replace(&format!("({i})"), ""));
                }
            }
            if base.is_empty() {
                // "(VNC client)" alone: a qualifier of a name on another line.
                continue;
            }
            if is_any(&base) {
                // "Any (jtel Support)": anyone of that party.
                let named: Vec<&String> =
                    inner.iter().filter(|i| !is_condition(i) && !i.is_empty() && !i.chars().all(|c| !c.is_alphabetic())).collect();
                match named.first() {
                    Some(n) if !["tcp", "udp", "tcp/udp"].contains(&n.to_ascii_lowercase().as_str()) => {
                        out.ends.push(End::Named { base: (*n).clone(), wording: wording.clone() })
                    }
                    _ => out.ends.push(End::Any),
                }
                continue;
            }
            out.ends.push(End::Named { base, wording });
        }
    }
    out
}

/// A role id from a name: lower case, digits and `-`.
/// A feature's id from the words that state its condition: as [`role_id`],
/// and never a word conditions read as an operator ("only when or ..."
/// would otherwise give `when: or`, which the matrix cannot load).
pub fn feature_id(words: &str) -> String {
    let id = role_id(words);
    if portmatrix_model::cond::KEYWORDS.contains(&id.as_str()) {
        format!("feature-{id}")
    } else {
        id
    }
}

pub fn role_id(name: &str) -> String {
    let mut s = String::new();
    let name = name.replace(['\'', '’', '`'], "");
    let name = name.trim_start_matches("*.").trim_matches(|c: char| c == '<' || c == '>');
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-').to_string();
    let s: String = s.chars().take(48).collect();
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() || s == "any" {
        format!("role-{}", if s.is_empty() { "unnamed" } else { "any" })
    } else {
        s
    }
}

/// A DNS name written as a role ("dockerhub.jtel.de", "https://*.imagicle.com").
pub fn fqdn_of(name: &str) -> Option<String> {
    let t = name.trim();
    let t = t.strip_prefix("https://").or_else(|| t.strip_prefix("http://")).unwrap_or(t);
    let t = t.trim_end_matches('/');
    if t.contains(' ') || !t.contains('.') {
        return None;
    }
    portmatrix_model::validate::is_fqdn(t).then(|| t.to_ascii_lowercase())
}

/// A role of the draft.
#[derive(Debug, Clone, Default)]
pub struct RoleDraft {
    pub title: String,
    pub aliases: Vec<String>,
    pub fqdns: Vec<String>,
    /// How many flows name it, as initiator or listener.
    pub uses: usize,
    /// Why the role is outside the product (a word of its name), when it is.
    pub external: Option<String>,
}

/// Words that name a party outside the product: no host of a deployment
/// stands for it, so a plan must not demand one.
const OUTSIDE: &[&str] = &["browser", "browsers", "internet", "cloud", "public", "users", "user", "customers", "customer", "visitors"];

/// The word of a role's name that puts it outside the product, if one does.
pub fn outside_word(name: &str) -> Option<String> {
    name.split(|c: char| !c.is_alphanumeric()).map(|w| w.to_lowercase()).find(|w| OUTSIDE.contains(&w.as_str()))
}

/// The roles of a draft, by id, in order of first mention.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    pub roles: IndexMap<String, RoleDraft>,
    /// Singular form of an id → the id it was first seen as.
    keys: IndexMap<String, String>,
}

/// An id with its last word in the singular ("sip-trunks" → "sip-trunk"),
/// so that "SIP Trunk" and "SIP trunks" are one role. Acronyms with a plural
/// "s" ("IECs") lose it too; words that only look plural keep theirs.
pub fn singular_key(id: &str) -> String {
    let (head, last) = match id.rsplit_once('-') {
        Some((h, l)) => (format!("{h}-"), l.to_string()),
        None => (String::new(), id.to_string()),
    };
    const KEEP: &[&str] = &[
        "windows",
        "kubernetes",
        "redis",
        "ios",
        "dns",
        "https",
        "aws",
        "status",
        "access",
        "sms",
        "its",
        "us",
        "bus",
        "news",
        "analytics",
        "series",
        "sales",
        "tls",
        "ssl",
        "sips",
        "ldaps",
        "smtps",
        "imaps",
        "wss",
        "ftps",
        "nas",
        "cas",
        "ews",
        "cms",
        "aes",
        "pms",
        "mss",
        "os",
    ];
    let singular = if last.len() > 3
        && last.ends_with('s')
        && !last.ends_with("ss")
        && !last.ends_with("us")
        && !last.ends_with("is")
        && !KEEP.contains(&last.as_str())
    {
        last[..last.len() - 1].to_string()
    } else {
        last
    };
    format!("{head}{singular}")
}

impl Roles {
    /// The role for `base` (written `wording`), created when new.
    pub fn intern(&mut self, base: &str, wording: &str) -> String {
        let fqdn = fqdn_of(base);
        let fresh = match &fqdn {
            Some(f) => role_id(f),
            None => role_id(base),
        };
        let key = if fqdn.is_some() { fresh.clone() } else { singular_key(&fresh) };
        let id = self.keys.entry(key).or_insert(fresh).clone();
        let r = self.roles.entry(id.clone()).or_insert_with(|| RoleDraft { title: base.to_string(), ..RoleDraft::default() });
        for w in [base, wording] {
            let w = crate::doc::squeeze(w);
            if !w.is_empty() && !r.aliases.contains(&w) {
                r.aliases.push(w);
            }
        }
        if let Some(f) = fqdn {
            if !r.fqdns.contains(&f) {
                r.fqdns.push(f);
            }
        }
        id
    }
    /// Adds a wording to an existing role.
    pub fn alias(&mut self, id: &str, wording: &str) {
        if let Some(r) = self.roles.get_mut(id) {
            let w = crate::doc::squeeze(wording);
            if !w.is_empty() && !r.aliases.contains(&w) {
                r.aliases.push(w);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feature_is_never_named_after_an_operator() {
        for w in ["or", "and", "not", "Or"] {
            let id = feature_id(w);
            assert!(portmatrix_model::cond::Cond::parse(&id, 0).is_ok(), "{w} -> {id}");
        }
        assert_eq!(feature_id("the management plugin"), role_id("the management plugin"));
    }

    fn named(c: &str) -> Vec<String> {
        read_ends(c)
            .ends
            .into_iter()
            .map(|e| match e {
                End::Any => "any".into(),
                End::Named { base, .. } => base,
            })
            .collect()
    }

    #[test]
    fn splitting_names() {
        assert_eq!(named("PBX / SBC / SIP Trunk"), ["PBX", "SBC", "SIP Trunk"]);
        assert_eq!(named("SIP trunks, PBX, softphones"), ["SIP trunks", "PBX", "softphones"]);
        assert_eq!(named("JTEL support IPs or customer admin network"), ["JTEL support IPs", "customer admin network"]);
        assert_eq!(named("CUCM /SIP endpoint"), ["CUCM", "SIP endpoint"]);
        assert_eq!(named("AACC/ Oceana"), ["AACC", "Oceana"]);
        assert_eq!(named("End users (agents, supervisors)"), ["End users"]);
        assert_eq!(named("REM server (IAS/rsync)"), ["REM server"]);
        assert_eq!(named("Any"), ["any"]);
        assert_eq!(named("Any (jtel Support)"), ["jtel Support"]);
        assert_eq!(named("Any Reporting API users"), ["Any Reporting API users"]);
        assert_eq!(named("Management workstation\nUsers workstations"), ["Management workstation", "Users workstations"]);
        assert_eq!(
            named("https://*.imagicle.com, Google Mail, MS-Office365, etc."),
            ["https://*.imagicle.com", "Google Mail", "MS-Office365"]
        );
        assert!(read_ends("Google Mail, etc.").incomplete);
        let e = read_ends("External SIP trunks (if SBC is used)");
        assert_eq!(e.conditions, ["if SBC is used"]);
        assert_eq!(e.ends, [End::Named { base: "External SIP trunks".into(), wording: "External SIP trunks".into() }]);
    }

    #[test]
    fn parties_outside_the_product() {
        assert_eq!(outside_word("Web browser").as_deref(), Some("browser"));
        assert_eq!(outside_word("Internet").as_deref(), Some("internet"));
        assert_eq!(outside_word("Gravwell users").as_deref(), Some("users"));
        assert_eq!(outside_word("Media server"), None);
        assert_eq!(outside_word("Userland agent"), None, "whole words only");
    }

    #[test]
    fn ids_and_fqdns() {
        assert_eq!(role_id("Agent's laptop"), "agents-laptop");
        assert_eq!(role_id("REM Server"), "rem-server");
        assert_eq!(role_id("*.blob.core.windows.net"), "blob-core-windows-net");
        assert_eq!(role_id("<os-package-mirror>"), "os-package-mirror");
        assert_eq!(role_id("Any"), "role-any");
        assert_eq!(fqdn_of("https://*.imagicle.com").as_deref(), Some("*.imagicle.com"));
        assert_eq!(fqdn_of("dockerhub.jtel.de").as_deref(), Some("dockerhub.jtel.de"));
        assert_eq!(fqdn_of("REM server"), None);
        let mut r = Roles::default();
        let a = r.intern("REM server", "REM server (RESC)");
        let b = r.intern("REM Server", "REM Server (RESC - Hazel Cast)");
        assert_eq!(a, b);
        assert_eq!(r.roles[&a].aliases, ["REM server", "REM server (RESC)", "REM Server", "REM Server (RESC - Hazel Cast)"]);
        assert_eq!(r.intern("SIP trunks", "SIP trunks"), r.intern("SIP Trunk", "SIP Trunk"));
        assert_eq!(r.intern("IECs", "IECs"), r.intern("IEC", "IEC"));
        assert_ne!(r.intern("All Windows", "All Windows"), r.intern("All Window", "All Window"));
        assert_ne!(r.intern("AES", "AES"), r.intern("AE", "AE"));
    }

    #[test]
    fn alternatives_of_a_cell() {
        assert_eq!(alternatives("Indexers or heavy forwarders (HTTP Event Collector)"), ["Indexers", "heavy forwarders"]);
        assert!(alternatives("Indexers (receiving or forwarding)").is_empty());
        assert!(alternatives("Indexers").is_empty());
        assert!(alternatives("Any or none").is_empty());
        assert!(alternatives("Workers or\nManagers").is_empty());
    }
}
