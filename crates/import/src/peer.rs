//! The remote peer of a table written from one system's perspective, when
//! the table has no column for it. Documents then name the peer in prose:
//! the section ("Interactions with the PBX"), its introduction ("used
//! between Attendant Console clients and UC Suite server(s)", "to interact
//! with the IP phones, ATA devices, Voice Gateways and Session Border
//! Controllers"), or the row itself ("from the company mail server").
//!
//! These are heuristics; every flow whose peer comes from prose says so in
//! a review item.

use crate::roles::{read_ends, End};

const STOP: &[&str] = &["the", "a", "an", "any", "all", "our", "your", "their", "its"];

/// Significant lower-case words of a name.
fn sig_words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 1 && !STOP.contains(w) && !["and", "or", "of", "for", "s"].contains(w))
        .map(str::to_string)
        .collect()
}

/// How much `name` sounds like the system itself: shared significant
/// words with one of its names (generic words such as "server" count half).
pub fn self_score(name: &str, self_names: &[String]) -> f64 {
    let w = sig_words(name);
    self_names
        .iter()
        .map(|s| {
            sig_words(s)
                .iter()
                .filter(|x| w.contains(x))
                .map(
                    |x| {
                        if ["server", "servers", "system", "systems", "node", "nodes", "instance"].contains(&x.as_str()) {
                            0.5
                        } else {
                            1.0
                        }
                    },
                )
                .sum::<f64>()
        })
        .fold(0.0, f64::max)
}

/// Whether `name` refers to the system itself.
pub fn is_self(name: &str, self_names: &[String]) -> bool {
    self_score(name, self_names) >= 1.0
}

/// Of two names that a text pairs ("between X and Y"), the one that is the
/// system itself, if one clearly is: (self, peer).
pub fn pick_self(x: &str, y: &str, self_names: &[String]) -> Option<(String, String)> {
    let (sx, sy) = (self_score(x, self_names), self_score(y, self_names));
    if sx > sy && sx >= 1.0 {
        Some((x.to_string(), y.to_string()))
    } else if sy > sx && sy >= 1.0 {
        Some((y.to_string(), x.to_string()))
    } else {
        None
    }
}

fn cut_at_sentence(s: &str) -> &str {
    let end = s.find(['.', ';', ':']).unwrap_or(s.len());
    &s[..end]
}

fn strip_leading(s: &str) -> String {
    let mut words: Vec<&str> = s.split_whitespace().collect();
    while words.first().is_some_and(|w| STOP.contains(&w.to_lowercase().as_str())) {
        words.remove(0);
    }
    words.join(" ")
}

/// "between X and Y" → (X, Y).
pub fn between(text: &str) -> Option<(String, String)> {
    let lower = text.to_ascii_lowercase();
    let a = lower.find("between ")?;
    let rest = &text[a + 8..];
    let rest = cut_at_sentence(rest);
    let lower_rest = rest.to_ascii_lowercase();
    let b = lower_rest.find(" and ")?;
    let x = strip_leading(rest[..b].trim());
    let y = strip_leading(rest[b + 5..].trim());
    // Stop Y at a clause: "UC Suite server(s) to allow ..." keeps the name.
    let y = y.split(" to ").next().unwrap_or(&y).split(" for ").next().unwrap_or(&y).trim().to_string();
    (!x.is_empty() && !y.is_empty() && x.len() < 80 && y.len() < 80).then_some((x, y))
}

/// "interact with the X" / "with the X" → X.
fn with_phrase(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let a = lower
        .find("interact with ")
        .map(|i| i + 14)
        .or_else(|| lower.find("interactions with ").map(|i| i + 18))
        .or_else(|| lower.find("interaction with ").map(|i| i + 17))?;
    let rest = cut_at_sentence(&text[a..]);
    let s = strip_leading(rest.trim());
    (!s.is_empty() && s.len() < 120).then_some(s)
}

