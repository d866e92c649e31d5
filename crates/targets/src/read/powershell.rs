//! The PowerShell script portmatrix's windows backend writes:
//! `Set-NetFirewallProfile` for the default inbound action and one
//! `New-NetFirewallRule` per rule. Any other statement cannot be judged.
//!
//! Windows Defender Firewall semantics for inbound traffic: a matching block
//! rule wins over every allow rule; otherwise a matching allow rule allows;
//! otherwise the profile's default inbound action applies. The model is one
//! base chain on the input hook: the block rules (drop), then the allow
//! rules (accept), then the default as policy.

use super::names::{proto_number, ICMP, ICMPV6};
use super::{
    Action, Base, Chain, ChainId, Clause, Cond, Dim, DocumentItem, Hook, Policy, ReadBack, ReadError, Rule, RuleLoc, Syntax, TableFamily,
    Term, Unjudged, Values, Verdict, FAMILY_V4, FAMILY_V6,
};
use crate::ir::Family;

/// One PowerShell word: a bare word, a quoted string, or `,` / `|`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    Comma,
    Pipe,
}

fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            ',' => {
                chars.next();
                out.push(Tok::Comma);
            }
            '|' => {
                chars.next();
                out.push(Tok::Pipe);
            }
            '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            s.push('\'');
                        }
                        Some('\'') => break,
                        Some(x) => s.push(x),
                        None => return Err("unterminated single-quoted string".into()),
                    }
                }
                out.push(Tok::Str(s));
            }
            '"' => return Err("a double-quoted string (it may expand variables)".into()),
            '#' => break,
            _ => {
                let mut s = String::new();
                while let Some(&x) = chars.peek() {
                    if x.is_whitespace() || matches!(x, ',' | '|' | '\'' | '"') {
                        break;
                    }
                    s.push(x);
                    chars.next();
                }
                out.push(Tok::Word(s));
            }
        }
    }
    Ok(out)
}

/// A cmdlet call: its name and `-Param value[,value...]` pairs.
struct Call {
    name: String,
    params: Vec<(String, Vec<String>)>,
    /// What follows a `|`.
    piped: Vec<String>,
}

fn call(toks: &[Tok]) -> Result<Call, String> {
    let mut it = toks.iter().peekable();
    let name = match it.next() {
        Some(Tok::Word(w)) => w.clone(),
        _ => return Err("a statement that does not start with a cmdlet name".into()),
    };
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    let mut piped = Vec::new();
    while let Some(t) = it.next() {
        match t {
            Tok::Word(w) if w.starts_with('-') && w.len() > 1 && !w[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                let mut vals = Vec::new();
                loop {
                    match it.peek() {
                        Some(Tok::Word(v)) if !(v.starts_with('-') && v.len() > 1 && !v[1..].starts_with(|c: char| c.is_ascii_digit())) => {
                            vals.push(v.clone());
                            it.next();
                        }
                        Some(Tok::Str(v)) => {
                            vals.push(v.clone());
                            it.next();
                        }
                        _ => break,
                    }
                    if it.peek() == Some(&&Tok::Comma) {
                        it.next();
                    } else {
                        break;
                    }
                }
                params.push((w[1..].to_string(), vals));
            }
            Tok::Pipe => {
                for rest in it.by_ref() {
                    match rest {
                        Tok::Word(w) | Tok::Str(w) => piped.push(w.clone()),
                        Tok::Pipe => piped.push("|".into()),
                        Tok::Comma => piped.push(",".into()),
                    }
                }
            }
            other => return Err(format!("an argument without a parameter name: {other:?}")),
        }
    }
    Ok(Call { name, params, piped })
}

impl Call {
    fn get(&self, p: &str) -> Option<&[String]> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(p)).map(|(_, v)| v.as_slice())
    }
    fn one(&self, p: &str) -> Option<&str> {
        self.get(p).and_then(|v| v.first()).map(String::as_str)
    }
}

