//! Checks that make a decoded matrix usable: names resolve, ports are ports,
//! conditions name real features. Every failure is an error.

use std::collections::HashMap;

use crate::decode::Cx;
use crate::diag::did_you_mean;
use crate::lint::LINT_CODES;
use crate::matrix::{Matrix, Proto};
use crate::ports::{PortItem, ResolveError, Term};
use crate::source::Spanned;

pub fn is_kebab_id(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.ends_with('-')
}

pub fn is_param_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase()) && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A DNS name, optionally with one leading `*.` wildcard label.
pub fn is_fqdn(s: &str) -> bool {
    let body = s.strip_prefix("*.").unwrap_or(s);
    body.len() <= 253
        && body.contains('.')
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn check_name(cx: &mut Cx, name: &Spanned<String>, what: &str, ok: fn(&str) -> bool, form: &str) {
    if !ok(name) {
        // Offer the name in the right form when a mechanical fix gives one.
        let sep = if ok("a_b") { '_' } else { '-' };
        let fixed: String = name
            .value
            .trim()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { sep })
            .collect::<String>()
            .trim_matches(sep)
            .to_string();
        let mut help = format!("{what} names use {form}");
        if ok(&fixed) && fixed != name.value {
            help.push_str(&format!(": `{fixed}`"));
        }
        cx.error("bad-name", name.span, format!("`{}` is not a valid {what} name", name.value)).help = Some(help);
    }
}

pub fn validate_matrix(m: &Matrix, cx: &mut Cx) {
    check_name(cx, &m.matrix, "matrix", is_kebab_id, "lower-case letters, digits and `-`");
    validate_features(m, cx);
    let bad_defaults = validate_params(m, cx);
    validate_roles(m, cx);
    for (name, members) in &m.groups {
        check_name(cx, name, "group", is_kebab_id, "lower-case letters, digits and `-`");
        if m.roles.contains_key(name.value.as_str()) {
            cx.error("group-shadows-role", name.span, format!("group `{}` has the name of a role", name.value)).help =
                Some("rename the group: a name in `from`/`to` must mean one thing".into());
        }
        for member in members {
            if !m.roles.contains_key(member.value.as_str()) {
                unknown_role(cx, m, member, false);
            }
        }
    }

    let mut seen_req: HashMap<&str, &Spanned<String>> = HashMap::new();
    for r in &m.requirements {
        check_name(cx, &r.id, "requirement", is_kebab_id, "lower-case letters, digits and `-`");
        if let Some(prev) = seen_req.insert(&r.id.value, &r.id) {
            let (line, _) = cx.file.line_col(prev.span.offset);
            cx.error("duplicate-id", r.id.span, format!("requirement id `{}` is used twice", r.id.value)).help =
                Some(format!("the first is on line {line}"));
        }
    }

    let mut seen: HashMap<&str, &Spanned<String>> = HashMap::new();
    for f in &m.flows {
        validate_flow(m, f, &mut seen, &bad_defaults, cx);
    }
    validate_review(m, cx);
}

/// Review items name flows of this matrix.
fn validate_review(m: &Matrix, cx: &mut Cx) {
    let flow_ids: std::collections::HashSet<&str> = m.flows.iter().map(|f| f.id.value.as_str()).collect();
    for r in m.review.iter().filter_map(|r| r.flow.as_ref()) {
        if !flow_ids.contains(r.value.as_str()) {
            cx.error("unknown-flow", r.span, format!("review item names flow `{}`, which this matrix does not have", r.value)).help =
                Some("name a flow id of this matrix, or leave `flow:` out".into());
        }
    }
}

fn validate_features(m: &Matrix, cx: &mut Cx) {
    for name in m.features.keys() {
        check_name(cx, name, "feature", is_kebab_id, "lower-case letters, digits and `-`");
    }
    // Exclusive alternatives must not both be on by default.
    let mut on_by_group: HashMap<&str, &Spanned<String>> = HashMap::new();
    for (name, f) in &m.features {
        if let (Some(g), true) = (&f.exclusive, f.default) {
            if let Some(prev) = on_by_group.insert(g, name) {
                cx.error(
                    "exclusive-defaults",
                    name.span,
                    format!("`{}` and `{}` are both on by default, but exclusive ({g})", prev.value, name.value),
                )
                .help = Some("at most one feature of an exclusive group may default to true".into());
            }
        }
    }
}

