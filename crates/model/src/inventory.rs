//! The inventory: one deployment's products, hosts, networks and zones.

use std::net::IpAddr;
use std::sync::Arc;

use indexmap::IndexMap;
use ipnet::IpNet;
use schemars::JsonSchema;
use serde::Serialize;

use crate::decode::{Cx, Decode, OneOrMany};
use crate::diag::did_you_mean;
use crate::icmp::IcmpType;
use crate::matrix::{Name, Os, Proto};
use crate::names::{check_inventory_name, folded_key, RoleRef};
use crate::ports::PortExpr;
use crate::source::{SourceFile, Spanned};
use crate::yaml::Node;

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "portmatrix inventory", deny_unknown_fields)]
pub struct Inventory {
    pub inventory: Name,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    pub products: IndexMap<Name, ProductRef>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub zones: IndexMap<Name, Zone>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<Name, Network>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<Admin>,
    pub hosts: IndexMap<Name, Host>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    #[schemars(with = "IndexMap<String, Binding>")]
    pub bind: IndexMap<Spanned<RoleRef>, Binding>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub firewalls: IndexMap<Name, Firewall>,
    /// Flows the site needs beyond its products' (monitoring, backup, NOC
    /// ping), planned and compiled like catalog flows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<SiteFlow>,
    #[serde(skip)]
    #[schemars(skip)]
    pub file: Option<Arc<SourceFile>>,
}

/// A flow of the site itself, with who owns it and why.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SiteFlow {
    pub id: Name,
    /// Who asked for it and answers for it (a team, a ticket).
    pub owner: String,
    /// Why the site needs it.
    pub purpose: String,
    /// Initiators: host or network names, or `PRODUCT/ROLE`.
    #[schemars(with = "Vec<String>")]
    pub from: Vec<Name>,
    /// Listeners: host or network names, or `PRODUCT/ROLE`.
    #[schemars(with = "Vec<String>")]
    pub to: Vec<Name>,
    #[schemars(with = "Vec<Proto>")]
    pub proto: Vec<Spanned<Proto>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Spanned<PortExpr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_ports: Option<Spanned<PortExpr>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub icmp: Vec<Spanned<IcmpType>>,
}

