//! Probe tokens: the proof that an answer came from the intended host and port.
//!
//! Every host gets its own key, derived from the deployment's secret:
//! `host_key = HMAC-SHA256(secret, "portmatrix host " || host)`. A responder
//! answers a probe with
//! `token = HMAC-SHA256(host_key, nonce || dst addr || dst port || proto)`,
//! truncated to [`TOKEN_LEN`] bytes. The prober, knowing the secret, the host
//! it expects and the address and port it sent to, recomputes the token; a
//! mismatch means another host (or another service) answered.

use std::fmt;
use std::net::IpAddr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::Proto;

/// Bytes of a probe nonce.
pub const NONCE_LEN: usize = 16;
/// Bytes of a truncated token.
pub const TOKEN_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// The deployment's shared secret (32 bytes, any input is hashed to that).
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// A key from any secret text or bytes (hashed with SHA-256).
    pub fn from_secret(secret: &[u8]) -> Self {
        let d = Sha256::digest(secret);
        let mut k = [0u8; 32];
        k.copy_from_slice(&d);
        Key(k)
    }

    /// A fresh random key (from the kernel's random source).
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        fill_random(&mut k);
        Key(k)
    }

    /// The per-host key.
    pub fn host_key(&self, host: &str) -> HostKey {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"portmatrix host ");
        mac.update(host.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut k = [0u8; 32];
        k.copy_from_slice(&out);
        HostKey(k)
    }
}

/// A host's own key (see the module documentation).
#[derive(Clone, PartialEq, Eq)]
pub struct HostKey([u8; 32]);

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostKey(..)")
    }
}

impl HostKey {
    /// The token for one probe.
    pub fn token(&self, nonce: &[u8; NONCE_LEN], dst: IpAddr, port: u16, proto: Proto) -> [u8; TOKEN_LEN] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(nonce);
        match dst {
            IpAddr::V4(a) => mac.update(&a.octets()),
            IpAddr::V6(a) => mac.update(&a.octets()),
        }
        mac.update(&port.to_be_bytes());
        mac.update(&[proto.number()]);
        let out = mac.finalize().into_bytes();
        let mut t = [0u8; TOKEN_LEN];
        t.copy_from_slice(&out[..TOKEN_LEN]);
        t
    }
}

/// Fills `buf` from `/dev/urandom`; falls back to a time-and-counter hash
/// (nonces must be unique, not secret).
pub fn fill_random(buf: &mut [u8]) {
    use std::io::Read;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(buf).is_ok() {
            return;
        }
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut seed = Sha256::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    seed.update(now.as_nanos().to_le_bytes());
    seed.update(std::process::id().to_le_bytes());
    seed.update(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_le_bytes());
    let d = seed.finalize();
    for (i, b) in buf.iter_mut().enumerate() {
        *b = d[i % d.len()];
    }
}

/// A fresh nonce.
pub fn nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    fill_random(&mut n);
    n
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

/// Parses exactly `N` bytes of hex.
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (val(b[2 * i])? << 4) | val(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_host_address_port_and_proto() {
        let key = Key::from_secret(b"s3cret");
        let a = key.host_key("a");
        let b = key.host_key("b");
        let n = [7u8; NONCE_LEN];
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t = a.token(&n, ip, 80, Proto::Tcp);
        assert_eq!(t, a.token(&n, ip, 80, Proto::Tcp));
        assert_ne!(t, b.token(&n, ip, 80, Proto::Tcp));
        assert_ne!(t, a.token(&n, "10.0.0.2".parse().unwrap(), 80, Proto::Tcp));
        assert_ne!(t, a.token(&n, ip, 81, Proto::Tcp));
        assert_ne!(t, a.token(&n, ip, 80, Proto::Udp));
        assert_ne!(t, a.token(&[8u8; NONCE_LEN], ip, 80, Proto::Tcp));
    }

    #[test]
    fn hex_round_trip() {
        let n = nonce();
        assert_eq!(unhex::<NONCE_LEN>(&hex(&n)), Some(n));
        assert_eq!(unhex::<2>("zz00"), None);
        assert_eq!(unhex::<2>("00"), None);
    }
}
