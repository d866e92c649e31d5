//! The classification: runs `tables::SUMMARY_QUERY` over the `classified`
//! view (where `pm_match` does the work) and folds its few rows into an
//! [`AuditResult`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, UInt64Type};
use datafusion::common::DataFusionError;
use datafusion::prelude::SessionContext;

use crate::engine::{self, Engine, Inputs, Progress};
use crate::formats::{FlowInput, InputError, ReadOptions};
use crate::intent::{IntentTable, IpProto};
use crate::matcher::SetId;
use crate::results::{AuditError, AuditResult, AuditSummary, ClassTotal, FlowClass, InputSummary, PlannedRow, Traffic, UnplannedRow};
use crate::tables;

/// How an audit runs.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Partitions (cores) of the embedded engine.
    pub threads: usize,
    pub read: ReadOptions,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self { threads: std::thread::available_parallelism().map_or(2, |n| n.get()), read: ReadOptions::default() }
    }
}

/// A session that ran an audit; more SQL can be asked of it.
pub struct Session {
    rt: tokio::runtime::Runtime,
    pub engine: Engine,
    inputs: Inputs,
    engine_name: String,
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, AuditError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| AuditError::Engine(format!("cannot start the query engine: {e}")))
}

impl Session {
    /// An embedded session over the given inputs (every file checked first).
    pub fn embedded(
        table: Arc<IntentTable>,
        files: Vec<FlowInput>,
        opts: &AuditOptions,
        progress: Arc<Progress>,
    ) -> Result<Self, AuditError> {
        let inputs = Inputs::new(files).map_err(AuditError::Input)?;
        let rt = runtime(opts.threads)?;
        let ctx = SessionContext::new_with_config(engine::config(opts.threads));
        Self::over(rt, ctx, table, inputs, &opts.read, progress, "embedded".into())
    }

    /// A session over any DataFusion context (the cluster's, for one).
    pub fn over(
        rt: tokio::runtime::Runtime,
        ctx: SessionContext,
        table: Arc<IntentTable>,
        inputs: Inputs,
        read: &ReadOptions,
        progress: Arc<Progress>,
        engine_name: String,
    ) -> Result<Self, AuditError> {
        let engine = rt.block_on(async {
            let e = Engine::new(ctx, table, progress).await?;
            e.register_inputs(&inputs, read).await?;
            Ok::<_, DataFusionError>(e)
        });
        let engine = engine.map_err(|e| engine_error(&e, &inputs))?;
        Ok(Self { rt, engine, inputs, engine_name })
    }

    /// Runs a query and collects its result.
    pub fn sql(&self, query: &str) -> Result<Vec<RecordBatch>, AuditError> {
        self.rt.block_on(async { self.engine.ctx.sql(query).await?.collect().await }).map_err(|e| engine_error(&e, &self.inputs))
    }

    /// Classifies every record.
    pub fn classify(&self) -> Result<AuditResult, AuditError> {
        let batches = self.sql(tables::SUMMARY_QUERY)?;
        Ok(fold(&self.engine, &self.inputs, &batches, &self.engine_name))
    }

    /// Registers the results as the table `results` for later SQL.
    pub fn register_results(&self, r: &AuditResult) -> Result<(), AuditError> {
        let b = crate::output::rows_batch(r).map_err(|e| AuditError::Engine(e.to_string()))?;
        let t = datafusion::datasource::MemTable::try_new(b.schema(), vec![vec![b]]).map_err(|e| AuditError::Engine(e.to_string()))?;
        self.engine.ctx.register_table("results", Arc::new(t)).map_err(|e| AuditError::Engine(e.to_string()))?;
        Ok(())
    }

    /// Writes the normalized records of every input to one Parquet file.
    pub fn write_records(&self, path: &std::path::Path) -> Result<u64, AuditError> {
        let batches = self.sql(&format!("SELECT {} FROM records WHERE status = 0", tables::RECORD_COLUMNS))?;
        crate::output::write_parquet(path, &batches).map_err(|e| AuditError::Engine(format!("cannot write {}: {e}", path.display())))
    }
}

/// Turns an engine failure into the most precise error there is.
pub fn engine_error(e: &DataFusionError, inputs: &Inputs) -> AuditError {
    if let Some(i) = engine::input_error(e) {
        return AuditError::Input(i);
    }
    for g in &inputs.parquet {
        for p in &g.paths {
            if let Some(i) = crate::formats::parquet::locate_error(p) {
                return AuditError::Input(i);
            }
        }
    }
    AuditError::Engine(e.to_string())
}

/// A column of a summary batch, cast to a known type.
struct Cols {
    b: Vec<Arc<dyn Array>>,
}