/// A product instance: which matrix, with which settings.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ProductRef {
    /// Catalog id, `ID@VERSION`, or a file path relative to the inventory.
    pub matrix: Name,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub features: IndexMap<Name, Spanned<bool>>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub params: IndexMap<Name, Spanned<i64>>,
    /// Roles (usually optional integrations) this site does not have, with
    /// the reason: their flows leave the plan and are listed as not deployed.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub absent: IndexMap<Name, String>,
    /// Flows this site does not open, with the reason (a site decision).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub exclude: IndexMap<Name, String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Zone {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Network {
    #[schemars(with = "Vec<String>")]
    pub cidrs: Vec<Spanned<IpNet>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Admin {
    /// Networks allowed to manage every managed host (ssh on Linux, RDP on Windows).
    pub networks: Vec<Name>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Host {
    #[schemars(with = "Vec<String>")]
    pub addresses: Vec<Spanned<IpAddr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    /// `PRODUCT/ROLE` entries.
    #[schemars(with = "Vec<String>")]
    pub roles: Vec<Spanned<RoleRef>>,
    /// False for hosts that are not ours: addressed, but no rules compiled.
    pub managed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Binding {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Name>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<Name>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Firewall {
    /// The zones this firewall forwards between.
    pub zones: Vec<Name>,
    /// Inbound port forwards (destination NAT): traffic to a public
    /// address and port goes on to a host's own address, same port.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<PortForward>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
}

/// `{ public: 203.0.113.10, to: HOST, proto: udp, ports: 10000-20000 }`
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PortForward {
    /// The address outside parties connect to (on the firewall).
    #[schemars(with = "String")]
    pub public: Spanned<IpAddr>,
    /// The host behind it.
    pub to: Name,
    #[schemars(with = "Vec<Proto>")]
    pub proto: Vec<Spanned<Proto>>,
    pub ports: Spanned<PortExpr>,
}

impl Decode for PortForward {
    fn expected() -> String {
        "a port forward: `{ public: ADDRESS, to: HOST, proto: udp, ports: 10000-20000 }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "port forward")?;
        let public = m.req(cx, "public");
        let to = m.req(cx, "to");
        let proto: Option<OneOrMany<Spanned<Proto>>> = m.req(cx, "proto");
        let ports = m.req(cx, "ports");
        m.finish(cx);
        Some(Self { public: public?, to: to?, proto: proto?.0, ports: ports? })
    }
}

// ---- decoding -------------------------------------------------------------

impl Decode for IpAddr {
    fn expected() -> String {
        "an IP address like 10.0.0.5 or 2001:db8::5".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let s = cx.text(n)?;
        match s.trim().parse::<IpAddr>() {
            Ok(a) if mapped_v4(&a).is_some() => {
                let v4 = mapped_v4(&a).expect("checked");
                cx.error("ipv4-mapped", n.span, format!("`{s}` is the IPv4 address {v4} in IPv6 form")).help =
                    Some(format!("write it as IPv4: {v4}"));
                None
            }
            Ok(a) => Some(a),
            Err(_) => {
                let hint = if s.contains('/') {
                    "a host address takes no prefix length: write 10.0.0.5, not 10.0.0.5/24"
                } else {
                    "write an IPv4 or IPv6 address"
                };
                cx.error("bad-address", n.span, format!("`{s}` is not an IP address")).help = Some(hint.into());
                None
            }
        }
    }
}

impl Decode for IpNet {
    fn expected() -> String {
        "a network like 10.20.0.0/16 or 2001:db8::/48".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let s = String::decode(n, cx)?;
        let s = s.trim();
        let net = s.parse::<IpNet>().or_else(|_| s.parse::<IpAddr>().map(IpNet::from));
        match net {
            Ok(net) if net.trunc() != net => {
                cx.error("host-bits-set", n.span, format!("`{s}` has host bits set")).help =
                    Some(format!("did you mean {}? A network's address must end where its prefix does", net.trunc()));
                None
            }
            Ok(IpNet::V6(v6)) if v6.prefix_len() >= 96 && v6.network().to_ipv4_mapped().is_some() => {
                cx.error("ipv4-mapped", n.span, format!("`{s}` is an IPv4 network in IPv6 form")).help =
                    Some("write it as an IPv4 network (::ffff:10.0.0.0/120 is 10.0.0.0/24)".into());
                None
            }
            Ok(net) => Some(net),
            Err(_) => {
                cx.error("bad-network", n.span, format!("`{s}` is not a network")).help = Some(Self::expected());
                None
            }
        }
    }
}

impl Decode for ProductRef {
    fn expected() -> String {
        "a product: `{ matrix: ID, features: {...}, params: {...} }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "product")?;
        let matrix = m.req(cx, "matrix");
        let features = m.opt(cx, "features").unwrap_or_default();
        let params = m.opt(cx, "params").unwrap_or_default();
        let absent: IndexMap<Name, String> = m.opt(cx, "absent").unwrap_or_default();
        let exclude: IndexMap<Name, String> = m.opt(cx, "exclude").unwrap_or_default();
        m.finish(cx);
        for (k, why) in absent.iter().chain(&exclude) {
            if why.trim().is_empty() {
                cx.error("missing-reason", k.span, format!("`{}` is left out without a reason", k.value)).help =
                    Some("say why, e.g. `wfo: no Avaya WFO at this site` — the change request shows it".into());
            }
        }
        Some(Self { matrix: matrix?, features, params, absent, exclude })
    }
}

impl Decode for Zone {
    fn expected() -> String {
        "a zone: `{ about: ... }` or `{}`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        if n.is_null() {
            return Some(Self { about: None });
        }
        let mut m = cx.map(n, "zone")?;
        let about = m.opt(cx, "about");
        m.finish(cx);
        Some(Self { about })
    }
}

impl Decode for Network {
    fn expected() -> String {
        "a network: `{ cidrs: [10.0.0.0/24], zone: NAME }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "network")?;
        let cidrs: Option<Vec<Spanned<IpNet>>> = m.req(cx, "cidrs");
        let zone = m.opt(cx, "zone");
        let about = m.opt(cx, "about");
        m.finish(cx);
        let cidrs = cidrs?;
        if cidrs.is_empty() {
            cx.error("empty-network", n.span, "a network needs at least one CIDR").help =
                Some("an empty address set would either match nothing or, worse, be rendered without an address match".into());
        }
        Some(Self { cidrs, zone, about })
    }
}

impl Decode for Admin {
    fn expected() -> String {
        "`{ networks: [NAME] }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "admin")?;
        let networks = m.req(cx, "networks");
        m.finish(cx);
        Some(Self { networks: networks? })
    }
}

impl Decode for Host {
    fn expected() -> String {
        "a host: `{ addresses: [...], zone: NAME, roles: [PRODUCT/ROLE] }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "host")?;
        // Empty as written, not empty because its entries failed to decode
        // (those have their own errors: one error per cause).
        let written_empty = m.node("addresses").is_some_and(|a| matches!(&a.kind, crate::yaml::NodeKind::Seq(items) if items.is_empty()));
        let addresses: Option<Vec<Spanned<IpAddr>>> = m.req(cx, "addresses");
        let zone = m.opt(cx, "zone");
        let os = m.opt(cx, "os");
        let roles = m.opt(cx, "roles").unwrap_or_default();
        let managed = m.opt(cx, "managed").unwrap_or(true);
        let about = m.opt(cx, "about");
        m.finish(cx);
        let addresses = addresses?;
        if written_empty {
            cx.error("no-address", n.span, "a host needs at least one address").help =
                Some("give its IPv4 and/or IPv6 addresses: `addresses: [10.0.0.5]`".into());
        }
        Some(Self { addresses, zone, os, roles, managed, about })
    }
}

impl Decode for Binding {
    fn expected() -> String {
        "a binding: `{ networks: [NAME] }` or `{ hosts: [NAME] }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "binding")?;
        let networks: Vec<Name> = m.opt(cx, "networks").unwrap_or_default();
        let hosts: Vec<Name> = m.opt(cx, "hosts").unwrap_or_default();
        m.finish(cx);
        if networks.is_empty() && hosts.is_empty() {
            cx.error("empty-binding", n.span, "a binding names no network and no host").help =
                Some("an empty binding would leave the role without addresses; give `networks:` or `hosts:`".into());
        }
        Some(Self { networks, hosts })
    }
}

impl Decode for Firewall {
    fn expected() -> String {
        "a firewall: `{ zones: [A, B] }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "firewall")?;
        let zones = m.req(cx, "zones");
        let forwards = m.opt(cx, "forwards").unwrap_or_default();
        let about = m.opt(cx, "about");
        m.finish(cx);
        Some(Self { zones: zones?, forwards, about })
    }
}

impl Decode for SiteFlow {
    fn expected() -> String {
        "a site flow: `{ id, owner, purpose, from, to, proto, ports }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "site flow")?;
        let id = m.req(cx, "id");
        let owner = m.req(cx, "owner");
        let purpose = m.req(cx, "purpose");
        let from: Option<OneOrMany<Name>> = m.req(cx, "from");
        let to: Option<OneOrMany<Name>> = m.req(cx, "to");
        let proto: Option<OneOrMany<Spanned<Proto>>> = m.req(cx, "proto");
        let ports = m.opt(cx, "ports");
        let src_ports = m.opt(cx, "src_ports");
        let icmp = m.opt::<OneOrMany<Spanned<IcmpType>>>(cx, "icmp").map(|o| o.0).unwrap_or_default();
        m.finish(cx);
        Some(Self { id: id?, owner: owner?, purpose: purpose?, from: from?.0, to: to?.0, proto: proto?.0, ports, src_ports, icmp })
    }
}

impl Inventory {
    pub(crate) fn decode_root(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "inventory")?;
        let inventory = m.req(cx, "inventory");
        let about = m.opt(cx, "about");
        let products = m.req(cx, "products");
        let zones = m.opt(cx, "zones").unwrap_or_default();
        let networks = m.opt(cx, "networks").unwrap_or_default();
        let admin = m.opt(cx, "admin");
        let hosts = m.req(cx, "hosts");
        let bind = m.opt(cx, "bind").unwrap_or_default();
        let firewalls = m.opt(cx, "firewalls").unwrap_or_default();
        let flows = m.opt(cx, "flows").unwrap_or_default();
        m.finish(cx);
        Some(Self {
            inventory: inventory?,
            about,
            products: products?,
            zones,
            networks,
            admin,
            hosts: hosts?,
            bind,
            firewalls,
            flows,
            file: Some(cx.file.clone()),
        })
    }

    /// Structural checks that need no matrix: names follow the grammar and
    /// stay distinct after folding; references to zones, networks and hosts
    /// resolve; product names in `PRODUCT/ROLE` exist.
    pub(crate) fn validate(&self, cx: &mut Cx) {
        self.check_names(cx);
        self.check_site_flows(cx);
        let zone_ok = |cx: &mut Cx, z: &Name| {
            if !self.zones.contains_key(z.value.as_str()) {
                unknown(cx, "zone", z, self.zones.keys());
            }
        };
        for net in self.networks.values() {
            if let Some(z) = &net.zone {
                zone_ok(cx, z);
            }
        }
        for h in self.hosts.values() {
            if let Some(z) = &h.zone {
                zone_ok(cx, z);
            }
            for r in &h.roles {
                self.check_role_ref(cx, r);
            }
        }
        self.check_addresses(cx);
        if let Some(admin) = &self.admin {
            for n in &admin.networks {
                if !self.networks.contains_key(n.value.as_str()) {
                    unknown(cx, "network", n, self.networks.keys());
                }
            }
        }
        for (key, b) in &self.bind {
            self.check_role_ref(cx, key);
            for n in &b.networks {
                if !self.networks.contains_key(n.value.as_str()) {
                    unknown(cx, "network", n, self.networks.keys());
                }
            }
            for h in &b.hosts {
                if !self.hosts.contains_key(h.value.as_str()) {
                    unknown(cx, "host", h, self.hosts.keys());
                }
            }
        }
        for fw in self.firewalls.values() {
            self.check_forwards(cx, fw);
            let mut seen: Vec<&str> = Vec::new();
            for z in &fw.zones {
                zone_ok(cx, z);
                if seen.contains(&z.value.as_str()) {
                    cx.error("duplicate-zone", z.span, format!("zone `{}` is listed twice", z.value)).help =
                        Some("a firewall's zones are its interfaces: list each once".into());
                } else {
                    seen.push(&z.value);
                }
            }
            if seen.len() < 2 {
                if let Some(z) = fw.zones.first() {
                    cx.error("firewall-one-zone", z.span, "a firewall between zones needs at least two zones");
                }
            }
        }
    }

    /// Port forwards: the host exists and sits in one of the firewall's
    /// zones, the public address is no host's, the protocol has ports given
    /// as numbers, and the host has an address of the public one's family.
    fn check_forwards(&self, cx: &mut Cx, fw: &Firewall) {
        for f in &fw.forwards {
            match self.hosts.get(f.to.value.as_str()) {
                None => unknown(cx, "host", &f.to, self.hosts.keys()),
                Some(h) => {
                    let in_zone = h.zone.as_ref().is_some_and(|z| fw.zones.iter().any(|x| x.value == z.value));
                    if !in_zone {
                        cx.error(
                            "forward-outside-zones",
                            f.to.span,
                            format!("host `{}` is in none of this firewall's zones", f.to.value),
                        )
                        .help = Some("a firewall forwards to hosts on its own interfaces: put the host in one of its zones".into());
                    }
                    if !h.addresses.iter().any(|a| a.value.is_ipv4() == f.public.value.is_ipv4()) {
                        cx.error(
                            "forward-family",
                            f.public.span,
                            format!("host `{}` has no address of the family of {}", f.to.value, f.public.value),
                        )
                        .help = Some("forward an IPv4 public address to a host with an IPv4 address (or IPv6 to IPv6)".into());
                    }
                }
            }
            if let Some((owner, _)) = self.hosts.iter().find(|(_, h)| h.addresses.iter().any(|a| a.value == f.public.value)) {
                cx.error("forward-public-taken", f.public.span, format!("{} is an address of host `{}`", f.public.value, owner.value))
                    .help = Some("the public address belongs to the firewall, not to a host of the inventory".into());
            }
            for p in &f.proto {
                if !p.value.has_ports() {
                    cx.error("forward-proto", p.span, format!("{} has no ports to forward", p.value)).help =
                        Some("forward tcp, udp or sctp".into());
                }
            }
            if let Some(p) = f.ports.params().next() {
                cx.error("site-flow-param", p.span, format!("`{}` is a parameter; a port forward gives its ports as numbers", p.value));
            }
        }
    }

    /// Site flows: ids unique and kebab-case, ends that name hosts,
    /// networks or `PRODUCT/ROLE`, ports without parameters, a shape that
    /// fits the protocol.
    fn check_site_flows(&self, cx: &mut Cx) {
        let mut seen: std::collections::HashMap<&str, &Name> = std::collections::HashMap::new();
        for f in &self.flows {
            if !crate::validate::is_kebab_id(&f.id.value) {
                cx.error("bad-name", f.id.span, format!("`{}` is not a valid flow id", f.id.value)).help =
                    Some("flow ids use lower-case letters, digits and `-`".into());
            }
            if let Some(prev) = seen.insert(&f.id.value, &f.id) {
                let (line, _) = cx.file.line_col(prev.span.offset);
                cx.error("duplicate-id", f.id.span, format!("site flow id `{}` is used twice", f.id.value)).help =
                    Some(format!("the first is on line {line}"));
            }
            for end in f.from.iter().chain(&f.to) {
                self.check_site_end(cx, end);
            }
            crate::validate::check_shape(cx, &f.id, &f.proto, f.ports.as_ref(), f.src_ports.as_ref(), &f.icmp);
            for expr in f.ports.iter().chain(&f.src_ports) {
                if let Some(p) = expr.params().next() {
                    cx.error("site-flow-param", p.span, format!("`{}` is a parameter; a site flow gives its ports as numbers", p.value))
                        .help = Some("write the port numbers, e.g. `ports: 9100` or `ports: 5000-5010`".into());
                }
            }
        }
    }

    /// One end of a site flow: a host, a network, or `PRODUCT/ROLE`.
    fn check_site_end(&self, cx: &mut Cx, end: &Name) {
        if end.value.contains('/') {
            match RoleRef::parse(&end.value, end.span) {
                Ok(r) => self.check_role_ref(cx, &Spanned::new(r, end.span)),
                Err(why) => {
                    cx.error("bad-role-ref", end.span, format!("`{}` is not PRODUCT/ROLE: {why}", end.value));
                }
            }
            return;
        }
        if !self.hosts.contains_key(end.value.as_str()) && !self.networks.contains_key(end.value.as_str()) {
            let known = self.hosts.keys().chain(self.networks.keys());
            unknown(cx, "host or network", end, known);
        }
    }

    /// Every name follows the grammar; names that become file names (hosts
    /// and firewalls) or probe nodes (hosts and networks) share one
    /// namespace, and no two names of a namespace fold to the same form.
    fn check_names(&self, cx: &mut Cx) {
        check_inventory_name(cx, &self.inventory, "inventory");
        for (what, names) in [
            ("product", self.products.keys().collect::<Vec<_>>()),
            ("zone", self.zones.keys().collect()),
            ("network", self.networks.keys().collect()),
            ("host", self.hosts.keys().collect()),
            ("firewall", self.firewalls.keys().collect()),
        ] {
            for n in names {
                check_inventory_name(cx, n, what);
            }
        }
        let groups: [&[(&str, &Name)]; 3] = [
            &self.products.keys().map(|k| ("product", k)).collect::<Vec<_>>(),
            &self.zones.keys().map(|k| ("zone", k)).collect::<Vec<_>>(),
            &self
                .hosts
                .keys()
                .map(|k| ("host", k))
                .chain(self.firewalls.keys().map(|k| ("firewall", k)))
                .chain(self.networks.keys().map(|k| ("network", k)))
                .collect::<Vec<_>>(),
        ];
        for group in groups {
            let mut by_fold = std::collections::HashMap::with_capacity_and_hasher(group.len(), foldhash::fast::RandomState::default());
            for &(what, name) in group {
                if let Some((prev_what, prev)) = by_fold.insert(folded_key(&name.value), (what, name)) {
                    let (line, _) = cx.file.line_col(prev.span.offset);
                    let msg = if prev.value == name.value {
                        format!("`{}` names both a {prev_what} and a {what}", name.value)
                    } else {
                        format!("{what} `{}` and {prev_what} `{}` differ only in case or punctuation", name.value, prev.value)
                    };
                    cx.error("name-clash", name.span, msg).help = Some(format!(
                        "the other is on line {line}; hosts, firewalls and networks share one namespace (file names, lab nodes), \
                         and some backends fold case and punctuation: rename one"
                    ));
                }
            }
        }
    }

    /// Addresses: no duplicates within a host, one owner per address, and
    /// IPv4 written as IPv4.
    fn check_addresses(&self, cx: &mut Cx) {
        let mut owner: std::collections::HashMap<IpAddr, &Name, _> =
            std::collections::HashMap::with_capacity_and_hasher(self.hosts.len(), foldhash::fast::RandomState::default());
        for (name, h) in &self.hosts {
            for a in &h.addresses {
                match owner.insert(a.value, name) {
                    Some(prev) if prev == name => {
                        cx.error("duplicate-address", a.span, format!("{} is listed twice", a.value));
                    }
                    // One address, one host: otherwise rules for one would land on the other.
                    Some(prev) => {
                        cx.error("address-reused", a.span, format!("{} belongs to host `{}` already", a.value, prev.value));
                    }
                    None => {}
                }
            }
        }
    }

    fn check_role_ref(&self, cx: &mut Cx, r: &Spanned<RoleRef>) {
        if !self.products.contains_key(r.value.product.value.as_str()) {
            unknown(cx, "product", &r.value.product, self.products.keys());
        }
    }

    /// The binding of `product/role`, if the inventory has one.
    pub fn binding(&self, product: &str, role: &str) -> Option<&Binding> {
        self.bind.iter().find(|(k, _)| k.value.is(product, role)).map(|(_, b)| b)
    }
}

/// An IPv4 address written in IPv6's mapped form (`::ffff:10.0.0.5`) is the
/// IPv4 host: accepted as IPv6 it would escape duplicate checks and IPv4 rules.
fn mapped_v4(a: &IpAddr) -> Option<std::net::Ipv4Addr> {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        IpAddr::V4(_) => None,
    }
}

fn unknown<'a>(cx: &mut Cx, what: &str, name: &Spanned<String>, known: impl Iterator<Item = &'a Name> + Clone) {
    let hint = match did_you_mean(name, known.clone().map(|k| k.value.as_str())) {
        Some(s) => format!("did you mean `{s}`?"),
        None => {
            let all: Vec<&str> = known.map(|k| k.value.as_str()).collect();
            if all.is_empty() {
                format!("declare it under `{what}s:` (there are none yet)")
            } else {
                format!("known {what}s: {}", all.join(", "))
            }
        }
    };
    let d = cx.error("unknown-name", name.span, format!("unknown {what} `{}`", name.value));
    d.help = Some(hint);
}
