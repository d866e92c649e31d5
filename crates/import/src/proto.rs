//! Protocol cells: `TCP`, `TCP/UDP`, `TCP + UDP`, `HTTPS`, `HTTP/HTTPS`,
//! `HTTP/S`, `TCP/TLS`, `SSH`. Application protocols whose transport is
//! fixed (HTTPS runs on TCP) give their transport; others (SIP, DNS) give
//! none, and the port cell or a review item must decide.

use portmatrix_model::Proto;

/// One alternative named in a protocol cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The word as written ("HTTPS", "TCP").
    pub name: String,
    /// Transports it implies; empty when unknown.
    pub transports: Vec<Proto>,
    /// Application protocol, when the word names one.
    pub app: Option<String>,
    /// Whether the word says the traffic is encrypted.
    pub tls: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtoCell {
    pub variants: Vec<Variant>,
}

impl ProtoCell {
    /// All transports named or implied, in order.
    pub fn transports(&self) -> Vec<Proto> {
        let mut out = Vec::new();
        for v in &self.variants {
            for p in &v.transports {
                if !out.contains(p) {
                    out.push(*p);
                }
            }
        }
        out
    }
    /// Whether some variant names no transport we know (SIP, H.323).
    pub fn has_unknown(&self) -> bool {
        self.variants.iter().any(|v| v.transports.is_empty())
    }
    /// The application name(s) as one string: "HTTP/HTTPS".
    pub fn app(&self) -> Option<String> {
        let apps: Vec<&str> = self.variants.iter().filter_map(|v| v.app.as_deref()).collect();
        (!apps.is_empty()).then(|| apps.join("/"))
    }
    /// TLS when every variant is encrypted, plaintext when none is.
    pub fn tls(&self) -> Option<bool> {
        let t: Vec<Option<bool>> = self.variants.iter().map(|v| v.tls).collect();
        if !t.is_empty() && t.iter().all(|x| *x == Some(true)) {
            Some(true)
        } else if !t.is_empty() && t.iter().all(|x| *x == Some(false)) {
            Some(false)
        } else {
            None
        }
    }
    /// Alternatives on the same transport that can be paired one-to-one
    /// with a port list ("HTTP/HTTPS" with "80/443"); None otherwise.
    pub fn pairable(&self) -> Option<&[Variant]> {
        let v = &self.variants;
        if v.len() < 2 || v.iter().any(|x| x.transports.is_empty()) {
            return None;
        }
        let first = &v[0].transports;
        if v.iter().all(|x| &x.transports == first) && v.iter().any(|x| x.app.is_some()) {
            Some(v)
        } else {
            None
        }
    }
}

/// Transport, application name and TLS for a known word.
fn known(word: &str) -> Option<(Vec<Proto>, Option<&'static str>, Option<bool>)> {
    use Proto::*;
    let w = word.to_ascii_uppercase().replace([' ', '-', '_'], "");
    Some(match w.as_str() {
        "TCP" | "TCPIP" => (vec![Tcp], None, None),
        "UDP" => (vec![Udp], None, None),
        "SCTP" => (vec![Sctp], None, None),
        "ICMP" | "PING" => (vec![Icmp], None, None),
        "ICMPV6" => (vec![Icmpv6], None, None),
        "TLS" | "SSL" | "TLS1.2" | "TLS1.3" => (vec![Tcp], Some("TLS"), Some(true)),
        "HTTPS" => (vec![Tcp], Some("HTTPS"), Some(true)),
        "HTTP" => (vec![Tcp], Some("HTTP"), Some(false)),
        "SSH" => (vec![Tcp], Some("SSH"), Some(true)),
        "SFTP" => (vec![Tcp], Some("SFTP"), Some(true)),
        "SCP" => (vec![Tcp], Some("SCP"), Some(true)),
        "FTP" => (vec![Tcp], Some("FTP"), Some(false)),
        "FTPS" => (vec![Tcp], Some("FTPS"), Some(true)),
        "LDAP" => (vec![Tcp], Some("LDAP"), Some(false)),
        "LDAPS" => (vec![Tcp], Some("LDAPS"), Some(true)),
        "SMTP" => (vec![Tcp], Some("SMTP"), None),
        "SMTPS" => (vec![Tcp], Some("SMTPS"), Some(true)),
        "IMAP" | "IMAP4" => (vec![Tcp], Some("IMAP"), None),
        "IMAPS" => (vec![Tcp], Some("IMAPS"), Some(true)),
        "POP3" => (vec![Tcp], Some("POP3"), None),
        "POP3S" => (vec![Tcp], Some("POP3S"), Some(true)),
        "RDP" => (vec![Tcp], Some("RDP"), None),
        "TELNET" => (vec![Tcp], Some("Telnet"), Some(false)),
        "WEBSOCKET" | "WS" => (vec![Tcp], Some("WebSocket"), None),
        "WSS" => (vec![Tcp], Some("WebSocket"), Some(true)),
        "AJP" => (vec![Tcp], Some("AJP"), None),
        "VNC" => (vec![Tcp], Some("VNC"), None),
        "SMB" | "CIFS" => (vec![Tcp], Some("SMB"), None),
        "NTP" => (vec![Udp], Some("NTP"), None),
        "SNMP" => (vec![Udp], Some("SNMP"), None),
        "TFTP" => (vec![Udp], Some("TFTP"), None),
        "RTP" | "SRTP" | "RTCP" => (vec![Udp], Some("RTP"), None),
        // A protocol named only by its service, whose transport is fixed.
        "DHCP" | "BOOTP" => (vec![Udp], Some("DHCP"), None),
        _ => return None,
    })
}