/// Parameters' names and defaults; returns those whose default lies out of range.
fn validate_params<'m>(m: &'m Matrix, cx: &mut Cx) -> Vec<&'m str> {
    let mut bad_defaults: Vec<&str> = Vec::new();
    for (name, p) in &m.params {
        check_name(cx, name, "parameter", is_param_name, "lower-case letters, digits and `_` (a `-` would read as a port range)");
        if let Some(d) = &p.default {
            let below = p.min.is_some_and(|min| d.value < min);
            let above = p.max.is_some_and(|max| d.value > max);
            if below || above {
                bad_defaults.push(&name.value);
                let bounds = match (p.min, p.max) {
                    (Some(a), Some(b)) => format!("{a}..={b}"),
                    (Some(a), None) => format!("at least {a}"),
                    (None, Some(b)) => format!("at most {b}"),
                    (None, None) => unreachable!("a bound was crossed"),
                };
                cx.error(
                    "default-out-of-range",
                    d.span,
                    format!("default {} of parameter `{}` lies outside its range ({bounds})", d.value, name.value),
                )
                .help = Some("make the default a value the parameter may take, or correct `min`/`max`".into());
            }
        }
        check_accept(cx, &p.accept);
    }

    bad_defaults
}

fn validate_roles(m: &Matrix, cx: &mut Cx) {
    for (name, role) in &m.roles {
        check_name(cx, name, "role", is_kebab_id, "lower-case letters, digits and `-`");
        if name.value == "any" {
            cx.error("reserved-name", name.span, "`any` is reserved: it stands for a network the deployment binds").help =
                Some("name the role after what it is, e.g. `internet` or `user-network`, with `external: true`".into());
        }
        for f in &role.fqdns {
            if !role.external {
                cx.error("fqdn-on-internal-role", f.span, format!("role `{}` has fqdns but is not external", name.value)).help =
                    Some("only external roles (outside the product) are reached by name; add `external: true`".into());
            }
            if !is_fqdn(f) {
                let help = if let Some((_, rest)) = f.value.split_once("://") {
                    let host = rest.split(['/', ':', '?']).next().unwrap_or(rest);
                    format!("write the host name only, without scheme, port or path: `{host}`")
                } else if f.value.contains('_') {
                    "DNS names use letters, digits, `-` and `.`; `_` is not allowed in a host name".into()
                } else if f.value.contains('*') {
                    "a wildcard stands only as the whole first label: `*.blob.core.windows.net`".into()
                } else if !f.value.contains('.') {
                    "give the fully qualified name, with its domain: `registry.example.com`".into()
                } else {
                    "write a name like api.example.com, or a wildcard like *.blob.core.windows.net".into()
                };
                cx.error("bad-fqdn", f.span, format!("`{}` is not a DNS name", f.value)).help = Some(help);
            }
        }
    }
}

fn validate_flow<'m>(
    m: &'m Matrix,
    f: &'m crate::matrix::Flow,
    seen: &mut HashMap<&'m str, &'m Spanned<String>>,
    bad_defaults: &[&str],
    cx: &mut Cx,
) {
    check_name(cx, &f.id, "flow", is_kebab_id, "lower-case letters, digits and `-`");
    if let Some(prev) = seen.insert(&f.id.value, &f.id) {
        let (line, _) = cx.file.line_col(prev.span.offset);
        let d = cx.error("duplicate-id", f.id.span, format!("flow id `{}` is used twice", f.id.value));
        d.label = Some("second use".into());
        d.help = Some(format!("the first is on line {line}; flow ids must be unique within a matrix"));
    }
    for end in f.from.iter().chain(&f.to) {
        if end.value != "any" && !m.roles.contains_key(end.value.as_str()) && !m.groups.contains_key(end.value.as_str()) {
            unknown_role(cx, m, end, true);
        }
        // An outside party's own local traffic is fine (from == to); a
        // same-host flow between the product and an outside party is not.
        let self_loop = f.from.len() == 1 && f.to.len() == 1 && f.from[0] == f.to[0];
        if f.same_host && !self_loop && m.expand(end).iter().any(|r| m.roles[*r].external) {
            cx.error("same-host-external", end.span, "a same_host flow cannot involve an external role").help =
                Some("an external role is never on the product's hosts: drop `same_host`, or make the role internal".into());
        }
    }

    check_shape(cx, &f.id, &f.proto, f.ports.as_ref(), f.src_ports.as_ref(), &f.icmp);
    for expr in f.ports.iter().chain(&f.src_ports) {
        check_port_expr(m, expr, bad_defaults, cx);
    }
    if let Some(w) = &f.when {
        for feat in w.features() {
            if !m.features.contains_key(feat.value.as_str()) {
                let hint = match did_you_mean(feat, m.features.keys().map(|k| k.value.as_str())) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "declare it under `features:`".into(),
                };
                cx.error("unknown-feature", feat.span, format!("unknown feature `{}` in `when`", feat.value)).help = Some(hint);
            }
        }
    }
    check_accept(cx, &f.accept);
}

