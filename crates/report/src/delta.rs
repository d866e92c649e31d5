//! The delta change request: what a firewall team must open and close when a
//! deployment changes (a host added, a product upgraded, a product
//! decommissioned). One typed row per connection to open or close
//! ([`DeltaRequestRow`]: the action, then every column of the full change
//! request, "enforced by", status and ticket included), a cover sheet (both
//! inventories, the date, the matrix versions on each side, the settings
//! that changed, totals per firewall of opens and closes), and the same
//! writers as the full change request: XLSX, HTML with a table of
//! contents, Markdown and CSV.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use portmatrix_diff::{DeltaRow, DeploymentDiff};
use portmatrix_plan::Deployment;

use crate::change_request::{net_text, Cover, CrColumn, ProductCover, Status, NO_ZONE};
use crate::escape::{html as esc, markdown_inline as md};
use crate::html::{anchor, page, table_html, table_html_with_id, toc};
use crate::render::Format;
use crate::table::{Cell, ColumnSpec, Record, Style, Table};
use crate::xlsx::{Part, Sheet};

/// Whether a row asks to open or to close a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Open,
    Close,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Close => "close",
        }
    }
}

/// One row of the delta change request, borrowed from the diff.
#[derive(Debug, Clone, Copy)]
pub struct DeltaRequestRow<'d> {
    pub action: Action,
    pub row: &'d DeltaRow,
    pub status: Status,
    /// Filled in by the team.
    pub ticket: &'d str,
}

impl DeltaRequestRow<'_> {
    /// The zone pair as the change request groups it.
    pub fn zone_pair(&self) -> (String, String) {
        zone_pair(self.row)
    }
    /// Whether the network firewall `name` enforces the row.
    pub fn crosses(&self, firewall: &str) -> bool {
        self.row.firewalls.iter().any(|f| f == firewall)
    }
}

/// A delta row's (source zone, destination zone), `(no zone)` for none.
pub fn zone_pair(r: &DeltaRow) -> (String, String) {
    let z = |z: &Option<String>| z.clone().unwrap_or_else(|| NO_ZONE.into());
    (z(&r.src_zone), z(&r.dst_zone))
}

/// The columns of the delta change request: the action, then every column
/// of the full change request (so a team's spreadsheet has one layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaColumn {
    Action,
    Cr(CrColumn),
}

impl ColumnSpec for DeltaColumn {
    fn name(self) -> &'static str {
        match self {
            DeltaColumn::Action => "action",
            DeltaColumn::Cr(c) => c.name(),
        }
    }
    fn style(self) -> Style {
        match self {
            DeltaColumn::Action => Style::Text,
            DeltaColumn::Cr(c) => c.style(),
        }
    }
    fn compact(self) -> bool {
        match self {
            DeltaColumn::Action => true,
            DeltaColumn::Cr(c) => c.compact(),
        }
    }
    fn priority(self) -> u8 {
        match self {
            DeltaColumn::Action => 0,
            DeltaColumn::Cr(c) => c.priority(),
        }
    }
    fn choices(self) -> &'static [&'static str] {
        match self {
            DeltaColumn::Action => &[],
            DeltaColumn::Cr(c) => c.choices(),
        }
    }
}

impl Record for DeltaRequestRow<'_> {
    type Column = DeltaColumn;
    fn columns() -> Vec<DeltaColumn> {
        std::iter::once(DeltaColumn::Action).chain(CrColumn::ALL.map(DeltaColumn::Cr)).collect()
    }
    fn cell(&self, c: DeltaColumn) -> Cell {
        let r = self.row;
        let c = match c {
            DeltaColumn::Action => return Cell::from(self.action.as_str()),
            DeltaColumn::Cr(c) => c,
        };
        match c {
            CrColumn::Source => Cell::from(&r.src),
            CrColumn::SourceAddresses => Cell::list(r.src_addresses.iter().map(net_text), " "),
            CrColumn::SourceZone => Cell::Text(r.src_zone.clone().unwrap_or_default()),
            CrColumn::Destination => Cell::from(&r.dst),
            CrColumn::DestinationAddresses => Cell::list(r.dst_addresses.iter().map(net_text), " "),
            CrColumn::DestinationZone => Cell::Text(r.dst_zone.clone().unwrap_or_default()),
            CrColumn::Service => Cell::Text(r.service()),
            CrColumn::SourcePorts => Cell::Text(r.src_ports.clone().unwrap_or_default()),
            CrColumn::Reason => Cell::Text(r.flow.to_string()),
            CrColumn::Purpose => Cell::from(&r.purpose),
            CrColumn::Cite => Cell::from(&r.cite),
            CrColumn::EnforcedBy => Cell::from(&r.enforced_by),
            CrColumn::Status => Cell::from(self.status.as_str()),
            CrColumn::Ticket => Cell::from(self.ticket),
        }
    }
}