pub fn read(text: &str) -> Result<ReadBack, ReadError> {
    let id = ChainId { family: TableFamily::Windows, table: "windows-firewall".into(), name: "inbound".into() };
    let mut rb = ReadBack::empty(Syntax::PowerShell);
    let mut default: Option<Policy> = None;
    let mut block: Vec<Rule> = Vec::new();
    let mut allow: Vec<Rule> = Vec::new();
    let mut seen_call = false;
    // Backtick line continuations join physical lines.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let l = raw.trim_end();
        let (start, mut acc) = pending.take().unwrap_or((n + 1, String::new()));
        match l.strip_suffix('`') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                pending = Some((start, acc));
            }
            None => {
                acc.push_str(l);
                logical.push((start, acc));
            }
        }
    }
    if let Some(p) = pending {
        logical.push(p);
    }
    for (line, l) in logical {
        let t = l.trim().trim_start_matches('\u{feff}');
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.replace(' ', "").eq_ignore_ascii_case("$ErrorActionPreference='Stop'") {
            continue;
        }
        let toks = tokenize(t).map_err(|e| ReadError::at_line(Syntax::PowerShell, line, e))?;
        let c = match call(&toks) {
            Ok(c) => c,
            Err(e) => {
                rb.unjudged.push(DocumentItem { at: format!("line {line}"), what: e });
                continue;
            }
        };
        seen_call = true;
        match c.name.to_ascii_lowercase().as_str() {
            "new-netfirewallrule" => match rule(&c, line) {
                Some((r, true)) => block.push(r),
                Some((r, false)) => allow.push(r),
                None => rb.notes.push(format!("line {line}: an outbound or disabled rule, not part of the inbound decision")),
            },
            "set-netfirewallprofile" => match profile(&c) {
                Ok(p) => default = p.or(default),
                Err(e) => rb.unjudged.push(DocumentItem { at: format!("line {line}"), what: e }),
            },
            "get-netfirewallrule" if c.piped.first().is_some_and(|p| p.eq_ignore_ascii_case("Remove-NetFirewallRule")) => {
                rb.notes.push(format!(
                    "line {line}: removes the rules of group {} before adding its own; rules of other groups on the machine are not in the script and not judged",
                    c.one("Group").unwrap_or("?")
                ));
            }
            other => rb.unjudged.push(DocumentItem { at: format!("line {line}"), what: format!("statement `{other}`") }),
        }
    }
    if !seen_call {
        return Err(ReadError::at_line(Syntax::PowerShell, 1, "no New-NetFirewallRule or Set-NetFirewallProfile call")
            .with_hint("give the script `portmatrix compile --target windows` wrote"));
    }
    let policy = default.unwrap_or_else(|| {
        rb.unjudged.push(DocumentItem {
            at: "script".into(),
            what: "the script does not set the default inbound action (Set-NetFirewallProfile -DefaultInboundAction)".into(),
        });
        Policy::Drop
    });
    if default.is_none() {
        // Unknown default: every packet no rule decides is unknown.
        allow.push(Rule {
            loc: RuleLoc::default(),
            comment: Some("default inbound action (not set by the script)".into()),
            conds: Vec::new(),
            action: Action::Verdict(Verdict::Continue),
            unjudged: vec![Unjudged { what: "the default inbound action is not set by the script".into() }],
        });
    }
    let mut rules = block;
    rules.extend(allow);
    for (i, r) in rules.iter_mut().enumerate() {
        r.loc.index = i;
    }
    rb.chains.push(Chain {
        id,
        base: Some(Base { hook: Hook::Input, priority: 0, policy, kind: "filter".into(), devices: Vec::new() }),
        rules,
        handle: None,
    });
    rb.notes.push("Windows does not filter loopback traffic".into());
    Ok(rb)
}

/// The default inbound action the call sets, if any.
fn profile(c: &Call) -> Result<Option<Policy>, String> {
    let profiles: Vec<String> = c.get("Profile").unwrap_or(&[]).iter().map(|p| p.to_ascii_lowercase()).collect();
    let all = profiles.iter().any(|p| p == "any") || ["domain", "private", "public"].iter().all(|p| profiles.iter().any(|x| x == p));
    if c.one("Enabled").is_some_and(|e| e.eq_ignore_ascii_case("False")) {
        if !all {
            return Err("the firewall is disabled for some profiles only".into());
        }
        return Ok(Some(Policy::Accept));
    }
    let Some(action) = c.one("DefaultInboundAction") else { return Ok(None) };
    if !all {
        return Err("a default inbound action for some profiles only".into());
    }
    match action.to_ascii_lowercase().as_str() {
        "block" => Ok(Some(Policy::Drop)),
        "allow" => Ok(Some(Policy::Accept)),
        other => Err(format!("default inbound action `{other}`")),
    }
}

