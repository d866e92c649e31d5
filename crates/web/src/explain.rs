//! The explain form: "may A reach B on P?" by host names or addresses. The
//! answer names the flows that permit it and the firewalls on the path, or
//! who drops it, or says "local, no rule" when both ends are one host.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use portmatrix_plan::Plan;
use portmatrix_report::escape::html as esc;
use portmatrix_report::explain::{answer, parse_end, parse_service, Answer, Question, Verdict};
use portmatrix_report::plan_report::path_text;
use serde::Deserialize;

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
}

fn input(id: &str, label: &str, placeholder: &str, value: Option<&str>, list: bool) -> String {
    format!(
        "<label for=\"x-{id}\">{label}<input id=\"x-{id}\" name=\"{id}\" type=\"text\" size=\"20\" placeholder=\"{placeholder}\" value=\"{}\"{}></label>",
        esc(value.unwrap_or("")),
        if list { " list=\"x-hosts\"" } else { "" }
    )
}

fn form(p: &Plan, q: &ExplainQuery) -> String {
    let mut b = String::from("<form class=\"filters\" method=\"get\" action=\"/d/explain\" aria-label=\"Explain a packet\">");
    b.push_str(&input("from", "From (host or address)", "acd-lb1 or 10.10.0.11", field(&q.from), true));
    b.push_str(&input("to", "To (host or address)", "acd-store1", field(&q.to), true));
    b.push_str(&input("service", "Service", "445/tcp, 5060/udp, icmp", field(&q.service), false));
    b.push_str("<button class=\"primary\" type=\"submit\">Explain</button></form>\n<datalist id=\"x-hosts\">");
    for h in &p.hosts {
        let _ = write!(b, "<option value=\"{}\">", esc(&h.name));
    }
    b.push_str("</datalist>\n");
    b
}

/// The question of the form, or what is wrong with it.
fn question(p: &Plan, q: &ExplainQuery) -> Result<Option<Question>, Vec<String>> {
    let (Some(from), Some(to), Some(service)) = (field(&q.from), field(&q.to), field(&q.service)) else {
        return Ok(None);
    };
    let (from, to, service) = (parse_end(p, from), parse_end(p, to), parse_service(service));
    match (from, to, service) {
        (Ok(from), Ok(to), Ok((proto, port))) => Ok(Some(Question { from, to, proto, port })),
        (a, b, c) => Err([a.err(), b.err(), c.err()].into_iter().flatten().collect()),
    }
}

fn what(q: &Question) -> String {
    let end = |e: &portmatrix_report::explain::End| match e {
        portmatrix_report::explain::End::Host(h) => h.clone(),
        portmatrix_report::explain::End::Address(a) => a.to_string(),
    };
    let service = if q.proto.has_ports() { format!("{}/{}", q.port, q.proto) } else { q.proto.to_string() };
    format!("{} → {} {service}", end(&q.from), end(&q.to))
}

fn answer_html(p: &Plan, a: &Answer) -> String {
    let mut b = String::new();
    let (class, word) = match a.verdict {
        Verdict::Permitted => ("ok", "PERMITTED"),
        Verdict::Denied => ("fail", "DENIED"),
        Verdict::Local => ("local", "LOCAL, NO RULE"),
    };
    let _ = writeln!(
        b,
        "<section class=\"panel answer {class}\" id=\"answer\" aria-live=\"polite\"><h2 id=\"verdict\" data-verdict=\"{}\">{word}: {}</h2>",
        serde_json::to_value(a.verdict).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
        esc(&what(&a.question))
    );
    for n in &a.notes {
        let _ = writeln!(b, "<p class=\"meta\">Note: {}</p>", esc(n));
    }
    match a.verdict {
        Verdict::Local => {
            b.push_str("<p>Both ends are one host: the traffic never leaves it, so no firewall rule applies.</p>\n");
            if a.local.is_empty() {
                b.push_str("<p class=\"meta\">No flow of the plan names this service on the host.</p>\n");
            } else {
                b.push_str("<ul id=\"local-flows\">");
                for l in &a.local {
                    let _ = write!(
                        b,
                        "<li><code>{}</code> {}/{}: {}</li>",
                        esc(&l.reason.tag().to_string()),
                        l.proto,
                        esc(&l.ports.to_string()),
                        esc(&l.reason.purpose)
                    );
                }
                b.push_str("</ul>\n");
            }
        }
        Verdict::Permitted => {
            let _ = writeln!(b, "<p id=\"path\">Path: {}</p>", esc(&path_text(&a.path)));
            b.push_str("<table id=\"hits\"><thead><tr><th scope=\"col\">flow</th><th scope=\"col\">source</th><th scope=\"col\">destination</th><th scope=\"col\">service</th><th scope=\"col\">enforced by</th><th scope=\"col\">purpose</th><th scope=\"col\">cite</th></tr></thead><tbody>\n");
            for h in &a.hits {
                for r in &h.connection.reasons {
                    let _ = writeln!(
                        b,
                        "<tr><td class=\"ports\">{}</td><td>{} <span class=\"ports\">{}</span></td><td>{} <span class=\"ports\">{}</span></td><td class=\"ports\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&r.tag().to_string()),
                        host_link(p, &h.source.name),
                        h.src,
                        host_link(p, &h.connection.dst.name),
                        h.dst,
                        esc(&h.connection.service()),
                        esc(&h.enforced_by.describe()),
                        esc(&r.purpose),
                        esc(&r.cite)
                    );
                }
            }
            b.push_str("</tbody></table>\n");
        }
        Verdict::Denied => {
            b.push_str("<p>No flow of the plan permits it.</p>\n");
            let _ = writeln!(b, "<p id=\"path\">Path: {}</p>", esc(&path_text(&a.path)));
            let e = a.enforcement();
            if e.is_enforced() {
                let _ = writeln!(b, "<p id=\"dropped-by\">Dropped by: {}.</p>", esc(&e.describe()));
            } else {
                b.push_str("<p id=\"dropped-by\" role=\"alert\"><mark>Nothing on the path would drop it: no network firewall and no managed host firewall enforces this pair.</mark></p>\n");
            }
        }
    }
    b.push_str("</section>\n");
    b
}

pub fn explain(p: &Plan, q: &ExplainQuery) -> String {
    let mut b = String::from("<h1>Explain <span class=\"muted\">may A reach B?</span></h1>\n<p class=\"muted\">Name two hosts of the inventory (or addresses) and a service; the answer lists the flows of the plan that permit it and the firewalls on the path.</p>\n");
    b.push_str(&form(p, q));
    match question(p, q) {
        Ok(Some(question)) => b.push_str(&answer_html(p, &answer(p, &question))),
        Ok(None) => {}
        Err(problems) => {
            for e in problems {
                let _ = writeln!(b, "<p role=\"alert\"><mark>{}</mark></p>", esc(&e));
            }
        }
    }
    layout("Explain", "<a href=\"/\">Catalog</a> › <a href=\"/d\">Deployment</a> › <span aria-current=\"page\">Explain</span>", &b)
}

pub async fn explain_page(State(app): State<Arc<App>>, Query(q): Query<ExplainQuery>) -> Response {
    match &app.plan {
        Some(p) => page(&app, StatusCode::OK, explain(p, &q)),
        None => missing("No deployment: start the server with `portmatrix serve -i INVENTORY`."),
    }
}