/// Parses a protocol cell. Never fails: unknown words become variants
/// without transports.
pub fn parse_proto_cell(text: &str) -> ProtoCell {
    let mut parts: Vec<String> = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in text.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            '/' | ',' | '+' | '&' | '\n' | ';' if depth <= 0 => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    // " or " and " and " also separate.
    let parts: Vec<String> = parts
        .into_iter()
        .flat_map(|p| p.split(" or ").flat_map(|q| q.split(" and ").map(str::to_string).collect::<Vec<_>>()).collect::<Vec<_>>())
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let mut variants: Vec<Variant> = Vec::new();
    for part in parts {
        // "HTTP/S" means HTTP and HTTPS.
        let name = if part.eq_ignore_ascii_case("s") {
            match variants.last() {
                Some(prev) => format!("{}S", prev.name),
                None => part.clone(),
            }
        } else {
            part.clone()
        };
        let bare = strip_parens(&name);
        match known(&bare) {
            Some((transports, app, tls)) => variants.push(Variant { name: bare.clone(), transports, app: app.map(str::to_string), tls }),
            None => {
                if bare.is_empty() || bare.eq_ignore_ascii_case("any") {
                    continue;
                }
                variants.push(Variant { name: bare.clone(), transports: Vec::new(), app: Some(bare.clone()), tls: None })
            }
        }
    }
    ProtoCell { variants }
}

/// "AXL(Cisco specific)" → "AXL".
pub fn strip_parens(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = (depth - 1).max(0),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports() {
        assert_eq!(parse_proto_cell("TCP").transports(), [Proto::Tcp]);
        // A service whose transport is fixed gives it; one that runs on both does not.
        assert_eq!(parse_proto_cell("DHCP").transports(), [Proto::Udp]);
        assert!(parse_proto_cell("DNS").transports().is_empty());
        for t in ["TCP/UDP", "TCP / UDP", "TCP + UDP", "TCP, UDP", "TCP or UDP"] {
            assert_eq!(parse_proto_cell(t).transports(), [Proto::Tcp, Proto::Udp], "{t}");
        }
        assert_eq!(parse_proto_cell("HTTPS").transports(), [Proto::Tcp]);
        assert_eq!(parse_proto_cell("HTTPS").tls(), Some(true));
        assert_eq!(parse_proto_cell("TLS").transports(), [Proto::Tcp]);
        assert!(parse_proto_cell("SIP").has_unknown());
        assert!(parse_proto_cell("SIP").transports().is_empty());
    }

    #[test]
    fn pairs() {
        let c = parse_proto_cell("HTTP/HTTPS");
        let v = c.pairable().expect("pairable");
        assert_eq!(v[0].name, "HTTP");
        assert_eq!(v[1].name, "HTTPS");
        let c = parse_proto_cell("HTTP/S");
        assert_eq!(c.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["HTTP", "HTTPS"]);
        assert!(parse_proto_cell("TCP/TLS").pairable().is_some());
        // Different transports are a cross product, never a pairing.
        assert!(parse_proto_cell("TCP/UDP").pairable().is_none());
    }
}