/// The section's peers, and whether they are vague ("the customer IT
/// infrastructure") so that rows must name their own.
pub fn section_peers(title: &str, intro: &str, self_names: &[String]) -> (Vec<End>, bool) {
    let mut names: Vec<String> = Vec::new();
    for text in [intro, title] {
        if let Some((x, y)) = between(text) {
            match pick_self(&x, &y, self_names) {
                Some((_, peer)) => names.push(peer),
                None => {
                    names.push(x);
                    names.push(y);
                }
            }
        } else if let Some(x) = with_phrase(text) {
            names.push(x);
        }
        if !names.is_empty() {
            break;
        }
    }
    let mut ends = Vec::new();
    for n in &names {
        ends.extend(read_ends(n).ends.into_iter().filter(|e| matches!(e, End::Named { .. })));
    }
    let vague = names.iter().any(|n| {
        let l = n.to_lowercase();
        ["infrastructure", "network", "environment", "systems", "services"].iter().any(|w| l.contains(w))
    });
    (ends, vague)
}

const OWNERS: &[&str] = &["customer", "customer's", "customers", "company", "company's", "client's", "enterprise"];
const PHRASE_STOP: &[&str] = &[
    "for",
    "to",
    "in",
    "with",
    "from",
    "that",
    "which",
    "depending",
    "on",
    "by",
    "using",
    "via",
    "when",
    "where",
    "if",
    "is",
    "are",
    "in",
];

/// A component the row's text says belongs to the customer: "from the
/// company mail server", "to customer's PMS". Returns (name without the
/// owner word, name as written).
pub fn owner_phrase(text: &str) -> Option<(String, String)> {
    let toks: Vec<&str> = text.split_whitespace().collect();
    for (i, t) in toks.iter().enumerate() {
        let w = t.to_lowercase();
        let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
        if !OWNERS.contains(&w) {
            continue;
        }
        let mut words: Vec<String> = Vec::new();
        for next in &toks[i + 1..] {
            let lower = next.to_lowercase();
            if PHRASE_STOP.contains(&lower.as_str()) || words.len() >= 6 {
                break;
            }
            let clean = next.trim_end_matches([',', '.', ';', ':', ')']);
            let ended = clean.len() != next.len();
            if next.starts_with('(') {
                break;
            }
            words.push(clean.to_string());
            if ended {
                break;
            }
        }
        if words.is_empty() {
            continue;
        }
        let bare = words.join(" ");
        let full = format!("{} {}", t.trim_matches(|c: char| !c.is_alphanumeric() && c != '\''), bare);
        return Some((bare, full));
    }
    None
}

/// Words that end the name of a system a document is about.
const SYSTEM_NOUNS: &[&str] = &["server", "servers", "node", "nodes", "host", "controller", "controllers", "appliance", "gateway", "agent"];

/// The system a document describes, from its title, headings and prose:
/// the most frequent "X server" / "X nodes" / "X controllers" phrase whose
/// words before the noun are capitalised ("the FreeSWITCH server", "SQL
/// Server", "RabbitMQ nodes", "Domain controllers").
pub fn system_named(doc: &crate::doc::Document) -> Option<String> {
    let mut texts: Vec<&str> = Vec::new();
    if let Some(t) = &doc.title {
        texts.push(t);
    }
    // Prose holds the text around tables whole; table titles and intros
    // repeat parts of it, so they count only where there is no prose.
    if doc.prose.is_empty() {
        for t in &doc.tables {
            texts.push(&t.title);
            texts.push(&t.intro);
        }
    }
    texts.extend(doc.prose.iter().map(|p| p.text.as_str()));
    let mut counts: Vec<(String, usize, usize)> = Vec::new();
    for (order, text) in texts.iter().enumerate() {
        let words: Vec<&str> = text.split_whitespace().map(|w| w.trim_matches(|c: char| !c.is_alphanumeric())).collect();
        for (i, w) in words.iter().enumerate() {
            if !SYSTEM_NOUNS.contains(&w.to_lowercase().as_str()) {
                continue;
            }
            let mut start = i;
            while start > 0 && i - start < 2 {
                let prev = words[start - 1];
                let capital = prev.chars().next().is_some_and(|c| c.is_uppercase()) && !STOP.contains(&prev.to_lowercase().as_str());
                if !capital {
                    break;
                }
                start -= 1;
            }
            // "Domain controllers" at a sentence start names itself.
            if start == i && !w.chars().next().is_some_and(|c| c.is_uppercase()) {
                continue;
            }
            let name = words[start..=i].join(" ");
            // A capitalised noun ("OpenVidu Server", "Management Node") is a product's own name.
            let weight = if w.chars().next().is_some_and(|c| c.is_uppercase()) && start < i { 2 } else { 1 };
            match counts.iter_mut().find(|c| c.0.eq_ignore_ascii_case(&name)) {
                Some(c) => c.1 += weight,
                None => counts.push((name, weight, order)),
            }
        }
    }
    let best = counts.into_iter().max_by_key(|(_, n, order)| (*n, std::cmp::Reverse(*order))).map(|(name, _, _)| name);
    // Else a title "Configuring the firewall for 3CX" names it after "for".
    best.or_else(|| {
        let t = doc.title.as_deref()?;
        let (_, tail) = t.rsplit_once(" for ")?;
        let tail = tail.trim().trim_end_matches(['.', ':']);
        (!tail.is_empty() && tail.split_whitespace().count() <= 3 && tail.starts_with(|c: char| c.is_uppercase() || c.is_ascii_digit()))
            .then(|| tail.to_string())
    })
}