/// A flow's port expression: parameters exist (with a hint for `a-b` read
/// as a range), and the defaults give ports in range.
fn check_port_expr(m: &Matrix, expr: &Spanned<crate::ports::PortExpr>, bad_defaults: &[&str], cx: &mut Cx) {
    // An empty expression stands for one that failed to decode:
    // already reported.
    if expr.items.is_empty() {
        return;
    }
    let mut reported: Vec<&Spanned<String>> = Vec::new();
    // `jmx-port` reads as the range from `jmx` to `port`: when that is
    // a (misnamed) parameter, say so once.
    for item in &expr.items {
        if let PortItem::Range(Term::Param(a), Term::Param(b)) = item {
            let joined = format!("{}-{}", a.value, b.value);
            if m.params.contains_key(joined.as_str()) {
                let span = crate::source::Span::new(a.span.offset, (b.span.offset + b.span.len).saturating_sub(a.span.offset));
                let fixed = joined.replace('-', "_");
                cx.error("undefined-param", span, format!("`{joined}` reads as the range from `{}` to `{}`", a.value, b.value)).help =
                    Some(format!("a `-` between names is a range: rename the parameter `{fixed}`, here and under `params:`"));
                reported.extend([a, b]);
            }
        }
    }
    for p in expr.params() {
        if !m.params.contains_key(p.value.as_str()) && !reported.iter().any(|r| r.span == p.span) {
            let names = m.params.keys().map(|k| k.value.as_str()).filter(|k| is_param_name(k));
            let hint = match did_you_mean(p, names) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "declare it under `params:` (with a default, or without one if the deployment must set it)".into(),
            };
            let d = cx.error("undefined-param", p.span, format!("undefined parameter `{}`", p.value));
            d.label = Some("not a parameter of this matrix".into());
            d.help = Some(hint);
        }
    }
    // A default out of its range is reported at the parameter.
    if expr.params().all(|p| m.params.contains_key(p.value.as_str()) && !bad_defaults.contains(&p.value.as_str())) {
        match expr.resolve(&|n| m.param_default(n)) {
            Err(ResolveError::OutOfRange { span, message }) => {
                let span = if span.len == 0 { expr.span } else { span };
                let params: Vec<String> = expr.params().map(|p| format!("`{}`", p.value)).collect();
                let help = if params.is_empty() {
                    "ports run from 0 to 65535".to_string()
                } else {
                    format!("this uses the default of {}: correct that default or the expression", params.join(", "))
                };
                cx.error("port-out-of-range", span, format!("{message} (with parameter defaults)")).help = Some(help);
            }
            Ok(set) if set.is_empty() => {
                cx.error("empty-ports", expr.span, "the port set is empty").help = Some("give at least one port".into());
            }
            _ => {}
        }
    }
}

fn check_accept(cx: &mut Cx, accept: &indexmap::IndexMap<Spanned<String>, String>) {
    for (code, reason) in accept {
        if !LINT_CODES.contains(&code.value.as_str()) {
            let hint = did_you_mean(code, LINT_CODES.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("lint codes: {}", LINT_CODES.join(", ")));
            cx.error("unknown-lint", code.span, format!("unknown lint code `{}` in `accept`", code.value)).help = Some(hint);
        }
        if reason.trim().is_empty() {
            cx.error("accept-without-reason", code.span, "an accepted finding needs a reason").help =
                Some(format!("say why the finding is the vendor's design: `{}: the document requires it (L12)`", code.value));
        }
    }
}

