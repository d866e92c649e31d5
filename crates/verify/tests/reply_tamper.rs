//! Every field of a reply is covered by its token: a relay that changes any
//! of them (the host name, the observed source, the address and port the
//! probe arrived on, the protocol, the token itself) gets the reply
//! rejected, whatever the values. Then the same on loopback with a real
//! responder, a relay in between, and the real prober's verdicts.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use portmatrix_verify::probe::{self, ProbeConfig, Target, Verdict};
use portmatrix_verify::responder::{self, ResponderConfig};
use portmatrix_verify::token::{hex, NONCE_LEN};
use portmatrix_verify::wire::{self, Answer};
use portmatrix_verify::{Key, PortSet, Proto};
use proptest::prelude::*;

fn sockaddr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::new(IpAddr::from(a), p)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::new(IpAddr::from(a), p)),
    ]
}

fn host() -> impl Strategy<Value = String> {
    // Any Unicode, spaces, `%` and control characters included.
    prop::collection::vec(any::<char>(), 1..24)
        .prop_map(|v| v.into_iter().collect::<String>())
        .prop_filter("fits a reply", |h| wire::check_host(h).is_ok())
}

fn proto() -> impl Strategy<Value = Proto> {
    prop_oneof![Just(Proto::Tcp), Just(Proto::Udp)]
}

#[derive(Debug, Clone)]
struct Fields {
    proto: Proto,
    arrived: SocketAddr,
    src: SocketAddr,
    host: String,
}

fn fields() -> impl Strategy<Value = Fields> {
    (proto(), sockaddr(), sockaddr(), host()).prop_map(|(proto, arrived, src, host)| Fields { proto, arrived, src, host })
}

fn text(f: &Fields) -> String {
    format!("{} {} {} {}", f.proto, f.arrived, f.src, wire::escape_host(&f.host))
}