/// The system a whole document describes: `system_named`, else the one
/// product its title names ("Protecting eDirectory through a firewall").
/// Not for headings, whose capitalised words name parties ("3CX clients, SBCs").
pub fn system_of_document(doc: &crate::doc::Document) -> Option<String> {
    system_named(doc).or_else(|| doc.title.as_deref().and_then(product_in_title))
}

/// The one product name a title holds: a word after the first with a
/// capital letter, not a word of the topic ("Protecting eDirectory through
/// a firewall" → "eDirectory"). None when there are several or none.
fn product_in_title(title: &str) -> Option<String> {
    const TOPIC: &[&str] = &["firewall", "firewalls", "port", "ports", "network", "networking", "requirements", "rules", "tcp", "udp"];
    let names: Vec<&str> = title
        .split_whitespace()
        .skip(1)
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().any(|c| c.is_uppercase()) && !TOPIC.contains(&w.to_lowercase().as_str()))
        .collect();
    match names.as_slice() {
        [one] if one.chars().any(|c| c.is_alphabetic()) => Some(one.to_string()),
        _ => None,
    }
}

/// Verb phrases after which a sentence's subject is the party that opens
/// connections: "the end devices must be able to connect outbound".
const CONNECTING_VERBS: &[&str] = &[
    " must be able to connect",
    " need to be able to connect",
    " needs to be able to connect",
    " must be able to reach",
    " must be able to establish",
    " need to connect",
    " needs to connect",
    " must connect",
    " connect outbound",
    " connects outbound",
];

/// The initiator a sentence introducing a one-ended table names: "To talk
/// to the telephone system, the end devices must be able to connect
/// outbound on the following ports" → "end devices". The subject is the
/// clause before the verb (after the last comma), without its article, at
/// most five words and naming something (not "you", "it", "they").
pub fn connecting_subject(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let at = CONNECTING_VERBS.iter().filter_map(|v| lower.find(v)).min()?;
    let before = &text[..at];
    let clause_start = before.rfind([',', '.', ';', ':', '\n']).map(|i| i + 1).unwrap_or(0);
    let subject = strip_leading(before[clause_start..].trim());
    let n = subject.split_whitespace().count();
    let lower_subject = subject.to_ascii_lowercase();
    let pronoun = ["you", "it", "they", "we", "this", "these", "which", "that"].contains(&lower_subject.as_str());
    (n > 0 && n <= 5 && !pronoun && subject.chars().any(char::is_alphabetic)).then_some(subject)
}

/// Words a section heading adds after the name of a host: "CE Core
/// Server Rules", "Database Server Ports", "Web Node Firewall Rules".
const HEADING_TAILS: &[&str] = &["rules", "rule", "ports", "port", "firewall", "requirements", "policies", "policy", "settings"];

