//! Several ruleset files (or a machine's live views) combined into one
//! read-back ruleset: each recognised by its content, iptables split by
//! family, an ipset file beside them, nftables and iptables views merged.

use super::{detect, ipset, iptables, Detected, ReadBack, ReadError};
use crate::ir::Family;

/// A ruleset file: a name for messages, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub name: String,
    pub text: String,
}

/// Why inputs cannot be read: which one (when one is to blame), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub name: Option<String>,
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for InputError {}

fn blame(i: &Input, e: ReadError) -> InputError {
    InputError { name: Some(i.name.clone()), message: e.to_string() }
}

fn plain(message: impl Into<String>) -> InputError {
    InputError { name: None, message: message.into() }
}

#[derive(Default)]
struct Sorted {
    nft: Option<Input>,
    v4: Option<Input>,
    v6: Option<Input>,
    ipset: Option<Input>,
    ps: Option<Input>,
}

fn sort(inputs: Vec<Input>) -> Result<Sorted, InputError> {
    let mut s = Sorted::default();
    for i in inputs {
        let slot = match detect(&i.text) {
            Some(Detected::NftJson) => &mut s.nft,
            Some(Detected::PowerShell) => &mut s.ps,
            Some(Detected::IpsetSave) => &mut s.ipset,
            Some(Detected::IptablesSave(fam)) => {
                // Nothing in the file tells: its name, else the second such file is IPv6.
                let name = i.name.to_ascii_lowercase();
                let v6_named = name.contains("ip6") || name.contains("v6");
                match fam.unwrap_or(if v6_named || s.v4.is_some() { Family::V6 } else { Family::V4 }) {
                    Family::V4 => &mut s.v4,
                    Family::V6 => &mut s.v6,
                }
            }
            None => {
                return Err(InputError {
                    name: Some(i.name),
                    message: "not a ruleset this command reads (nftables JSON, iptables-save, ip6tables-save, ipset save or a portmatrix PowerShell script)"
                        .into(),
                })
            }
        };
        if let Some(prev) = slot {
            return Err(plain(format!("{} and {} hold the same kind of ruleset; give one of each", prev.name, i.name)));
        }
        *slot = Some(i);
    }
    Ok(s)
}

/// Reads the given files as one ruleset.
pub fn combine(inputs: Vec<Input>) -> Result<ReadBack, InputError> {
    if inputs.is_empty() {
        return Err(plain("no ruleset given"));
    }
    let s = sort(inputs)?;
    if let Some(p) = &s.ps {
        if s.nft.is_some() || s.v4.is_some() || s.v6.is_some() || s.ipset.is_some() {
            return Err(InputError {
                name: Some(p.name.clone()),
                message: "a Windows script cannot be combined with Linux rulesets".into(),
            });
        }
        return ReadBack::from_powershell(&p.text).map_err(|e| blame(p, e));
    }
    let ipt = iptables_of(&s)?;
    let iptables_nft = [&s.v4, &s.v6].into_iter().flatten().any(|i| i.text.contains("(nf_tables)"));
    match (&s.nft, ipt) {
        (Some(n), ipt) => {
            let n_rb = ReadBack::from_nft_json(&n.text).map_err(|e| blame(n, e))?;
            Ok(match ipt {
                Some(i) => ReadBack::merge_live(n_rb, i, iptables_nft),
                None => n_rb,
            })
        }
        (None, Some(i)) => Ok(i),
        (None, None) => Err(plain("an ipset file alone: give the iptables-save output that uses it")),
    }
}

/// The iptables part, each error blamed on the file it is in.
fn iptables_of(s: &Sorted) -> Result<Option<ReadBack>, InputError> {
    if s.v4.is_none() && s.v6.is_none() {
        return Ok(None);
    }
    if let Some(i) = &s.ipset {
        ipset::parse(&i.text).map_err(|e| blame(i, e))?;
    }
    let set = s.ipset.as_ref().map(|i| i.text.as_str());
    if let Some(i) = &s.v4 {
        iptables::read(Some(&i.text), None, set).map_err(|e| blame(i, e))?;
    }
    if let Some(i) = &s.v6 {
        iptables::read(None, Some(&i.text), set).map_err(|e| blame(i, e))?;
    }
    let rb = iptables::read(s.v4.as_ref().map(|i| i.text.as_str()), s.v6.as_ref().map(|i| i.text.as_str()), set);
    Ok(Some(rb.map_err(|e| plain(e.to_string()))?))
}

/// A machine's live views: `nft -j list ruleset`, `iptables-save`,
/// `ip6tables-save`, `ipset save` (each `None` when the tool is missing).
pub fn live(nft: Option<&str>, v4: Option<&str>, v6: Option<&str>, ipset: Option<&str>) -> Result<ReadBack, InputError> {
    let named = |name: &str, t: Option<&str>| t.map(|t| Input { name: name.into(), text: t.into() });
    let nft_rb = match named("nft -j list ruleset", nft) {
        Some(i) => Some(ReadBack::from_nft_json(&i.text).map_err(|e| blame(&i, e))?),
        None => None,
    };
    let s =
        Sorted { nft: None, v4: named("iptables-save", v4), v6: named("ip6tables-save", v6), ipset: named("ipset save", ipset), ps: None };
    let ipt = iptables_of(&s)?;
    let iptables_nft = v4.is_some_and(|t| t.contains("(nf_tables)")) || v6.is_some_and(|t| t.contains("(nf_tables)"));
    match (nft_rb, ipt) {
        (Some(n), Some(i)) => Ok(ReadBack::merge_live(n, i, iptables_nft)),
        (Some(n), None) => Ok(n),
        (None, Some(i)) => Ok(i),
        (None, None) => Err(plain("neither nft nor iptables-save is installed: nothing to read")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, text: &str) -> Input {
        Input { name: name.into(), text: text.into() }
    }

    #[test]
    fn files_are_sorted_and_errors_blamed_on_theirs() {
        let v4 = "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 10.0.0.1 -j ACCEPT\nCOMMIT\n";
        let v6 = "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 2001:db8::1 -j ACCEPT\nCOMMIT\n";
        let rb = combine(vec![input("a", v4), input("b", v6)]).unwrap();
        assert!(rb.missing_families.is_empty());
        let e = combine(vec![input("a", v4), input("b", "*filter\n:INPUT DROP [0:0]\n-A INPUT -s \"x\n")]).unwrap_err();
        assert_eq!(e.name.as_deref(), Some("b"), "{e}");
        let e = combine(vec![input("a", v4), input("c", v4)]).unwrap_err();
        assert!(e.message.contains("same kind"), "{e}");
        let e = combine(vec![input("x", "hello")]).unwrap_err();
        assert_eq!(e.name.as_deref(), Some("x"));
        let only_v4 = combine(vec![input("a", v4)]).unwrap();
        assert_eq!(only_v4.missing_families.len(), 1);
    }
}
