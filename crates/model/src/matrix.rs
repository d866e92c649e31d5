//! The matrix: one product version's roles, features, parameters and flows.

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Serialize;

use crate::cond::Cond;
use crate::decode::{Cx, Decode, OneOrMany};
use crate::icmp::IcmpType;
use crate::ports::PortExpr;
use crate::source::{SourceFile, Spanned};
use crate::yaml::Node;

pub type Name = Spanned<String>;

/// A product version's network requirements.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "portmatrix matrix", deny_unknown_fields)]
pub struct Matrix {
    /// Identifier: lower-case letters, digits and `-`.
    pub matrix: Name,
    pub title: String,
    /// Product version this matrix describes.
    pub version: Name,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<DocumentRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub features: IndexMap<Name, Feature>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub params: IndexMap<Name, Param>,
    pub roles: IndexMap<Name, Role>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub groups: IndexMap<Name, Vec<Name>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<Requirement>,
    pub flows: Vec<Flow>,
    /// Open review items: doubts left for a person (an imported draft's
    /// unread cells). `check` reports each as a finding until it is removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub review: Vec<ReviewItem>,
    /// The file this matrix was read from.
    #[serde(skip)]
    #[schemars(skip)]
    pub file: Option<Arc<SourceFile>>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DocumentRef {
    pub document: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

/// A switch a deployment turns on or off.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Feature {
    pub default: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// At most one feature of the same exclusive group may be on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<String>,
}

/// A number a deployment may set. No default: the deployment must set it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Param {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Spanned<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// The product lets the operator change this port.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub configurable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// Lint findings accepted with a reason (`no-default`).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub accept: IndexMap<Name, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Windows,
    Appliance,
    Any,
}

/// A component of the product, or an outside party it talks to.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Role {
    pub title: String,
    /// The document's own names for this role.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Not part of the product: a deployment binds it to networks or hosts.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// Names of an external destination; `*.example.net` wildcards allowed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fqdns: Vec<Name>,
}

/// A fact that is not a flow: DNS records, NAT, latency, capacity.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Requirement {
    pub id: Name,
    pub about: String,
    pub cite: String,
}

/// Something a person must still check; resolved by deleting the item.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ReviewItem {
    /// What to check.
    pub about: Spanned<String>,
    /// Where the document states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The flow it concerns, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<Name>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Icmpv6,
}

impl Proto {
    pub const ALL: [Proto; 5] = [Proto::Tcp, Proto::Udp, Proto::Sctp, Proto::Icmp, Proto::Icmpv6];
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
            Proto::Icmp => "icmp",
            Proto::Icmpv6 => "icmpv6",
        }
    }
    pub fn has_ports(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Udp | Proto::Sctp)
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One permitted connection pattern, from its initiator to its listener.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Flow {
    pub id: Name,
    /// Initiator: role, group, list of them, or `any`.
    #[schemars(with = "OneOrManySchema<String>")]
    pub from: Vec<Name>,
    /// Listener: role, group, list of them, or `any`.
    #[schemars(with = "OneOrManySchema<String>")]
    pub to: Vec<Name>,
    #[schemars(with = "OneOrManySchema<Proto>")]
    pub proto: Vec<Spanned<Proto>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Spanned<PortExpr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_ports: Option<Spanned<PortExpr>>,
    /// ICMP types, with proto icmp or icmpv6.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub icmp: Vec<Spanned<IcmpType>>,
    /// Application protocol as the document names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<Spanned<Cond>>,
    pub purpose: String,
    pub cite: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Both ends always share one host; no rule is ever needed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub same_host: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_max_ms: Option<u32>,
    /// Lint findings accepted as the vendor's design, with the reason.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub accept: IndexMap<Name, String>,
}

/// Schema helper for "a value or a list of values".
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum OneOrManySchema<T> {
    One(T),
    Many(Vec<T>),
}

impl Flow {
    pub fn protos(&self) -> impl Iterator<Item = Proto> + '_ {
        self.proto.iter().map(|p| p.value)
    }
}

