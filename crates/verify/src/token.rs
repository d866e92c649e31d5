//! Probe tokens: the proof that an answer came from the intended host, and
//! that nobody on the way changed what it says.
//!
//! Every host gets its own key, derived from the deployment's secret:
//! `host_key = HMAC-SHA256(SHA-256(secret), "portmatrix host " || host)`. A
//! responder answers a probe with the text of its observations (protocol,
//! the address and port the probe arrived on, the source address and port it
//! came from, its host name: see [`crate::wire`]) and
//! `token = HMAC-SHA256(host_key, "portmatrix reply 2" || nonce || that text)`,
//! truncated to [`TOKEN_LEN`] bytes. The token covers every byte of the
//! reply after it, so a relay that rewrites any field (to hide a NAT or pass
//! off another host's answer) breaks it. The prober, knowing the secret and
//! its nonce, checks the token under the key of the host the reply names, then
//! compares the fields with what it sent.
//!
//! Keys come from a file readable only by its owner ([`Key::from_file`]) or
//! the `PORTMATRIX_KEY` environment variable, never from the command line
//! (where every user of the machine can read it); the lab makes a fresh one
//! from the operating system's random source ([`Key::random`]).

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Bytes of a probe nonce.
pub const NONCE_LEN: usize = 16;
/// Bytes of a truncated token.
pub const TOKEN_LEN: usize = 16;
/// Largest key file read (a key is a secret, not a document).
pub const MAX_KEY_FILE: u64 = 4096;
/// The environment variable a key may come from.
pub const KEY_ENV: &str = "PORTMATRIX_KEY";

type HmacSha256 = Hmac<Sha256>;

/// Separates reply tokens from any other use of a host key.
const REPLY_DOMAIN: &[u8] = b"portmatrix reply 2";

/// The deployment's shared secret (32 bytes, any input is hashed to that).
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Why no key could be had.
#[derive(Debug)]
pub enum KeyError {
    /// Neither a key file nor the environment variable.
    Missing,
    Open {
        path: PathBuf,
        source: io::Error,
    },
    NotAFile {
        path: PathBuf,
    },
    /// Group or others may read or write it.
    Exposed {
        path: PathBuf,
        mode: u32,
    },
    TooLarge {
        path: PathBuf,
    },
    /// The file or the variable holds nothing (line breaks aside).
    Empty {
        from: String,
    },
    /// The operating system's random source failed.
    Random(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Missing => write!(
                f,
                "no key: give --key-file PATH (a file only you can read: chmod 600) or set {KEY_ENV}; \
                 responder and prober must use the same key"
            ),
            KeyError::Open { path, source } => write!(f, "key file {}: {source}", path.display()),
            KeyError::NotAFile { path } => write!(f, "key file {}: not a regular file", path.display()),
            KeyError::Exposed { path, mode } => write!(
                f,
                "key file {} is accessible to group or others (mode {:04o}); refusing to use it: \
                 run `chmod 600 {}`",
                path.display(),
                mode & 0o7777,
                path.display()
            ),
            KeyError::TooLarge { path } => {
                write!(f, "key file {}: larger than {MAX_KEY_FILE} bytes; is it the right file?", path.display())
            }
            KeyError::Empty { from } => write!(f, "{from} is empty"),
            KeyError::Random(e) => write!(f, "the operating system's random source failed: {e}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// A key file's bytes without trailing line breaks (`echo secret > FILE`
/// and `printf secret > FILE` give the same key).
fn trim_line_breaks(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = b {
        b = rest;
    }
    b
}

impl Key {
    /// A key from any secret text or bytes (hashed with SHA-256).
    pub fn from_secret(secret: &[u8]) -> Self {
        let d = Sha256::digest(secret);
        let mut k = [0u8; 32];
        k.copy_from_slice(&d);
        Key(k)
    }

    /// A fresh random key from the operating system's random source; an
    /// error (never a weaker fallback) when it cannot be read.
    pub fn random() -> io::Result<Self> {
        let mut k = [0u8; 32];
        fill_random(&mut k)?;
        Ok(Key(k))
    }

    /// The key in `path`: a regular file that neither group nor others may
    /// read or write, at most [`MAX_KEY_FILE`] bytes; trailing line breaks
    /// are not part of the key.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        use std::os::unix::fs::PermissionsExt;
        let open_err = |source| KeyError::Open { path: path.to_path_buf(), source };
        let f = std::fs::File::open(path).map_err(open_err)?;
        // The open file's metadata: what is checked is what is read.
        let meta = f.metadata().map_err(open_err)?;
        if !meta.is_file() {
            return Err(KeyError::NotAFile { path: path.to_path_buf() });
        }
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(KeyError::Exposed { path: path.to_path_buf(), mode });
        }
        let mut bytes = Vec::new();
        f.take(MAX_KEY_FILE + 1).read_to_end(&mut bytes).map_err(open_err)?;
        if bytes.len() as u64 > MAX_KEY_FILE {
            return Err(KeyError::TooLarge { path: path.to_path_buf() });
        }
        let secret = trim_line_breaks(&bytes);
        if secret.is_empty() {
            return Err(KeyError::Empty { from: format!("key file {}", path.display()) });
        }
        Ok(Key::from_secret(secret))
    }

    /// The key from a file if one is given, else from the value of
    /// [`KEY_ENV`] (pass `std::env::var_os(KEY_ENV)`).
    pub fn load(file: Option<&Path>, env: Option<std::ffi::OsString>) -> Result<Self, KeyError> {
        use std::os::unix::ffi::OsStringExt;
        if let Some(path) = file {
            return Key::from_file(path);
        }
        match env.map(OsStringExt::into_vec) {
            None => Err(KeyError::Missing),
            Some(v) if trim_line_breaks(&v).is_empty() => Err(KeyError::Empty { from: KEY_ENV.to_string() }),
            Some(v) => Ok(Key::from_secret(trim_line_breaks(&v))),
        }
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
    fn reply_mac(&self, nonce: &[u8; NONCE_LEN], signed: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(REPLY_DOMAIN);
        mac.update(nonce);
        mac.update(signed);
        mac
    }

    /// The token of a reply to the probe `nonce` whose fields are the bytes
    /// `signed` (everything after the token on the reply line).
    pub fn reply_token(&self, nonce: &[u8; NONCE_LEN], signed: &[u8]) -> [u8; TOKEN_LEN] {
        let out = self.reply_mac(nonce, signed).finalize().into_bytes();
        let mut t = [0u8; TOKEN_LEN];
        t.copy_from_slice(&out[..TOKEN_LEN]);
        t
    }

    /// Whether `token` is this host's token for `signed` (constant time).
    pub fn verify_reply(&self, nonce: &[u8; NONCE_LEN], signed: &[u8], token: &[u8; TOKEN_LEN]) -> bool {
        self.reply_mac(nonce, signed).verify_truncated_left(token).is_ok()
    }
}

/// Fills `buf` from the operating system's random source (getrandom(2));
/// an error, never a predictable fallback, when that fails.
pub fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    getrandom::fill(buf).map_err(|e| io::Error::other(KeyError::Random(e.to_string()).to_string()))
}

/// A fresh nonce.
pub fn nonce() -> io::Result<[u8; NONCE_LEN]> {
    let mut n = [0u8; NONCE_LEN];
    fill_random(&mut n)?;
    Ok(n)
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

/// Parses exactly `N` bytes of lower-case hex (the only spelling [`hex`]
/// writes: a reply has one spelling, so no byte of it can change unnoticed).
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
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
    fn reply_tokens_bind_host_nonce_and_every_byte() {
        let key = Key::from_secret(b"s3cret");
        let a = key.host_key("a");
        let b = key.host_key("b");
        let n = [7u8; NONCE_LEN];
        let fields = b"tcp 10.0.0.1:80 10.0.0.2:40000 a";
        let t = a.reply_token(&n, fields);
        assert_eq!(t, a.reply_token(&n, fields));
        assert!(a.verify_reply(&n, fields, &t));
        assert!(!b.verify_reply(&n, fields, &t));
        assert!(!a.verify_reply(&[8u8; NONCE_LEN], fields, &t));
        assert!(!a.verify_reply(&n, b"tcp 10.0.0.1:80 10.0.0.2:40000 b", &t));
        assert!(!a.verify_reply(&n, b"tcp 10.0.0.1:81 10.0.0.2:40000 a", &t));
        assert!(!a.verify_reply(&n, b"udp 10.0.0.1:80 10.0.0.2:40000 a", &t));
        assert!(!Key::from_secret(b"other").host_key("a").verify_reply(&n, fields, &t));
    }

    #[test]
    fn hex_round_trip() {
        let n = nonce().unwrap();
        assert_eq!(unhex::<NONCE_LEN>(&hex(&n)), Some(n));
        assert_eq!(unhex::<2>("zz00"), None);
        assert_eq!(unhex::<2>("00"), None);
        assert_eq!(unhex::<2>("AB00"), None, "one spelling only");
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(Key::random().unwrap(), Key::random().unwrap());
    }

    fn key_file(mode: u32, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, p)
    }