impl Cols {
    fn new(batch: &RecordBatch) -> Self {
        let want = [
            DataType::Int64,
            DataType::UInt64,
            DataType::Boolean,
            DataType::Boolean,
            DataType::Utf8,
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Utf8,
            DataType::UInt64,
        ];
        let b = batch.columns().iter().zip(want.iter()).map(|(c, t)| cast(c, t).expect("summary columns cast")).collect();
        Self { b }
    }
    fn i64(&self, c: usize, r: usize) -> Option<i64> {
        let a = self.b[c].as_primitive::<Int64Type>();
        (!a.is_null(r)).then(|| a.value(r))
    }
    fn u64(&self, c: usize, r: usize) -> Option<u64> {
        let a = self.b[c].as_primitive::<UInt64Type>();
        (!a.is_null(r)).then(|| a.value(r))
    }
    fn bool(&self, c: usize, r: usize) -> bool {
        let a = self.b[c].as_boolean();
        !a.is_null(r) && a.value(r)
    }
    fn str(&self, c: usize, r: usize) -> Option<String> {
        let a = self.b[c].as_string::<i32>();
        (!a.is_null(r)).then(|| a.value(r).to_string())
    }
}

type UnplannedKey = (bool, String, i64, Option<i64>);

fn fold(engine: &Engine, inputs: &Inputs, batches: &[RecordBatch], engine_name: &str) -> AuditResult {
    let table = &engine.table;
    let matcher = engine.udf.matcher();
    let n = table.intents.len();
    let (mut accepted, mut rejected) = (vec![Traffic::default(); n], vec![Traffic::default(); n]);
    let mut unplanned: BTreeMap<UnplannedKey, (Traffic, String, u64)> = BTreeMap::new();
    let mut class_traffic: BTreeMap<FlowClass, Traffic> = BTreeMap::new();
    let (mut nodata, mut skipdata, mut unusable, mut records) = (0u64, 0u64, 0u64, 0u64);
    for b in batches {
        let c = Cols::new(b);
        for r in 0..b.num_rows() {
            let count = c.i64(7, r).unwrap_or(0) as u64;
            let t = Traffic {
                records: count,
                reply_records: if c.bool(2, r) { count } else { 0 },
                packets: c.i64(8, r).unwrap_or(0) as u64,
                bytes: c.i64(9, r).unwrap_or(0) as u64,
                first_seen: c.i64(10, r),
                last_seen: c.i64(11, r),
            };
            match c.i64(0, r) {
                Some(1) => nodata += count,
                Some(2) => skipdata += count,
                Some(0) => {}
                _ => unusable += count,
            }
            if c.i64(0, r) != Some(0) {
                continue;
            }
            records += count;
            let ok = c.bool(3, r);
            match c.u64(1, r) {
                Some(set) => {
                    for i in matcher.intents_of(SetId(set as u32)) {
                        let slot = if ok { &mut accepted[i.index()] } else { &mut rejected[i.index()] };
                        slot.add(&t);
                    }
                    let class = if ok { FlowClass::PlannedSeen } else { FlowClass::PlannedRejected };
                    class_traffic.entry(class).or_default().add(&t);
                }
                None => {
                    let key = (ok, c.str(4, r).unwrap_or_default(), c.i64(5, r).unwrap_or(-1), c.i64(6, r));
                    let e = unplanned.entry(key).or_insert_with(|| (Traffic::default(), String::new(), 0));
                    e.0.add(&t);
                    let sample = c.str(12, r).unwrap_or_default();
                    if e.1.is_empty() || sample < e.1 {
                        e.1 = sample;
                    }
                    e.2 = e.2.max(c.u64(13, r).unwrap_or(0));
                    let class = if ok { FlowClass::UnplannedAccepted } else { FlowClass::UnplannedRejected };
                    class_traffic.entry(class).or_default().add(&t);
                }
            }
        }
    }
    let planned = planned_rows(table, &accepted, &rejected);
    let unplanned = unplanned_rows(table, unplanned);
    let mut classes: Vec<ClassTotal> = FlowClass::ALL
        .iter()
        .map(|&class| ClassTotal { class, rows: 0, traffic: class_traffic.get(&class).copied().unwrap_or_default() })
        .collect();
    for class in planned.iter().map(|p| p.class).chain(unplanned.iter().map(|u| u.class)) {
        if let Some(t) = classes.iter_mut().find(|t| t.class == class) {
            t.rows += 1;
        }
    }
    let findings = classes.iter().filter(|c| c.class.is_finding()).map(|c| c.rows).sum();
    let mut input_summaries = Vec::new();
    let mut bad_lines = 0;
    for (i, f) in inputs.files.iter().enumerate() {
        let stats = engine.log.get(i as u32);
        if let Some(s) = &stats {
            bad_lines += s.bad_lines;
            nodata += s.nodata;
            skipdata += s.skipdata;
        }
        input_summaries.push(InputSummary { file: f.path.display().to_string(), format: f.format, stats });
    }
    AuditResult {
        summary: AuditSummary {
            inventory: table.inventory.clone(),
            intents: n,
            classes,
            inputs: input_summaries,
            records,
            unusable_rows: unusable,
            nodata,
            skipdata,
            bad_lines,
            findings,
            complete: bad_lines == 0 && unusable == 0 && skipdata == 0,
            engine: engine_name.to_string(),
        },
        planned,
        unplanned,
    }
}

