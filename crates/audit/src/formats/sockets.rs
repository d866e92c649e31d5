//! Listening sockets of one host: `ss -tulpn` (iproute2), Windows
//! `netstat -ano`, and `Get-NetTCPConnection` / `Get-NetUDPEndpoint`
//! exported with `Export-Csv` or `ConvertTo-Json`.
//!
//! - `ss`: columns `Netid State Recv-Q Send-Q Local-Address:Port
//!   Peer-Address:Port [Process]` (ss(8)); TCP listeners are `LISTEN`,
//!   bound UDP sockets `UNCONN`. Without `-u`/`-t` together ss drops the
//!   Netid column; then `LISTEN` means TCP and `UNCONN` UDP.
//! - `netstat -ano`: `Proto Local-Address Foreign-Address State PID`; the
//!   header and the state are translated on non-English Windows, so a TCP
//!   listener is recognised by its foreign address `0.0.0.0:0` / `[::]:0`,
//!   and every UDP line is a bound socket.
//! - PowerShell: the `MSFT_NetTCPConnection` properties `LocalAddress`,
//!   `LocalPort`, `State` (`Listen`, or 2 when `ConvertTo-Json` writes the
//!   enumeration as a number) and `OwningProcess`; `MSFT_NetUDPEndpoint`
//!   has no `State`.

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::{clip, open, BadLine, InputError, ReadStats, MAX_LINE};
use crate::intent::IpProto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SocketFormat {
    Ss,
    Netstat,
    PwshCsv,
    PwshJson,
}

impl SocketFormat {
    pub const ALL: [SocketFormat; 4] = [SocketFormat::Ss, SocketFormat::Netstat, SocketFormat::PwshCsv, SocketFormat::PwshJson];
    pub fn name(self) -> &'static str {
        match self {
            SocketFormat::Ss => "ss",
            SocketFormat::Netstat => "netstat",
            SocketFormat::PwshCsv => "pwsh-csv",
            SocketFormat::PwshJson => "pwsh-json",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// Where a socket listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bind {
    /// Every address of the host (`0.0.0.0`, `::`, `*`).
    Any,
    Addr(IpAddr),
}

impl Bind {
    pub fn is_loopback(self) -> bool {
        matches!(self, Bind::Addr(a) if a.is_loopback())
    }
}

impl std::fmt::Display for Bind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bind::Any => f.write_str("*"),
            Bind::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub line: u64,
    pub proto: IpProto,
    pub bind: Bind,
    pub port: u16,
    /// Process name and/or id as the tool shows it.
    pub process: Option<String>,
}

/// Splits `ADDR:PORT` as ss and netstat print it (`[v6]:p`, `v6%if:p`, `*:p`).
fn endpoint(s: &str) -> Result<(Bind, u16), String> {
    let (host, port) = s.rsplit_once(':').ok_or_else(|| format!("`{}` is not ADDRESS:PORT", clip(s)))?;
    let port: u16 = port.parse().map_err(|_| format!("port of `{}` is not a number", clip(s)))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.split_once('%').map_or(host, |(h, _)| h); // zone / interface
    let bind = match host {
        "*" | "0.0.0.0" | "::" | "" => Bind::Any,
        h => Bind::Addr(h.parse().map_err(|_| format!("`{}` is not an address", clip(h)))?),
    };
    Ok((bind, port))
}

fn read_text(path: &Path) -> Result<Vec<(u64, String)>, InputError> {
    let mut r = open(path)?;
    let mut lines = super::lines::Lines::new(&mut r, MAX_LINE);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(n) = lines.next_line(&mut buf).map_err(|e| e.into_input_error(path))? {
        // PowerShell writes UTF-16 or UTF-8 with a byte order mark
        out.push((n, String::from_utf8_lossy(&buf).trim_start_matches('\u{feff}').trim_end().to_string()));
    }
    Ok(out)
}

