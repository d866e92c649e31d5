//! The result of an exact check: findings with a witness packet each, what
//! could not be judged, and what was assumed. Serializes to JSON with typed
//! numbers; [`Report::rows`] gives the table the CLI prints.

use std::net::IpAddr;

use serde::Serialize;

use crate::space::Packet;

/// Where a verdict comes from in the read-back ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    /// `family table chain`, e.g. `inet portmatrix input`.
    pub chain: String,
    /// 0-based position of the rule in its chain; absent for a policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The chain's policy decided (no rule did).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub policy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<Element>,
}

/// A set or map element responsible for a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Element {
    pub set: String,
    /// 0-based position among the set's elements.
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// What the plan intended for the packets of a *missing* finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    /// `rule`, `base-policy` or `loopback`.
    pub kind: &'static str,
    /// The flows (`product/flow`) that need it.
    pub reasons: Vec<String>,
    pub description: String,
}

/// A base chain (for interference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainInfo {
    pub family: &'static str,
    pub table: String,
    pub name: String,
    pub hook: &'static str,
    pub priority: i32,
    pub policy: &'static str,
    #[serde(rename = "type")]
    pub kind: String,
}

/// What a foreign base chain does to the subject's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// It drops packets the plan intends.
    DropsPlanned,
    /// It cannot widen what the subject's chain allows: its accept is not
    /// final, and it drops nothing the plan intends.
    CannotWiden,
}

/// The box of packets the witness was taken from (inclusive ranges).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extent {
    pub src: [IpAddr; 2],
    pub dst: [IpAddr; 2],
    pub protocols: [u8; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_ports: Option<[u16; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_ports: Option<[u16; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_types: Option<[u8; 2]>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Finding {
    /// A planned class of packets the ruleset drops.
    Missing {
        witness: Packet,
        extent: Extent,
        /// Cells of the decomposition with this cause (a measure of spread, not of packets).
        cells: u64,
        planned: Planned,
        dropped_by: Place,
    },
    /// A class of packets the ruleset accepts that the plan does not.
    Extra { witness: Packet, extent: Extent, cells: u64, accepted_by: Place },
    /// A base chain other than the subject's own on the same path.
    Interference {
        chain: ChainInfo,
        effect: Effect,
        /// It runs before the subject's chain (lower priority number).
        runs_first: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        witness: Option<Packet>,
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<Place>,
        detail: String,
    },
}

impl Finding {
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::Missing { .. } => "missing",
            Finding::Extra { .. } => "extra",
            Finding::Interference { .. } => "interference",
        }
    }
}

/// Something the check could not judge, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CannotJudge {
    pub at: String,
    pub what: String,
    /// A packet whose verdict it leaves open, when the check reached it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<Packet>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// `host` or `firewall`.
    pub kind: &'static str,
    pub name: String,
    /// `input` or `forward`.
    pub hook: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub base_chains_on_path: usize,
    pub rules: usize,
    pub planned_rules: usize,
    pub boxes: usize,
    pub cells: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub subject: Subject,
    /// Syntaxes the ruleset was read from.
    pub read_from: Vec<&'static str>,
    /// No finding and nothing left unjudged: the ruleset does exactly what the plan says.
    pub exact_match: bool,
    pub findings: Vec<Finding>,
    pub cannot_judge: Vec<CannotJudge>,
    /// What the check assumed and what lies outside its scope.
    pub notes: Vec<String>,
    pub stats: Stats,
}

/// Text from a ruleset nobody here wrote, made safe for a terminal.
pub fn inert(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() || ('\u{2028}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c) { '?' } else { c })
        .collect()
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", inert(&self.chain))?;
        if self.policy {
            return write!(f, ": policy");
        }
        if let Some(r) = self.rule {
            write!(f, ": rule {}", r + 1)?;
        }
        match (self.handle, self.line) {
            (Some(h), _) => write!(f, " (handle {h})")?,
            (None, Some(l)) => write!(f, " (line {l})")?,
            _ => {}
        }
        if let Some(c) = &self.comment {
            write!(f, " \"{}\"", inert(c))?;
        }
        if let Some(e) = &self.element {
            write!(f, ", element {} of @{}", e.index + 1, inert(&e.set))?;
            if let Some(c) = &e.comment {
                write!(f, " \"{}\"", inert(c))?;
            }
        }
        Ok(())
    }
}

impl Report {
    /// The table: one row per finding and per item that could not be judged.
    pub fn rows(&self) -> (Vec<&'static str>, Vec<Vec<String>>) {
        let header = vec!["finding", "witness packet", "responsible", "detail"];
        let mut rows = Vec::new();
        for f in &self.findings {
            rows.push(match f {
                Finding::Missing { witness, planned, dropped_by, .. } => vec![
                    "missing".into(),
                    witness.to_string(),
                    format!("dropped by {dropped_by}"),
                    format!(
                        "planned: {} ({})",
                        planned.description,
                        if planned.reasons.is_empty() { "-".into() } else { planned.reasons.join(" ") }
                    ),
                ],
                Finding::Extra { witness, accepted_by, extent, .. } => {
                    vec![
                        "extra".into(),
                        witness.to_string(),
                        format!("accepted by {accepted_by}"),
                        format!("not planned; e.g. sources {}-{}", extent.src[0], extent.src[1]),
                    ]
                }
                Finding::Interference { chain, effect, witness, by, detail, .. } => vec![
                    "interference".into(),
                    witness.as_ref().map(ToString::to_string).unwrap_or_else(|| "-".into()),
                    match by {
                        Some(p) => p.to_string(),
                        None => format!(
                            "{} {} {} (hook {}, priority {}, policy {})",
                            chain.family,
                            inert(&chain.table),
                            inert(&chain.name),
                            chain.hook,
                            chain.priority,
                            chain.policy
                        ),
                    },
                    format!(
                        "{}: {}",
                        if *effect == Effect::DropsPlanned { "drops planned traffic" } else { "cannot widen" },
                        inert(detail)
                    ),
                ],
            });
        }
        for c in &self.cannot_judge {
            rows.push(vec![
                "cannot judge".into(),
                c.witness.as_ref().map(ToString::to_string).unwrap_or_else(|| "-".into()),
                inert(&c.at),
                inert(&c.what),
            ]);
        }
        (header, rows)
    }

    /// One line for the end of the table.
    pub fn summary(&self) -> String {
        let count = |k: &str| self.findings.iter().filter(|f| f.kind() == k).count();
        if self.exact_match {
            return format!(
                "{} {}: the ruleset does exactly what the plan says ({} base chain(s), {} cells)",
                self.subject.kind, self.subject.name, self.stats.base_chains_on_path, self.stats.cells
            );
        }
        format!(
            "{} {}: {} missing, {} extra, {} interference, {} cannot judge",
            self.subject.kind,
            self.subject.name,
            count("missing"),
            count("extra"),
            count("interference"),
            self.cannot_judge.len()
        )
    }
}
