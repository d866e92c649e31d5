//! Probe and lab results (`serve --results FILE`): the JSON that
//! `portmatrix probe --format json` (`{"summary": …, "results": […]}`) or
//! `portmatrix lab --format json` (the whole lab report, whose `results` is
//! the same list) writes, read back for the "Results" page and the host
//! pages.
//!
//! The records are the prober's own types
//! ([`portmatrix_verify::probe::ProbeResult`]), read back with their
//! `Deserialize`. Unknown fields are ignored (newer writers), unknown
//! verdicts are errors (a typo must not read as a pass).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use portmatrix_plan::Plan;
use portmatrix_verify::probe::{Expect, ProbeResult, Verdict};
use serde::Deserialize;

use crate::pages::url_part;
use portmatrix_report::escape::html as esc;

/// A results file as loaded.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// The file name, for the page.
    pub file: String,
    /// What wrote it: `portmatrix probe`, or `portmatrix lab of INVENTORY (FIREWALL)`.
    pub origin: String,
    pub results: Vec<ProbeResult>,
}

impl Results {
    /// The counts per verdict, in the order of [`Verdict::ALL`].
    pub fn counts(&self) -> BTreeMap<Verdict, usize> {
        let mut m = BTreeMap::new();
        for r in &self.results {
            *m.entry(r.verdict).or_insert(0) += 1;
        }
        m
    }
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.ok).count()
    }
}

/// Parses the JSON of `probe --format json` or `lab --format json` (a bare
/// array of results is accepted too). The error says where it went wrong.
pub fn parse_results(text: &str) -> Result<(String, Vec<ProbeResult>), String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let (origin, list) = match v {
        serde_json::Value::Array(a) => ("portmatrix probe".to_string(), a),
        serde_json::Value::Object(mut o) => {
            let origin = match (o.get("inventory").and_then(|v| v.as_str()), o.get("firewall").and_then(|v| v.as_str())) {
                (Some(i), Some(f)) => format!("portmatrix lab of {i} ({f})"),
                (Some(i), None) => format!("portmatrix lab of {i}"),
                _ => "portmatrix probe".to_string(),
            };
            match o.remove("results") {
                Some(serde_json::Value::Array(a)) => (origin, a),
                Some(_) => return Err("`results` is not a list".into()),
                None => {
                    return Err(
                        "no `results` list: expected the output of `portmatrix probe --format json` or `portmatrix lab --format json`"
                            .into(),
                    )
                }
            }
        }
        _ => return Err(
            "expected an object with a `results` list (the output of `portmatrix probe --format json` or `portmatrix lab --format json`)"
                .into(),
        ),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        out.push(serde_json::from_value(item).map_err(|e| format!("result {}: {e}", i + 1))?);
    }
    Ok((origin, out))
}

/// Reads and parses a results file; the error names the file.
pub fn load_results(path: &Path) -> Result<Results, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("results file {}: {e}", path.display()))?;
    let (origin, results) = parse_results(&text).map_err(|e| format!("results file {}: {e}", path.display()))?;
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    Ok(Results { file, origin, results })
}

/// Query of the results page. Empty form fields count as unset.
#[derive(Debug, Default, Deserialize)]
pub struct ResultFilters {
    pub verdict: Option<String>,
    /// `failed` or `ok`.
    pub outcome: Option<String>,
}

fn get(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The result cell: text first, colour only as a second signal.
fn outcome_cell(r: &ProbeResult) -> &'static str {
    if r.ok {
        "<td class=\"outcome ok\">✓ ok</td>"
    } else {
        "<td class=\"outcome fail\"><strong>✗ FAIL</strong></td>"
    }
}

fn host_link(name: &str, plan: Option<&Plan>) -> String {
    match plan.and_then(|p| p.host(name)) {
        Some(h) if h.managed => format!("<a href=\"/d/host/{}\">{}</a>", url_part(name), esc(name)),
        _ => esc(name),
    }
}

