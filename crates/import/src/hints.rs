//! Readings from a row's free text (its purpose or notes) that complete
//! what the columns leave open: the party a row's traffic comes from
//! ("Lets in SSH traffic from the SSH proxy") and the condition under
//! which a row applies ("(Optional) Needed if you want to ingest RTMP
//! streams", "Only when HEC is enabled", "Optional (HA)"). Every reading
//! is a review item on the flow it changes; none adds a port.

/// Words that end a party's name in running text.
const NAME_ENDS: &[&str] =
    &[" to ", " for ", " on ", " in ", " and ", " via ", " over ", " through ", " when ", " if ", " using ", " with "];

/// Words that start a phrase naming no party.
const NOT_A_PARTY: &[&str] = &["port", "ports", "this", "that", "there", "here", "which", "where", "outside", "inside", "within"];

/// The party a row's text says its traffic comes from: "traffic from the
/// SSH proxy" → "SSH proxy". At most four words, no digits.
pub fn initiator_in_text(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find(" from ")? + " from ".len();
    let rest = &text[at..];
    let rest_lower = &lower[at..];
    let mut end = rest.find(['.', ',', ';', '(', ':']).unwrap_or(rest.len());
    for w in NAME_ENDS {
        if let Some(i) = rest_lower[..end].find(w) {
            end = end.min(i);
        }
    }
    let name = rest[..end].trim();
    let name = ["the ", "a ", "an ", "any ", "all "].iter().fold(name, |n, a| {
        if n.to_ascii_lowercase().starts_with(a) {
            n[a.len()..].trim_start()
        } else {
            n
        }
    });
    let words: Vec<&str> = name.split_whitespace().collect();
    let first = words.first()?.to_ascii_lowercase();
    let ok = words.len() <= 4 && !name.contains(|c: char| c.is_ascii_digit()) && !NOT_A_PARTY.contains(&first.as_str());
    ok.then(|| name.to_string())
}

/// Words a condition names without meaning: dropped from a feature's name.
const FILLER: &[&str] = &[
    "the",
    "a",
    "an",
    "is",
    "are",
    "be",
    "enabled",
    "used",
    "configured",
    "installed",
    "you",
    "want",
    "to",
    "if",
    "when",
    "only",
    "in",
    "needed",
    "required",
    "your",
    "use",
    "uses",
    "using",
];

/// The feature a row's text makes it depend on, with the words that say
/// so: "Optional (HA)" → "ha"; "Only when HEC is enabled" → "hec";
/// "(Optional) Needed if you want to ingest RTMP streams using Ingress
/// service" → "ingest rtmp streams"; a plain "optional" → "" (the caller
/// names the feature after the row).
pub fn condition_in_text(text: &str) -> Option<(String, String)> {
    let lower = text.to_ascii_lowercase();
    // "Optional (HA)": the parenthesised word names the feature.
    if let Some(i) = lower.find("optional (") {
        let rest = &text[i + "optional (".len()..];
        if let Some(end) = rest.find(')') {
            let name = rest[..end].trim();
            if !name.is_empty() && name.split_whitespace().count() <= 3 && !name.contains(|c: char| c.is_ascii_digit()) {
                return Some((name.to_lowercase(), format!("Optional ({name})")));
            }
        }
    }
    let phrases =
        ["only when ", "only if ", "only in ", "only for ", "needed if you want to ", "if you want to ", "required if ", "when ", "if "];
    for p in phrases {
        let Some(i) = lower.find(p).filter(|i| *i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric()) else { continue };
        let rest = &text[i + p.len()..];
        let mut end = rest.find(['.', ';', ',', ')']).unwrap_or(rest.len());
        // A bare "when"/"if" counts only with a state word, and the
        // condition ends there: "when central notification is enabled and ...".
        if matches!(p, "when " | "if ") {
            let rl = rest[..end].to_ascii_lowercase();
            match [" is enabled", " are enabled", " is configured", " is installed", " is used"].iter().filter_map(|w| rl.find(w)).min() {
                Some(state) => end = state,
                None => continue,
            }
        }
        let clause = &rest[..end];
        let words: Vec<String> = clause
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
            .filter(|w| !w.is_empty() && !FILLER.contains(&w.as_str()))
            .take(3)
            .collect();
        if !words.is_empty() && !words.iter().any(|w| w.chars().all(|c| c.is_ascii_digit())) {
            return Some((words.join(" "), format!("{}{}", &text[i..i + p.len()], clause.trim())));
        }
    }
    // "(optional)", "Optional": the row is optional; the caller names it.
    let optional = lower.split(|c: char| !c.is_alphanumeric()).any(|w| w == "optional");
    optional.then(|| (String::new(), "optional".to_string()))
}