/// A rule and whether it blocks; `None` for outbound or disabled rules.
fn rule(c: &Call, line: usize) -> Option<(Rule, bool)> {
    let mut unjudged = Vec::new();
    let mut cannot = |w: String| unjudged.push(Unjudged { what: w });
    if c.one("Direction").is_some_and(|d| d.eq_ignore_ascii_case("Outbound")) {
        return None;
    }
    if c.one("Enabled").is_some_and(|d| d.eq_ignore_ascii_case("False")) {
        return None;
    }
    let blocks = match c.one("Action").map(str::to_ascii_lowercase).as_deref() {
        Some("allow") | None => false,
        Some("block") => true,
        Some(other) => {
            cannot(format!("-Action {other}"));
            false
        }
    };
    let mut conds = Vec::new();
    let proto = c.one("Protocol").unwrap_or("Any");
    let proto_num = match proto.to_ascii_lowercase().as_str() {
        "any" => None,
        "icmpv4" => Some(ICMP),
        "icmpv6" => Some(ICMPV6),
        p => match proto_number(p) {
            Some(n) => Some(n),
            None => {
                cannot(format!("-Protocol {proto}"));
                None
            }
        },
    };
    if let Some(p) = proto_num {
        let mut req: Vec<Term> = Vec::new();
        if p == ICMP {
            req.push((Dim::Family, Values::one(FAMILY_V4)));
        } else if p == ICMPV6 {
            req.push((Dim::Family, Values::one(FAMILY_V6)));
        }
        conds.push(Cond::region(req, vec![Clause::new(vec![(Dim::Proto, Values::one(p as u128))])], false));
    }
    let mut description = None;
    for (k, vals) in &c.params {
        match k.to_ascii_lowercase().as_str() {
            "displayname" | "name" | "group" | "direction" | "action" | "protocol" | "enabled" => {}
            "description" => description = vals.first().cloned(),
            "remoteaddress" => addresses(Dim::Src, vals, &mut conds, &mut cannot),
            "localaddress" => addresses(Dim::Dst, vals, &mut conds, &mut cannot),
            "localport" => ports(Dim::Dport, vals, &mut conds, &mut cannot),
            "remoteport" => ports(Dim::Sport, vals, &mut conds, &mut cannot),
            "icmptype" => icmp_types(proto_num, vals, &mut conds, &mut cannot),
            "profile" if vals.iter().any(|v| v.eq_ignore_ascii_case("Any")) => {}
            "erroraction" => {}
            other => cannot(format!("-{other}")),
        }
    }
    let comment = description.or_else(|| c.one("DisplayName").map(str::to_string));
    let verdict = if blocks { Verdict::Drop } else { Verdict::Accept };
    Some((
        Rule { loc: RuleLoc { index: 0, handle: None, line: Some(line) }, comment, conds, action: Action::Verdict(verdict), unjudged },
        blocks,
    ))
}

fn addresses(dim: Dim, vals: &[String], conds: &mut Vec<Cond>, cannot: &mut impl FnMut(String)) {
    if vals.iter().any(|v| v.eq_ignore_ascii_case("Any")) {
        return;
    }
    let mut clauses = Vec::new();
    for v in vals {
        match address(v) {
            Some((fam, lo, hi)) => clauses.push(Clause::new(vec![(Dim::Family, Values::one(fam)), (dim, Values::range(lo, hi))])),
            None => {
                cannot(format!("address `{v}` (keywords such as LocalSubnet depend on the machine)"));
                return;
            }
        }
    }
    conds.push(Cond::region(Vec::new(), clauses, false));
}

