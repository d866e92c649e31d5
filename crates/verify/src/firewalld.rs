//! Loading a firewalld configuration into a lab namespace.
//!
//! firewalld is a daemon on the system D-Bus. Inside the node's namespace
//! (`ip netns exec` gives it a mount namespace of its own) a tmpfs hides the
//! machine's bus socket, a private `dbus-daemon --system` starts there, and
//! firewalld starts against the generated configuration directory. Once it
//! reports `running`, its rules are in the namespace's nftables; both
//! daemons are stopped again, and `CleanupOnExit=no` keeps the rules.

use std::io;
use std::path::Path;

use portmatrix_targets::{Loader, OutputFile};

use crate::netns;

/// The shell run inside the namespace: `$1` is the configuration directory.
const RUN: &str = r#"set -eu
cfg=$1
mount -t tmpfs tmpfs /run/dbus 2>/dev/null || { mkdir -p /run/dbus && mount -t tmpfs tmpfs /run/dbus; }
bus=$(dbus-daemon --system --fork --nopidfile --print-pid)
firewalld --nofork --nopid --system-config "$cfg" --log-target console >"$cfg/firewalld.log" 2>&1 &
fw=$!
state=
for i in $(seq 1 150); do
  state=$(firewall-cmd --state 2>/dev/null || true)
  [ "$state" = running ] && break
  kill -0 "$fw" 2>/dev/null || break
  sleep 0.2
done
kill "$fw" 2>/dev/null || true
wait "$fw" 2>/dev/null || true
kill "$bus" 2>/dev/null || true
if [ "$state" != running ]; then cat "$cfg/firewalld.log" >&2; echo "firewalld did not start" >&2; exit 1; fi
"#;

/// Whether these are a firewalld job's files.
pub fn is_firewalld(files: &[OutputFile]) -> bool {
    files.iter().any(|f| f.loader == Some(Loader::Firewalld))
}

/// Installs the files into a fresh configuration under `dir` (with the
/// job's own load script) and runs firewalld on it in namespace `ns`.
pub fn load(ns: &str, dir: &Path, files: &[OutputFile]) -> io::Result<String> {
    let script = files.iter().find(|f| f.loader == Some(Loader::Firewalld)).ok_or_else(|| io::Error::other("no firewalld load script"))?;
    for f in files {
        let path = dir.join(&f.name);
        std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
        std::fs::write(&path, &f.contents)?;
    }
    let cfg = dir.join("config");
    std::fs::create_dir_all(&cfg)?;
    std::fs::write(cfg.join("firewalld.conf"), "DefaultZone=public\nCleanupOnExit=no\nFirewallBackend=nftables\n")?;
    let cfg_s = cfg.to_string_lossy().to_string();
    let sh = dir.join(&script.name).to_string_lossy().to_string();
    let out = std::process::Command::new("sh").args([&sh, &cfg_s]).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("{}: {}", script.name, String::from_utf8_lossy(&out.stderr))));
    }
    netns::exec(ns, "sh", &["-c", RUN, "firewalld-lab", &cfg_s])?;
    Ok(script.name.clone())
}
