//! The explain form: "may A reach B on P?" by host or network names or
//! addresses. The answer is the plan's own ([`portmatrix_plan::explain_between`],
//! the same function `portmatrix explain` calls), for every pair of the ends'
//! addresses of one family: the flows that permit it and what enforces the
//! path, or who drops it, or "local, no rule" when both ends are one host;
//! port forwards are followed. `format=json` answers with the JSON of
//! `portmatrix explain --format json`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use portmatrix_model::{IcmpType, Proto};
use portmatrix_plan::{explain_between, Explanation, Plan};
use portmatrix_report::escape::html as esc;
use portmatrix_report::plan_report::path_text;
use serde::{Deserialize, Serialize};

use crate::deploy::host_link;
use crate::pages::layout;
use crate::{field, missing, page, App};

/// Query of the explain form. Empty fields count as unset.
#[derive(Debug, Default, Deserialize)]
pub struct ExplainQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// `443/tcp`, `udp/5060`, `icmp`.
    pub service: Option<String>,
    /// Source port, for flows that restrict it (unset: any allowed source port).
    pub src_port: Option<String>,
    /// ICMP type, for icmp/icmpv6 (unset: any type a flow allows).
    pub icmp_type: Option<String>,
    /// `json`: the answer as `portmatrix explain --format json` writes it.
    pub format: Option<String>,
}

/// Reads a service: `443/tcp` (or `tcp/443`), `icmp`, `icmpv6`.
pub fn parse_service(s: &str) -> Result<(Proto, u16), String> {
    let s = s.trim();
    if let Some(p) = Proto::parse(s).filter(|p| !p.has_ports()) {
        return Ok((p, 0));
    }
    let Some((a, b)) = s.split_once('/') else {
        return Err(format!("`{s}`: give the port with its protocol, e.g. {s}/tcp, or icmp"));
    };
    let (port, proto) = match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
        (Ok(n), _) => (n, b.trim()),
        (_, Ok(n)) => (n, a.trim()),
        _ => return Err(format!("`{s}` has no port number (0-65535)")),
    };
    match Proto::parse(proto).filter(|p| p.has_ports()) {
        Some(p) => Ok((p, port)),
        None => Err(format!("`{proto}` is not a protocol with ports (tcp, udp, sctp)")),
    }
}

/// A question of the form, read and checked.
struct Question<'q> {
    from: &'q str,
    to: &'q str,
    proto: Proto,
    port: u16,
    src_port: Option<u16>,
    icmp_type: Option<IcmpType>,
}

impl Question<'_> {
    fn what(&self) -> String {
        let service = if self.proto.has_ports() { format!("{}/{}", self.port, self.proto) } else { self.proto.to_string() };
        format!("{} → {} {service}", self.from, self.to)
    }
}

/// The question of the form (`None`: not asked yet), or what is wrong with it.
fn question(q: &ExplainQuery) -> Result<Option<Question<'_>>, Vec<String>> {
    let (Some(from), Some(to), Some(service)) = (field(&q.from), field(&q.to), field(&q.service)) else {
        return Ok(None);
    };
    let mut problems = Vec::new();
    let (proto, port) = parse_service(service).unwrap_or_else(|e| {
        problems.push(e);
        (Proto::Tcp, 0)
    });
    let src_port = field(&q.src_port)
        .and_then(|s| s.parse::<u16>().map_err(|_| problems.push(format!("source port `{s}` is not a port (0-65535)"))).ok());
    let icmp_type = field(&q.icmp_type).and_then(|s| {
        let t = IcmpType::parse(s);
        if t.is_none() {
            problems.push(format!("unknown ICMP type `{s}`; known: {}", IcmpType::ALL.map(|t| t.as_str()).join(", ")));
        }
        t
    });
    if problems.is_empty() {
        Ok(Some(Question { from, to, proto, port, src_port, icmp_type }))
    } else {
        Err(problems)
    }
}

/// The plan's answer to a question.
fn ask(p: &Plan, q: &Question) -> Result<Vec<Explanation>, String> {
    explain_between(p, q.from, q.to, q.proto, q.port, q.src_port, q.icmp_type)
}

/// The verdict over every pair of addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Permitted,
    /// Some pairs (e.g. IPv4) permitted, others (IPv6) not.
    Partial,
    Denied,
    /// Both ends are one host: the traffic never leaves it, no rule applies.
    Local,
}

impl Verdict {
    fn of(answers: &[Explanation]) -> Self {
        if answers.iter().all(|x| x.local) {
            Verdict::Local
        } else if answers.iter().all(|x| x.permitted) {
            Verdict::Permitted
        } else if answers.iter().any(|x| x.permitted) {
            Verdict::Partial
        } else {
            Verdict::Denied
        }
    }
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Verdict::Permitted => ("ok", "permitted", "PERMITTED"),
            Verdict::Partial => ("fail", "partial", "PARTLY PERMITTED"),
            Verdict::Denied => ("fail", "denied", "DENIED"),
            Verdict::Local => ("local", "local", "LOCAL, NO RULE"),
        }
    }
}