fn planned_rows(table: &IntentTable, accepted: &[Traffic], rejected: &[Traffic]) -> Vec<PlannedRow> {
    let mut out = Vec::new();
    for it in &table.intents {
        let row = |class: FlowClass, traffic: Traffic| PlannedRow {
            class,
            intent: it.id,
            basis: it.basis,
            flows: it.tags().into_iter().cloned().collect(),
            cites: it.reasons.iter().map(|r| r.cite.clone()).collect(),
            sources: it.source_names.clone(),
            destination: it.destination.clone(),
            service: it.service(),
            traffic,
        };
        let (a, r) = (accepted[it.id.index()], rejected[it.id.index()]);
        if r.records > 0 {
            out.push(row(FlowClass::PlannedRejected, r));
        }
        if a.records > 0 {
            out.push(row(FlowClass::PlannedSeen, a));
        }
        if a.records == 0 && r.records == 0 {
            out.push(row(FlowClass::PlannedNeverSeen, Traffic::default()));
        }
    }
    out.sort_by_key(|p| (p.class, p.intent));
    out
}

fn unplanned_rows(table: &IntentTable, groups: BTreeMap<UnplannedKey, (Traffic, String, u64)>) -> Vec<UnplannedRow> {
    let mut out: Vec<UnplannedRow> = groups
        .into_iter()
        .map(|((ok, dst, proto, port), (traffic, sample, sources))| {
            let addr: Option<IpAddr> = dst.parse().ok();
            let sample_addr: Option<IpAddr> = sample.parse().ok();
            UnplannedRow {
                class: if ok { FlowClass::UnplannedAccepted } else { FlowClass::UnplannedRejected },
                destination: addr.and_then(|a| table.label(a)).map(str::to_string),
                destination_address: dst,
                protocol: IpProto(proto.clamp(0, 255) as u8),
                port: port.and_then(|p| u16::try_from(p).ok()),
                traffic,
                sample_source_name: sample_addr.and_then(|a| table.label(a)).map(str::to_string),
                sample_source: sample,
                sources_estimate: sources,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |u: &UnplannedRow| (u.class, u.destination_address.parse::<IpAddr>().ok(), u.protocol, u.port);
        key(a).cmp(&key(b)).then_with(|| a.destination_address.cmp(&b.destination_address))
    });
    out
}

/// Classifies flow records against a plan on the embedded engine.
pub fn audit_flows(
    table: Arc<IntentTable>,
    files: Vec<FlowInput>,
    opts: &AuditOptions,
    progress: Arc<Progress>,
) -> Result<(AuditResult, Session), AuditError> {
    let s = Session::embedded(table, files, opts, progress)?;
    let r = s.classify()?;
    Ok((r, s))
}

impl From<InputError> for AuditError {
    fn from(e: InputError) -> Self {
        AuditError::Input(e)
    }
}

#[cfg(feature = "distributed")]
impl Session {
    /// A session whose queries run on the Ballista cluster at `url`
    /// (`df://scheduler:port`). Inputs must be Parquet the executors can read.
    pub fn cluster(
        url: &str,
        table: Arc<IntentTable>,
        files: Vec<FlowInput>,
        opts: &AuditOptions,
        progress: Arc<Progress>,
    ) -> Result<Self, AuditError> {
        let inputs = Inputs::new(files).map_err(AuditError::Input)?;
        if let Some((_, f)) = inputs.text.first() {
            return Err(AuditError::Input(
                InputError::new(&f.path, format!("{} is read on this machine; a cluster reads Parquet files", f.format)).with_hint(
                    "convert it first: portmatrix audit flows -i INVENTORY FILES --records-out records.parquet, then give records.parquet to --cluster",
                ),
            ));
        }
        let rt = runtime(opts.threads)?;
        let ctx = rt
            .block_on(crate::distributed::remote(url, opts.threads))
            .map_err(|e| AuditError::Engine(format!("cannot use the cluster at {url}: {e}")))?;
        Self::over(rt, ctx, table, inputs, &opts.read, progress, url.to_string())
    }
}
