//! The probe protocol: one text line each way.
//!
//! Request: `PMX1 <nonce hex>\n`, padded (UDP) to [`UDP_REQUEST_LEN`] bytes.
//! Reply: `PMX1 <token hex> <dst addr used> <observed source addr:port> <host>\n`.
//! A UDP reply is cut to the request's length, so the responder never
//! amplifies; the token comes first and survives any cut of a request that
//! carries a nonce.

use std::net::{IpAddr, SocketAddr};

use crate::token::{hex, unhex, NONCE_LEN, TOKEN_LEN};

pub const MAGIC: &str = "PMX1";
/// Size the prober pads UDP requests to (room for a full reply).
pub const UDP_REQUEST_LEN: usize = 256;
/// Largest request a responder reads.
pub const MAX_REQUEST: usize = 512;

pub fn request(nonce: &[u8; NONCE_LEN], pad_to: usize) -> Vec<u8> {
    let mut v = format!("{MAGIC} {}\n", hex(nonce)).into_bytes();
    while v.len() < pad_to {
        v.push(b' ');
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

pub fn reply(token: &[u8; TOKEN_LEN], dst: IpAddr, src: SocketAddr, host: &str) -> Vec<u8> {
    format!("{MAGIC} {} {dst} {src} {host}\n", hex(token)).into_bytes()
}

/// A parsed reply; fields after the token are optional (a cut UDP reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub token: [u8; TOKEN_LEN],
    pub dst: Option<IpAddr>,
    pub observed_src: Option<SocketAddr>,
    pub host: Option<String>,
}

pub fn parse_reply(buf: &[u8]) -> Option<Reply> {
    let line = buf.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut it = line.split_ascii_whitespace();
    if it.next()? != MAGIC {
        return None;
    }
    let token = unhex::<TOKEN_LEN>(it.next()?)?;
    let dst = it.next().and_then(|s| s.parse().ok());
    let observed_src = it.next().and_then(|s| s.parse().ok());
    let host = it.next().map(str::to_string);
    Some(Reply { token, dst, observed_src, host })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let n = [1u8; NONCE_LEN];
        let req = request(&n, UDP_REQUEST_LEN);
        assert_eq!(req.len(), UDP_REQUEST_LEN);
        assert_eq!(parse_request(&req), Some(n));
        let t = [2u8; TOKEN_LEN];
        let r = reply(&t, "10.0.0.1".parse().unwrap(), "[2001:db8::1]:4000".parse().unwrap(), "web1");
        let p = parse_reply(&r).unwrap();
        assert_eq!(p.token, t);
        assert_eq!(p.host.as_deref(), Some("web1"));
        assert_eq!(p.observed_src, Some("[2001:db8::1]:4000".parse().unwrap()));
        // A cut reply still carries the token.
        assert_eq!(parse_reply(&r[..5 + 32]).unwrap().token, t);
        assert!(parse_request(b"GET / HTTP/1.0\r\n").is_none());
    }
}