/// The table of `rows`, failing rows first (otherwise in file order).
pub fn results_table(rows: &[&ProbeResult], plan: Option<&Plan>, caption: &str, id: &str) -> String {
    let mut sorted: Vec<&ProbeResult> = rows.to_vec();
    sorted.sort_by_key(|r| r.ok);
    let mut o = format!("<table id=\"{}\" class=\"results\">\n<caption>{}</caption>\n<thead><tr>", esc(id), esc(caption));
    for h in ["result", "verdict", "expected", "source", "destination", "service", "detail", "flow reasons"] {
        let _ = write!(o, "<th scope=\"col\">{h}</th>");
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for r in sorted {
        let t = &r.target;
        let dest = match &t.host {
            Some(h) => format!("{} <span class=\"ports\">{}</span>", host_link(h, plan), esc(&t.addr.to_string())),
            None => format!("<span class=\"ports\">{}</span>", esc(&t.addr.to_string())),
        };
        let mut detail = esc(&r.detail);
        if let Some(f) = r.from {
            let _ = write!(detail, " <span class=\"muted\">[from {}]</span>", esc(&f.to_string()));
        }
        if let Some(a) = &r.answered_by {
            let _ = write!(detail, " <span class=\"muted\">(answered by {})</span>", esc(a));
        }
        let reasons: Vec<String> = t.flows.iter().map(|f| esc(&f.to_string())).collect();
        let _ = writeln!(
            o,
            "<tr class=\"{}\" data-verdict=\"{}\">{}<td class=\"verdict v-{}\">{}</td><td>{}</td><td>{}</td><td>{dest}</td><td class=\"ports\">{}</td><td>{detail}</td><td class=\"ports\">{}</td></tr>",
            if r.ok { "ok" } else { "fail" },
            r.verdict.as_str(),
            outcome_cell(r),
            r.verdict.as_str(),
            r.verdict.as_str(),
            match t.expect {
                Expect::Reach => "reachable",
                Expect::Block => "blocked",
            },
            t.source.as_deref().map(|s| host_link(s, plan)).unwrap_or_else(|| "-".into()),
            esc(&t.service()),
            if reasons.is_empty() { "-".to_string() } else { reasons.join("<br>") },
        );
    }
    o.push_str("</tbody>\n</table>\n");
    o
}

/// `12 probes · 10 ok · 2 failed` and the count of each verdict seen, each a
/// link that filters the page.
pub fn counts_html(res: &Results) -> String {
    let mut o = format!(
        "<p class=\"meta\" id=\"result-summary\">{} probes · {} ok · <strong>{} failed</strong></p>\n<ul class=\"counts\" aria-label=\"Verdicts\">",
        res.results.len(),
        res.results.len() - res.failed(),
        res.failed()
    );
    for (v, n) in res.counts() {
        let _ = write!(o, "<li class=\"v-{0}\"><a href=\"/results?verdict={0}#results-table\">{0}</a>: <b>{n}</b></li>", v.as_str());
    }
    o.push_str("</ul>\n");
    o
}

/// The results page.
pub fn page(res: &Results, plan: Option<&Plan>, q: &ResultFilters) -> String {
    let mut b = format!("<h1>Probe results <span class=\"muted\">{}</span></h1>\n", esc(&res.file));
    let _ = writeln!(b, "<p class=\"meta\">From {}.</p>", esc(&res.origin));
    b.push_str(&counts_html(res));
    let mut problems = Vec::new();
    let verdict = match get(&q.verdict) {
        Some(s) => match Verdict::parse(s) {
            Some(v) => Some(v),
            None => {
                problems.push(format!("unknown verdict `{s}`"));
                None
            }
        },
        None => None,
    };
    let outcome = match get(&q.outcome) {
        Some("failed") => Some(false),
        Some("ok") => Some(true),
        Some(s) => {
            problems.push(format!("unknown outcome `{s}` (failed or ok)"));
            None
        }
        None => None,
    };
    let counts = res.counts();
    b.push_str("<form class=\"filters\" method=\"get\" action=\"/results\" role=\"search\" aria-label=\"Filter results\"><label for=\"r-verdict\">Verdict<select id=\"r-verdict\" name=\"verdict\"><option value=\"\">(all)</option>");
    for v in Verdict::ALL {
        let sel = if verdict == Some(v) { " selected" } else { "" };
        let _ = write!(b, "<option value=\"{0}\"{sel}>{0} ({1})</option>", v.as_str(), counts.get(&v).copied().unwrap_or(0));
    }
    b.push_str(
        "</select></label><label for=\"r-outcome\">Result<select id=\"r-outcome\" name=\"outcome\"><option value=\"\">(all)</option>",
    );
    for (v, text) in [("failed", "failed"), ("ok", "ok")] {
        let sel = if get(&q.outcome) == Some(v) { " selected" } else { "" };
        let _ = write!(b, "<option value=\"{v}\"{sel}>{text}</option>");
    }
    b.push_str("</select></label><button class=\"primary\" type=\"submit\">Filter</button><a class=\"button\" href=\"/results\">Clear</a></form>\n");
    for p in &problems {
        let _ = writeln!(b, "<p role=\"alert\"><mark>{}</mark></p>", esc(p));
    }
    let rows: Vec<&ProbeResult> =
        res.results.iter().filter(|r| verdict.is_none_or(|v| r.verdict == v) && outcome.is_none_or(|ok| r.ok == ok)).collect();
    let caption = format!("{} of {} results", rows.len(), res.results.len());
    b.push_str(&results_table(&rows, plan, &caption, "results-table"));
    crate::pages::layout(&format!("Results {}", res.file), &crate::pages::view_crumbs(plan.is_some(), "Results"), &b)
}

/// The section of a host page: the probes sent from or to the host.
pub fn host_section(res: &Results, plan: &Plan, host: &str) -> String {
    let rows: Vec<&ProbeResult> = res.results.iter().filter(|r| r.involves(host)).collect();
    let failed = rows.iter().filter(|r| !r.ok).count();
    let mut o = format!("<h2 id=\"results\">Probe results ({} probes, {failed} failed)</h2>\n", rows.len());
    let _ = writeln!(o, "<p class=\"meta\">Probes sent from or to {} in <a href=\"/results\">{}</a>.</p>", esc(host), esc(&res.file));
    if rows.is_empty() {
        o.push_str("<p>No probe was sent from or to this host.</p>\n");
    } else {
        let caption = format!("{} results", rows.len());
        o.push_str(&results_table(&rows, Some(plan), &caption, "host-results"));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_files_are_errors() {
        assert!(parse_results("garbage").unwrap_err().starts_with("not JSON"));
        assert!(parse_results("{}").unwrap_err().contains("no `results`"));
        assert!(parse_results("{\"results\": 3}").is_err());
        assert!(parse_results("7").is_err());
        let e = parse_results("{\"results\": [{\"verdict\": \"pass\"}]}").unwrap_err();
        assert!(e.starts_with("result 1:"), "{e}");
        let bad = r#"[{"target":{"addr":"10.0.0.1","proto":"tcp","port":1,"expect":"reach"},"verdict":"passed","ok":true}]"#;
        assert!(parse_results(bad).is_err(), "an unknown verdict is an error");
        let good = bad.replace("passed", "pass");
        let (origin, rs) = parse_results(&good).unwrap();
        assert_eq!((origin.as_str(), rs.len(), rs[0].target.service()), ("portmatrix probe", 1, "tcp/1".to_string()));
    }
}
