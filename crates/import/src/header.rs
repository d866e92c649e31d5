//! Column headers matched by meaning: "From (Sender)", "Source System",
//! "Initiator" all mean the initiating end; "Destination Port (Configurable
//! Range)", "Ports / Portrange", "Port(s)" the listener's ports; and so on.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Col {
    /// Initiator.
    From,
    /// Listener.
    To,
    /// Listener ports.
    Ports,
    /// Initiator's source ports.
    SrcPorts,
    /// In a direction table: ports of the remote peer.
    RemotePorts,
    /// In a direction table: ports of the system whose perspective the table takes.
    LocalPorts,
    Proto,
    Purpose,
    /// A short label of the row ("https Access", "LDAP").
    Name,
    Direction,
    /// "Required for Redundant Systems" (Yes/No).
    Redundant,
    /// "Required for Non-Redundant Systems" (Yes/No).
    NonRedundant,
    /// "Optionally Enabled / Disabled?", "Optional", "Required" (Yes/No).
    Optional,
    /// "Default Port State" (Open/Closed).
    PortState,
    /// Applications or modules that use the row.
    Apps,
}

impl fmt::Display for Col {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Col::From => "from",
            Col::To => "to",
            Col::Ports => "ports",
            Col::SrcPorts => "src_ports",
            Col::RemotePorts => "remote ports",
            Col::LocalPorts => "local ports",
            Col::Proto => "proto",
            Col::Purpose => "purpose",
            Col::Name => "name",
            Col::Direction => "direction",
            Col::Redundant => "redundant",
            Col::NonRedundant => "non-redundant",
            Col::Optional => "optional",
            Col::PortState => "port state",
            Col::Apps => "applications",
        })
    }
}

fn words(h: &str) -> Vec<String> {
    h.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// The meaning of one header cell, if it has one.
pub fn classify(header: &str) -> Option<Col> {
    let w = words(header);
    let has = |x: &str| w.iter().any(|y| y == x);
    let has_prefix = |x: &str| w.iter().any(|y| y.starts_with(x));
    if w.is_empty() {
        return None;
    }
    if has("direction") {
        return Some(Col::Direction);
    }
    if has("redundant") && (has("non") || has("nonredundant")) || has("nonredundant") {
        return Some(Col::NonRedundant);
    }
    if has("redundant") {
        return Some(Col::Redundant);
    }
    if has("state") && (has("port") || has("default")) {
        return Some(Col::PortState);
    }
    if has_prefix("optional") || has("enabled") || has("mandatory") || has("required") {
        return Some(Col::Optional);
    }
    // "Used By": the parties that connect.
    if has("used") && has("by") && !has_prefix("port") {
        return Some(Col::From);
    }
    let porty = has_prefix("port") || has("portrange") || has("ports");
    if porty {
        if has("source") || has("src") || has("sender") || has("client") || has("initiator") {
            return Some(Col::SrcPorts);
        }
        if has("remote") || has("peer") {
            return Some(Col::RemotePorts);
        }
        if has("local") || has("server") || has("own") {
            return Some(Col::LocalPorts);
        }
        return Some(Col::Ports);
    }
    // "Application Protocol", "Service": what runs over the transport, not
    // the transport itself.
    if has("application") && (has("protocol") || has("protocols")) && !has("network") && !has("transport") {
        return Some(Col::Name);
    }
    // A lone "Type" column beside ports holds the transport ("TCP and UDP").
    if w.len() == 1 && has("type") {
        return Some(Col::Proto);
    }
    if has("protocol")
        || has("protocols")
        || has("proto")
        || has("transport")
        || (has("layer") && has("4"))
        || has("service") && has("protocol")
    {
        return Some(Col::Proto);
    }
    if has("source")
        || has("sources")
        || has("from")
        || has("sender")
        || has("initiator")
        || has("initiators")
        || has("client")
        || has("clients")
        || has("origin")
        || has("src")
        || has("contacting")
        || has("connecting")
        || has("requesting")
    {
        return Some(Col::From);
    }
    if has("destination")
        || has("to")
        || has("listener")
        || has("listening")
        || has("accepting")
        || has("target")
        || has("targets")
        || has("destinations")
        || has("component")
        || has("device")
        || has("dest")
        || has("dst")
        || has("receiver")
        || has("server")
        || has("remote")
        || has("peer")
        || has("partner")
    {
        return Some(Col::To);
    }
    if has("applications") || has("modules") || has("module") || has("products") {
        return Some(Col::Apps);
    }
    if has("purpose")
        || has("description")
        || has("usage")
        || has("comment")
        || has("comments")
        || has("notes")
        || has("note")
        || has("remark")
        || has("remarks")
        || has("function")
        || has("details")
        || has("reason")
        || has("use")
        || has("used")
    {
        return Some(Col::Purpose);
    }
    if has("name") || has("application") || has("service") || has("connection") || has("flow") || has("scenario") || has("feature") {
        return Some(Col::Name);
    }
    None
}

/// The meanings chosen for a table's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub cols: Vec<Option<Col>>,
    /// The host every row's listener runs on, when the listener column
    /// names processes on one host the section heading names.
    pub listener_host: Option<String>,
}

