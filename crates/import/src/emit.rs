//! The draft as YAML. A small writer: every string is double-quoted and
//! escaped, so no document text can become YAML syntax; review items are
//! comments, beside their flow and in a list at the top, so that the draft
//! passes `portmatrix check` as it is.

use std::fmt::Write;

use crate::build::Draft;

/// A double-quoted YAML scalar.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text made safe for one comment line.
pub fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}') { ' ' } else { c })
        .collect::<String>()
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "))
}

/// The `review:` list: general items, then each flow's.
fn write_review(w: &mut String, d: &Draft) {
    let flow_items: usize = d.flows.iter().map(|f| f.review.len()).sum();
    if d.review.is_empty() && flow_items == 0 {
        return;
    }
    let _ = writeln!(
        w,
        "\nreview:                 # {} open item(s): {} general, {} on flows",
        d.review.len() + flow_items,
        d.review.len(),
        flow_items
    );
    for r in &d.review {
        let _ = writeln!(w, "  - about: {}", quote(&r.text));
        let _ = writeln!(w, "    at: {}", quote(&r.at));
    }
    for f in &d.flows {
        for r in &f.review {
            let _ = writeln!(w, "  - about: {}", quote(r));
            let _ = writeln!(w, "    at: {}", quote(&f.cite));
            let _ = writeln!(w, "    flow: {}", quote(&f.id));
        }
    }
}

/// Writes the draft.
pub fn to_yaml(d: &Draft) -> String {
    let mut y = String::new();
    let w = &mut y;
    let _ = writeln!(w, "# Draft matrix written by `portmatrix import` from {}.", comment(&d.document));
    let _ = writeln!(w, "# Every flow cites its table and row. Purposes are the document's own words:");
    let _ = writeln!(w, "# rewrite them, check each flow against the document, and resolve every item");
    let _ = writeln!(w, "# of `review:` (then delete it): `portmatrix check` fails while any is open.");
    let _ = writeln!(w);
    let _ = writeln!(w, "matrix: {}", quote(&d.matrix));
    let _ = writeln!(w, "title: {}", quote(&d.title));
    let _ = writeln!(w, "version: {}", quote("draft"));
    let _ = writeln!(w, "source:");
    let _ = writeln!(w, "  document: {}", quote(&d.document));
    let _ = writeln!(w, "about: {}", quote(&format!("Draft imported from {}; not yet reviewed.", d.document)));
    write_review(w, d);
    if !d.features.is_empty() {
        let _ = writeln!(w, "\nfeatures:");
        for (name, f) in &d.features {
            let _ = writeln!(w, "  {}:", quote(name));
            let _ = writeln!(w, "    default: {}", f.default);
            let _ = writeln!(w, "    about: {}", quote(&f.about));
        }
    }
    if !d.params.is_empty() {
        let _ = writeln!(w, "\nparams:");
        for (name, p) in &d.params {
            let _ = writeln!(w, "  {}:", quote(name));
            if let Some(v) = p.default {
                let _ = writeln!(w, "    default: {v}");
            }
            if let Some(v) = p.min {
                let _ = writeln!(w, "    min: {v}");
            }
            if p.configurable {
                let _ = writeln!(w, "    configurable: true");
            }
            let _ = writeln!(w, "    about: {}", quote(&p.about));
            if p.default.is_none() {
                let _ = writeln!(w, "    # review: the document gives no value; a deployment must set it");
            }
        }
    }
    if d.roles.roles.is_empty() {
        let _ = writeln!(w, "\nroles: {{}}");
    } else {
        let _ = writeln!(w, "\nroles:");
        for (id, r) in &d.roles.roles {
            let _ = writeln!(w, "  {}:", quote(id));
            let _ = writeln!(w, "    title: {}", quote(&r.title));
            if !r.aliases.is_empty() {
                let _ = writeln!(w, "    aliases: {}", list(&r.aliases));
            }
            if !r.fqdns.is_empty() || r.external.is_some() {
                let _ = writeln!(w, "    external: true");
            }
            if !r.fqdns.is_empty() {
                let _ = writeln!(w, "    fqdns: {}", list(&r.fqdns));
            }
        }
    }
    if d.flows.is_empty() {
        let _ = writeln!(w, "\nflows: []");
    } else {
        let _ = writeln!(w, "\nflows:");
        for f in &d.flows {
            for r in &f.review {
                let _ = writeln!(w, "  # review: {}", comment(r));
            }
            let _ = writeln!(w, "  - id: {}", quote(&f.id));
            let _ = writeln!(w, "    from: {}", list(&f.from));
            let _ = writeln!(w, "    to: {}", list(&f.to));
            let protos: Vec<String> = f.proto.iter().map(|p| p.as_str().to_string()).collect();
            let _ = writeln!(w, "    proto: {}", list(&protos));
            if let Some(p) = &f.ports {
                let _ = writeln!(w, "    ports: {}", quote(p));
            }
            if let Some(p) = &f.src_ports {
                let _ = writeln!(w, "    src_ports: {}", quote(p));
            }
            if let Some(a) = &f.app {
                let _ = writeln!(w, "    app: {}", quote(a));
            }
            if let Some(t) = f.tls {
                let _ = writeln!(w, "    tls: {t}");
            }
            if let Some(c) = &f.when {
                let _ = writeln!(w, "    when: {}", quote(c));
            }
            let purpose = if f.purpose.trim().is_empty() { "(the document states no purpose)" } else { f.purpose.as_str() };
            let _ = writeln!(w, "    purpose: {}", quote(purpose));
            let _ = writeln!(w, "    cite: {}", quote(&f.cite));
            if !f.notes.is_empty() {
                let _ = writeln!(w, "    note: {}", quote(&f.notes.join(" ")));
            }
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(quote("x\u{1}y"), "\"x\\u0001y\"");
        assert_eq!(comment("a\nb"), "a b");
    }
}