impl Matrix {
    pub fn key(&self) -> String {
        format!("{}@{}", self.matrix.value, self.version.value)
    }
    pub fn flow(&self, id: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.id.value == id)
    }
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }
    /// The roles a `from`/`to` name stands for: the role itself, a group's
    /// members, or nothing for `any` and unknown names. Group members are
    /// roles (validation reports any other name), so groups are not expanded
    /// recursively: a group that names a group, even in a cycle, yields only
    /// its role members.
    pub fn expand<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        if let Some((k, _)) = self.roles.get_key_value(name) {
            return vec![k.value.as_str()];
        }
        match self.groups.get(name) {
            Some(members) => {
                members.iter().filter_map(|m| self.roles.get_key_value(m.value.as_str()).map(|(k, _)| k.value.as_str())).collect()
            }
            None => Vec::new(),
        }
    }
    /// Whether a feature is on in a deployment that sets `set` and leaves
    /// the rest at their defaults.
    pub fn feature_on(&self, name: &str, set: &dyn Fn(&str) -> Option<bool>) -> bool {
        set(name).unwrap_or_else(|| self.features.get(name).is_some_and(|f| f.default))
    }
    pub fn param_default(&self, name: &str) -> Option<i64> {
        self.params.get(name).and_then(|p| p.default.as_ref().map(|d| d.value))
    }
}

impl std::borrow::Borrow<str> for Spanned<String> {
    fn borrow(&self) -> &str {
        &self.value
    }
}

// ---- decoding -------------------------------------------------------------

impl Decode for Proto {
    fn expected() -> String {
        "a protocol: tcp, udp, sctp, icmp or icmpv6".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let s = String::decode(n, cx)?;
        Proto::parse(&s).or_else(|| {
            let hint = match s.to_ascii_lowercase().as_str() {
                "tcp/udp" | "tcp+udp" | "udp/tcp" | "both" => "write a list: `proto: [tcp, udp]`".to_string(),
                "http" | "https" | "ssh" | "sip" | "tls" => {
                    format!("`{s}` is an application protocol: put it in `app:` and give the transport in `proto:`")
                }
                "ping" => "ping is ICMP: `proto: icmp` with `icmp: [echo-request]`".into(),
                _ => "one of tcp, udp, sctp, icmp, icmpv6".into(),
            };
            cx.error("unknown-proto", n.span, format!("unknown protocol `{s}`")).help = Some(hint);
            None
        })
    }
}

impl Decode for Os {
    fn expected() -> String {
        "an OS: linux, windows, appliance or any".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let s = String::decode(n, cx)?;
        match s.to_ascii_lowercase().as_str() {
            "linux" => Some(Os::Linux),
            "windows" => Some(Os::Windows),
            "appliance" => Some(Os::Appliance),
            "any" => Some(Os::Any),
            _ => {
                cx.error("unknown-os", n.span, format!("unknown OS `{s}`")).help =
                    Some("`os` is one of linux, windows, appliance, any; leave it out when the document does not say".into());
                None
            }
        }
    }
}

impl Decode for DocumentRef {
    fn expected() -> String {
        "a mapping with `document` and optional `seed`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "source")?;
        let document = m.req(cx, "document");
        let seed = m.opt(cx, "seed");
        m.finish(cx);
        Some(Self { document: document?, seed })
    }
}

impl Decode for Feature {
    fn expected() -> String {
        "a feature: `{ default: false, about: ... }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "feature")?;
        let default = m.req(cx, "default");
        let about = m.opt(cx, "about");
        let exclusive = m.opt(cx, "exclusive");
        m.finish(cx);
        Some(Self { default: default?, about, exclusive })
    }
}

impl Decode for Param {
    fn expected() -> String {
        "a parameter: `{ default: 1, about: ... }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "parameter")?;
        let default = m.opt(cx, "default");
        let min = m.opt(cx, "min");
        let max = m.opt(cx, "max");
        let configurable = m.opt(cx, "configurable").unwrap_or(false);
        let about = m.opt(cx, "about");
        let accept = m.opt(cx, "accept").unwrap_or_default();
        m.finish(cx);
        Some(Self { default, min, max, configurable, about, accept })
    }
}

