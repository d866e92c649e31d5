//! Scoring a draft against a golden flow list made by reading the source
//! document, endpoint by endpoint.
//!
//! A golden file is line-based:
//!
//! ```text
//! # source: where the facts come from
//! endpoint mailbox = Mailbox servers | Mailbox server
//! endpoint any = clients            # names that stand for "anyone"
//! flow internet -> mailbox tcp 443,80
//! flow any -> ipa-server udp 123 if ntp
//! ```
//!
//! A draft role stands for a golden endpoint when one of its names (id,
//! title, aliases) equals one of the endpoint's names (or its id), after
//! lower-casing and turning punctuation into spaces; `any` stands for the
//! endpoint `any`. Then:
//!
//! * **recall**: a golden row is recalled when, for each of its protocols,
//!   the draft flows with that protocol whose initiator and listener stand
//!   for the row's ends together cover the row's ports (a row split into a
//!   plain and a TLS flow counts; parameters resolve to their defaults);
//! * **precision**: a draft flow is precise when, for every initiator,
//!   listener and protocol it names, its ports lie within the golden rows
//!   of those endpoints and protocol.

use std::collections::BTreeMap;

use portmatrix_model::{Matrix, PortSet, Proto};

/// One golden flow row.
#[derive(Debug, Clone)]
pub struct GoldenFlow {
    pub from: String,
    pub to: String,
    pub protos: Vec<Proto>,
    pub ports: PortSet,
    pub when: Option<String>,
    pub line: usize,
}

/// A golden file.
#[derive(Debug, Clone, Default)]
pub struct Golden {
    pub source: String,
    /// Endpoint id → its names, normalised.
    pub endpoints: BTreeMap<String, Vec<String>>,
    pub flows: Vec<GoldenFlow>,
}

/// Lower case, punctuation as single spaces, a trailing generic noun
/// ("server", "nodes") dropped when a name remains, the last word in the
/// singular: "RabbitMQ nodes", "RabbitMQ node" and "RabbitMQ" compare equal.
pub fn norm(s: &str) -> String {
    let mut words: Vec<String> =
        s.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect();
    if words.len() > 1 && ["server", "servers", "node", "nodes", "host", "hosts", "system"].contains(&words[words.len() - 1].as_str()) {
        words.pop();
    }
    if let Some(last) = words.last_mut() {
        if last.len() > 3 && last.ends_with('s') && !last.ends_with("ss") {
            last.pop();
        }
    }
    words.join(" ")
}

impl Golden {
    /// Parses a golden file; errors name the line.
    pub fn parse(text: &str) -> Result<Golden, String> {
        let mut g = Golden::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let no = i + 1;
            if let Some(s) = line.strip_prefix("# source:") {
                g.source = s.trim().to_string();
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("endpoint ") {
                let (id, names) = rest.split_once('=').ok_or(format!("line {no}: `endpoint ID = NAME | NAME`"))?;
                let id = id.trim().to_string();
                let mut all = vec![norm(&id)];
                all.extend(names.split('|').map(norm).filter(|n| !n.is_empty()));
                g.endpoints.entry(id).or_default().extend(all);
                continue;
            }
            let rest = line.strip_prefix("flow ").ok_or(format!("line {no}: expected `endpoint` or `flow`"))?;
            let (rest, when) = match rest.split_once(" if ") {
                Some((r, w)) => (r, Some(w.trim().to_string())),
                None => (rest, None),
            };
            let words: Vec<&str> = rest.split_whitespace().collect();
            let [from, "->", to, protos, ports] = words.as_slice() else {
                return Err(format!("line {no}: `flow FROM -> TO PROTO[,PROTO] PORTS [if CONDITION]`"));
            };
            let protos: Vec<Proto> =
                protos.split(',').map(|p| Proto::parse(p).ok_or(format!("line {no}: unknown protocol `{p}`"))).collect::<Result<_, _>>()?;
            let ports = PortSet::parse(ports).map_err(|e| format!("line {no}: {e}"))?;
            for end in [from, to] {
                if *end != "any" && !g.endpoints.contains_key(*end) {
                    return Err(format!("line {no}: endpoint `{end}` is not declared"));
                }
            }
            g.flows.push(GoldenFlow { from: from.to_string(), to: to.to_string(), protos, ports, when, line: no });
        }
        Ok(g)
    }
}

/// The figures of one draft against its golden list.
#[derive(Debug, Clone, Default)]
pub struct Score {
    pub precision: f64,
    pub recall: f64,
    pub flows: usize,
    pub precise: usize,
    pub rows: usize,
    pub recalled: usize,
    /// Golden rows with a condition, and of those the recalled ones whose
    /// covering flows all carry a `when:`.
    pub conditional: usize,
    pub conditional_kept: usize,
    /// What did not match, for the printed report.
    pub misses: Vec<String>,
}

/// The golden endpoint a draft role stands for.
fn endpoint_of(m: &Matrix, g: &Golden, role: &str) -> Option<String> {
    if role == "any" {
        return Some("any".into());
    }
    let r = m.roles.get(role)?;
    let mut names = vec![norm(role), norm(&r.title)];
    names.extend(r.aliases.iter().map(|a| norm(a)));
    names.extend(r.fqdns.iter().map(|f| norm(&f.value)));
    g.endpoints.iter().find(|(_, en)| en.iter().any(|n| names.contains(n))).map(|(id, _)| id.clone())
}

/// Every (initiator endpoint, listener endpoint, protocol, ports, has when) of the draft, per flow.
type Fact = (Option<String>, Option<String>, Proto, PortSet);

