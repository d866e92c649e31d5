//! The query engine's side: a DataFusion session with the plan's function
//! and tables, and the inputs registered as one `records` view in the
//! normalized schema. Text formats stream through [`TextTable`]; Parquet is
//! scanned by DataFusion itself.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

use crate::formats::{self, FlowFormat, FlowInput, InputError, ReadOptions, ReadStats};
use crate::intent::IntentTable;
use crate::record::{self, BatchBuilder};
use crate::tables;
use crate::udf::MatchUdf;

/// Counters a caller can watch while the audit runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Records read from text inputs.
    pub read: AtomicU64,
    /// Rows classified (all inputs).
    pub classified: Arc<AtomicU64>,
}

/// Per-file read statistics, filled in as text inputs are scanned.
#[derive(Debug, Default, Clone)]
pub struct InputLog(Arc<Mutex<BTreeMap<u32, ReadStats>>>);

impl InputLog {
    fn set(&self, file: u32, s: ReadStats) {
        self.0.lock().expect("input log lock").insert(file, s);
    }
    pub fn get(&self, file: u32) -> Option<ReadStats> {
        self.0.lock().expect("input log lock").get(&file).cloned()
    }
}

/// One text input as a stream of batches.
struct TextPartition {
    file_id: u32,
    input: FlowInput,
    opts: ReadOptions,
    log: InputLog,
    progress: Arc<Progress>,
}

impl fmt::Debug for TextPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TextPartition({})", self.input.path.display())
    }
}

impl PartitionStream for TextPartition {
    fn schema(&self) -> &SchemaRef {
        static S: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(record::schema);
        &S
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut b = RecordBatchReceiverStreamBuilder::new(record::schema(), 4);
        let tx = b.tx();
        let (file_id, input, opts, log, progress) =
            (self.file_id, self.input.clone(), self.opts.clone(), self.log.clone(), self.progress.clone());
        b.spawn_blocking(move || {
            let mut batch = BatchBuilder::new(Some(file_id));
            let mut open = true;
            let result = formats::read_file(&input, &opts, &mut |r| {
                batch.push(&r);
                if batch.is_full() {
                    progress.read.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    open = tx.blocking_send(Ok(batch.finish())).is_ok();
                }
                open
            });
            match result {
                Ok(stats) => {
                    if !batch.is_empty() && open {
                        progress.read.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        let _ = tx.blocking_send(Ok(batch.finish()));
                    }
                    log.set(file_id, stats);
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(DataFusionError::External(Box::new(e))));
                }
            }
            Ok(())
        });
        b.build()
    }
}

/// The inputs of one audit, grouped the way they are registered.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Text inputs with their file ids (the position in `files`).
    pub text: Vec<(u32, FlowInput)>,
    /// Parquet files, grouped by format and optional columns.
    pub parquet: Vec<ParquetGroup>,
    /// Every input in command-line order.
    pub files: Vec<FlowInput>,
}

#[derive(Debug, Clone)]
pub struct ParquetGroup {
    pub format: FlowFormat,
    pub columns: Vec<String>,
    pub paths: Vec<PathBuf>,
}

impl Inputs {
    /// Checks every file (format, Parquet footer and columns) before any query.
    pub fn new(files: Vec<FlowInput>) -> Result<Self, InputError> {
        let mut me = Inputs { files: files.clone(), ..Default::default() };
        for (i, f) in files.into_iter().enumerate() {
            if f.format.is_parquet() {
                let info = formats::parquet::check(&f.path, f.format)?;
                match me.parquet.iter_mut().find(|g| g.format == info.format && g.columns == info.columns) {
                    Some(g) => g.paths.push(f.path),
                    None => me.parquet.push(ParquetGroup { format: info.format, columns: info.columns, paths: vec![f.path] }),
                }
            } else {
                me.text.push((i as u32, f));
            }
        }
        Ok(me)
    }
}

/// A session ready for the classification query and the user's SQL.
pub struct Engine {
    pub ctx: SessionContext,
    pub table: Arc<IntentTable>,
    pub udf: Arc<MatchUdf>,
    pub log: InputLog,
    pub progress: Arc<Progress>,
}

/// The session settings: one partition per core.
pub fn config(threads: usize) -> SessionConfig {
    SessionConfig::new().with_target_partitions(threads.max(1)).with_information_schema(true)
}

impl Engine {
    /// A session over `ctx` (embedded or a cluster's) with the plan registered.
    pub async fn new(ctx: SessionContext, table: Arc<IntentTable>, progress: Arc<Progress>) -> Result<Self, DataFusionError> {
        let udf = Arc::new(MatchUdf::new(table.clone(), progress.classified.clone()));
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_shared_impl(udf.clone()));
        tables::register_plan(&ctx, &table, udf.matcher())?;
        Ok(Self { ctx, table, udf, log: InputLog::default(), progress })
    }

    /// Registers the inputs as the view `records` (normalized schema plus
    /// `status`: 0 usable, 1 AWS NODATA, 2 AWS SKIPDATA, 3 unusable).
    pub async fn register_inputs(&self, inputs: &Inputs, opts: &ReadOptions) -> Result<(), DataFusionError> {
        let mut parts: Vec<String> = Vec::new();
        if !inputs.text.is_empty() {
            let partitions: Vec<Arc<dyn PartitionStream>> = inputs
                .text
                .iter()
                .map(|(id, f)| {
                    Arc::new(TextPartition {
                        file_id: *id,
                        input: f.clone(),
                        opts: opts.clone(),
                        log: self.log.clone(),
                        progress: self.progress.clone(),
                    }) as Arc<dyn PartitionStream>
                })
                .collect();
            self.ctx.register_table("text_input", Arc::new(StreamingTable::try_new(record::schema(), partitions)?))?;
            parts.push(format!("SELECT {}, 0 AS status FROM text_input", tables::RECORD_COLUMNS));
        }
        for (i, g) in inputs.parquet.iter().enumerate() {
            let name = format!("parquet_input_{i}");
            let paths: Vec<String> = g.paths.iter().map(|p| p.display().to_string()).collect();
            let df = self.ctx.read_parquet(paths, ParquetReadOptions::default()).await?;
            self.ctx.register_table(name.as_str(), df.into_view())?;
            parts.push(match g.format {
                FlowFormat::AwsParquet => tables::aws_parquet_select(&name, &g.columns),
                _ => format!("SELECT {}, 0 AS status FROM {name}", tables::RECORD_COLUMNS),
            });
        }
        if parts.is_empty() {
            return Err(DataFusionError::Plan("no input files".into()));
        }
        self.ctx.sql(&format!("CREATE VIEW records AS {}", parts.join(" UNION ALL "))).await?;
        self.ctx.sql(&tables::classified_view()).await?;
        Ok(())
    }
}

/// Finds an [`InputError`] inside a DataFusion error chain.
pub fn input_error(e: &DataFusionError) -> Option<InputError> {
    let mut cur: &dyn std::error::Error = e;
    loop {
        if let Some(i) = cur.downcast_ref::<InputError>() {
            return Some(i.clone());
        }
        if let Some(DataFusionError::External(x)) = cur.downcast_ref::<DataFusionError>() {
            if let Some(i) = x.downcast_ref::<InputError>() {
                return Some(i.clone());
            }
        }
        cur = cur.source()?;
    }
}