fn ss_line(line: &str, no: u64) -> Result<Option<Listener>, String> {
    let t: Vec<&str> = line.split_whitespace().collect();
    if t.is_empty() || t[0] == "Netid" || t[0] == "State" {
        return Ok(None);
    }
    let (proto, state, rest) = match t[0] {
        "tcp" | "udp" | "sctp" => (Some(t[0]), *t.get(1).ok_or("no state")?, &t[2..]),
        _ => (None, t[0], &t[1..]),
    };
    let proto = match (proto, state) {
        (Some("tcp"), "LISTEN") | (None, "LISTEN") => IpProto::TCP,
        (Some("udp"), "UNCONN") | (None, "UNCONN") => IpProto::UDP,
        (Some("sctp"), "LISTEN") => IpProto::SCTP,
        _ => return Ok(None), // an established connection, not a listener
    };
    // Recv-Q Send-Q Local Peer [Process]
    let local = rest.get(2).ok_or("no local address column")?;
    let (bind, port) = endpoint(local)?;
    let process = rest.get(4..).map(|p| p.join(" ")).filter(|p| !p.is_empty()).map(|p| {
        // users:(("sshd",pid=812,fd=3)) -> sshd pid 812
        let name = p.split('"').nth(1).unwrap_or("");
        let pid = p.split("pid=").nth(1).and_then(|x| x.split(|c: char| !c.is_ascii_digit()).next()).unwrap_or("");
        // The name is the listing's text: escaped so that it cannot forge lines or cells.
        format!("{} {pid}", name.escape_debug()).trim().to_string()
    });
    Ok(Some(Listener { line: no, proto, bind, port, process }))
}

fn netstat_line(line: &str, no: u64) -> Result<Option<Listener>, String> {
    let t: Vec<&str> = line.split_whitespace().collect();
    let proto = match t.first().map(|p| p.to_ascii_uppercase()) {
        Some(p) if p == "TCP" || p == "TCPV6" => IpProto::TCP,
        Some(p) if p == "UDP" || p == "UDPV6" => IpProto::UDP,
        _ => return Ok(None), // headers, blank lines, [process] lines of -b
    };
    let local = t.get(1).ok_or("no local address")?;
    let foreign = t.get(2).ok_or("no foreign address")?;
    if proto == IpProto::TCP && !matches!(*foreign, "0.0.0.0:0" | "[::]:0" | "*:*") {
        return Ok(None); // a connection, not a listener
    }
    let (bind, port) = endpoint(local)?;
    let pid = t.last().filter(|p| p.chars().all(|c| c.is_ascii_digit()) && t.len() > 3).map(|p| format!("pid {p}"));
    Ok(Some(Listener { line: no, proto, bind, port, process: pid }))
}

fn pwsh_object(get: &dyn Fn(&str) -> Option<String>, no: u64) -> Result<Option<Listener>, String> {
    let addr = get("LocalAddress").ok_or("no LocalAddress")?;
    let port: u16 = get("LocalPort").ok_or("no LocalPort")?.parse().map_err(|_| "LocalPort is not a port".to_string())?;
    let proto = match get("State") {
        None => IpProto::UDP,
        Some(s) if s == "Listen" || s == "2" => IpProto::TCP,
        Some(_) => return Ok(None),
    };
    let bind = match addr.as_str() {
        "0.0.0.0" | "::" => Bind::Any,
        a => Bind::Addr(a.split('%').next().unwrap_or(a).parse().map_err(|_| format!("LocalAddress `{}` is not an address", clip(a)))?),
    };
    Ok(Some(Listener {
        line: no,
        proto,
        bind,
        port,
        process: get("OwningProcess").filter(|p| p.bytes().all(|c| c.is_ascii_digit())).map(|p| format!("pid {p}")),
    }))
}

fn pwsh_csv(path: &Path, stats: &mut ReadStats) -> Result<Vec<Listener>, InputError> {
    let lines = read_text(path)?;
    let body: Vec<&(u64, String)> = lines.iter().filter(|(_, l)| !l.starts_with("#TYPE")).collect();
    let text: String = body.iter().map(|(_, l)| format!("{l}\n")).collect();
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| InputError::new(path, format!("not CSV: {e}")))?.clone();
    if !headers.iter().any(|h| h == "LocalPort") {
        return Err(InputError::new(path, "no LocalPort column: not an export of Get-NetTCPConnection or Get-NetUDPEndpoint")
            .with_hint("export with: Get-NetTCPConnection -State Listen | Export-Csv -NoTypeInformation FILE"));
    }
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let no = body.get(i + 1).map_or(0, |(n, _)| *n);
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                stats.bad(no, format!("not a CSV row: {e}"));
                continue;
            }
        };
        let get = |k: &str| headers.iter().position(|h| h == k).and_then(|i| rec.get(i)).map(str::to_string).filter(|s| !s.is_empty());
        match pwsh_object(&get, no) {
            Ok(Some(l)) => out.push(l),
            Ok(None) => stats.ignored += 1,
            Err(why) => stats.bad(no, why),
        }
    }
    Ok(out)
}

