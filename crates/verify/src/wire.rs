//! The probe protocol: one text line each way.
//!
//! Request: `PMX2 <nonce hex>\n`, padded (UDP) to [`UDP_REQUEST_LEN`] bytes.
//! Reply: `PMX2 <token hex> <proto> <arrival addr:port> <observed source addr:port> <host>\n`:
//! the protocol, the local address and port the probe arrived on, the source
//! address and port it came from as the responder saw it, and the
//! responder's host name (bytes outside printable ASCII and `%` written as
//! `%XX`). The token covers every byte between it and the line end
//! ([`crate::token`]), so no field can be changed on the way.
//!
//! A UDP reply is cut to the request's length, so the responder never
//! amplifies; the prober pads its requests so that a whole reply fits. A
//! reply that was cut cannot be verified and counts as a mismatch.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::token::{hex, unhex, HostKey, NONCE_LEN, TOKEN_LEN};
use crate::Proto;

pub const MAGIC: &str = "PMX2";
/// Size the prober pads UDP requests to: room for the longest reply.
pub const UDP_REQUEST_LEN: usize = 512;
/// Largest request a responder reads, and largest reply a prober reads.
pub const MAX_REQUEST: usize = 512;
/// Longest host name a reply carries, once escaped (a DNS name's limit).
pub const MAX_HOST_WIRE: usize = 253;

pub fn request(nonce: &[u8; NONCE_LEN], pad_to: usize) -> Vec<u8> {
    let mut v = format!("{MAGIC} {}\n", hex(nonce)).into_bytes();
    if v.len() < pad_to {
        v.resize(pad_to, b' ');
    }
    v
}

pub fn parse_request(buf: &[u8]) -> Option<[u8; NONCE_LEN]> {
    let line = buf.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut it = line.split_ascii_whitespace();
    if it.next()? != MAGIC {
        return None;
    }
    unhex::<NONCE_LEN>(it.next()?)
}

/// `name` as a reply carries it: printable ASCII except `%` as is, every
/// other byte as `%XX`, so the field holds no space, line break or control
/// character whatever the inventory says.
pub fn escape_host(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// The inverse of [`escape_host`]; `None` unless `s` is exactly what
/// [`escape_host`] writes for some name (one spelling per name).
pub fn unescape_host(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hexval = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            };
            let v = (hexval(*b.get(i + 1)?)? << 4) | hexval(*b.get(i + 2)?)?;
            if v.is_ascii_graphic() && v != b'%' {
                return None; // would have been written as is
            }
            out.push(v);
            i += 3;
        } else if b[i].is_ascii_graphic() {
            out.push(b[i]);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a responder for `host` can answer at all (its escaped name fits).
pub fn check_host(host: &str) -> Result<(), String> {
    let n = escape_host(host).len();
    if host.is_empty() || n > MAX_HOST_WIRE {
        return Err(format!("host name of {} bytes escaped: a reply carries 1 to {MAX_HOST_WIRE}", n));
    }
    Ok(())
}

/// The reply line to probe `nonce`, signed with the responder's host key.
pub fn reply(key: &HostKey, nonce: &[u8; NONCE_LEN], proto: Proto, arrived: SocketAddr, src: SocketAddr, host: &str) -> Vec<u8> {
    let fields = format!("{proto} {arrived} {src} {}", escape_host(host));
    let token = key.reply_token(nonce, fields.as_bytes());
    format!("{MAGIC} {} {fields}\n", hex(&token)).into_bytes()
}

/// A parsed reply; nothing in it is verified yet ([`Reply::verify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub token: [u8; TOKEN_LEN],
    pub proto: Proto,
    /// Where the probe arrived, as the responder saw it.
    pub arrived: SocketAddr,
    /// Where it came from, as the responder saw it.
    pub observed_src: SocketAddr,
    pub host: String,
    /// The bytes the token covers.
    signed: Vec<u8>,
}

impl Reply {
    /// Whether the token is the named host's for this exact text and `nonce`.
    pub fn verify(&self, key: &crate::Key, nonce: &[u8; NONCE_LEN]) -> bool {
        key.host_key(&self.host).verify_reply(nonce, &self.signed, &self.token)
    }
}

/// What came back on a probe's connection or socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Nothing was read (an ICMP echo reply, or a connection that said
    /// nothing).
    Empty,
    /// Not our protocol: the real service answered (or something replaced
    /// the responder's reply).
    Foreign,
    /// Starts like our protocol but does not parse (cut, altered, or another
    /// version): it cannot be verified.
    Malformed(String),
    Reply(Reply),
}