/// An end of one pair: its address and the host (linked) or network it belongs to.
fn end_html(p: &Plan, addr: std::net::IpAddr, name: &Option<String>) -> String {
    match name {
        Some(n) => format!("{} <span class=\"ports\">{addr}</span>", host_link(p, n)),
        None => format!("<span class=\"ports\">{addr}</span>"),
    }
}

/// What the reader should know: addresses that belong to no host.
fn notes(p: &Plan, answers: &[Explanation]) -> Vec<String> {
    let mut out = Vec::new();
    for x in answers {
        for (addr, name) in [(x.packet.src, &x.from), (x.packet.dst, &x.to)] {
            let note = match name {
                None => format!("{addr} is the address of no host or network of the inventory"),
                Some(n) if p.host(n).is_none() => format!("{addr} is no host's address; it belongs to network {n}"),
                Some(_) => continue,
            };
            if !out.contains(&note) {
                out.push(note);
            }
        }
    }
    out
}

fn pairs_table(p: &Plan, answers: &[Explanation]) -> String {
    let mut b = String::from("<table id=\"hits\"><thead><tr><th scope=\"col\">source</th><th scope=\"col\">destination</th><th scope=\"col\">verdict</th><th scope=\"col\">flow</th><th scope=\"col\">purpose</th><th scope=\"col\">cite</th><th scope=\"col\">enforced by</th></tr></thead><tbody>\n");
    for x in answers {
        let verdict = if x.local {
            "local, no rule"
        } else if x.permitted {
            "permitted"
        } else {
            "denied"
        };
        let enforced = x.enforced_by.as_ref().map(|e| e.describe()).unwrap_or_else(|| "no rule (one host)".into());
        let mut enforced = esc(&enforced);
        if let Some(f) = &x.forwarded {
            let _ = write!(enforced, "; forwarded by {} to {} ({})", esc(&f.firewall), esc(&f.host), f.private);
        }
        let ends = format!("<td>{}</td><td>{}</td>", end_html(p, x.packet.src, &x.from), end_html(p, x.packet.dst, &x.to));
        if x.by.is_empty() {
            let _ = writeln!(
                b,
                "<tr>{ends}<td>{verdict}</td><td colspan=\"3\" class=\"muted\">no flow of the plan</td><td>{enforced}</td></tr>"
            );
        }
        for r in &x.by {
            let _ = writeln!(
                b,
                "<tr>{ends}<td>{verdict}</td><td class=\"ports\">{}</td><td>{}</td><td>{}</td><td>{enforced}</td></tr>",
                esc(&r.tag().to_string()),
                esc(&r.purpose),
                esc(&r.cite)
            );
        }
    }
    b.push_str("</tbody></table>\n");
    b
}

fn answer_html(p: &Plan, q: &Question, answers: &[Explanation]) -> String {
    let verdict = Verdict::of(answers);
    let (class, data, word) = verdict.words();
    let mut b = format!(
        "<section class=\"panel answer {class}\" id=\"answer\" aria-live=\"polite\"><h2 id=\"verdict\" data-verdict=\"{data}\">{word}: {}</h2>\n",
        esc(&q.what())
    );
    for n in notes(p, answers) {
        let _ = writeln!(b, "<p class=\"meta\">Note: {}</p>", esc(&n));
    }
    let first = answers.iter().find(|x| !x.local);
    match (verdict, first.and_then(|x| x.enforced_by.as_ref())) {
        (Verdict::Local, _) => {
            b.push_str("<p>Both ends are one host: the traffic never leaves it, so no firewall rule applies.</p>\n");
            let flows: Vec<String> = answers
                .iter()
                .flat_map(|x| x.by.iter())
                .map(|r| format!("<li><code>{}</code> {}</li>", esc(&r.tag().to_string()), esc(&r.purpose)))
                .collect();
            if flows.is_empty() {
                b.push_str("<p class=\"meta\">No flow of the plan names this service on the host.</p>\n");
            } else {
                let _ = writeln!(b, "<ul id=\"local-flows\">{}</ul>", flows.join(""));
            }
        }
        (Verdict::Denied, Some(e)) => {
            b.push_str("<p>No flow of the plan permits it.</p>\n");
            let _ = writeln!(b, "<p id=\"path\">Path: {}</p>", esc(&path_text(&e.path)));
            if e.is_enforced() {
                let _ = writeln!(b, "<p id=\"dropped-by\">Dropped by: {}.</p>", esc(&e.describe()));
            } else {
                b.push_str("<p id=\"dropped-by\" role=\"alert\"><mark>Nothing on the path would drop it: no network firewall and no managed host firewall enforces this pair.</mark></p>\n");
            }
        }
        (_, Some(e)) => {
            let _ = writeln!(b, "<p id=\"path\">Path: {}</p>", esc(&path_text(&e.path)));
        }
        (_, None) => {}
    }
    if verdict != Verdict::Local {
        b.push_str(&pairs_table(p, answers));
    }
    b.push_str("</section>\n");
    b
}