/// What the delta is about: both sides' covers (inventory, matrix versions,
/// settings) and the date, given by the caller so that the same inputs give
/// the same document.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeltaCover {
    pub old: Cover,
    pub new: Cover,
    pub date: String,
}

impl DeltaCover {
    pub fn new(old: &Deployment, new: &Deployment, date: &str) -> Self {
        DeltaCover { old: Cover::new(old, date), new: Cover::new(new, date), date: date.to_string() }
    }

    /// Both inventories and the date as (label, value) pairs.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        vec![("old inventory", self.old.inventory.clone()), ("new inventory", self.new.inventory.clone()), ("date", self.date.clone())]
    }

    /// Every product of either side, in the new side's order then the old's.
    fn products(&self) -> Vec<(&str, Option<&ProductCover>, Option<&ProductCover>)> {
        let find = |c: &'_ Cover, name: &str| c.products.iter().position(|p| p.product == name);
        let mut names: Vec<&str> = self.new.products.iter().map(|p| p.product.as_str()).collect();
        names.extend(self.old.products.iter().map(|p| p.product.as_str()).filter(|n| find(&self.new, n).is_none()));
        names
            .into_iter()
            .map(|n| (n, find(&self.old, n).map(|i| &self.old.products[i]), find(&self.new, n).map(|i| &self.new.products[i])))
            .collect()
    }

    /// The matrix and version of every product on each side, and what changed.
    pub fn products_table(&self) -> Table {
        let mut t = Table::new(&["product", "old matrix", "old version", "new matrix", "new version", "change"]).mono(&[
            "old matrix",
            "old version",
            "new matrix",
            "new version",
        ]);
        for (name, old, new) in self.products() {
            let side = |p: Option<&ProductCover>| p.map(|p| (p.matrix.clone(), p.version.clone())).unwrap_or_default();
            let ((om, ov), (nm, nv)) = (side(old), side(new));
            let change = match (old, new) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                _ if om != nm => "other matrix",
                _ if ov != nv => "other version",
                _ => "",
            };
            t.push(vec![name.to_string(), om, ov, nm, nv, change.to_string()]);
        }
        t
    }

    /// The features and parameters whose value differs between the sides
    /// (for products on both sides).
    pub fn settings_table(&self) -> Table {
        let mut t = Table::new(&["product", "kind", "name", "old value", "new value"]).mono(&["name", "old value", "new value"]);
        for (name, old, new) in self.products() {
            let (Some(old), Some(new)) = (old, new) else { continue };
            let mut keys: Vec<(&str, &str)> = new.settings.iter().map(|s| (s.kind, s.name.as_str())).collect();
            keys.extend(
                old.settings
                    .iter()
                    .map(|s| (s.kind, s.name.as_str()))
                    .filter(|k| !new.settings.iter().any(|s| (s.kind, s.name.as_str()) == *k)),
            );
            for (kind, setting) in keys {
                let value = |p: &ProductCover| {
                    p.settings
                        .iter()
                        .find(|s| s.kind == kind && s.name == setting)
                        .map(|s| s.value.clone())
                        .unwrap_or_else(|| "(not in matrix)".into())
                };
                let (a, b) = (value(old), value(new));
                if a != b {
                    t.push(vec![name, kind, setting, &a, &b]);
                }
            }
        }
        t
    }
}

/// Opens and closes per enforcing party.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub open: usize,
    pub close: usize,
}

impl Counts {
    fn add(&mut self, a: Action) {
        match a {
            Action::Open => self.open += 1,
            Action::Close => self.close += 1,
        }
    }
}

/// The rows each enforcing party must change: every network firewall on
/// some row's path (sorted), the host firewalls, and what nothing enforces.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeltaTotals {
    pub all: Counts,
    pub firewalls: Vec<(String, Counts, usize)>,
    pub host_firewall: Counts,
    pub unenforced: Counts,
}

/// The (source zone, destination zone) pairs one firewall's rows cross.
type ZonePairs = BTreeSet<(String, String)>;