    #[test]
    fn key_files_readable_by_others_are_refused() {
        for mode in [0o644, 0o640, 0o604, 0o660, 0o602, 0o620, 0o601] {
            let (_d, p) = key_file(mode, b"s3cret\n");
            let e = Key::from_file(&p).unwrap_err();
            assert!(matches!(e, KeyError::Exposed { .. }), "{mode:o}: {e}");
            assert!(e.to_string().contains("chmod 600"), "{e}");
        }
        for mode in [0o600, 0o400] {
            let (_d, p) = key_file(mode, b"s3cret\n");
            assert_eq!(Key::from_file(&p).unwrap(), Key::from_secret(b"s3cret"), "{mode:o}");
        }
    }

    #[test]
    fn key_sources_agree_and_bad_ones_are_named() {
        let (_d, p) = key_file(0o600, b"s3cret\r\n\n");
        let from_file = Key::load(Some(&p), Some("ignored".into())).unwrap();
        assert_eq!(from_file, Key::load(None, Some("s3cret".into())).unwrap());
        assert!(matches!(Key::load(None, None), Err(KeyError::Missing)));
        assert!(Key::load(None, None).unwrap_err().to_string().contains("--key-file"));
        assert!(matches!(Key::load(None, Some("\n".into())), Err(KeyError::Empty { .. })));
        let (_d, empty) = key_file(0o600, b"\n");
        assert!(matches!(Key::from_file(&empty), Err(KeyError::Empty { .. })));
        let (_d, big) = key_file(0o600, &vec![b'k'; MAX_KEY_FILE as usize + 1]);
        assert!(matches!(Key::from_file(&big), Err(KeyError::TooLarge { .. })));
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Key::from_file(dir.path()), Err(KeyError::NotAFile { .. }) | Err(KeyError::Exposed { .. })));
        assert!(matches!(Key::from_file(&dir.path().join("missing")), Err(KeyError::Open { .. })));
    }
}