/// An address, a prefix, a `a/mask` or a range `a-b`: (family, low, high).
fn address(v: &str) -> Option<(u128, u128, u128)> {
    let fam_of = |a: &std::net::IpAddr| if a.is_ipv4() { (FAMILY_V4, Family::V4) } else { (FAMILY_V6, Family::V6) };
    if let Some((a, b)) = v.split_once('-') {
        let (a, b): (std::net::IpAddr, std::net::IpAddr) = (a.parse().ok()?, b.parse().ok()?);
        if a.is_ipv4() != b.is_ipv4() {
            return None;
        }
        let (lo, hi) = (super::addr_u128(a), super::addr_u128(b));
        return (lo <= hi).then_some((fam_of(&a).0, lo, hi));
    }
    if let Ok(n) = v.parse::<ipnet::IpNet>() {
        let (lo, hi) = super::net_range(&n.trunc());
        return Some((fam_of(&n.addr()).0, lo, hi));
    }
    if let Some((a, m)) = v.split_once('/') {
        let (a, m): (std::net::IpAddr, std::net::IpAddr) = (a.parse().ok()?, m.parse().ok()?);
        let n = ipnet::IpNet::with_netmask(a, m).ok()?;
        let (lo, hi) = super::net_range(&n.trunc());
        let _ = fam_of(&a).1;
        return Some((fam_of(&a).0, lo, hi));
    }
    let a: std::net::IpAddr = v.parse().ok()?;
    let x = super::addr_u128(a);
    Some((fam_of(&a).0, x, x))
}

fn ports(dim: Dim, vals: &[String], conds: &mut Vec<Cond>, cannot: &mut impl FnMut(String)) {
    if vals.iter().any(|v| v.eq_ignore_ascii_case("Any")) {
        return;
    }
    let mut r = Vec::new();
    for v in vals {
        let parsed = match v.split_once('-') {
            Some((a, b)) => a.parse::<u16>().ok().zip(b.parse::<u16>().ok()),
            None => v.parse::<u16>().ok().map(|p| (p, p)),
        };
        match parsed {
            Some((a, b)) if a <= b => r.push((a as u128, b as u128)),
            _ => {
                cannot(format!("port `{v}` (keywords such as RPC are resolved by Windows)"));
                return;
            }
        }
    }
    conds.push(Cond::region(Vec::new(), vec![Clause::new(vec![(dim, Values::Ranges(r))])], false));
}

fn icmp_types(proto: Option<u8>, vals: &[String], conds: &mut Vec<Cond>, cannot: &mut impl FnMut(String)) {
    if vals.iter().any(|v| v.eq_ignore_ascii_case("Any")) {
        return;
    }
    if !matches!(proto, Some(ICMP) | Some(ICMPV6)) {
        cannot("-IcmpType without -Protocol ICMPv4 or ICMPv6".into());
        return;
    }
    let mut r = Vec::new();
    for v in vals {
        match v.parse::<u8>() {
            Ok(t) => r.push((t as u128, t as u128)),
            Err(_) => {
                cannot(format!("ICMP type `{v}` (a type:code pair or a name)"));
                return;
            }
        }
    }
    conds.push(Cond::region(Vec::new(), vec![Clause::new(vec![(Dim::IcmpType, Values::Ranges(r))])], false));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_strings_and_arrays() {
        let t = tokenize("New-NetFirewallRule -DisplayName 'it''s' -RemoteAddress '10.0.0.0/8','10.1.0.1' | Out-Null").unwrap();
        let c = call(&t).unwrap();
        assert_eq!(c.one("DisplayName"), Some("it's"));
        assert_eq!(c.get("RemoteAddress").unwrap(), ["10.0.0.0/8", "10.1.0.1"]);
        assert_eq!(c.piped, ["Out-Null"]);
        assert!(tokenize("x 'open").is_err());
    }

    #[test]
    fn addresses_of_every_shape() {
        assert_eq!(address("10.0.0.0/8"), Some((FAMILY_V4, 0x0a00_0000, 0x0aff_ffff)));
        assert_eq!(address("10.0.0.0/255.255.0.0"), Some((FAMILY_V4, 0x0a00_0000, 0x0a00_ffff)));
        assert_eq!(address("10.0.0.1-10.0.0.9"), Some((FAMILY_V4, 0x0a00_0001, 0x0a00_0009)));
        assert_eq!(address("LocalSubnet"), None);
        assert!(address("2001:db8::/32").is_some());
    }
}
