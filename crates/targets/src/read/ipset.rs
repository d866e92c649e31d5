//! `ipset save` output, or an `ipset restore` file: the sets that
//! `iptables -m set --match-set` looks up.
//!
//! ```text
//! create web hash:net,port family inet hashsize 1024 maxelem 65536
//! add web 10.1.0.0/16,tcp:443 comment "acd/web"
//! ```
//!
//! A restore file is replayed as `ipset restore` would run it: `create`
//! (`-exist` keeps a set that is there), `add`, `flush`, `swap`, `rename`
//! and `destroy` — the way portmatrix's own files fill a set under a
//! scratch name and swap it in.

use std::collections::BTreeMap;

use super::names::{proto_number, PORT_PROTOS};
use super::{Dim, Origin, ReadError, Syntax, Values};
use crate::ir::Family;

/// What one component of a set's type holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// `ip` or `net`: an address, prefix or range.
    Addr,
    /// `port`: `[proto:]port[-port]`.
    Port,
    /// The `port` of a `bitmap:port` set: a port number of whatever
    /// transport protocol the packet has (the rule's `-p` says which).
    AnyProtoPort,
    /// `iface`: an interface name.
    Iface,
    /// `mac`, `mark`: not part of the packet space the check judges.
    Other(&'static str),
}

/// The value of one component of one element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Addr(u128, u128),
    /// `proto` is `None` for a `bitmap:port` member (any port protocol).
    Port {
        proto: Option<u8>,
        lo: u16,
        hi: u16,
    },
    Iface(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub parts: Vec<Part>,
    pub comment: Option<String>,
    /// `nomatch`: an exception inside a wider element.
    pub nomatch: bool,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSet {
    pub name: String,
    pub type_name: String,
    pub family: Family,
    /// `None` for types the check cannot judge (`list:set`, `hash:mac`, ...).
    pub components: Option<Vec<Component>>,
    pub elements: Vec<Element>,
    /// Elements that could not be read, with their line.
    pub unreadable: Vec<(usize, String)>,
    pub line: usize,
}

impl IpSet {
    /// The clauses `--match-set NAME dirs` stands for, or why it cannot be
    /// judged. `dirs` are the `src`/`dst` flags, one per component.
    pub fn clauses(&self, dirs: &[&str]) -> Result<Vec<super::Clause>, String> {
        let Some(comps) = &self.components else { return Err(format!("ipset `{}` of type {}", self.name, self.type_name)) };
        if !self.unreadable.is_empty() {
            let (l, why) = &self.unreadable[0];
            return Err(format!("ipset `{}`: element on line {l}: {why}", self.name));
        }
        if self.elements.iter().any(|e| e.nomatch) {
            return Err(format!("ipset `{}` has nomatch elements (exceptions)", self.name));
        }
        if dirs.len() < comps.len() {
            return Err(format!("--match-set {} names {} direction(s) for {} components", self.name, dirs.len(), comps.len()));
        }
        if let Some(Component::Other(what)) = comps.iter().find(|c| matches!(c, Component::Other(_))) {
            return Err(format!("ipset `{}` matches on {what}", self.name));
        }
        let fam = super::family_value(self.family);
        let mut out = Vec::new();
        for (i, e) in self.elements.iter().enumerate() {
            let mut terms = vec![(Dim::Family, Values::one(fam))];
            for (p, dir) in e.parts.iter().zip(dirs) {
                let src = *dir == "src";
                match p {
                    Part::Addr(a, b) => terms.push((if src { Dim::Src } else { Dim::Dst }, Values::range(*a, *b))),
                    Part::Port { proto, lo, hi } => {
                        terms.push((
                            Dim::Proto,
                            match proto {
                                Some(p) => Values::one(*p as u128),
                                None => Values::Ranges(PORT_PROTOS.iter().map(|&p| (p as u128, p as u128)).collect()),
                            },
                        ));
                        terms.push((if src { Dim::Sport } else { Dim::Dport }, Values::range(*lo as u128, *hi as u128)));
                    }
                    Part::Iface(n) => {
                        terms.push((if src { Dim::Iif } else { Dim::Oif }, Values::Names(vec![super::IfName::Exact(n.clone())])))
                    }
                }
            }
            out.push(super::Clause { terms, origin: Some(Origin { set: self.name.clone(), index: i, comment: e.comment.clone() }) });
        }
        Ok(out)
    }
}

/// Every set of an `ipset save` output or `ipset restore` file, by name.
pub fn parse(text: &str) -> Result<BTreeMap<String, IpSet>, ReadError> {
    let mut sets: BTreeMap<String, IpSet> = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let toks = super::iptables::tokenize(l).map_err(|e| ReadError::at_line(Syntax::Iptables, line, format!("ipset file: {e}")))?;
        command(&mut sets, &toks, line).map_err(|why| {
            ReadError::at_line(Syntax::Iptables, line, format!("ipset file: {why}"))
                .with_hint("give the output of `ipset save` or an `ipset restore` file")
        })?;
    }
    Ok(sets)
}