/// Accepted: parses as our reply and its token verifies.
fn accepted(line: &[u8], key: &Key, nonce: &[u8; NONCE_LEN]) -> Option<wire::Reply> {
    match wire::parse_reply(line) {
        Answer::Reply(r) if r.verify(key, nonce) => Some(r),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// An untouched reply is accepted with exactly the fields it was made of.
    #[test]
    fn an_untouched_reply_is_accepted(f in fields(), nonce in any::<[u8; NONCE_LEN]>(), secret in any::<Vec<u8>>()) {
        let key = Key::from_secret(&secret);
        let line = wire::reply(&key.host_key(&f.host), &nonce, f.proto, f.arrived, f.src, &f.host);
        let r = accepted(&line, &key, &nonce).expect("accepted");
        prop_assert_eq!((r.proto, r.arrived, r.observed_src, r.host), (f.proto, f.arrived, f.src, f.host));
    }

    /// Replacing any one field by another value, keeping the token, gets
    /// the reply rejected; so does checking it against another nonce or key.
    #[test]
    fn changing_any_field_is_rejected(f in fields(), g in fields(), which in 0..4usize, nonce in any::<[u8; NONCE_LEN]>(), other_nonce in any::<[u8; NONCE_LEN]>()) {
        let key = Key::from_secret(b"deployment secret");
        let line = wire::reply(&key.host_key(&f.host), &nonce, f.proto, f.arrived, f.src, &f.host);
        let token = String::from_utf8(line[5..37].to_vec()).unwrap();
        let mut t = f.clone();
        match which {
            0 => t.proto = if f.proto == Proto::Tcp { Proto::Udp } else { Proto::Tcp },
            1 => t.arrived = g.arrived,
            2 => t.src = g.src,
            _ => t.host = g.host.clone(),
        }
        let tampered = format!("{} {token} {}\n", wire::MAGIC, text(&t));
        prop_assume!(tampered.as_bytes() != line.as_slice());
        prop_assert!(accepted(tampered.as_bytes(), &key, &nonce).is_none(), "accepted: {tampered}");
        if other_nonce != nonce {
            prop_assert!(accepted(&line, &key, &other_nonce).is_none());
        }
        prop_assert!(accepted(&line, &Key::from_secret(b"another secret"), &nonce).is_none());
        // A token taken from another reply does not fit this one.
        let other = wire::reply(&key.host_key(&g.host), &nonce, g.proto, g.arrived, g.src, &g.host);
        let swapped = [&line[..5], &other[5..37], &line[37..]].concat();
        prop_assume!(swapped != line);
        prop_assert!(accepted(&swapped, &key, &nonce).is_none());
    }

    /// Any byte of the reply line changed, removed or added: rejected.
    #[test]
    fn changing_any_byte_is_rejected(f in fields(), nonce in any::<[u8; NONCE_LEN]>(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), how in 0..3u8) {
        let key = Key::from_secret(b"deployment secret");
        let line = wire::reply(&key.host_key(&f.host), &nonce, f.proto, f.arrived, f.src, &f.host);
        let body = line.len() - 1; // the line ends at its newline
        let i = pos.index(body);
        let mut t = line.clone();
        match how {
            0 => {
                prop_assume!(t[i] != byte);
                t[i] = byte;
            }
            1 => {
                t.remove(i);
            }
            _ => {
                prop_assume!(byte != b'\n');
                t.insert(i, byte);
            }
        }
        prop_assert!(accepted(&t, &key, &nonce).is_none(), "accepted: {:?}", String::from_utf8_lossy(&t));
    }
}

// ------------------------------------------------------------ on loopback

fn free_port() -> u16 {
    // Both protocols free at once, as far as a test can tell.
    loop {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// How the relay treats a reply on its way back: `(reply, prober's address,
/// relay's address) -> reply`.
type Rewrite = fn(&str, SocketAddr, SocketAddr) -> String;

/// A UDP relay on loopback: forwards each request to `to` from a socket of
/// its own, and each answer back, after `rewrite`.
async fn relay(rewrite: Rewrite, to: SocketAddr) -> SocketAddr {
    let front = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = front.local_addr().unwrap();
    tokio::spawn(async move {
        let back = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, prober)) = front.recv_from(&mut buf).await else { return };
            let _ = back.send_to(&buf[..n], to).await;
            let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(2), back.recv(&mut buf)).await else { continue };
            let reply = rewrite(&String::from_utf8_lossy(&buf[..m]), prober, addr);
            let _ = front.send_to(reply.as_bytes(), prober).await;
        }
    });
    addr
}

/// Replaces field `i` (0: token, 1: proto, 2: arrival, 3: source, 4: host)
/// of a reply line.
fn set_field(reply: &str, i: usize, value: &str) -> String {
    let line = reply.trim_end_matches('\n');
    let mut parts: Vec<String> = line.split(' ').map(str::to_string).collect();
    parts[i + 1] = value.to_string();
    parts.join(" ") + "\n"
}

async fn probe_via(rewrite: Rewrite, responder_at: SocketAddr, expect_host: &str) -> probe::ProbeResult {
    probe_with_receipts(rewrite, responder_at, expect_host, None).await
}

async fn probe_with_receipts(
    rewrite: Rewrite,
    responder_at: SocketAddr,
    expect_host: &str,
    receipts: Option<responder::ReceiptLog>,
) -> probe::ProbeResult {
    let front = relay(rewrite, responder_at).await;
    let mut cfg = ProbeConfig::new(Key::from_secret(b"loopback"));
    cfg.timeout = Duration::from_millis(1500);
    cfg.retries = 2;
    let t = Target::new(front.ip(), Proto::Udp, front.port()).host(expect_host);
    probe::run(vec![t], &cfg, move || receipts.map(|r| r.snapshot()).unwrap_or_default()).await.remove(0)
}

