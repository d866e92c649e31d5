//! A read-back ruleset evaluated on one packet at a time: the reference the
//! box arithmetic is tested against, and a way to confirm a witness. It
//! shares nothing with the sweep but the read-back model.

use portmatrix_targets::read::{
    addr_u128, Action, Chain, ChainId, Cond, Dim, Hook, Policy, ReadBack, TableFamily, Test, Values, Verdict as RbVerdict, FAMILY_V4,
    FAMILY_V6,
};
use portmatrix_targets::{Chain as Kind, Family};

use crate::space::Packet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    /// A rule the check cannot judge decides the packet.
    Unknown,
}

fn value(p: &Packet, d: Dim) -> Option<u128> {
    Some(match d {
        Dim::Family => {
            if p.family == 6 {
                FAMILY_V6
            } else {
                FAMILY_V4
            }
        }
        Dim::Proto => p.protocol as u128,
        Dim::Src => addr_u128(p.src),
        Dim::Dst => addr_u128(p.dst),
        Dim::Sport => p.src_port.unwrap_or(0) as u128,
        Dim::Dport => p.dst_port.unwrap_or(0) as u128,
        Dim::IcmpType => p.icmp_type.unwrap_or(0) as u128,
        Dim::CtState => p.ct_state.value(),
        Dim::Iif | Dim::Oif => return None,
    })
}

fn term(p: &Packet, d: Dim, v: &Values) -> bool {
    match (d, v) {
        (Dim::Iif, Values::Names(_)) => p.iif.as_deref().is_some_and(|n| v.contains_name(n)),
        (Dim::Oif, Values::Names(_)) => p.oif.as_deref().is_some_and(|n| v.contains_name(n)),
        (_, Values::Ranges(_)) => value(p, d).is_some_and(|x| v.contains(x)),
        _ => false,
    }
}

/// Whether a condition holds for the packet of a new connection.
fn holds(c: &Cond, p: &Packet, kind: Kind) -> bool {
    if !c.requires.iter().all(|(d, v)| term(p, *d, v)) {
        return false;
    }
    let t = match &c.test {
        Test::DaddrLocal => kind == Kind::Input,
        Test::Region(clauses) => {
            // An interface the packet does not have fails the match either way.
            let absent = clauses
                .iter()
                .flat_map(|cl| &cl.terms)
                .any(|(d, _)| (*d == Dim::Oif && p.oif.is_none()) || (*d == Dim::Iif && p.iif.is_none()));
            if absent {
                return false;
            }
            clauses.iter().any(|cl| cl.terms.iter().all(|(d, v)| term(p, *d, v)))
        }
    };
    t != c.negated
}

fn chain<'a>(rb: &'a ReadBack, of: &ChainId, name: &str) -> Option<&'a Chain> {
    rb.chains.iter().find(|c| c.id.family == of.family && c.id.table == of.table && c.id.name == name)
}

/// How one base chain ends for a packet.
enum Ended {
    Verdict(Verdict),
    /// Destination NAT: the chain accepts and later chains see this destination.
    Dnat(std::net::IpAddr),
}

/// Runs one base chain.
fn run(rb: &ReadBack, base: &Chain, p: &Packet, kind: Kind) -> Ended {
    let policy = Ended::Verdict(match base.base.as_ref().map(|b| b.policy) {
        Some(Policy::Drop) => Verdict::Drop,
        _ => Verdict::Accept,
    });
    let mut stack: Vec<(&Chain, usize)> = Vec::new();
    let (mut c, mut i) = (base, 0usize);
    loop {
        let Some(rule) = c.rules.get(i) else {
            match stack.pop() {
                Some((pc, pi)) => {
                    (c, i) = (pc, pi);
                    continue;
                }
                None => return policy,
            }
        };
        if !rule.conds.iter().all(|cond| holds(cond, p, kind)) {
            i += 1;
            continue;
        }
        if !rule.unjudged.is_empty() {
            return Ended::Verdict(Verdict::Unknown);
        }
        let v = match &rule.action {
            Action::Verdict(v) => Some(v.clone()),
            Action::Map(entries) => entries.iter().find(|(cl, _)| cl.terms.iter().all(|(d, v)| term(p, *d, v))).map(|(_, v)| v.clone()),
            Action::Dnat(a) => return Ended::Dnat(*a),
        };
        match v {
            None | Some(RbVerdict::Continue) => i += 1,
            Some(RbVerdict::Accept) => return Ended::Verdict(Verdict::Accept),
            Some(RbVerdict::Drop) => return Ended::Verdict(Verdict::Drop),
            Some(RbVerdict::Return) => match stack.pop() {
                Some((pc, pi)) => (c, i) = (pc, pi),
                None => return policy,
            },
            Some(RbVerdict::Jump(t)) => {
                let Some(next) = chain(rb, &c.id, &t) else { return Ended::Verdict(Verdict::Unknown) };
                if stack.len() >= 16 {
                    return Ended::Verdict(Verdict::Unknown);
                }
                stack.push((c, i + 1));
                (c, i) = (next, 0);
            }
            Some(RbVerdict::Goto(t)) => {
                let Some(next) = chain(rb, &c.id, &t) else { return Ended::Verdict(Verdict::Unknown) };
                (c, i) = (next, 0);
            }
        }
    }
}

/// What the read-back ruleset does with the first packet of a new
/// connection arriving for the host (`Input`) or being routed (`Forward`).
/// A destination NAT on the way changes the destination the later base
/// chains see (routed packets only: on a host it may turn the packet into
/// a routed one, which is not judged).
pub fn evaluate(rb: &ReadBack, kind: Kind, p: &Packet) -> Verdict {
    let mut p = p.clone();
    let p = &mut p;
    let fam = if p.family == 6 { Family::V6 } else { Family::V4 };
    if rb.missing_families.iter().any(|(f, _)| *f == fam) {
        return Verdict::Unknown;
    }
    let hooks: [Hook; 3] = match kind {
        Kind::Input => [Hook::Ingress, Hook::Prerouting, Hook::Input],
        Kind::Forward => [Hook::Ingress, Hook::Prerouting, Hook::Forward],
    };
    let mut bases: Vec<(usize, i32, usize, &Chain)> = rb
        .chains
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let b = c.base.as_ref()?;
            let h = hooks.iter().position(|&h| h == b.hook)?;
            let ip_family = matches!(c.id.family, TableFamily::Ip | TableFamily::Ip6 | TableFamily::Inet | TableFamily::Windows);
            let fits = if b.hook == Hook::Ingress { matches!(c.id.family, TableFamily::Netdev | TableFamily::Inet) } else { ip_family };
            let dev_ok = b.devices.is_empty() || p.iif.as_ref().is_some_and(|n| b.devices.contains(n));
            (fits && c.id.family.sees(fam) && dev_ok).then_some((h, b.priority, i, c))
        })
        .collect();
    bases.sort_by_key(|&(h, prio, i, _)| (h, prio, i));
    for (_, _, _, c) in bases {
        match run(rb, c, p, kind) {
            Ended::Verdict(Verdict::Accept) => {}
            Ended::Verdict(other) => return other,
            Ended::Dnat(to) if kind == Kind::Forward && to.is_ipv6() == (p.family == 6) => p.dst = to,
            Ended::Dnat(_) => return Verdict::Unknown,
        }
    }
    Verdict::Accept
}