fn unknown_role(cx: &mut Cx, m: &Matrix, name: &Spanned<String>, groups_ok: bool) {
    if let (false, Some(members)) = (groups_ok, m.groups.get(name.value.as_str())) {
        let roles: Vec<&str> = members.iter().map(|r| r.value.as_str()).filter(|r| m.roles.contains_key(*r)).collect();
        let d = cx.error("nested-group", name.span, format!("group `{}` is used as a member of a group", name.value));
        d.label = Some("a group, not a role".into());
        d.help = Some(format!("a group lists roles only: write its roles instead ({})", roles.join(", ")));
        return;
    }
    // A document wording used where the role id belongs is the likeliest slip.
    let by_alias = m.roles.iter().find(|(_, r)| r.aliases.iter().chain([&r.title]).any(|a| a.eq_ignore_ascii_case(name)));
    let candidates =
        m.roles.keys().chain(if groups_ok { Some(m.groups.keys()) } else { None }.into_iter().flatten()).map(|k| k.value.as_str());
    let hint = match (by_alias, did_you_mean(name, candidates)) {
        (Some((id, _)), _) => format!("`{}` is a name of role `{}`: use the role id", name.value, id.value),
        (None, Some(s)) => format!("did you mean `{s}`?"),
        (None, None) => {
            let mut roles: Vec<&str> = m.roles.keys().map(|k| k.value.as_str()).collect();
            roles.truncate(12);
            format!("declare it under `roles:`; roles here: {}", roles.join(", "))
        }
    };
    let d = cx.error("unknown-role", name.span, format!("unknown role `{}`", name.value));
    d.label = Some("not a role or group of this matrix".into());
    d.help = Some(hint);
}

/// The protocol, ports and ICMP types of a flow (of a matrix or a site) fit
/// each other: no protocol twice, ICMP apart from ports, ports where the
/// protocol has them, ICMP types of the flow's family.
pub(crate) fn check_shape(
    cx: &mut Cx,
    id: &Spanned<String>,
    proto: &[Spanned<Proto>],
    ports: Option<&Spanned<crate::ports::PortExpr>>,
    src_ports: Option<&Spanned<crate::ports::PortExpr>>,
    icmp: &[Spanned<crate::icmp::IcmpType>],
) {
    let mut protos: Vec<Proto> = Vec::new();
    for p in proto {
        if protos.contains(&p.value) {
            cx.error("duplicate-proto", p.span, format!("`{}` is listed twice", p.value)).help = Some("list each protocol once".into());
        }
        protos.push(p.value);
    }
    let with_ports = protos.iter().any(|p| p.has_ports());
    let icmpish = protos.iter().any(|p| !p.has_ports());
    if with_ports && icmpish {
        let (first, last) = (proto[0].span, proto[proto.len() - 1].span);
        let span = crate::source::Span::new(first.offset, (last.offset + last.len).saturating_sub(first.offset));
        let d = cx.error("mixed-proto", span, "ICMP and port-based protocols in one flow");
        d.label = Some("ICMP has types, not ports".into());
        d.help = Some("split it into two flows: one with the ports, one with `proto: icmp` and `icmp: [echo-request]`".into());
    }
    match (ports, with_ports) {
        (None, true) => {
            cx.error(
                "missing-ports",
                id.span,
                format!("flow `{}` ({}) has no `ports`", id.value, protos.iter().map(|p| p.as_str()).collect::<Vec<_>>().join("/")),
            )
            .help = Some("give the listener's ports: `ports: 443`, or a parameter with no default when the document leaves it open".into());
        }
        (Some(p), false) => {
            cx.error("ports-without-proto", p.span, "ports given for a protocol without ports").help =
                Some("ICMP flows list `icmp:` types instead".into());
        }
        _ => {}
    }
    if let (Some(sp), false) = (src_ports, with_ports) {
        cx.error("ports-without-proto", sp.span, "src_ports given for a protocol without ports").help =
            Some("ICMP has no ports: remove `src_ports`".into());
    }
    for t in icmp {
        if !icmpish {
            cx.error("icmp-without-icmp", t.span, "ICMP types on a flow that is not icmp/icmpv6").help =
                Some("use `proto: icmp` (or icmpv6) with `icmp:`, or remove `icmp:`".into());
            continue;
        }
        // A type of the other family would break the ruleset (or, worse,
        // be dropped by a backend and leave the rule matching every type).
        for p in protos.iter().copied().filter(|p| !p.has_ports()) {
            if !t.value.exists_in(p) {
                let (other, other_proto) = if p == Proto::Icmp { ("icmpv6", Proto::Icmpv6) } else { ("icmp", Proto::Icmp) };
                cx.error("icmp-wrong-family", t.span, format!("`{}` is not an {p} message type", t.value)).help =
                    Some(if t.value.exists_in(other_proto) {
                        format!("it exists in {other} only: use `proto: {other}`, or split the flow per family")
                    } else {
                        "remove it".to_string()
                    });
            }
        }
    }
}