fn facts(m: &Matrix, g: &Golden) -> Vec<(String, Vec<Fact>, bool)> {
    let ends = |names: &[portmatrix_model::source::Spanned<String>]| -> Vec<Option<String>> {
        names.iter().flat_map(|n| if n.value == "any" { vec!["any"] } else { m.expand(&n.value) }).map(|r| endpoint_of(m, g, r)).collect()
    };
    m.flows
        .iter()
        .map(|f| {
            let ports = f.ports.as_ref().and_then(|p| p.resolve(&|n| m.param_default(n)).ok()).unwrap_or_default();
            let mut v = Vec::new();
            for a in ends(&f.from) {
                for b in ends(&f.to) {
                    for p in f.protos() {
                        v.push((a.clone(), b.clone(), p, ports.clone()));
                    }
                }
            }
            (f.id.value.clone(), v, f.when.is_some())
        })
        .collect()
}

/// Scores a draft.
pub fn score(m: &Matrix, g: &Golden) -> Score {
    let drafted = facts(m, g);
    let mut s = Score { flows: drafted.len(), rows: g.flows.len(), ..Score::default() };
    // Golden ports per (from, to, proto).
    let mut allowed: BTreeMap<(String, String, Proto), PortSet> = BTreeMap::new();
    for r in &g.flows {
        for p in &r.protos {
            let e = allowed.entry((r.from.clone(), r.to.clone(), *p)).or_default();
            *e = e.union(&r.ports);
        }
    }
    for (id, fs, _) in &drafted {
        let ok = !fs.is_empty()
            && fs.iter().all(|(a, b, p, ports)| match (a, b) {
                (Some(a), Some(b)) => allowed.get(&(a.clone(), b.clone(), *p)).is_some_and(|g| ports.difference(g).is_empty()),
                _ => false,
            });
        if ok {
            s.precise += 1;
        } else {
            let desc: Vec<String> = fs
                .iter()
                .map(|(a, b, p, ports)| format!("{}->{} {p} {ports}", a.as_deref().unwrap_or("?"), b.as_deref().unwrap_or("?")))
                .collect();
            s.misses.push(format!("imprecise draft flow `{id}`: {}", desc.join("; ")));
        }
    }
    for r in &g.flows {
        let mut recalled = true;
        let mut with_when = true;
        for p in &r.protos {
            let mut covered = PortSet::new();
            for (_, fs, when) in &drafted {
                for (a, b, q, ports) in fs {
                    if q == p && a.as_deref() == Some(r.from.as_str()) && b.as_deref() == Some(r.to.as_str()) {
                        let useful = !ports.intersection(&r.ports).is_empty() || (ports.is_empty() && r.ports.is_empty());
                        covered = covered.union(ports);
                        if useful {
                            with_when &= *when;
                        }
                    }
                }
            }
            if !r.ports.difference(&covered).is_empty() {
                recalled = false;
            }
        }
        if recalled {
            s.recalled += 1;
        } else {
            let protos: Vec<&str> = r.protos.iter().map(|p| p.as_str()).collect();
            s.misses.push(format!("missed golden row L{}: {} -> {} {} {}", r.line, r.from, r.to, protos.join(","), r.ports));
        }
        if r.when.is_some() {
            s.conditional += 1;
            if recalled && with_when {
                s.conditional_kept += 1;
            }
        }
    }
    s.precision = if s.flows == 0 { 0.0 } else { s.precise as f64 / s.flows as f64 };
    s.recall = if s.rows == 0 { 1.0 } else { s.recalled as f64 / s.rows as f64 };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = "# source: test\nendpoint web = Web server\nendpoint browser = Browsers | Users\nflow browser -> web tcp 80,443\nflow any -> web udp 53 if dns\n";

    fn draft(flows: &str) -> Matrix {
        let yaml = format!(
            "matrix: t\ntitle: t\nversion: \"1\"\nfeatures: {{ dns: {{ default: false }} }}\nparams: {{ https: {{ default: 443 }} }}\nroles:\n  web-server: {{ title: Web server }}\n  users: {{ title: Users }}\n  other: {{ title: Other }}\nflows:\n{flows}"
        );
        portmatrix_model::matrix_from_str("t.yaml", &yaml).unwrap_or_else(|d| panic!("{:?}", d[0].message))
    }

    #[test]
    fn split_flows_cover_a_row_and_parameters_resolve() {
        let g = Golden::parse(GOLDEN).unwrap();
        let m = draft("  - { id: a, from: users, to: web-server, proto: tcp, ports: 80, purpose: p, cite: c }\n  - { id: b, from: users, to: web-server, proto: tcp, ports: https, tls: true, purpose: p, cite: c }\n  - { id: c, from: any, to: web-server, proto: udp, ports: 53, when: dns, purpose: p, cite: c }\n");
        let s = score(&m, &g);
        assert_eq!((s.precise, s.flows, s.recalled, s.rows), (3, 3, 2, 2), "{:?}", s.misses);
        assert_eq!((s.conditional, s.conditional_kept), (1, 1));
    }

    #[test]
    fn wrong_ends_or_extra_ports_are_imprecise() {
        let g = Golden::parse(GOLDEN).unwrap();
        // Reversed ends, an unknown role, and a port beyond the golden row.
        let m = draft("  - { id: a, from: web-server, to: users, proto: tcp, ports: 80, purpose: p, cite: c }\n  - { id: b, from: other, to: web-server, proto: tcp, ports: 80, purpose: p, cite: c }\n  - { id: c, from: users, to: web-server, proto: tcp, ports: \"80,443,8080\", purpose: p, cite: c }\n");
        let s = score(&m, &g);
        assert_eq!(s.precise, 0, "{:?}", s.misses);
        // The third flow still covers the row: recall counts coverage.
        assert_eq!(s.recalled, 1);
        assert!(Golden::parse("flow a -> b tcp 1").unwrap_err().contains("not declared"));
    }
}