fn pwsh_json(path: &Path, stats: &mut ReadStats) -> Result<Vec<Listener>, InputError> {
    let text: String = read_text(path)?.into_iter().map(|(_, l)| l + "\n").collect();
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        InputError::new(path, format!("not JSON: {e}")).at_line(e.line() as u64).with_hint("export with: ... | ConvertTo-Json")
    })?;
    let items = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => return Err(InputError::new(path, "neither an object nor an array of objects")),
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let get = |k: &str| match item.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        // JSON has no useful line numbers per object: number them from 1
        match pwsh_object(&get, i as u64 + 1) {
            Ok(Some(l)) => out.push(l),
            Ok(None) => stats.ignored += 1,
            Err(why) => stats.bad(i as u64 + 1, format!("object {}: {why}", i + 1)),
        }
    }
    Ok(out)
}

/// Guesses which tool wrote a socket listing.
pub fn detect(path: &Path) -> Result<SocketFormat, InputError> {
    let lines = read_text(path)?;
    let first = lines.iter().map(|(_, l)| l.trim()).find(|l| !l.is_empty()).unwrap_or("");
    Ok(if first.starts_with('{') || first.starts_with('[') {
        SocketFormat::PwshJson
    } else if first.starts_with("#TYPE") || first.starts_with('"') || first.contains("LocalPort") {
        SocketFormat::PwshCsv
    } else if first.starts_with("Netid") || first.starts_with("State") || first.starts_with("tcp ") || first.starts_with("udp ") {
        SocketFormat::Ss
    } else {
        SocketFormat::Netstat
    })
}

/// Reads the listening sockets of a file.
pub fn read(path: &Path, format: SocketFormat) -> Result<(Vec<Listener>, ReadStats), InputError> {
    let mut stats = ReadStats::default();
    let out = match format {
        SocketFormat::PwshCsv => pwsh_csv(path, &mut stats)?,
        SocketFormat::PwshJson => pwsh_json(path, &mut stats)?,
        SocketFormat::Ss | SocketFormat::Netstat => {
            let parse = if format == SocketFormat::Ss { ss_line } else { netstat_line };
            let mut out = Vec::new();
            for (no, l) in read_text(path)? {
                match parse(&l, no) {
                    Ok(Some(x)) => out.push(x),
                    Ok(None) => stats.ignored += 1,
                    Err(why) => stats.bad(no, why),
                }
            }
            out
        }
    };
    stats.records = out.len() as u64;
    if out.is_empty() && stats.bad_lines == 0 {
        return Err(InputError::new(path, format!("no listening socket found in this {} output", format.name()))
            .with_hint("a host always listens on something (at least its management port); is this the right file and format?"));
    }
    Ok((out, stats))
}

/// For tests and messages: a bad line as text.
pub fn describe(b: &BadLine) -> String {
    format!("line {}: {}", b.line, b.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ss_lines() {
        let l = ss_line(r#"tcp   LISTEN 0      4096      [::]:22    [::]:*    users:(("sshd",pid=812,fd=4))"#, 3).unwrap().unwrap();
        assert_eq!((l.proto, l.bind, l.port, l.process.as_deref()), (IpProto::TCP, Bind::Any, 22, Some("sshd 812")));
        let l = ss_line("udp   UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*", 4).unwrap().unwrap();
        assert_eq!((l.proto, l.bind, l.port), (IpProto::UDP, Bind::Addr("127.0.0.53".parse().unwrap()), 53));
        assert_eq!(ss_line("tcp   ESTAB  0 0 10.0.0.1:22 10.0.0.2:5000", 5).unwrap(), None);
        assert!(ss_line("tcp LISTEN 0 1 10.0.0.1:http 0.0.0.0:*", 6).is_err());
    }

    #[test]
    fn reads_netstat_in_any_language() {
        let l = netstat_line("  TCP    0.0.0.0:135            0.0.0.0:0              ABHÖREN         1012", 5).unwrap().unwrap();
        assert_eq!((l.proto, l.bind, l.port, l.process.as_deref()), (IpProto::TCP, Bind::Any, 135, Some("pid 1012")));
        assert_eq!(netstat_line("  TCP    10.0.0.5:49670   10.0.0.9:445   ESTABLISHED   4", 6).unwrap(), None);
        let u = netstat_line("  UDP    [fe80::1%7]:1900       *:*                                    2980", 7).unwrap().unwrap();
        assert_eq!((u.proto, u.port), (IpProto::UDP, 1900));
    }
}