fn input(id: &str, label: &str, placeholder: &str, value: Option<&str>, list: bool) -> String {
    format!(
        "<label for=\"x-{id}\">{label}<input id=\"x-{id}\" name=\"{id}\" type=\"text\" size=\"20\" placeholder=\"{placeholder}\" value=\"{}\"{}></label>",
        esc(value.unwrap_or("")),
        if list { " list=\"x-ends\"" } else { "" }
    )
}

/// Hosts and networks of the plan: the names the form suggests.
fn end_names(p: &Plan) -> Vec<&str> {
    let mut names: Vec<&str> = p.hosts.iter().map(|h| h.name.as_str()).collect();
    for c in &p.connections {
        for e in c.endpoints() {
            if e.kind == portmatrix_plan::EndpointKind::Network && !names.contains(&e.name.as_str()) {
                names.push(&e.name);
            }
        }
    }
    names
}

fn form(p: &Plan, q: &ExplainQuery) -> String {
    let mut b = String::from("<form class=\"filters\" method=\"get\" action=\"/d/explain\" aria-label=\"Explain a packet\">");
    b.push_str(&input("from", "From (host, network or address)", "acd-lb1 or 10.10.0.11", field(&q.from), true));
    b.push_str(&input("to", "To (host, network or address)", "acd-store1", field(&q.to), true));
    b.push_str(&input("service", "Service", "445/tcp, 5060/udp, icmp", field(&q.service), false));
    b.push_str(&input("src_port", "Source port (optional)", "any", field(&q.src_port), false));
    b.push_str(&input("icmp_type", "ICMP type (optional)", "echo-request", field(&q.icmp_type), false));
    b.push_str("<button class=\"primary\" type=\"submit\">Explain</button></form>\n<datalist id=\"x-ends\">");
    for n in end_names(p) {
        let _ = write!(b, "<option value=\"{}\">", esc(n));
    }
    b.push_str("</datalist>\n");
    b
}

pub fn explain(p: &Plan, q: &ExplainQuery) -> String {
    let mut b = String::from("<h1>Explain <span class=\"muted\">may A reach B?</span></h1>\n<p class=\"muted\">Name two hosts or networks of the inventory (or addresses) and a service; the answer lists, for every pair of their addresses, the flows of the plan that permit it and what enforces the path — the same answer as <code>portmatrix explain</code>.</p>\n");
    b.push_str(&form(p, q));
    let problems = match question(q) {
        Ok(Some(question)) => match ask(p, &question) {
            Ok(answers) => {
                b.push_str(&answer_html(p, &question, &answers));
                Vec::new()
            }
            Err(e) => vec![e],
        },
        Ok(None) => Vec::new(),
        Err(problems) => problems,
    };
    for e in problems {
        let _ = writeln!(b, "<p role=\"alert\"><mark>{}</mark></p>", esc(&e));
    }
    layout("Explain", "<a href=\"/\">Catalog</a> › <a href=\"/d\">Deployment</a> › <span aria-current=\"page\">Explain</span>", &b)
}

/// The answer as JSON: the explanations, or `{"error": ...}` with 400.
fn explain_json(p: &Plan, q: &ExplainQuery) -> Response {
    let answer = match question(q) {
        Ok(Some(question)) => ask(p, &question),
        Ok(None) => Err("give from, to and service".into()),
        Err(problems) => Err(problems.join("; ")),
    };
    let (status, body) = match answer {
        Ok(answers) => (StatusCode::OK, serde_json::to_string_pretty(&answers)),
        Err(e) => (StatusCode::BAD_REQUEST, serde_json::to_string_pretty(&serde_json::json!({ "error": e }))),
    };
    let mut body = body.unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    body.push('\n');
    (status, [(header::CONTENT_TYPE, "application/json"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], body).into_response()
}

pub async fn explain_page(State(app): State<Arc<App>>, Query(q): Query<ExplainQuery>) -> Response {
    match &app.plan {
        Some(p) if field(&q.format) == Some("json") => explain_json(p, &q),
        Some(p) => page(&app, StatusCode::OK, explain(p, &q)),
        None => missing("No deployment: start the server with `portmatrix serve -i INVENTORY`."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_parse_both_ways_round() {
        assert_eq!(parse_service("443/tcp"), Ok((Proto::Tcp, 443)));
        assert_eq!(parse_service(" udp/5060 "), Ok((Proto::Udp, 5060)));
        assert_eq!(parse_service("icmp"), Ok((Proto::Icmp, 0)));
        assert!(parse_service("443").unwrap_err().contains("443/tcp"));
        assert!(parse_service("70000/tcp").is_err());
        assert!(parse_service("22/icmp").is_err());
    }
}