/// The host a section heading names, when it is "<name> <system noun>"
/// followed only by words such as "Rules" or "Ports": "CE Core Server
/// Rules" → "CE Core Server". None when the heading names no such host.
pub fn host_of_heading(title: &str) -> Option<String> {
    let mut words: Vec<&str> = title.split_whitespace().collect();
    while words.last().is_some_and(|w| HEADING_TAILS.contains(&w.to_ascii_lowercase().trim_matches(|c: char| !c.is_alphanumeric()))) {
        words.pop();
    }
    let last = words.last()?.to_ascii_lowercase();
    // A name: every word capitalised ("Ports used by the X Server" is a sentence, not a host).
    let named = words.iter().all(|w| w.chars().next().is_some_and(|c| c.is_uppercase() || c.is_ascii_digit()));
    (named && words.len() >= 2 && words.len() <= 6 && SYSTEM_NOUNS.contains(&last.as_str())).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[End]) -> Vec<String> {
        v.iter()
            .map(|e| match e {
                End::Any => "any".into(),
                End::Named { base, .. } => base.clone(),
            })
            .collect()
    }

    #[test]
    fn peers_from_prose() {
        let selfs = vec!["Imagicle UC Suite".to_string(), "Imagicle Server".to_string()];
        let (p, vague) = section_peers(
            "Interactions between Imagicle Attendant Console Clients and the UC Suite",
            "Following protocols and connections are used between Attendant Console clients and UC Suite server(s). These connections are used by following clients:",
            &selfs,
        );
        assert_eq!(names(&p), ["Attendant Console clients"]);
        assert!(!vague);
        let (p, _) = section_peers(
            "Interactions with the PBX",
            "The following protocols are used to interact with any PBX. Such protocols and ports must be allowed.",
            &selfs,
        );
        assert_eq!(names(&p), ["PBX"]);
        let (p, _) = section_peers(
            "Interactions with IP Phones and other voice devices",
            "Following protocols are used to interact with the IP phones, ATA devices, Voice Gateways and Session Border Controllers. Such protocols must be allowed.",
            &selfs,
        );
        assert_eq!(names(&p), ["IP phones", "ATA devices", "Voice Gateways", "Session Border Controllers"]);
        let (p, vague) = section_peers("Interaction with the company infrastructure", "The following protocols and connections can be used to interact with the customer IT infrastructure. Such protocols must be allowed.", &selfs);
        assert_eq!(names(&p), ["customer IT infrastructure"]);
        assert!(vague);
    }

    #[test]
    fn owners() {
        assert_eq!(
            owner_phrase("retrieve email messages from the company mail server to allow the mail2fax feature").unwrap(),
            ("mail server".to_string(), "company mail server".to_string())
        );
        assert_eq!(owner_phrase("connect to customer's PMS, depending on the PMS model").unwrap().1, "customer's PMS");
        assert_eq!(
            owner_phrase("collect information from the customer LDAP or Active Directory server in order to").unwrap().0,
            "LDAP or Active Directory server"
        );
        assert_eq!(owner_phrase("access customer's network shared folders for backup purposes").unwrap().0, "network shared folders");
        assert!(owner_phrase("send email notifications").is_none());
    }

    #[test]
    fn the_subject_that_connects() {
        let s = connecting_subject("To talk to the telephone system, the end devices must be able to connect outbound");
        assert_eq!(s.as_deref(), Some("end devices"));
        assert_eq!(connecting_subject("Agent PCs need to connect to these ports.").as_deref(), Some("Agent PCs"));
        assert_eq!(connecting_subject("You must be able to connect to the server."), None);
        assert_eq!(connecting_subject("Open these ports on the server."), None);
        assert_eq!(connecting_subject("On this segment, hosts must connect outbound").as_deref(), Some("hosts"));
        assert_eq!(connecting_subject("Every machine that is placed in the perimeter network of the company must connect"), None);
    }

    #[test]
    fn the_host_a_heading_names() {
        assert_eq!(host_of_heading("CE Core Server Rules").as_deref(), Some("CE Core Server"));
        assert_eq!(host_of_heading("Database Server Firewall Rules").as_deref(), Some("Database Server"));
        assert_eq!(host_of_heading("Firewall Rules"), None);
        assert_eq!(host_of_heading("Server"), None);
        assert_eq!(host_of_heading("Ports used by the Recording Server"), None);
    }

    #[test]
    fn a_title_names_its_one_product() {
        assert_eq!(product_in_title("Protecting eDirectory through a firewall").as_deref(), Some("eDirectory"));
        assert_eq!(product_in_title("Opening the TCP Ports of RabbitMQ").as_deref(), Some("RabbitMQ"));
        // Two candidates, or none: no guess.
        assert_eq!(product_in_title("Connecting Graylog to OpenSearch"), None);
        assert_eq!(product_in_title("Firewall requirements"), None);
    }
}
