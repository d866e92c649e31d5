//! Ports stated outside tables: firewall commands (`ufw allow 16384:32768/udp`,
//! `firewall-cmd --add-port=10051/tcp`, `iptables -p tcp --dport 5060 -j
//! ACCEPT`), list items that start with their ports (`- 5672, 5671: AMQP
//! clients`), labelled values (`SIP port: default 5060 - UDP & TCP`), arrows
//! (`Director → File daemon: 9102`) and sentences with an explicit port
//! phrase (`on TCP ports 80 and 443`, `listens on 10050/TCP`).
//!
//! Only numbers in those explicit forms become ports; every flow read from
//! prose carries a review item saying so. The listener is the system the
//! section is about (its heading, or the document's system); a section
//! headed by another party that speaks of inbound traffic makes that party
//! the initiator.

use portmatrix_model::Proto;

use crate::doc::{Document, Prose};
use crate::ports::{parse_cell, Item};

/// A flow read from prose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProseFlow {
    pub line: usize,
    /// The initiator as named; None for anyone.
    pub from: Option<String>,
    /// The listener as named; None for the system the document describes.
    pub to: Option<String>,
    pub protos: Vec<Proto>,
    pub items: Vec<Item>,
    pub purpose: String,
    /// A condition the text attaches ("only if the management plugin is enabled").
    pub condition: Option<String>,
    pub how: &'static str,
}

/// Service names of ufw application profiles and firewalld services, with
/// the ports their definitions open (as shipped with those tools).
fn named_service(name: &str) -> Option<(Vec<Proto>, Vec<Item>)> {
    use Proto::*;
    let n = name.trim_matches(|c: char| c == '"' || c == '\'' || c == '{' || c == '}').to_ascii_lowercase();
    let tcp = |p: &[u16]| Some((vec![Tcp], p.iter().map(|x| Item::Port(*x)).collect()));
    match n.as_str() {
        "openssh" | "ssh" => tcp(&[22]),
        "http" | "nginx http" | "apache" | "www" => tcp(&[80]),
        "https" | "nginx https" | "apache secure" => tcp(&[443]),
        "nginx full" | "apache full" | "www full" => tcp(&[80, 443]),
        "dns" => Some((vec![Tcp, Udp], vec![Item::Port(53)])),
        "ntp" => Some((vec![Udp], vec![Item::Port(123)])),
        "ldap" | "freeipa-ldap" => tcp(&[389]),
        "ldaps" | "freeipa-ldaps" => tcp(&[636]),
        "kerberos" => Some((vec![Tcp, Udp], vec![Item::Port(88)])),
        _ => None,
    }
}

fn proto_of(s: &str) -> Option<Proto> {
    Proto::parse(s.trim())
}

/// `P`, `P:Q`, `P-Q` with an optional `/tcp`: (items, protos).
fn port_spec(spec: &str) -> Option<(Vec<Item>, Vec<Proto>)> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, q)) => (p, proto_of(q).map(|p| vec![p])?),
        None => (spec, Vec::new()),
    };
    if ports.is_empty() || !ports.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '-' || c == ',') {
        return None;
    }
    let cell = parse_cell(ports);
    if cell.error.is_some() || cell.groups.is_empty() {
        return None;
    }
    Some((cell.items().map(|(i, _)| i.clone()).collect(), proto))
}