/// Replays one command of a save or restore file on `sets`.
fn command(sets: &mut BTreeMap<String, IpSet>, toks: &[String], line: usize) -> Result<(), String> {
    let exist = toks.iter().any(|t| t == "-exist" || t == "-!");
    let toks: Vec<String> = toks.iter().filter(|t| *t != "-exist" && *t != "-!").cloned().collect();
    let name = |i: usize| toks.get(i).cloned().ok_or_else(|| format!("`{}` needs a set name", toks[0]));
    let known =
        |sets: &BTreeMap<String, IpSet>, n: &str| if sets.contains_key(n) { Ok(()) } else { Err(format!("set `{n}` does not exist here")) };
    match toks.first().map(String::as_str) {
        Some("create" | "-N" | "n") if toks.len() >= 3 => {
            let set = create(&toks, line);
            if sets.contains_key(&set.name) {
                // `-exist` keeps the existing set and its members.
                return if exist { Ok(()) } else { Err(format!("set `{}` is created twice (without -exist)", set.name)) };
            }
            sets.insert(set.name.clone(), set);
        }
        Some("add" | "-A" | "a") if toks.len() >= 3 => {
            let Some(set) = sets.get_mut(&toks[1]) else { return Err(format!("`add` to set `{}` before its `create`", toks[1])) };
            match element(set, &toks[2..], line) {
                Ok(e) => set.elements.push(e),
                Err(why) => set.unreadable.push((line, why)),
            }
        }
        Some("flush" | "-F" | "f") => match toks.get(1) {
            Some(n) => {
                known(sets, n)?;
                let set = sets.get_mut(n).expect("known");
                set.elements.clear();
                set.unreadable.clear();
            }
            None => sets.values_mut().for_each(|s| {
                s.elements.clear();
                s.unreadable.clear();
            }),
        },
        Some("destroy" | "-X" | "x") => match toks.get(1) {
            Some(n) => {
                known(sets, n)?;
                sets.remove(n);
            }
            None => sets.clear(),
        },
        Some("swap" | "-W" | "w") => {
            let (a, b) = (name(1)?, name(2)?);
            known(sets, &a)?;
            known(sets, &b)?;
            // The names stay; what they hold is exchanged.
            let mut sa = sets.remove(&a).expect("known");
            let mut sb = sets.remove(&b).expect("known");
            std::mem::swap(&mut sa.name, &mut sb.name);
            sets.insert(b, sa);
            sets.insert(a, sb);
        }
        Some("rename" | "-E" | "e") => {
            let (a, b) = (name(1)?, name(2)?);
            known(sets, &a)?;
            if sets.contains_key(&b) {
                return Err(format!("cannot rename `{a}` to `{b}`: `{b}` exists"));
            }
            let mut set = sets.remove(&a).expect("known");
            set.name = b.clone();
            sets.insert(b, set);
        }
        _ => return Err("expected `create NAME TYPE ...`, `add NAME ELEMENT ...`, `flush`, `swap`, `rename` or `destroy`".into()),
    }
    Ok(())
}