/// Marks that tie a cell to a footnote; `*` is left out, being a bullet
/// and a wildcard as often as a mark.
const MARKS: &[char] = &['‡', '†', '§', '¹', '²', '³', '⁴'];

/// Footnote legends in the document's text: "* redirected to HTTPS; ‡ only
/// when the feature is configured" → [('‡', "only when the feature is
/// configured")]. Each mark keeps its first legend.
pub fn footnotes<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<(char, String)> {
    let mut out: Vec<(char, String)> = Vec::new();
    for text in texts {
        for part in text.split(';') {
            let part = part.trim();
            let Some(mark) = part.chars().next().filter(|c| MARKS.contains(c)) else { continue };
            let legend = part[mark.len_utf8()..].trim();
            if !legend.is_empty() && !out.iter().any(|(m, _)| *m == mark) {
                out.push((mark, legend.to_string()));
            }
        }
    }
    out
}

/// A condition that names no feature of its own ("the feature", "this
/// option"): the row's name names it.
pub fn generic(feature: &str) -> bool {
    feature.is_empty() || matches!(feature, "feature" | "option" | "service" | "function" | "it" | "this")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_party_a_row_comes_from() {
        assert_eq!(initiator_in_text("Lets in SSH traffic from the SSH proxy.").as_deref(), Some("SSH proxy"));
        assert_eq!(initiator_in_text("Lets in NCP traffic for eDirectory from the backend subnet.").as_deref(), Some("backend subnet"));
        assert_eq!(initiator_in_text("Queries from monitoring servers to the agent").as_deref(), Some("monitoring servers"));
        // Nothing after "from", a port, a number, or a long phrase: no party.
        assert_eq!(initiator_in_text("Replies from port 53"), None);
        assert_eq!(initiator_in_text("Traffic from 10.0.0.0/8"), None);
        assert_eq!(initiator_in_text("Data sent from any of the many systems that feed the index"), None);
        assert_eq!(initiator_in_text("Web interface"), None);
    }

    #[test]
    fn footnote_legends() {
        let got = footnotes(["* redirected to HTTPS; ‡ only when the feature is configured", "† HA pairs only"].into_iter());
        assert_eq!(got, [('‡', "only when the feature is configured".to_string()), ('†', "HA pairs only".to_string())]);
        assert!(footnotes(["* a bullet, not a mark", "Price: 5 §"].into_iter()).is_empty());
        let (f, _) = condition_in_text(&got[0].1).unwrap();
        assert!(generic(&f), "\"the feature\" names none: {f}");
    }

    #[test]
    fn conditions_in_a_rows_text() {
        let c = |t: &str| condition_in_text(t).map(|(f, _)| f);
        assert_eq!(c("Optional (HA)").as_deref(), Some("ha"));
        assert_eq!(c("Only when HEC is enabled").as_deref(), Some("hec"));
        assert_eq!(c("Only in an indexer cluster").as_deref(), Some("indexer cluster"));
        assert_eq!(
            c("(Optional) Needed if you want to ingest RTMP streams using Ingress service.").as_deref(),
            Some("ingest rtmp streams")
        );
        assert_eq!(c("Configuration sync, if distributed WATO is enabled").as_deref(), Some("distributed wato"));
        assert_eq!(c("Forwarding, when central notification is enabled and the site connects").as_deref(), Some("central notification"));
        assert_eq!(c("Used if needed"), None, "\"if\" without a state word is too weak");
        assert_eq!(c("Sync when the distributed setup is enabled").as_deref(), Some("distributed setup"));
        assert_eq!(c("TCP and UDP (optional)").as_deref(), Some(""));
        assert_eq!(c("Agent connection service"), None);
        assert_eq!(c("when the port is free"), None, "no state word");
    }
}