/// Flows of one firewall command line.
fn command(line: &str) -> Vec<(Vec<Proto>, Vec<Item>, String)> {
    let words: Vec<&str> = line.split_whitespace().map(|w| w.trim_start_matches("sudo")).filter(|w| !w.is_empty()).collect();
    let mut out = Vec::new();
    let Some(pos) = words.iter().position(|w| matches!(*w, "ufw" | "firewall-cmd" | "iptables" | "ip6tables")) else {
        return out;
    };
    let tool = words[pos];
    let rest = &words[pos + 1..];
    match tool {
        "ufw" => {
            let Some(a) = rest.iter().position(|w| *w == "allow") else { return out };
            let spec = rest[a + 1..].join(" ");
            let spec = spec.trim();
            if let Some((items, protos)) = port_spec(spec) {
                let protos = if protos.is_empty() { vec![Proto::Tcp, Proto::Udp] } else { protos };
                out.push((protos, items, format!("ufw allow {spec}")));
            } else if let Some((protos, items)) = named_service(spec) {
                out.push((protos, items, format!("ufw allow {spec} (the profile's ports)")));
            }
        }
        "firewall-cmd" => {
            for w in rest {
                if let Some(v) = w.strip_prefix("--add-port=") {
                    if let Some((items, protos)) = port_spec(&v.replace('-', ":")) {
                        if !protos.is_empty() {
                            out.push((protos, items, format!("firewall-cmd --add-port={v}")));
                        }
                    }
                } else if let Some(v) = w.strip_prefix("--add-service=") {
                    for name in v.trim_matches(|c| c == '{' || c == '}').split(',') {
                        if let Some((protos, items)) = named_service(name) {
                            out.push((protos, items, format!("firewall-cmd --add-service={name} (the service's ports)")));
                        }
                    }
                }
            }
        }
        _ => {
            // iptables: only rules that accept.
            if !rest.windows(2).any(|w| w[0] == "-j" && w[1] == "ACCEPT") {
                return out;
            }
            let proto = rest.windows(2).find(|w| w[0] == "-p" || w[0] == "--protocol").and_then(|w| proto_of(w[1]));
            let dport = rest.windows(2).find(|w| w[0] == "--dport" || w[0] == "--destination-port").map(|w| w[1]);
            if let (Some(p), Some(d)) = (proto, dport) {
                if let Some((items, _)) = port_spec(d) {
                    out.push((vec![p], items, format!("iptables -p {p} --dport {d} -j ACCEPT")));
                }
            }
        }
    }
    out
}