impl Decode for Role {
    fn expected() -> String {
        "a role: `{ title: ..., external: false }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "role")?;
        let title = m.req(cx, "title");
        let aliases = m.opt(cx, "aliases").unwrap_or_default();
        let external = m.opt(cx, "external").unwrap_or(false);
        let os = m.opt(cx, "os");
        let about = m.opt(cx, "about");
        let fqdns = m.opt(cx, "fqdns").unwrap_or_default();
        m.finish(cx);
        Some(Self { title: title?, aliases, external, os, about, fqdns })
    }
}

impl Decode for Requirement {
    fn expected() -> String {
        "a requirement: `{ id, about, cite }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "requirement")?;
        let id = m.req(cx, "id");
        let about = m.req(cx, "about");
        let cite = m.req(cx, "cite");
        m.finish(cx);
        Some(Self { id: id?, about: about?, cite: cite? })
    }
}

impl Decode for ReviewItem {
    fn expected() -> String {
        "a review item: `{ about, at, flow }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "review item")?;
        let about = m.req(cx, "about");
        let at = m.opt(cx, "at");
        let flow = m.opt(cx, "flow");
        m.finish(cx);
        Some(Self { about: about?, at, flow })
    }
}

impl Decode for Flow {
    fn expected() -> String {
        "a flow: `{ id, from, to, proto, ports, purpose, cite }`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "flow")?;
        let id = m.req(cx, "id");
        let from: Option<OneOrMany<Name>> = m.req(cx, "from");
        let to: Option<OneOrMany<Name>> = m.req(cx, "to");
        let proto: Option<OneOrMany<Spanned<Proto>>> = m.req(cx, "proto");
        // Ports that are written but unreadable stay present as an empty
        // expression, so that validation does not also call them missing
        // (the file has an error already and is never used).
        let ports = match m.node("ports") {
            Some(n) if !n.is_null() => Some(Spanned::<PortExpr>::decode(n, cx).unwrap_or(Spanned::new(PortExpr::default(), n.span))),
            _ => None,
        };
        let src_ports = m.opt(cx, "src_ports");
        let icmp = m.opt::<OneOrMany<Spanned<IcmpType>>>(cx, "icmp").map(|o| o.0).unwrap_or_default();
        let app = m.opt(cx, "app");
        let tls = m.opt(cx, "tls");
        let when = m.opt(cx, "when");
        let purpose = m.req(cx, "purpose");
        let cite = m.req(cx, "cite");
        let note = m.opt(cx, "note");
        let same_host = m.opt(cx, "same_host").unwrap_or(false);
        let rtt_max_ms = m.opt(cx, "rtt_max_ms");
        let accept = m.opt(cx, "accept").unwrap_or_default();
        m.finish(cx);
        Some(Self {
            id: id?,
            from: from?.0,
            to: to?.0,
            proto: proto?.0,
            ports,
            src_ports,
            icmp,
            app,
            tls,
            when,
            purpose: purpose?,
            cite: cite?,
            note,
            same_host,
            rtt_max_ms,
            accept,
        })
    }
}

impl Matrix {
    pub(crate) fn decode_root(n: &Node, cx: &mut Cx) -> Option<Self> {
        let mut m = cx.map(n, "matrix")?;
        let matrix = m.req(cx, "matrix");
        let title = m.req(cx, "title");
        let version = m.req(cx, "version");
        let vendor = m.opt(cx, "vendor");
        let source = m.opt(cx, "source");
        let about = m.opt(cx, "about");
        let features = m.opt(cx, "features").unwrap_or_default();
        let params = m.opt(cx, "params").unwrap_or_default();
        let roles = m.req(cx, "roles");
        let groups = m.opt(cx, "groups").unwrap_or_default();
        let requirements = m.opt(cx, "requirements").unwrap_or_default();
        let flows = m.req(cx, "flows");
        let review = m.opt(cx, "review").unwrap_or_default();
        m.finish(cx);
        Some(Self {
            matrix: matrix?,
            title: title?,
            version: version?,
            vendor,
            source,
            about,
            features,
            params,
            roles: roles?,
            groups,
            requirements,
            flows: flows?,
            review,
            file: Some(cx.file.clone()),
        })
    }
}