fn create(toks: &[String], line: usize) -> IpSet {
    let type_name = toks[2].clone();
    let family = match toks.iter().position(|t| t == "family").and_then(|i| toks.get(i + 1)).map(String::as_str) {
        Some("inet6") => Family::V6,
        _ => Family::V4,
    };
    let components = type_name.split_once(':').and_then(|(method, comps)| {
        if !matches!(method, "hash" | "bitmap") {
            return None;
        }
        if type_name == "bitmap:port" {
            return Some(vec![Component::AnyProtoPort]);
        }
        comps
            .split(',')
            .map(|c| match c {
                "ip" | "net" => Some(Component::Addr),
                "port" => Some(Component::Port),
                "iface" => Some(Component::Iface),
                "mac" => Some(Component::Other("MAC addresses")),
                "mark" => Some(Component::Other("packet marks")),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
    });
    IpSet { name: toks[1].clone(), type_name, family, components, elements: Vec::new(), unreadable: Vec::new(), line }
}

fn element(set: &IpSet, toks: &[String], line: usize) -> Result<Element, String> {
    let comps = set.components.clone().unwrap_or_default();
    let raw: Vec<&str> = toks[0].split(',').collect();
    let mut parts = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let c = comps.get(i).copied().ok_or_else(|| format!("more parts than the type {} has", set.type_name))?;
        parts.push(match c {
            Component::Addr => addr_part(set.family, r)?,
            Component::Port => port_part(r)?,
            Component::AnyProtoPort => any_proto_port(r)?,
            Component::Iface => Part::Iface(r.trim_start_matches("physdev:").to_string()),
            Component::Other(_) => continue,
        });
    }
    let mut comment = None;
    let mut nomatch = false;
    let mut i = 1;
    while i < toks.len() {
        match toks[i].as_str() {
            "comment" => {
                comment = toks.get(i + 1).cloned();
                i += 2;
            }
            "nomatch" => {
                nomatch = true;
                i += 1;
            }
            "timeout" | "packets" | "bytes" | "skbmark" | "skbprio" | "skbqueue" => i += 2,
            other => return Err(format!("unknown element option `{other}`")),
        }
    }
    Ok(Element { parts, comment, nomatch, line })
}

fn addr_part(fam: Family, s: &str) -> Result<Part, String> {
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (parse_addr(fam, a)?, parse_addr(fam, b)?);
        return if a <= b { Ok(Part::Addr(a, b)) } else { Err(format!("range {s} runs backwards")) };
    }
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u32>().map_err(|_| format!("prefix length in {s}"))?)),
        None => (s, None),
    };
    let v = parse_addr(fam, a)?;
    let bits = if fam == Family::V4 { 32 } else { 128 };
    let len = len.unwrap_or(bits);
    if len > bits {
        return Err(format!("prefix length in {s}"));
    }
    let host = bits - len;
    let mask: u128 = if host == 128 { u128::MAX } else { (1u128 << host) - 1 };
    Ok(Part::Addr(v & !mask, (v & !mask) | mask))
}

fn parse_addr(fam: Family, s: &str) -> Result<u128, String> {
    match (fam, s.parse::<std::net::IpAddr>()) {
        (Family::V4, Ok(a @ std::net::IpAddr::V4(_))) | (Family::V6, Ok(a @ std::net::IpAddr::V6(_))) => Ok(super::addr_u128(a)),
        _ => Err(format!("`{s}` is not an address of the set's family")),
    }
}