impl Mapping {
    pub fn find(&self, c: Col) -> Option<usize> {
        self.cols.iter().position(|x| *x == Some(c))
    }
    pub fn all(&self, c: Col) -> Vec<usize> {
        self.cols.iter().enumerate().filter(|(_, x)| **x == Some(c)).map(|(i, _)| i).collect()
    }
    pub fn has(&self, c: Col) -> bool {
        self.find(c).is_some()
    }
    /// "from=1 'From (Sender)', to=2 'To (Listener)', ports=3 'Destination Port'".
    pub fn describe(&self, header: &[String]) -> String {
        self.cols
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                c.map(|c| format!("{c}={} '{}'", i + 1, crate::doc::squeeze(header.get(i).map(String::as_str).unwrap_or(""))))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Maps a header row; None when it is not the header of a port table (no
/// port column, or nothing that names an end or a protocol).
pub fn map_header(header: &[String]) -> Option<Mapping> {
    let mut cols: Vec<Option<Col>> = header.iter().map(|h| classify(h)).collect();
    // Two "port" columns: the one beside the initiator is its source port.
    let ports = positions(&cols, Col::Ports);
    if ports.len() >= 2 {
        let from = cols.iter().position(|c| *c == Some(Col::From));
        let to = cols.iter().position(|c| *c == Some(Col::To));
        for &p in &ports {
            let after_from = from.is_some_and(|f| p == f + 1 || (p > f && to.is_some_and(|t| p < t)));
            let before_to = to.is_some_and(|t| p < t) && from.is_none_or(|f| f < p);
            if after_from || (before_to && from.is_some()) {
                cols[p] = Some(Col::SrcPorts);
            }
        }
    }
    // A direction table with two unlabelled port columns: remote first.
    if cols.contains(&Some(Col::Direction)) {
        let ports = positions(&cols, Col::Ports);
        if ports.len() == 2 {
            cols[ports[0]] = Some(Col::RemotePorts);
            cols[ports[1]] = Some(Col::LocalPorts);
        }
    }
    // Two purpose-like columns: the first (shorter) is a row label.
    let purposes = positions(&cols, Col::Purpose);
    if purposes.len() >= 2 && !cols.contains(&Some(Col::Name)) {
        cols[purposes[0]] = Some(Col::Name);
    }
    // Several columns of one kind keep the first; later ones are ignored
    // (and shown as such in the summary), except purposes, which join.
    let mut seen = Vec::new();
    for c in cols.iter_mut() {
        if let Some(k) = *c {
            if seen.contains(&k) && !matches!(k, Col::Purpose) {
                *c = None;
            } else {
                seen.push(k);
            }
        }
    }
    let has = |k: Col| cols.contains(&Some(k));
    let any_ports = has(Col::Ports) || has(Col::RemotePorts) || has(Col::LocalPorts);
    let ends = has(Col::From) || has(Col::To) || has(Col::Direction);
    // A port column beside a purpose or a name is a port table too ("Protocol
    // and Port | Usage"): its protocols are in the port cells.
    if any_ports && (ends || has(Col::Proto) || has(Col::Purpose) || has(Col::Name)) {
        Some(Mapping { cols, listener_host: None })
    } else {
        None
    }
}

fn positions(cols: &[Option<Col>], k: Col) -> Vec<usize> {
    cols.iter().enumerate().filter(|(_, c)| **c == Some(k)).map(|(i, _)| i).collect()
}

/// Whether a row looks like (part of) a header: no digits, and at least
/// half of its non-empty cells have a meaning.
pub fn is_header_like(cells: &[String]) -> bool {
    let filled: Vec<&String> = cells.iter().filter(|c| !c.trim().is_empty()).collect();
    if filled.is_empty() {
        return false;
    }
    if filled.iter().any(|c| c.chars().any(|ch| ch.is_ascii_digit()) && !c.to_lowercase().contains("layer")) {
        return false;
    }
    let known = filled.iter().filter(|c| classify(c).is_some() || is_header_word(c)).count();
    known * 2 >= filled.len() && filled.iter().all(|c| c.len() <= 60)
}

pub fn is_header_word(c: &str) -> bool {
    matches!(words(c).as_slice(), [w] if ["system", "host", "hostname", "ip", "address", "component", "interface", "range", "configurable"].contains(&w.as_str()))
}

/// Merges a two-row header: the upper row's labels span the empty cells to
/// their right ("Source", "", "Destination", "" over "System", "Port").
pub fn merge_header(top: &[String], bottom: &[String]) -> Vec<String> {
    let n = top.len().max(bottom.len());
    let mut out = Vec::with_capacity(n);
    let mut carry = String::new();
    for i in 0..n {
        let t = top.get(i).map(|s| s.trim()).unwrap_or("");
        let b = bottom.get(i).map(|s| s.trim()).unwrap_or("");
        if !t.is_empty() {
            carry = t.to_string();
        }
        // Only carry over cells whose bottom is filled (a sub-column).
        let t_eff = if t.is_empty() && !b.is_empty() { carry.as_str() } else { t };
        out.push(match (t_eff.is_empty(), b.is_empty()) {
            (true, _) => b.to_string(),
            (false, true) => t_eff.to_string(),
            (false, false) => format!("{t_eff} {b}"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(h: &[&str]) -> Vec<Option<Col>> {
        map_header(&h.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("a port table").cols
    }

    #[test]
    fn meanings() {
        use Col::*;
        for (h, c) in [
            ("From (Sender)", From),
            ("To (Listener)", To),
            ("Source", From),
            ("Source System", From),
            ("Initiator", From),
            ("Destination", To),
            ("Destination System", To),
            ("Listener", To),
            ("Listening Host", To),
            ("Contacting Hosts", From),
            ("Connecting system", From),
            ("Destination Port", Ports),
            ("Port(s)", Ports),
            ("Ports / Portrange", Ports),
            ("Source Port (Configurable Range)", SrcPorts),
            ("TCP-IP Ports (Remote peer)", RemotePorts),
            ("TCP-IP Ports (Imagicle Server)", LocalPorts),
            ("Protocol", Proto),
            ("Network / Application Protocol", Proto),
            ("Purpose", Purpose),
            ("Usage", Purpose),
            ("Description", Purpose),
            ("Direction", Direction),
            ("Required for Redundant Systems", Redundant),
            ("Required for Non-Redundant Systems", NonRedundant),
            ("Optionally Enabled / Disabled?", Optional),
            ("Default Port State", PortState),
        ] {
            assert_eq!(classify(h), Some(c), "{h}");
        }
        assert_eq!(classify("Hostname (Alias)"), None);
    }

    #[test]
    fn mappings() {
        use Col::*;
        assert_eq!(map(&["Port", "Protocol", "Purpose", "Source"]), [Some(Ports), Some(Proto), Some(Purpose), Some(From)]);
        // The port column beside the source is the source port.
        assert_eq!(
            map(&["Description", "Protocol", "Source", "Port", "Destination", "Ports / Portrange", "Description"]),
            [Some(Name), Some(Proto), Some(From), Some(SrcPorts), Some(To), Some(Ports), Some(Purpose)]
        );
        assert_eq!(
            map(&["From (Sender)", "To (Listener)", "Destination Port", "Purpose"]),
            [Some(From), Some(To), Some(Ports), Some(Purpose)]
        );
        assert!(map_header(&["Hostname (Alias)".into(), "Function".into()]).is_none());
        assert!(map_header(&["Component".into(), "Interface".into(), "Description".into()]).is_none());
        // Direction tables: two port columns become remote and local.
        assert_eq!(
            map(&["Protocol", "Direction", "Ports", "Ports", "Usage"]),
            [Some(Proto), Some(Direction), Some(RemotePorts), Some(LocalPorts), Some(Purpose)]
        );
    }

    #[test]
    fn two_row_headers() {
        let top: Vec<String> = [
            "Source",
            "",
            "Destination",
            "",
            "Network / Application Protocol",
            "Optionally Enabled / Disabled?",
            "Default Port State",
            "Description",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let bottom: Vec<String> = ["System", "Port (Configurable Range)", "System", "Port (Configurable Range)", "", "", "", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(is_header_like(&bottom));
        let h = merge_header(&top, &bottom);
        assert_eq!(h[1], "Source Port (Configurable Range)");
        assert_eq!(h[3], "Destination Port (Configurable Range)");
        use Col::*;
        assert_eq!(
            map_header(&h).unwrap().cols,
            [Some(From), Some(SrcPorts), Some(To), Some(Ports), Some(Proto), Some(Optional), Some(PortState), Some(Purpose)]
        );
    }
}
