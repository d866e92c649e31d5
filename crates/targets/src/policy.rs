//! Which target fits which host: one rule, used by `compile --all`, the lab
//! and the web UI.

use portmatrix_model::Os;
use portmatrix_plan::HostInfo;

use crate::Target;

/// The OS a host without `os:` is taken to run.
pub fn effective_os(host: &HostInfo) -> Os {
    host.os.unwrap_or(Os::Linux)
}

/// Why `target` does not fit `host`, or `None` when it does.
pub fn misfit(target: Target, host: &HostInfo) -> Option<String> {
    let os = effective_os(host);
    if !host.managed {
        return Some(format!("host `{}` is not managed (managed: false)", host.name));
    }
    let caps = target.backend().capabilities();
    if caps.host_os.contains(&os) {
        return None;
    }
    let fits: Vec<&str> = Target::ALL.iter().filter(|t| t.backend().capabilities().host_os.contains(&os)).map(|t| t.name()).collect();
    Some(format!(
        "host `{}` runs {} (os: {}); the {} target writes rules for {}{}",
        host.name,
        os_name(os),
        os_name(os),
        target.name(),
        caps.host_os.iter().map(|o| os_name(*o)).collect::<Vec<_>>().join(", "),
        if fits.is_empty() { String::new() } else { format!(": use --target {}", fits.join(" or ")) }
    ))
}

/// The kernel target that fits a host's OS (Windows → windows, Linux →
/// nftables), or `None` (appliances).
pub fn native_target(host: &HostInfo) -> Option<Target> {
    match effective_os(host) {
        Os::Windows => Some(Target::Windows),
        Os::Linux => Some(Target::Nftables),
        Os::Appliance | Os::Any => None,
    }
}

fn os_name(os: Os) -> &'static str {
    match os {
        Os::Linux => "linux",
        Os::Windows => "windows",
        Os::Appliance => "appliance",
        Os::Any => "any",
    }
}