/// Ports in a sentence, only in explicit phrases: `TCP port(s) 80 and 443`,
/// `the UDP range 16384-32768`, `10051/TCP`, `80/tcp`.
fn sentence_ports(text: &str) -> Vec<(Vec<Proto>, Vec<Item>)> {
    let toks: Vec<&str> =
        text.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',' || c == ';').filter(|t| !t.is_empty()).collect();
    let mut out: Vec<(Vec<Proto>, Vec<Item>)> = Vec::new();
    let num = |t: &str| -> Option<Vec<Item>> {
        let t = t.trim_end_matches(['.', ':']);
        if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '–') || !t.starts_with(|c: char| c.is_ascii_digit())
        {
            return None;
        }
        let c = parse_cell(t);
        (c.error.is_none() && !c.groups.is_empty()).then(|| c.items().map(|(i, _)| i.clone()).collect())
    };
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].trim_end_matches(['.', ':']);
        // "10051/TCP"
        if let Some((n, p)) = t.split_once('/') {
            if let (Some(items), Some(p)) = (num(n), proto_of(p)) {
                out.push((vec![p], items));
                i += 1;
                continue;
            }
        }
        // "TCP ports 80 and 443", "UDP range 16384-32768"
        if let Some(p) = proto_of(t) {
            let mut j = i + 1;
            let mut saw_port_word = false;
            while j < toks.len() && matches!(toks[j].to_ascii_lowercase().as_str(), "port" | "ports" | "range" | "ranges") {
                saw_port_word = true;
                j += 1;
            }
            let mut items = Vec::new();
            while j < toks.len() {
                if let Some(mut it) = num(toks[j]) {
                    items.append(&mut it);
                    j += 1;
                } else if matches!(toks[j], "and" | "or" | "&") && j + 1 < toks.len() && num(toks[j + 1]).is_some() {
                    j += 1;
                } else {
                    break;
                }
            }
            if saw_port_word && !items.is_empty() {
                out.push((vec![p], items));
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// A port read by `served_ports`: (initiator when the sentence names it,
/// listener when the sentence names it, transport, port).
type Served = (Option<String>, Option<String>, Vec<Proto>, Vec<Item>);

/// Phrases after which a port's users are named: "port used to serve clients".
const SERVES: &[&str] = &["port used to serve ", "port that serves ", "port used by ", "port for connections from "];

/// Sentences that name a port by the party it serves and give its number
/// as the default or example: "Every Redis Cluster node needs two open TCP
/// connections: the normal Redis TCP port used to serve clients, for
/// example 6379, ..." → clients → Redis Cluster node, tcp 6379. The
/// listener is the sentence's subject ("Every/Each X needs/requires"),
/// else the system; the transport must be the sentence's only one. Other
/// numbers of the sentence are not read.
fn served_ports(text: &str) -> Vec<Served> {
    let mut out = Vec::new();
    for sentence in text.split(". ") {
        let lower = sentence.to_ascii_lowercase();
        let (tcp, udp) = (sentence.contains("TCP"), sentence.contains("UDP"));
        if tcp == udp {
            continue;
        }
        let proto = if tcp { Proto::Tcp } else { Proto::Udp };
        let Some((at, phrase)) = SERVES.iter().filter_map(|p| lower.find(p).map(|i| (i, *p))).min_by_key(|(i, _)| *i) else {
            continue;
        };
        let rest = &sentence[at + phrase.len()..];
        let party_end = rest.find([',', ';', ':', '(']).unwrap_or(rest.len());
        let party = rest[..party_end].trim().trim_start_matches("the ").trim();
        if party.is_empty() || party.split_whitespace().count() > 4 || party.contains(|c: char| c.is_ascii_digit()) {
            continue;
        }
        // The number follows at once: ", for example 6379", ", default 6379", " (6379)".
        let after: Vec<&str> = rest[party_end..]
            .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
            .filter(|w| !w.is_empty())
            .take(4)
            .collect();
        let lead = ["for", "example", "e.g.", "default", "by", "is", "usually"];
        let Some(n) = after.iter().find(|w| !lead.contains(&w.to_ascii_lowercase().as_str())) else {
            continue;
        };
        let Ok(port) = n.trim_end_matches(['.', ';']).parse::<u16>() else {
            continue;
        };
        if port == 0 {
            continue;
        }
        let subject = ["every ", "each "].iter().find_map(|w| {
            let s = lower.strip_prefix(w)?;
            let end = [" needs ", " requires ", " must "].iter().filter_map(|v| s.find(v)).min()?;
            let name = sentence[w.len()..w.len() + end].trim();
            (name.split_whitespace().count() <= 5).then(|| name.to_string())
        });
        out.push((Some(party.to_string()), subject.clone(), vec![proto], vec![Item::Port(port)]));
        // "plus the port obtained by adding 10000 to the data port, so 16379":
        // a second port of the same listener; its users are not named here.
        if let Some(derived) = derived_port(sentence, port) {
            out.push((None, subject, vec![proto], vec![Item::Port(derived)]));
        }
    }
    out
}

/// A port the sentence derives from `base` by a stated offset ("adding
/// 10000 to the data port", "the data port + 10000", "the data port plus
/// 10000") and also states as a number ("so 16379"): read only when the
/// sum and the stated number agree, so no port is computed unseen.
fn derived_port(sentence: &str, base: u16) -> Option<u16> {
    let toks: Vec<String> = sentence
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')' || c == ';')
        .map(|t| t.trim_end_matches(['.', ':']).to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let number = |t: &str| t.parse::<u32>().ok().filter(|_| t.chars().all(|c| c.is_ascii_digit()));
    let offset = toks.windows(3).find_map(|w| match (w[0].as_str(), number(&w[1]), w[2].as_str()) {
        ("adding", Some(n), "to") => Some(n),
        (_, _, _) if matches!(w[0].as_str(), "+" | "plus") && w[1] != "the" => number(&w[1]).filter(|_| w[2] != "to"),
        _ => None,
    })?;
    let sum = u32::from(base) + offset;
    let stated = toks.iter().filter_map(|t| number(t)).any(|n| n == sum);
    (stated && offset > 0 && sum <= 65535).then_some(sum as u16)
}

/// The party a later sentence of the section says a port links with
/// itself: "a node-to-node channel" with the subject "Redis Cluster node"
/// → that subject. The last word of the subject, singular, must be the
/// word repeated around "-to-".
fn self_link(subject: &str, later: &[&str]) -> bool {
    let Some(last) = subject.split_whitespace().last() else { return false };
    let last = last.to_ascii_lowercase();
    let word = last.strip_suffix('s').unwrap_or(&last);
    let pair = format!("{word}-to-{word}");
    later.iter().any(|t| t.to_ascii_lowercase().contains(&pair))
}

/// A flow stated as "A to B requires the TCP port for PBX/1556": (from, to, transport, ports).
type Route = (String, String, Vec<Proto>, Vec<Item>);

/// Sentences that name both ends and the ports: "Media server to client
/// requires the TCP port for PBX/1556", "Client to storage server requires
/// the TCP ports for spad/10102 and spoold/10082". "A to/from B" or
/// "bi-directional" means both sides initiate: a flow each way. The ports
/// come after a transport and "port(s)": numbers, or `name/number`.
fn routes(text: &str) -> Vec<Route> {
    let body = strip_bullet(text);
    let lower = body.to_ascii_lowercase();
    let Some(verb) = [" requires ", " require ", " needs ", " need "].iter().filter_map(|v| lower.find(v).map(|i| (i, v.len()))).min()
    else {
        return Vec::new();
    };
    let subject = &body[..verb.0];
    let predicate = &body[verb.0 + verb.1..];
    let sl = subject.to_ascii_lowercase();
    let (a, b, both) = if let Some(i) = sl.find(" to/from ") {
        (&subject[..i], &subject[i + 9..], true)
    } else if let Some(i) = sl.find(" to ") {
        (&subject[..i], &subject[i + 4..], false)
    } else {
        return Vec::new();
    };
    let name = |s: &str| {
        let s = s.trim().trim_start_matches("the ").trim_start_matches("The ").trim();
        let n = s.split_whitespace().count();
        (n > 0 && n <= 4 && !s.contains(|c: char| c.is_ascii_digit() || c == ',' || c == ':')).then(|| s.to_string())
    };
    let (Some(a), Some(b)) = (name(a), name(b)) else { return Vec::new() };
    let toks: Vec<&str> = predicate.split(|c: char| c.is_whitespace() || c == ',' || c == ';').filter(|t| !t.is_empty()).collect();
    let Some(t) = toks.iter().position(|t| proto_of(t).is_some_and(|p| matches!(p, Proto::Tcp | Proto::Udp))) else {
        return Vec::new();
    };
    if toks.iter().skip(t + 1).any(|w| proto_of(w).is_some_and(|p| matches!(p, Proto::Tcp | Proto::Udp))) {
        return Vec::new(); // two transports: which port has which is not said.
    }
    let proto = proto_of(toks[t]).into_iter().collect::<Vec<_>>();
    if !toks.get(t + 1).is_some_and(|w| matches!(w.to_ascii_lowercase().as_str(), "port" | "ports")) {
        return Vec::new();
    }
    let mut items = Vec::new();
    for w in &toks[t + 2..] {
        let w = w.trim_end_matches(['.', ':']);
        let num =
            w.rsplit_once('/')
                .map_or(w, |(name, n)| if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') { n } else { "" });
        match num.parse::<u16>() {
            Ok(p) if p > 0 && num.chars().all(|c| c.is_ascii_digit()) => items.push(Item::Port(p)),
            _ if matches!(w.to_ascii_lowercase().as_str(), "for" | "and" | "the" | "of") || w.contains('/') => {}
            _ if !items.is_empty() => break,
            _ => {}
        }
    }
    if items.is_empty() {
        return Vec::new();
    }
    let both = both || lower.contains("bi-directional") || lower.contains("bidirectional");
    let mut out = vec![(a.clone(), b.clone(), proto.clone(), items.clone())];
    if both && !a.eq_ignore_ascii_case(&b) {
        out.push((b, a, proto, items));
    }
    out
}

fn lower_has(text: &str, what: &str) -> bool {
    text.to_ascii_lowercase().contains(what)
}

/// "only if the management plugin is enabled" → "management plugin".
fn condition(text: &str) -> Option<String> {
    let l = text.to_ascii_lowercase();
    let a = l.find("only if ").map(|i| i + 8).or_else(|| l.find("only when ").map(|i| i + 10))?;
    let rest = &text[a..];
    let end = rest.find([')', '.', ';', ',']).unwrap_or(rest.len());
    let words: Vec<&str> = rest[..end]
        .split_whitespace()
        .filter(|w| {
            !matches!(w.to_ascii_lowercase().as_str(), "the" | "a" | "an" | "is" | "are" | "enabled" | "used" | "configured" | "installed")
        })
        .collect();
    (!words.is_empty() && words.len() <= 4).then(|| words.join(" "))
}

/// A party named before "→", "->" or ">" and after it, before a colon.
pub fn arrow(head: &str) -> Option<(String, String)> {
    for sep in ["→", "->", " > "] {
        if let Some((a, b)) = head.split_once(sep) {
            let (a, b) = (a.trim(), b.trim());
            if !a.is_empty() && !b.is_empty() && a.len() < 60 && b.len() < 60 {
                return Some((a.to_string(), b.to_string()));
            }
        }
    }
    None
}

fn strip_bullet(s: &str) -> &str {
    let t = s.trim_start();
    for b in ["- ", "* ", "• ", "+ "] {
        if let Some(r) = t.strip_prefix(b) {
            return r.trim_start();
        }
    }
    // "1. " / "2) "
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && digits < 3 && (t[digits..].starts_with(". ") || t[digits..].starts_with(") ")) {
        return t[digits + 2..].trim_start();
    }
    t
}

/// The value after a label's colon, without "default", "port is", "ranges from".
fn labelled_value(v: &str) -> String {
    let mut v = v.trim().to_string();
    loop {
        let l = v.to_ascii_lowercase();
        let cut = ["default port is ", "default ports are ", "default ", "ranges from ", "range from ", "port ", "ports ", "from "]
            .iter()
            .find(|p| l.starts_with(*p))
            .map(|p| p.len());
        match cut {
            Some(n) => v = v[n..].trim_start().to_string(),
            None => break,
        }
    }
    v
}

/// The one transport a section's prose names, if it names one, and the
/// ports its heading states ("Indexer Control Port: TCP 9404") until a
/// sentence of the section names their ends.
#[derive(Default, Clone)]
struct Section {
    transport: Option<Proto>,
    heading_ports: Option<(Vec<Proto>, Vec<Item>, String)>,
}

/// Ports a heading states after its label, with their transport:
/// "Indexer Control Port: TCP 9404", "Webserver Port: TCP 80/443".
fn heading_ports(heading: &str) -> Option<(Vec<Proto>, Vec<Item>)> {
    let (label, value) = heading.rsplit_once(':')?;
    if !label.to_ascii_lowercase().contains("port") {
        return None;
    }
    let cell = parse_cell(value.trim());
    let [g] = cell.groups.as_slice() else { return None };
    (cell.error.is_none() && !g.protos.is_empty() && cell.hosts.is_empty())
        .then(|| (g.protos.clone(), g.items.iter().map(|(i, _)| i.clone()).collect()))
}

/// The ends a sentence gives "this port": "Ingesters connect to the
/// indexers on this port" → (Ingesters, indexers); "Indexers use this port
/// to talk to each other" → (Indexers, Indexers). Names of at most four
/// words without digits.
fn this_port_ends(text: &str) -> Option<(String, String)> {
    let name = |s: &str| {
        let s = s.trim().trim_start_matches("The ").trim_start_matches("the ").trim();
        let n = s.split_whitespace().count();
        (n > 0 && n <= 4 && !s.contains(|c: char| c.is_ascii_digit() || c == ',')).then(|| s.to_string())
    };
    for sentence in text.split(". ") {
        let lower = sentence.to_ascii_lowercase();
        if !lower.contains("this port") {
            continue;
        }
        if let Some(i) =
            lower.find(" use this port to talk to each other").or_else(|| lower.find(" use this port to communicate with each other"))
        {
            if let Some(x) = name(&sentence[..i]) {
                return Some((x.clone(), x));
            }
        }
        const VERBS: &[&str] =
            &[" connect to ", " connects to ", " talk to ", " talks to ", " reach ", " reaches ", " send to ", " sends to "];
        let Some((at, verb)) = VERBS.iter().filter_map(|v| lower.find(v).map(|i| (i, v.len()))).min() else { continue };
        let object = &sentence[at + verb..];
        let ol = object.to_ascii_lowercase();
        let Some(end) =
            [" on this port", " over this port", " through this port", " via this port"].iter().filter_map(|w| ol.find(w)).min()
        else {
            continue;
        };
        if let (Some(a), Some(b)) = (name(&sentence[..at]), name(&object[..end])) {
            return Some((a, b));
        }
    }
    None
}

/// Reads ports from the document's prose.
pub fn flows(doc: &Document) -> Vec<ProseFlow> {
    let mut out = Vec::new();
    let mut sec = Section::default();
    for Prose { line, text, heading } in &doc.prose {
        if *heading {
            sec = Section { heading_ports: heading_ports(text).map(|(p, i)| (p, i, text.clone())), ..Section::default() };
            continue;
        }
        // The ports of the section's heading, once a sentence names their ends.
        if let Some((protos, items, heading)) = sec.heading_ports.clone() {
            if let Some((from, to)) = this_port_ends(text) {
                sec.heading_ports = None;
                out.push(ProseFlow {
                    line: *line,
                    from: Some(from),
                    to: Some(to),
                    protos,
                    items,
                    purpose: heading,
                    condition: condition(text),
                    how: "ports in the section heading, ends in its text",
                });
                continue;
            }
        }
        if sec.transport.is_none() {
            let tcp = text.contains("TCP");
            let udp = text.contains("UDP");
            if tcp != udp {
                sec.transport = Some(if tcp { Proto::Tcp } else { Proto::Udp });
            }
        }
        let base = ProseFlow {
            line: *line,
            from: None,
            to: None,
            protos: Vec::new(),
            items: Vec::new(),
            purpose: text.clone(),
            condition: condition(text),
            how: "",
        };
        // Firewall commands.
        let cmds = command(text);
        if !cmds.is_empty() {
            for (protos, items, what) in cmds {
                out.push(ProseFlow { protos, items, purpose: what, how: "firewall command", ..base.clone() });
            }
            continue;
        }
        let body = strip_bullet(text);
        if let Some((head, value)) = body.split_once(':') {
            // "5672, 5671: used by AMQP clients"
            if let Some((items, protos)) = port_spec(&head.replace(' ', "")) {
                let protos = if protos.is_empty() { sec.transport.into_iter().collect() } else { protos };
                out.push(ProseFlow { protos, items, purpose: value.trim().to_string(), how: "list item", ..base.clone() });
                continue;
            }
            // "Console → Director: 9101" and "SIP port: default 5060 - UDP & TCP"
            let v = labelled_value(value);
            let cell = parse_cell(v.split('(').next().unwrap_or(&v));
            if cell.error.is_none() && !cell.groups.is_empty() && v.starts_with(|c: char| c.is_ascii_digit()) {
                let (from, to) = match arrow(head) {
                    Some((a, b)) => (Some(a), Some(b)),
                    None => (None, None),
                };
                for g in &cell.groups {
                    let protos = if g.protos.is_empty() { sec.transport.into_iter().collect() } else { g.protos.clone() };
                    out.push(ProseFlow {
                        from: from.clone(),
                        to: to.clone(),
                        protos,
                        items: g.items.iter().map(|(i, _)| i.clone()).collect(),
                        purpose: head.trim().to_string(),
                        how: if from.is_some() { "arrow" } else { "labelled value" },
                        ..base.clone()
                    });
                }
                continue;
            }
        }
        // "Media server to client requires the TCP port for PBX/1556".
        let found = routes(text);
        if !found.is_empty() {
            let condition =
                base.condition.clone().or_else(|| crate::hints::condition_in_text(text).map(|(f, _)| f).filter(|f| !f.is_empty()));
            for (from, to, protos, items) in found {
                let how = "a sentence naming both ends";
                out.push(ProseFlow { from: Some(from), to: Some(to), protos, items, how, condition: condition.clone(), ..base.clone() });
            }
            continue;
        }
        // "the normal TCP port used to serve clients, for example 6379".
        let served = served_ports(text);
        if !served.is_empty() {
            let later = section_after(doc, *line);
            for (from, to, protos, items) in served {
                let (from, how) = match (&from, &to) {
                    (Some(_), _) => (from, "port that serves a party"),
                    // The derived port: a later sentence may say who uses it.
                    (None, Some(subject)) if self_link(subject, &later) => {
                        (Some(subject.clone()), "port derived by a stated offset; its users named by a later sentence")
                    }
                    (None, _) => (None, "port derived by a stated offset"),
                };
                out.push(ProseFlow { from, to, protos, items, how, ..base.clone() });
            }
            continue;
        }
        // Examples illustrate; they state no requirement.
        if ["for example", "e.g.", "for instance", "such as"].iter().any(|w| lower_has(text, w)) {
            continue;
        }
        for (protos, items) in sentence_ports(text) {
            out.push(ProseFlow { protos, items, how: "sentence", ..base.clone() });
        }
    }
    out
}

/// The paragraphs of the section after `line`, up to the next heading.
fn section_after(doc: &Document, line: usize) -> Vec<&str> {
    doc.prose.iter().filter(|p| p.line > line).take_while(|p| !p.heading).map(|p| p.text.as_str()).collect()
}

/// The section heading that applies to each line, with its direction.
pub fn section_of(doc: &Document, line: usize) -> (String, Option<bool>) {
    let mut heading = String::new();
    let mut inbound = None;
    for p in &doc.prose {
        if p.line > line && line != 0 {
            break;
        }
        if p.heading {
            heading = p.text.clone();
            inbound = None;
        } else {
            let l = p.text.to_ascii_lowercase();
            if l.contains("inbound") || l.contains("incoming") {
                inbound = Some(true);
            } else if l.contains("outbound") || l.contains("outgoing") {
                inbound = Some(false);
            }
        }
    }
    (heading, inbound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(v: &[(Vec<Proto>, Vec<Item>, String)]) -> Vec<(Vec<Proto>, Vec<Item>)> {
        v.iter().map(|(p, i, _)| (p.clone(), i.clone())).collect()
    }

    #[test]
    fn firewall_commands() {
        use Proto::*;
        assert_eq!(items(&command("sudo ufw allow 16384:32768/udp")), [(vec![Udp], vec![Item::Range(16384, 32768)])]);
        assert_eq!(items(&command("ufw allow \"Nginx Full\"")), [(vec![Tcp], vec![Item::Port(80), Item::Port(443)])]);
        assert_eq!(items(&command("firewall-cmd --permanent --add-port=10051/tcp")), [(vec![Tcp], vec![Item::Port(10051)])]);
        assert_eq!(items(&command("firewall-cmd --add-port=5000-5010/udp")), [(vec![Udp], vec![Item::Range(5000, 5010)])]);
        assert_eq!(items(&command("iptables -A INPUT -p tcp --dport 5060 -j ACCEPT")), [(vec![Tcp], vec![Item::Port(5060)])]);
        assert!(command("iptables -A INPUT -p tcp --dport 23 -j DROP").is_empty(), "only accepting rules");
        assert!(command("ufw deny 23").is_empty());
        assert!(command("ufw allow from 10.0.0.0/8").is_empty(), "an address is no port");
    }

    #[test]
    fn sentences_only_in_explicit_phrases() {
        use Proto::*;
        assert_eq!(
            sentence_ports("Users must reach the server on TCP ports 80 and 443 and on the UDP range 16384-32768 used for media."),
            [(vec![Tcp], vec![Item::Port(80), Item::Port(443)]), (vec![Udp], vec![Item::Range(16384, 32768)])]
        );
        assert_eq!(sentence_ports("The agent listens on 10050/TCP for the server."), [(vec![Tcp], vec![Item::Port(10050)])]);
        // Numbers outside those phrases are never ports.
        assert!(sentence_ports("adding 10000 to the data port gives 16379 in the example").is_empty());
        assert!(sentence_ports("call +1 800 643 2353 about TCP tuning").is_empty());
        assert_eq!(condition("HTTP API (only if the management plugin is enabled)").as_deref(), Some("management plugin"));
    }

    #[test]
    fn a_port_named_by_the_party_it_serves() {
        let text = "Every Redis Cluster node needs two open TCP connections: the normal Redis TCP port used to serve clients, for example 6379, plus the port obtained by adding 10000 to the data port, so 16379 in the example.";
        let got = served_ports(text);
        let node = Some("Redis Cluster node".to_string());
        assert_eq!(
            got,
            [
                (Some("clients".to_string()), node.clone(), vec![Proto::Tcp], vec![Item::Port(6379)]),
                (None, node, vec![Proto::Tcp], vec![Item::Port(16379)]),
            ]
        );
        // No number right after the party, two transports, or none: nothing.
        assert!(served_ports("The TCP port used to serve clients is set in the configuration file.").is_empty());
        assert!(served_ports("The TCP and UDP port used by agents, for example 4000.").is_empty());
        assert!(served_ports("The port used by agents, for example 4000.").is_empty());
        assert_eq!(served_ports("The UDP port used by phones (5060) must be open.")[0].3, [Item::Port(5060)]);
    }

    #[test]
    fn ports_in_a_heading_with_the_ends_in_the_section() {
        assert_eq!(heading_ports("Indexer Control Port: TCP 9404"), Some((vec![Proto::Tcp], vec![Item::Port(9404)])));
        assert_eq!(heading_ports("Webserver Port: TCP 80/443"), Some((vec![Proto::Tcp], vec![Item::Port(80), Item::Port(443)])));
        assert_eq!(heading_ports("Ports: see below"), None);
        assert_eq!(heading_ports("Step 2: TCP 80"), None, "a label without \"port\"");
        assert_eq!(heading_ports("Control Port: 9404"), None, "no transport");
        let e = |t: &str| this_port_ends(t);
        assert_eq!(e("Ingesters connect to the indexers on this port to upload entries."), Some(("Ingesters".into(), "indexers".into())));
        assert_eq!(e("The webserver talks to the indexers over this port, which is set."), Some(("webserver".into(), "indexers".into())));
        assert_eq!(e("Indexers use this port to talk to each other for replication."), Some(("Indexers".into(), "Indexers".into())));
        assert_eq!(e("Ingesters connect to the indexers."), None, "not about this port");
        assert_eq!(e("This port is the default; 4023 may change."), None);
    }

    #[test]
    fn sentences_naming_both_ends() {
        let tcp = vec![Proto::Tcp];
        let r = routes("- Primary server to/from media servers requires the TCP port for PBX/1556, bi-directional.");
        assert_eq!(
            r,
            [
                ("Primary server".to_string(), "media servers".to_string(), tcp.clone(), vec![Item::Port(1556)]),
                ("media servers".to_string(), "Primary server".to_string(), tcp.clone(), vec![Item::Port(1556)]),
            ]
        );
        let r = routes("Client to storage server requires the TCP ports for spad/10102 and spoold/10082 for Client Direct backup.");
        assert_eq!(r, [("Client".to_string(), "storage server".to_string(), tcp.clone(), vec![Item::Port(10102), Item::Port(10082)])]);
        // One direction unless the text says both; a party to itself once.
        assert_eq!(routes("Media server to client requires the TCP port for PBX/1556.").len(), 1);
        assert_eq!(routes("Media server to media server requires the TCP port for PBX/1556, bi-directional.").len(), 1);
        // No transport, two transports, no port word, or no "A to B": nothing.
        assert!(routes("Media server to client requires port 1556.").is_empty());
        assert!(routes("Media server to client requires TCP and UDP port 1556.").is_empty());
        assert!(routes("Media server to client requires the TCP service vnetd/13724.").is_empty());
        assert!(routes("Each media server requires the TCP port 1556.").is_empty());
        assert!(routes("Version 7 to 10 requires the TCP port 1556.").is_empty(), "a number is no party");
    }

    #[test]
    fn a_derived_port_needs_its_offset_and_its_sum_stated() {
        let s = "the TCP port used by clients, for example 6379, plus the port obtained by adding 10000 to the data port, so 16379";
        assert_eq!(derived_port(s, 6379), Some(16379));
        assert_eq!(derived_port("the client port + 1, that is 5001", 5000), Some(5001));
        // A sum the text does not state, a stated number that is not the sum, no offset: nothing.
        assert_eq!(derived_port("plus the port obtained by adding 10000 to the data port", 6379), None);
        assert_eq!(derived_port("adding 10000 to the data port, so 16380", 6379), None);
        assert_eq!(derived_port("so 16379 in the example", 6379), None);
        assert_eq!(derived_port("adding 65000 to the data port, so 71379", 6379), None, "beyond 65535");
        assert!(self_link("Redis Cluster node", &["The bus is a node-to-node channel."]));
        assert!(self_link("Each broker", &["Broker-to-broker replication uses it."]));
        assert!(!self_link("Redis Cluster node", &["Clients talk to the command port."]));
    }
}
