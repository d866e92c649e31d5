//! The guard refuses exactly when the ruleset's evaluator, asked about every
//! single address of the admin network, says some address is cut off from
//! the management port. Random rulesets over one /24 (so that every address
//! can be enumerated), random admin networks inside it.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use portmatrix_apply::guard::{self, AdminNetwork, Cut, GuardInput, Session, SessionOrigin};
use portmatrix_model::{PortSet, Proto};
use portmatrix_plan::Packet;
use portmatrix_targets::{BasePolicy, Chain, Family, GroupName, Rule, Ruleset, Subject};
use proptest::prelude::*;

const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1));
const MGMT: u16 = 22;

fn net(last: u8, len: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::new(10, 0, 0, last), len).expect("len <= 32").trunc())
}

fn rule(src: Vec<IpNet>, proto: Proto, lo: u16, hi: u16) -> Rule {
    Rule {
        family: Family::V4,
        group: GroupName::parse("admins").expect("a valid group name"),
        src,
        dst: Vec::new(),
        proto,
        dports: PortSet::from_ranges([(lo, hi)]),
        sports: None,
        icmp: Vec::new(),
        reasons: Vec::new(),
        zones: None,
    }
}

fn ruleset(rules: Vec<Rule>) -> Ruleset {
    Ruleset {
        subject: Subject::Host("h".into()),
        chain: Chain::Input,
        base: BasePolicy { return_traffic: true, drop_invalid: true, loopback: true, icmp: Vec::new() },
        rules,
        dnat: Vec::new(),
        own: vec![HOST],
        warnings: Vec::new(),
    }
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    let src = prop::collection::vec((any::<u8>(), 24u8..=32).prop_map(|(a, l)| net(a, l)), 1..3);
    let proto = prop_oneof![Just(Proto::Tcp), Just(Proto::Udp)];
    let ports = prop_oneof![Just((22u16, 22u16)), Just((20, 25)), Just((23, 80)), Just((1, 21))];
    (src, proto, ports).prop_map(|(s, p, (lo, hi))| rule(s, p, lo, hi))
}

fn every_address(n: &IpNet) -> impl Iterator<Item = IpAddr> {
    let IpNet::V4(v4) = n else { unreachable!("the test makes IPv4 networks") };
    let (lo, hi) = (u32::from(v4.network()), u32::from(v4.broadcast()));
    (lo..=hi).map(|x| IpAddr::V4(Ipv4Addr::from(x)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn refused_exactly_when_some_admin_address_is_cut(
        rules in prop::collection::vec(arb_rule(), 0..6),
        admin in (any::<u8>(), 24u8..=32).prop_map(|(a, l)| net(a, l)),
        session_last in any::<u8>(),
    ) {
        let rs = ruleset(rules);
        let admins = [AdminNetwork { name: "admin".into(), nets: vec![admin] }];
        let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, session_last));
        let session = Session { client, client_port: Some(40000), server: Some(HOST), port: MGMT, origin: SessionOrigin::Flag };
        let cuts = guard::check(&GuardInput { ruleset: &rs, admin: &admins, mgmt_port: MGMT, session: Some(&session) });

        let permits = |src| rs.permits(&Packet::to_port(src, HOST, Proto::Tcp, MGMT));
        let cut_addr = every_address(&admin).find(|a| !permits(*a));
        let admin_cut = cuts.iter().find_map(|c| match c { Cut::AdminRefused { witness, .. } => Some(*witness), _ => None });
        prop_assert_eq!(admin_cut.is_some(), cut_addr.is_some());
        if let Some(w) = admin_cut {
            prop_assert!(admin.contains(&w) && !permits(w), "the witness {} is in the network and refused", w);
        }
        let session_refused = cuts.iter().any(|c| matches!(c, Cut::SessionRefused { .. }));
        let session_packet = Packet { src: client, dst: HOST, proto: Proto::Tcp, port: MGMT, src_port: Some(40000), icmp_type: None };
        prop_assert_eq!(session_refused, !rs.permits(&session_packet));
    }
}