impl DeltaTotals {
    pub fn of(rows: &[DeltaRequestRow]) -> Self {
        let mut all = Counts::default();
        let mut host_firewall = Counts::default();
        let mut unenforced = Counts::default();
        let mut fws: BTreeMap<&str, (Counts, ZonePairs)> = BTreeMap::new();
        for r in rows {
            all.add(r.action);
            if r.row.host_firewall {
                host_firewall.add(r.action);
            }
            if !r.row.host_firewall && r.row.firewalls.is_empty() {
                unenforced.add(r.action);
            }
            for f in &r.row.firewalls {
                let e = fws.entry(f).or_default();
                e.0.add(r.action);
                e.1.insert(r.zone_pair());
            }
        }
        let firewalls = fws.into_iter().map(|(f, (c, pairs))| (f.to_string(), c, pairs.len())).collect();
        DeltaTotals { all, firewalls, host_firewall, unenforced }
    }

    pub fn table(&self) -> Table {
        let mut t = Table::new(&["enforced by", "open", "close", "zone pairs"]);
        for s in &mut t.styles[1..] {
            *s = Style::Number;
        }
        for (f, c, pairs) in &self.firewalls {
            t.push(vec![Cell::from(format!("firewall {f}")), Cell::from(c.open), Cell::from(c.close), Cell::from(*pairs)]);
        }
        t.push(vec![
            Cell::from("host firewalls"),
            Cell::from(self.host_firewall.open),
            Cell::from(self.host_firewall.close),
            Cell::from(""),
        ]);
        t.push(vec![
            Cell::from("nothing (no firewall on the path, destination not managed)"),
            Cell::from(self.unenforced.open),
            Cell::from(self.unenforced.close),
            Cell::from(""),
        ]);
        t.push(vec![Cell::from("all rows"), Cell::from(self.all.open), Cell::from(self.all.close), Cell::from("")]);
        t
    }
}

/// Per host and network firewall, the rules its ruleset gains and loses
/// (a rule whose source set only changes members is in [`set_changes_table`]).
pub fn rule_changes_table(d: &DeploymentDiff) -> Table {
    let mut t = Table::new(&["host or firewall", "rule", "source set", "source", "destination", "service", "reasons"]).mono(&[
        "source set",
        "source",
        "destination",
        "service",
        "reasons",
    ]);
    for r in &d.rules {
        for (what, rules) in [("added", &r.added), ("removed", &r.removed)] {
            for s in rules {
                t.push(vec![r.subject.as_str(), what, &s.set, &s.src, &s.dst, &s.service, &s.reasons]);
            }
        }
    }
    t
}

/// Address sets whose members change, each once with the rulesets that
/// hold it: the rules matching on them stay.
pub fn set_changes_table(d: &DeploymentDiff) -> Table {
    let mut t = Table::new(&["address set", "members added", "members removed", "rulesets", "rules", "hosts and firewalls"]).mono(&[
        "address set",
        "members added",
        "members removed",
    ]);
    for s in &d.sets {
        t.push(vec![
            Cell::from(s.set.as_str()),
            Cell::list(s.added.iter().map(ToString::to_string), " "),
            Cell::list(s.removed.iter().map(ToString::to_string), " "),
            Cell::from(s.rulesets.len()),
            Cell::from(s.rules),
            Cell::list(s.rulesets.iter().cloned(), " "),
        ]);
    }
    t
}

/// Hosts added or removed, endpoints readdressed, flows no longer (or again) deployed.
pub fn other_changes_table(d: &DeploymentDiff) -> Table {
    let mut t = Table::new(&["change", "name", "detail"]);
    for h in &d.hosts_added {
        t.push(vec!["host added", h.as_str(), ""]);
    }
    for h in &d.hosts_removed {
        t.push(vec!["host removed", h.as_str(), ""]);
    }
    for r in &d.readdressed {
        t.push(vec!["readdressed".to_string(), r.name.clone(), format!("{} → {}", r.old.join(" "), r.new.join(" "))]);
    }
    for f in &d.newly_not_deployed {
        t.push(vec!["no longer deployed", f.as_str(), ""]);
    }
    for f in &d.deployed_again {
        t.push(vec!["deployed again", f.as_str(), ""]);
    }
    t
}

/// A deployment diff's change request, ready for every format.
pub struct DeltaChangeRequest<'d> {
    pub diff: &'d DeploymentDiff,
    pub cover: Option<&'d DeltaCover>,
    /// What to open, then what to close.
    pub rows: Vec<DeltaRequestRow<'d>>,
    pub totals: DeltaTotals,
}