pub fn parse_reply(buf: &[u8]) -> Answer {
    if buf.is_empty() {
        return Answer::Empty;
    }
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(rest) = line.strip_prefix(MAGIC.as_bytes()).and_then(|r| r.strip_prefix(b" ")) else {
        if line.len() >= 4 && line.starts_with(b"PMX") && line[3].is_ascii_digit() {
            let v = String::from_utf8_lossy(&line[..4]).into_owned();
            return Answer::Malformed(format!("the responder speaks {v}, this prober {MAGIC}: run the same portmatrix on both"));
        }
        return Answer::Foreign;
    };
    match parse_fields(rest) {
        Ok(r) => Answer::Reply(r),
        Err(why) => Answer::Malformed(why.into()),
    }
}

/// `<token> <proto> <arrived> <src> <host>`, one space apart, nothing else.
fn parse_fields(rest: &[u8]) -> Result<Reply, &'static str> {
    let text = std::str::from_utf8(rest).map_err(|_| "reply is not text")?;
    let (token, signed) = text.split_once(' ').ok_or("reply cut after its token")?;
    let token = unhex::<TOKEN_LEN>(token).ok_or("reply token is not 32 lower-case hex digits")?;
    let parts: Vec<&str> = signed.split(' ').collect();
    let [proto, arrived, src, host] = parts[..] else {
        return Err("reply has the wrong number of fields (cut or altered)");
    };
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => return Err("reply names an unknown protocol"),
    };
    let arrived: SocketAddr = arrived.parse().map_err(|_| "reply's arrival address does not parse")?;
    let observed_src: SocketAddr = src.parse().map_err(|_| "reply's source address does not parse")?;
    let host = unescape_host(host).filter(|h| !h.is_empty()).ok_or("reply's host name is not escaped as it must be")?;
    Ok(Reply { token, proto, arrived, observed_src, host, signed: signed.as_bytes().to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;

    #[test]
    fn round_trip() {
        let n = [1u8; NONCE_LEN];
        let req = request(&n, UDP_REQUEST_LEN);
        assert_eq!(req.len(), UDP_REQUEST_LEN);
        assert_eq!(parse_request(&req), Some(n));
        let key = Key::from_secret(b"k");
        let r = reply(&key.host_key("web1"), &n, Proto::Udp, "10.0.0.1:53".parse().unwrap(), "[2001:db8::1]:4000".parse().unwrap(), "web1");
        let Answer::Reply(p) = parse_reply(&r) else { panic!("{r:?}") };
        assert!(p.verify(&key, &n));
        assert!(!p.verify(&key, &[2u8; NONCE_LEN]));
        assert_eq!(p.host, "web1");
        assert_eq!(p.proto, Proto::Udp);
        assert_eq!(p.arrived, "10.0.0.1:53".parse().unwrap());
        assert_eq!(p.observed_src, "[2001:db8::1]:4000".parse().unwrap());
        // A cut reply is ours but unverifiable.
        assert!(matches!(parse_reply(&r[..5 + 32]), Answer::Malformed(_)));
        assert!(matches!(parse_reply(&r[..r.len() - 3]), Answer::Malformed(_) | Answer::Reply(_)));
        assert!(parse_request(b"GET / HTTP/1.0\r\n").is_none());
        assert_eq!(parse_reply(b"SSH-2.0-OpenSSH_9.6\r\n"), Answer::Foreign);
        assert!(matches!(parse_reply(b"PMX1 00 10.0.0.1"), Answer::Malformed(m) if m.contains("PMX1")));
    }

    #[test]
    fn the_longest_reply_fits_a_padded_request() {
        let host = "h".repeat(MAX_HOST_WIRE);
        let v6: SocketAddr = "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295]:65535".parse().unwrap();
        let r = reply(&Key::from_secret(b"k").host_key(&host), &[0; NONCE_LEN], Proto::Tcp, v6, v6, &host);
        assert!(r.len() <= UDP_REQUEST_LEN && r.len() <= MAX_REQUEST, "{}", r.len());
    }

    #[test]
    fn host_names_escape_and_come_back() {
        for name in ["web1", "a b", "x\ny", "100%", "naïve", "\u{202e}evil", "\"quoted\""] {
            let e = escape_host(name);
            assert!(e.bytes().all(|b| b.is_ascii_graphic()), "{e}");
            assert_eq!(unescape_host(&e).as_deref(), Some(name));
        }
        assert_eq!(unescape_host("%41"), None, "A is written as is");
        assert_eq!(unescape_host("%2a"), None, "upper-case hex only");
        assert!(check_host(&"x".repeat(MAX_HOST_WIRE + 1)).is_err());
        assert!(check_host("").is_err());
    }
}