#[tokio::test]
async fn a_relay_cannot_hide_a_translation_or_change_the_host() {
    let port = free_port();
    let mut cfg = ResponderConfig::new(
        "a",
        Key::from_secret(b"loopback"),
        vec!["127.0.0.1".parse().unwrap()],
        vec![(Proto::Udp, PortSet::range(port, port))],
    );
    cfg.sample_limit = 1;
    let running = responder::start(&cfg).await.expect("responder on loopback");
    assert_eq!(running.report.listening(), 1, "{:?}", running.report);
    let at = SocketAddr::from(([127, 0, 0, 1], port));

    // Passed on unchanged: the responder says where the probe really
    // arrived, so the relay's port translation shows.
    let r = probe_via(|reply, _, _| reply.to_string(), at, "a").await;
    assert_eq!(r.verdict, Verdict::Nat, "{r:?}");
    assert!(r.detail.contains(&format!("answered on 127.0.0.1:{port}")), "{r:?}");
    assert_eq!(r.answered_by.as_deref(), Some("a"));

    // Rewritten to look like a direct answer (arrival = the relay's
    // address, source = the prober's own): rejected, not `pass`.
    let r = probe_via(|reply, prober, relay| set_field(&set_field(reply, 2, &relay.to_string()), 3, &prober.to_string()), at, "a").await;
    assert_eq!(r.verdict, Verdict::WrongHost, "{r:?}");
    assert!(r.detail.contains("does not match its fields"), "{r:?}");
    assert!(!r.ok);

    // Each of the two alone: rejected as well.
    let r = probe_via(|reply, prober, _| set_field(reply, 3, &prober.to_string()), at, "a").await;
    assert_eq!(r.verdict, Verdict::WrongHost, "source rewritten: {r:?}");
    let r = probe_via(|reply, _, relay| set_field(reply, 2, &relay.to_string()), at, "a").await;
    assert_eq!(r.verdict, Verdict::WrongHost, "arrival rewritten: {r:?}");
    let r = probe_via(|reply, _, _| set_field(reply, 1, "tcp"), at, "a").await;
    assert_eq!(r.verdict, Verdict::WrongHost, "protocol rewritten: {r:?}");

    // The host name changed to the one the prober expects: rejected, and the
    // claim is not reported as who answered.
    let r = probe_via(|reply, _, _| set_field(reply, 4, "b"), at, "b").await;
    assert_eq!(r.verdict, Verdict::WrongHost, "{r:?}");
    assert_eq!(r.answered_by, None, "{r:?}");

    // A token copied from an earlier answer (a replay) does not fit a new nonce.
    let r = probe_via(
        |reply, _, _| {
            let key = Key::from_secret(b"loopback").host_key("a");
            let old = wire::reply(&key, &[0; NONCE_LEN], Proto::Udp, "127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap(), "a");
            let old = String::from_utf8(old).unwrap();
            set_field(reply, 0, old.split(' ').nth(1).unwrap())
        },
        at,
        "a",
    )
    .await;
    assert_eq!(r.verdict, Verdict::WrongHost, "{r:?}");

    // Cut short (as a relay truncating the datagram would): unverifiable.
    let r = probe_via(|reply, _, _| reply[..reply.len() / 2].to_string(), at, "a").await;
    assert_eq!(r.verdict, Verdict::WrongHost, "{r:?}");
    assert!(r.detail.contains("unverifiable"), "{r:?}");

    // Replaced by something that is not a reply at all: with the
    // responder's receipts the prober knows its reply was replaced.
    let r = probe_with_receipts(|_, _, _| "hello\n".into(), at, "a", Some(running.receipts.clone())).await;
    assert_eq!(r.verdict, Verdict::WrongHost, "{r:?}");
    assert!(r.detail.contains("not its reply"), "{r:?}");
    // Without them it looks like a real service answering (stated in
    // docs/verify.md).
    let r = probe_via(|_, _, _| "hello\n".into(), at, "a").await;
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");

    // Sanity: the hex helper spells tokens as replies do.
    assert_eq!(hex(&[0xab, 0x01]), "ab01");
    running.shutdown().await;
}