/// A `bitmap:port` member: `port` or `port-port`.
fn any_proto_port(s: &str) -> Result<Part, String> {
    let parse = |p: &str| p.parse::<u16>().map_err(|_| format!("port `{p}` (service names are not resolved)"));
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(s)?, parse(s)?),
    };
    if lo > hi {
        return Err(format!("port range {s} runs backwards"));
    }
    Ok(Part::Port { proto: None, lo, hi })
}

fn port_part(s: &str) -> Result<Part, String> {
    let (proto, ports) = match s.split_once(':') {
        Some((p, rest)) => (proto_number(p).ok_or_else(|| format!("protocol `{p}`"))?, rest),
        None => (6, s),
    };
    if !PORT_PROTOS.contains(&proto) {
        return Err(format!("protocol {proto} entries (ICMP type/code or no port)"));
    }
    let parse = |p: &str| p.parse::<u16>().map_err(|_| format!("port `{p}` (service names are not resolved)"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(ports)?, parse(ports)?),
    };
    if lo > hi {
        return Err(format!("port range {ports} runs backwards"));
    }
    Ok(Part::Port { proto: Some(proto), lo, hi })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_read_with_their_elements() {
        let sets = parse(
            "create web hash:net,port family inet hashsize 1024 maxelem 65536\nadd web 10.1.0.0/16,tcp:443 comment \"acd/web\"\nadd web 10.2.0.1,udp:5060-5061\ncreate six hash:ip family inet6\nadd six 2001:db8::1 timeout 30\ncreate l list:set\n",
        )
        .unwrap();
        let web = &sets["web"];
        assert_eq!(web.elements.len(), 2);
        assert_eq!(web.elements[0].comment.as_deref(), Some("acd/web"));
        assert_eq!(web.elements[1].parts[1], Part::Port { proto: Some(17), lo: 5060, hi: 5061 });
        let c = web.clauses(&["src", "dst"]).unwrap();
        assert!(c[0].terms.contains(&(Dim::Dport, Values::range(443, 443))));
        assert!(c[0].terms.contains(&(Dim::Src, Values::range(0x0a01_0000, 0x0a01_ffff))));
        assert_eq!(sets["six"].family, Family::V6);
        assert!(sets["l"].clauses(&["src"]).is_err());
        assert!(parse("add web 1.2.3.4\n").is_err());
        assert!(parse("bogus\n").is_err());
    }

    #[test]
    fn restore_files_are_replayed() {
        // Filled under a scratch name and swapped in, as portmatrix writes it;
        // loading it twice leaves the second filling.
        let once = "create a hash:net family inet -exist\ncreate tmp hash:net family inet\nadd tmp 10.0.0.0/8\nswap tmp a\ndestroy tmp\n\
create p bitmap:port range 0-65535 -exist\ncreate tmp bitmap:port range 0-65535\nadd tmp 5060\nadd tmp 30000-34999\nswap tmp p\ndestroy tmp\n";
        let sets = parse(&format!("{once}{once}")).unwrap();
        assert_eq!(sets.keys().collect::<Vec<_>>(), ["a", "p"]);
        assert_eq!(sets["a"].name, "a");
        assert_eq!(sets["a"].elements.len(), 1);
        assert_eq!(sets["p"].elements[1].parts[0], Part::Port { proto: None, lo: 30000, hi: 34999 });
        // A bitmap:port member matches any port protocol; the rule's -p narrows it.
        let c = sets["p"].clauses(&["dst"]).unwrap();
        assert!(c[0].terms.iter().any(|(d, v)| *d == Dim::Proto && v.contains(17) && v.contains(6) && !v.contains(1)));
        assert!(parse("create a hash:net\ncreate a hash:net\n").is_err(), "created twice without -exist");
        assert!(parse("swap a b\n").is_err());
        let renamed = parse("create a hash:ip\nadd a 10.0.0.1\nrename a b\nflush b\n").unwrap();
        assert!(renamed["b"].elements.is_empty() && !renamed.contains_key("a"));
    }
}
