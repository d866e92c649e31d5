//! Shell completion that knows the data: catalog ids for matrices, and,
//! once `-i INVENTORY` is on the command line, its hosts, firewalls and
//! networks. The shell asks the binary itself (`COMPLETE=bash portmatrix`),
//! so candidates always match the installed catalog.

use std::ffi::OsStr;

use clap_complete::engine::CompletionCandidate;

fn matching(current: &OsStr, names: impl IntoIterator<Item = (String, Option<String>)>) -> Vec<CompletionCandidate> {
    let cur = current.to_string_lossy();
    names
        .into_iter()
        .filter(|(n, _)| n.starts_with(cur.as_ref()))
        .map(|(n, help)| {
            let c = CompletionCandidate::new(n);
            match help {
                Some(h) => c.help(Some(h.into())),
                None => c,
            }
        })
        .collect()
}

/// Catalog ids (current and older versions), then YAML files here.
pub fn matrices(current: &OsStr) -> Vec<CompletionCandidate> {
    let mut names: Vec<(String, Option<String>)> = Vec::new();
    for e in portmatrix_catalog::entries() {
        let id = e.path.trim_start_matches("catalog/").trim_end_matches(".yaml").to_string();
        names.push((id, Some("catalog".into())));
    }
    names.extend(yaml_files());
    matching(current, names)
}

fn yaml_files() -> Vec<(String, Option<String>)> {
    std::fs::read_dir(".")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .map(|n| (n, None))
        .collect()
}

/// The inventory named by `-i`/`--inventory` on the command line being completed.
fn inventory_on_command_line() -> Option<portmatrix_model::Inventory> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.iter().enumerate().find_map(|(i, a)| {
        if a == "-i" || a == "--inventory" {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix("--inventory=").map(str::to_string)
        }
    })?;
    portmatrix_model::inventory_from_path(std::path::Path::new(&path)).ok()
}

pub fn hosts(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(inv) = inventory_on_command_line() else { return Vec::new() };
    matching(current, inv.hosts.iter().map(|(k, h)| (k.value.clone(), h.zone.as_ref().map(|z| format!("zone {}", z.value)))))
}

pub fn firewalls(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(inv) = inventory_on_command_line() else { return Vec::new() };
    matching(current, inv.firewalls.keys().map(|k| (k.value.clone(), Some("firewall".into()))))
}

/// Hosts and networks (the ends `explain` takes by name).
pub fn endpoints(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(inv) = inventory_on_command_line() else { return Vec::new() };
    let hosts = inv.hosts.keys().map(|k| (k.value.clone(), Some("host".into())));
    let nets = inv.networks.keys().map(|k| (k.value.clone(), Some("network".into())));
    matching(current, hosts.chain(nets).collect::<Vec<_>>())
}