impl<'d> DeltaChangeRequest<'d> {
    pub fn new(diff: &'d DeploymentDiff, cover: Option<&'d DeltaCover>) -> Self {
        let row = |action| move |row| DeltaRequestRow { action, row, status: Status::default(), ticket: "" };
        let rows: Vec<DeltaRequestRow> =
            diff.opened.iter().map(row(Action::Open)).chain(diff.closed.iter().map(row(Action::Close))).collect();
        let totals = DeltaTotals::of(&rows);
        DeltaChangeRequest { diff, cover, rows, totals }
    }

    pub fn of_action(&self, a: Action) -> Vec<&DeltaRequestRow<'d>> {
        self.rows.iter().filter(|r| r.action == a).collect()
    }

    /// Per network firewall on some row's path: its rows, opens then closes.
    pub fn by_firewall(&self) -> Vec<(&str, Vec<&DeltaRequestRow<'d>>)> {
        self.totals.firewalls.iter().map(|(f, _, _)| (f.as_str(), self.rows.iter().filter(|r| r.crosses(f)).collect())).collect()
    }

    fn title(&self) -> String {
        format!("Delta change request: {} → {}", self.diff.old, self.diff.new)
    }

    fn counts_line(&self) -> String {
        format!("{} to open, {} to close", self.totals.all.open, self.totals.all.close)
    }

    fn facts(&self) -> Vec<(String, String)> {
        let mut facts: Vec<(String, String)> = match self.cover {
            Some(c) => c.facts().into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            None => vec![("old inventory".into(), self.diff.old.clone()), ("new inventory".into(), self.diff.new.clone())],
        };
        facts.push(("rows".into(), self.counts_line()));
        facts
    }

    /// The cover's tables with their captions (empty ones left out).
    fn cover_tables(&self) -> Vec<(&'static str, &'static str, Table)> {
        let mut out = Vec::new();
        if let Some(c) = self.cover {
            out.push(("products", "Products and matrix versions", c.products_table()));
            let s = c.settings_table();
            if !s.rows.is_empty() {
                out.push(("settings", "Features and parameters that changed", s));
            }
        }
        out.push(("totals", "Totals per firewall", self.totals.table()));
        let other = other_changes_table(self.diff);
        if !other.rows.is_empty() {
            out.push(("other", "Other changes", other));
        }
        out
    }

    /// The workbook: cover, to open, to close, a sheet per firewall, address set changes, rule changes.
    pub fn sheets(&self) -> Vec<Sheet> {
        let mut cover = vec![Part::Title(self.title()), Part::Facts(self.facts())];
        for (_, caption, table) in self.cover_tables() {
            cover.push(Part::Table { caption: Some(caption.into()), table });
        }
        let mut s = vec![
            Sheet { name: "Cover".into(), parts: cover },
            Sheet::table("To open", Table::of(self.of_action(Action::Open))),
            Sheet::table("To close", Table::of(self.of_action(Action::Close))),
        ];
        for (f, rows) in self.by_firewall() {
            s.push(Sheet::table(format!("firewall {f}"), Table::of(rows)));
        }
        let sets = set_changes_table(self.diff);
        if !sets.rows.is_empty() {
            s.push(Sheet::table("Address set changes", sets));
        }
        let rules = rule_changes_table(self.diff);
        if !rules.rows.is_empty() {
            s.push(Sheet::table("Rule changes", rules));
        }
        s
    }

    pub fn markdown(&self) -> String {
        let mut o = format!("# {}\n\n", md(&self.title()));
        for (k, v) in self.facts() {
            let _ = writeln!(o, "- {}: {}", md(&k), md(&v));
        }
        for (_, caption, table) in self.cover_tables() {
            let _ = write!(o, "\n## {caption}\n\n");
            o.push_str(&table.to_markdown());
        }
        for (a, heading) in [(Action::Open, "To open"), (Action::Close, "To close")] {
            let rows = self.of_action(a);
            let _ = write!(o, "\n## {heading} ({} rows)\n\n", rows.len());
            if rows.is_empty() {
                o.push_str("Nothing.\n");
            } else {
                o.push_str(&Table::of(rows).to_markdown());
            }
        }
        for (f, rows) in self.by_firewall() {
            let _ = write!(o, "\n## Firewall {} ({} rows)\n\n", md(f), rows.len());
            o.push_str(&Table::of(rows).to_markdown());
        }
        let sets = set_changes_table(self.diff);
        if !sets.rows.is_empty() {
            o.push_str("\n## Address set changes\n\n");
            o.push_str(&sets.to_markdown());
        }
        let rules = rule_changes_table(self.diff);
        if !rules.rows.is_empty() {
            o.push_str("\n## Rule changes per host and firewall\n\n");
            o.push_str(&rules.to_markdown());
        }
        o
    }

    fn html_cover(&self) -> String {
        let mut b = String::from("<section id=\"cover\" aria-labelledby=\"cover-h\"><h2 id=\"cover-h\">Cover</h2>\n<dl class=\"facts\">");
        for (k, v) in self.facts() {
            let _ = write!(b, "<dt>{}</dt><dd>{}</dd>", esc(&k), esc(&v));
        }
        b.push_str("</dl>\n");
        for (id, caption, table) in self.cover_tables() {
            let _ = writeln!(b, "<h3 id=\"{id}\">{caption}</h3>");
            b.push_str(&table_html(&table, None));
        }
        b.push_str("</section>\n");
        b
    }

    pub fn html(&self) -> String {
        let fws = self.by_firewall();
        let fw_ids: Vec<String> = fws.iter().enumerate().map(|(i, (f, _))| anchor("firewall", i + 1, &[f])).collect();
        let mut entries = vec![("cover".to_string(), "Cover and totals".to_string())];
        entries.push(("open".into(), format!("To open ({} rows)", self.totals.all.open)));
        entries.push(("close".into(), format!("To close ({} rows)", self.totals.all.close)));
        for ((f, rows), id) in fws.iter().zip(&fw_ids) {
            entries.push((id.clone(), format!("Firewall {f} ({} rows)", rows.len())));
        }
        let sets = set_changes_table(self.diff);
        if !sets.rows.is_empty() {
            entries.push(("sets".into(), "Address set changes".into()));
        }
        let rules = rule_changes_table(self.diff);
        if !rules.rows.is_empty() {
            entries.push(("rules".into(), "Rule changes per host and firewall".into()));
        }
        let mut b = format!(
            "<main id=\"main\">\n<h1>Delta change request <span class=\"muted\">{} → {}</span></h1>\n<p class=\"meta\">{}</p>\n",
            esc(&self.diff.old),
            esc(&self.diff.new),
            esc(&self.counts_line())
        );
        b.push_str(&toc(&entries));
        b.push_str(&self.html_cover());
        for (a, id, heading) in [(Action::Open, "open", "To open"), (Action::Close, "close", "To close")] {
            let rows = self.of_action(a);
            let _ = writeln!(b, "<section id=\"{id}\"><h2>{heading} ({} rows)</h2>", rows.len());
            if rows.is_empty() {
                b.push_str("<p>Nothing.</p>\n");
            } else {
                b.push_str(&table_html_with_id(&Table::of(rows), None, Some(&format!("{id}-rows"))));
            }
            b.push_str("</section>\n");
        }
        for ((f, rows), id) in fws.iter().zip(&fw_ids) {
            let _ = writeln!(b, "<section id=\"{id}\"><h2>Firewall {} ({} rows)</h2>", esc(f), rows.len());
            b.push_str(&table_html(&Table::of(rows.iter().copied()), None));
            b.push_str("</section>\n");
        }
        if !sets.rows.is_empty() {
            b.push_str("<section id=\"sets\"><h2>Address set changes</h2>\n<p>Each set changes members in every ruleset listed; the rules that match on it stay.</p>\n");
            b.push_str(&table_html(&sets, None));
            b.push_str("</section>\n");
        }
        if !rules.rows.is_empty() {
            b.push_str("<section id=\"rules\"><h2>Rule changes per host and firewall</h2>\n");
            b.push_str(&table_html(&rules, None));
            b.push_str("</section>\n");
        }
        b.push_str("<p class=\"muted\">Generated by portmatrix.</p>\n</main>\n");
        page(&self.title(), &b)
    }

    /// Renders the delta change request: Markdown, CSV (every row, opens
    /// then closes), XLSX or HTML.
    pub fn render(&self, format: Format) -> Result<Vec<u8>, String> {
        Ok(match format {
            Format::Md => self.markdown().into_bytes(),
            Format::Csv => Table::of(&self.rows).to_csv().into_bytes(),
            Format::Xlsx => crate::xlsx::workbook_of(&self.sheets()).map_err(|e| format!("cannot write XLSX: {e}"))?,
            Format::Html => self.html().into_bytes(),
            Format::Dot | Format::Mermaid | Format::Svg => {
                return Err(format!("a delta change request has no {} rendering", format.extension()))
            }
        })
    }
}
