//! HTTP hardening of the server: the `Host` header check against DNS
//! rebinding, and `Content-Disposition` file names per RFC 6266.

use std::net::{IpAddr, SocketAddr};

use axum::http::uri::Authority;
use axum::http::HeaderValue;

/// The `Host` values the server answers to. A DNS-rebinding page reaches
/// the server under the attacker's host name; refusing every name the
/// server does not listen as keeps such a page from reading anything.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    listen: SocketAddr,
    /// Further names (e.g. a reverse proxy's), lower case.
    names: Vec<String>,
}

/// Why a request's `Host` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRefusal {
    Missing,
    Malformed,
    WrongPort(u16),
    NotOurs(String),
}

impl std::fmt::Display for HostRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostRefusal::Missing => f.write_str("the request has no Host header"),
            HostRefusal::Malformed => f.write_str("the Host header is not a host name or address"),
            HostRefusal::WrongPort(p) => write!(f, "this server does not listen on port {p}"),
            HostRefusal::NotOurs(h) => {
                write!(f, "this server does not answer to the name `{h}` (open it by the address it listens on, or localhost)")
            }
        }
    }
}

impl HostPolicy {
    pub fn new(listen: SocketAddr) -> Self {
        HostPolicy { listen, names: Vec::new() }
    }

    /// Also answer to `name` (a host name, without port).
    pub fn allow(&mut self, name: &str) {
        self.names.push(name.trim_end_matches('.').to_ascii_lowercase());
    }

    /// Whether a request with this `Host` header value may be answered. A
    /// value without a port is accepted (browsers always send a port that
    /// is not the default); with a port, it must be the one listened on.
    /// Addresses: the one listened on, any loopback address when listening
    /// on loopback, and any address when listening on all (an address
    /// literal cannot be rebound). Names: `localhost` when the server is
    /// reachable on loopback, and the names allowed explicitly.
    pub fn check(&self, host: Option<&[u8]>) -> Result<(), HostRefusal> {
        let raw = host.ok_or(HostRefusal::Missing)?;
        let text = std::str::from_utf8(raw).map_err(|_| HostRefusal::Malformed)?;
        let auth: Authority = text.parse().map_err(|_| HostRefusal::Malformed)?;
        if text.contains('@') {
            return Err(HostRefusal::Malformed);
        }
        if let Some(port) = auth.port_u16() {
            if port != self.listen.port() {
                return Err(HostRefusal::WrongPort(port));
            }
        }
        let name = auth.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let ip = self.listen.ip();
        if let Ok(addr) = name.parse::<IpAddr>() {
            let ok = ip.is_unspecified() || addr == ip || (ip.is_loopback() && addr.is_loopback());
            return if ok { Ok(()) } else { Err(HostRefusal::NotOurs(name)) };
        }
        let local = ip.is_loopback() || ip.is_unspecified();
        if (local && name == "localhost") || self.names.contains(&name) {
            Ok(())
        } else {
            Err(HostRefusal::NotOurs(name))
        }
    }
}

/// A `Content-Disposition: attachment` value for a file name (RFC 6266):
/// an ASCII fallback in `filename="..."` (anything else, quotes, backslashes
/// and path separators replaced) and the exact name, percent-encoded as
/// UTF-8, in `filename*` (RFC 8187). Only the last path component is used.
pub fn attachment(name: &str) -> HeaderValue {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let base = if base.is_empty() || base == "." || base == ".." { "download" } else { base };
    let fallback: String =
        base.chars().map(|c| if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' { c } else { '_' }).collect();
    let mut encoded = String::new();
    for b in base.bytes() {
        // attr-char of RFC 8187: ALPHA / DIGIT / "!#$&+-.^_`|~"
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let value = format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}");
    HeaderValue::from_str(&value).expect("printable ASCII only")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(addr: &str) -> HostPolicy {
        HostPolicy::new(addr.parse().expect("address"))
    }

    #[test]
    fn loopback_server_answers_to_its_loopback_names_only() {
        let p = policy("127.0.0.1:8080");
        for ok in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080", "localhost", "127.0.0.2:8080"] {
            assert_eq!(p.check(Some(ok.as_bytes())), Ok(()), "{ok}");
        }
        for bad in
            ["evil.example:8080", "evil.example", "localhost:80", "10.0.0.1:8080", "localhost.evil.example:8080", "user@localhost:8080", ""]
        {
            assert!(p.check(Some(bad.as_bytes())).is_err(), "{bad}");
        }
        assert_eq!(p.check(None), Err(HostRefusal::Missing));
        assert_eq!(p.check(Some(b"\xff")), Err(HostRefusal::Malformed));
    }

    #[test]
    fn other_addresses_and_allowed_names() {
        let mut p = policy("192.0.2.10:9000");
        assert!(p.check(Some(b"192.0.2.10:9000")).is_ok());
        assert!(p.check(Some(b"localhost:9000")).is_err(), "not listening on loopback");
        assert!(p.check(Some(b"pm.example:9000")).is_err());
        p.allow("PM.example.");
        assert!(p.check(Some(b"pm.example:9000")).is_ok());
        let any = policy("0.0.0.0:9000");
        assert!(any.check(Some(b"198.51.100.7:9000")).is_ok(), "an address literal cannot be rebound");
        assert!(any.check(Some(b"localhost:9000")).is_ok());
        assert!(any.check(Some(b"rebind.example:9000")).is_err());
    }

    #[test]
    fn file_names_are_rfc_6266() {
        let v = attachment("acd-lb1.nft");
        assert_eq!(v.to_str().unwrap(), "attachment; filename=\"acd-lb1.nft\"; filename*=UTF-8''acd-lb1.nft");
        let v = attachment("dir/a\"b\\c\r\nSet-Cookie: x;ü.csv");
        let s = v.to_str().expect("ASCII");
        assert!(!s.contains('\r') && !s.contains('\n'));
        assert_eq!(s, "attachment; filename=\"c__Set-Cookie: x__.csv\"; filename*=UTF-8''c%0D%0ASet-Cookie%3A%20x%3B%C3%BC.csv");
        let v = attachment("a\"b.csv");
        assert_eq!(v.to_str().unwrap(), "attachment; filename=\"a_b.csv\"; filename*=UTF-8''a%22b.csv");
        assert_eq!(attachment("..").to_str().unwrap(), "attachment; filename=\"download\"; filename*=UTF-8''download");
    }
}
