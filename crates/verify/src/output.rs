//! Probe results as a table, JSON or JUnit XML.

use std::fmt::Write;

use serde::Serialize;

use crate::probe::{Expect, ProbeResult};

/// Counts per outcome.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub ok: usize,
    pub failed: usize,
    /// Required flows that did not pass.
    pub required_failed: usize,
    /// Forbidden probes that got through.
    pub forbidden_passed: usize,
    pub nat: usize,
}

pub fn summary(results: &[ProbeResult]) -> Summary {
    let mut s = Summary { total: results.len(), ..Summary::default() };
    for r in results {
        if r.ok {
            s.ok += 1;
        } else {
            s.failed += 1;
            match r.target.expect {
                Expect::Reach => s.required_failed += 1,
                Expect::Block => s.forbidden_passed += 1,
            }
        }
        if r.verdict == crate::probe::Verdict::Nat {
            s.nat += 1;
        }
    }
    s
}

/// `{"summary": …, "results": […]}`, pretty-printed.
pub fn json(results: &[ProbeResult]) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        summary: Summary,
        results: &'a [ProbeResult],
    }
    serde_json::to_string_pretty(&Doc { summary: summary(results), results }).expect("serialisable") + "\n"
}

/// A plain aligned table, one line per result, then a summary line.
pub fn table(results: &[ProbeResult]) -> String {
    let head = ["RESULT", "VERDICT", "EXPECT", "SOURCE", "TARGET", "HOST", "FLOW", "DETAIL"];
    let rows: Vec<[String; 8]> = results
        .iter()
        .map(|r| {
            let from = r.from.map(|f| format!(" [from {f}]")).unwrap_or_default();
            [
                if r.ok { "ok" } else { "FAIL" }.to_string(),
                r.verdict.as_str().to_string(),
                match r.target.expect {
                    Expect::Reach => "reach",
                    Expect::Block => "block",
                }
                .to_string(),
                r.target.source.clone().unwrap_or_else(|| "-".into()),
                r.target.endpoint(),
                r.target.host.clone().unwrap_or_else(|| "-".into()),
                if r.target.flows.is_empty() { "-".into() } else { r.target.flows_text() },
                format!("{}{from}", r.detail),
            ]
        })
        .collect();
    let mut w = [0usize; 8];
    for (i, h) in head.iter().enumerate() {
        w[i] = h.len();
    }
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<width$}  ", width = w[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, &head);
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        line(&mut out, &cells);
    }
    let s = summary(results);
    let _ = writeln!(
        out,
        "{} probes: {} ok, {} failed ({} required not reachable, {} forbidden reachable), {} nat",
        s.total, s.ok, s.failed, s.required_failed, s.forbidden_passed, s.nat
    );
    out
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// JUnit XML: one `<testcase>` per probe, `<failure>` where the verdict does
/// not meet the expectation.
pub fn junit(suite: &str, results: &[ProbeResult]) -> String {
    let s = summary(results);
    let time: f64 = results.iter().filter_map(|r| r.rtt_ms).sum::<f64>() / 1000.0;
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(o, "<testsuites name=\"portmatrix\" tests=\"{}\" failures=\"{}\">", s.total, s.failed);
    let _ = writeln!(
        o,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{time:.3}\">",
        xml_escape(suite),
        s.total,
        s.failed
    );
    for r in results {
        let t = &r.target;
        let class = t.host.as_deref().unwrap_or("unknown-host");
        let expect = match t.expect {
            Expect::Reach => "reach",
            Expect::Block => "blocked",
        };
        let name = if t.flows.is_empty() {
            format!("{} must {expect}", t.endpoint())
        } else {
            format!("{} must {expect} ({})", t.endpoint(), t.flows_text())
        };
        let _ = write!(
            o,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(class),
            xml_escape(&name),
            r.rtt_ms.unwrap_or(0.0) / 1000.0
        );
        if r.ok {
            o.push_str("/>\n");
        } else {
            let msg = format!("{}: {}", r.verdict, r.detail);
            let _ = writeln!(
                o,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                xml_escape(&msg),
                r.verdict,
                xml_escape(&msg)
            );
        }
    }
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Target, Verdict};
    use crate::Proto;

    fn res(v: Verdict, e: Expect) -> ProbeResult {
        ProbeResult {
            target: Target::new("10.0.0.1".parse().unwrap(), Proto::Tcp, 443)
                .host("web<1>")
                .expect(e)
                .flow(portmatrix_model::FlowTag::new("p", "f&1")),
            verdict: v,
            ok: v.meets(e),
            from: None,
            answered_by: None,
            detail: "d".into(),
            rtt_ms: Some(1.5),
            attempts: 1,
        }
    }

    #[test]
    fn formats() {
        let rs = vec![res(Verdict::Pass, Expect::Reach), res(Verdict::Pass, Expect::Block)];
        let s = summary(&rs);
        assert_eq!((s.ok, s.failed, s.forbidden_passed), (1, 1, 1));
        let x = junit("lab", &rs);
        assert!(x.contains("classname=\"web&lt;1&gt;\""));
        assert!(x.contains("p/f&amp;1"));
        assert_eq!(x.matches("<failure").count(), 1);
        let t = table(&rs);
        assert!(t.starts_with("RESULT"));
        // Every row has as many columns as the header.
        let head_cols = t.lines().next().unwrap().split_whitespace().count();
        assert_eq!(head_cols, 8);
        assert!(t.lines().nth(1).unwrap().starts_with("ok      pass     reach   -       10.0.0.1 tcp/443"), "{t}");
        assert!(t.contains("FAIL"));
        let j: serde_json::Value = serde_json::from_str(&json(&rs)).unwrap();
        assert_eq!(j["results"][0]["verdict"], "pass");
        assert_eq!(j["summary"]["failed"], 1);
    }
}
