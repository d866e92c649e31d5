//! `portmatrix audit flows|sockets|generate|scheduler|executor`: what really
//! runs, against the plan (the cluster's commands work in builds with the
//! `distributed` feature).
//! Argument parsing and printing only; the work is in `portmatrix-audit`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use portmatrix_audit::formats::sockets::SocketFormat;
use portmatrix_audit::formats::{self, FlowFormat, FlowInput, InputError, ReadOptions};
use portmatrix_audit::generate::{GenOptions, Mix};
use portmatrix_audit::results::{iso_time, AuditError, AuditResult};
use portmatrix_audit::{output, sockets, AuditOptions, IntentTable, Progress, Session};

use crate::failure::{Failure, Outcome};

/// The evidence of what runs, one subcommand per kind (flattened into `audit`).
#[derive(Subcommand)]
pub enum EvidenceCmd {
    /// Classify observed flows (cloud flow logs, conntrack, firewall logs) against the plan
    #[command(after_help = FLOWS_HELP)]
    Flows(FlowsArgs),
    /// Compare a host's listening sockets with what the roles of that host need
    #[command(after_help = SOCKETS_HELP)]
    Sockets(SocketsArgs),
    /// Write synthetic flow logs with a known mix of the five classes (tests, benchmarks)
    #[command(after_help = GENERATE_HELP)]
    Generate(GenerateArgs),
    /// Run a Ballista scheduler for `audit flows --cluster` (builds with the feature `distributed`)
    #[command(after_help = "Example:\n  portmatrix audit scheduler --bind 0.0.0.0:50050")]
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor for `audit flows --cluster` (builds with the feature `distributed`)
    #[command(after_help = "Example:\n  portmatrix audit executor --scheduler 10.0.0.5:50050 --bind 0.0.0.0:50051 --work-dir /var/tmp/pm")]
    Executor(ExecutorArgs),
}

// The cluster's commands and flags exist in every build, so that help, docs
// and scripts are the same; a build without Ballista says how to get it.
#[derive(Args)]
pub struct SchedulerArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: SocketAddr,
}

#[derive(Args)]
pub struct ExecutorArgs {
    /// The scheduler's address
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub scheduler: SocketAddr,
    /// Arrow Flight address to listen on (the executor's gRPC uses the next port)
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub bind: SocketAddr,
    /// Directory for shuffle files
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Tasks run at once (default: all cores)
    #[arg(long)]
    pub vcores: Option<usize>,
}

pub fn run(c: EvidenceCmd) -> Outcome {
    match c {
        EvidenceCmd::Flows(a) => flows(a),
        EvidenceCmd::Sockets(a) => sockets_cmd(a),
        EvidenceCmd::Generate(a) => generate(a),
        EvidenceCmd::Scheduler(a) => cluster::scheduler(a),
        EvidenceCmd::Executor(a) => cluster::executor(a),
    }
}

impl From<InputError> for Failure {
    fn from(e: InputError) -> Self {
        Failure::Message(e.to_string())
    }
}

impl From<AuditError> for Failure {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Input(i) => i.into(),
            AuditError::Engine(m) => Failure::Message(m),
        }
    }
}

const FLOWS_HELP: &str = "Every record is classified against the plan of the inventory:\n\
  planned-seen        allowed by a flow and seen (flow, cite, first/last seen, packets, bytes)\n\
  planned-never-seen  allowed by a flow, no record in the period (recertify or remove)\n\
  unplanned-accepted  accepted, but no flow allows it: drift or over-permission (finding)\n\
  planned-rejected    a flow needs it, a firewall dropped it: an outage in the making (finding)\n\
  unplanned-rejected  dropped and not planned: expected noise, counted\n\n\
Formats (detected from the content, or --input-format): aws (VPC flow logs v2-v5, text or .gz),\n\
aws-parquet, records-parquet (--records-out), azure (VNet flow logs), conntrack (-L/-E text),\n\
conntrack-json and nft-json (ulogd2 JSON), nft-log (kernel log lines of nftables `log`).\n\n\
--sql queries the tables records, classified, results, intents, intent_sources,\n\
intent_destinations, intent_ports, intent_src_ports, intent_icmp_types and match_sets\n\
(docs/audit.md describes them).\n\n\
Exit codes: 0 clean; 1 findings, or evidence incomplete (unparseable lines, SKIPDATA);\n\
2 unusable input (the file and line or row group are named).\n\n\
Examples:\n  portmatrix audit flows -i examples/mixed.yaml vpc-logs/*.log.gz\n\
  portmatrix audit flows -i examples/mixed.yaml flows.parquet --format json > audit.json\n\
  portmatrix audit flows -i examples/jtel-acd.yaml /var/log/ulogd.json --format xlsx -o audit.xlsx\n\
  portmatrix audit flows -i examples/mixed.yaml kern.log --log-drop 'pm-drop' --log-accept 'pm-new'\n\
  portmatrix audit flows -i examples/mixed.yaml flows.log \\\n    --sql \"SELECT destination, sum(bytes) FROM results WHERE class = 'unplanned-accepted' GROUP BY 1\"";

const SOCKETS_HELP: &str = "Listeners that no flow of the host's roles explains, and planned listeners that are\n\
absent, are findings (exit 1). Inputs: `ss -tulpn` (Linux), `netstat -ano` (Windows), or\n\
`Get-NetTCPConnection -State Listen` / `Get-NetUDPEndpoint` exported with Export-Csv or\n\
ConvertTo-Json.\n\n\
Examples:\n  ss -tulpn > rem1.ss && portmatrix audit sockets -i examples/mixed.yaml --host rem1 rem1.ss\n\
  portmatrix audit sockets -i examples/imagicle-ucsuite.yaml --host ucs1 netstat.txt --format json\n\
  portmatrix audit sockets -i examples/mixed.yaml --host ucs1 listen.csv --input-format pwsh-csv";

const GENERATE_HELP: &str = "Writes records drawn from the plan (planned flows, some intents left unseen on purpose)\n\
and from ports and addresses nothing plans, with their ground truth (--truth), in any input format.\n\n\
Examples:\n  portmatrix audit generate -i examples/mixed.yaml --format aws --records 100000 -o flows.log.gz\n\
  portmatrix audit generate -i examples/mixed.yaml --format aws-parquet --records 10000000 -o flows.parquet\n\
  portmatrix audit generate -i examples/jtel-acd.yaml --format conntrack --records 1000 -o ct.txt --truth truth.json";

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// A table for the terminal, then a summary
    Table,
    /// The whole result (summary and every row); with --sql, JSON lines
    Json,
    /// The result rows as comma-separated values with a header (with --sql, the query's rows)
    Csv,
    /// Parquet file (needs -o)
    Parquet,
    /// Spreadsheet (needs -o)
    Xlsx,
}

#[derive(Args)]
pub struct FlowsArgs {
    #[command(flatten)]
    pub inventory: crate::args::InventoryArg,
    /// Flow records: files of any supported format (gzip is read transparently)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The format of every file, instead of detecting it
    #[arg(long, value_parser = flow_format)]
    pub input_format: Option<FlowFormat>,
    /// Output format: table, json, csv, parquet or xlsx (the last two need -o)
    #[arg(short, long, value_enum, default_value_t = OutFormat::Table)]
    pub format: OutFormat,
    /// Write the output to this file (atomically) instead of standard output
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Ask a question of the results in SQL (DataFusion dialect); prints its answer instead
    #[arg(long)]
    pub sql: Option<String>,
    /// Log prefix of packets a firewall accepted (nft-log, nft-json; repeatable)
    #[arg(long = "log-accept", value_name = "PREFIX")]
    pub log_accept: Vec<String>,
    /// Log prefix of packets a firewall dropped (repeatable)
    #[arg(long = "log-drop", value_name = "PREFIX")]
    pub log_drop: Vec<String>,
    /// Also write every usable record, normalized, to this Parquet file (input for --cluster)
    #[arg(long)]
    pub records_out: Option<PathBuf>,
    /// Cores to use (default: all)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Rows shown by the table output (the other formats hold every row)
    #[arg(long, default_value_t = 60)]
    pub limit: usize,
    /// Run on a Ballista cluster: df://SCHEDULER:PORT (Parquet inputs; builds with the feature `distributed`)
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
}

fn flow_format(s: &str) -> Result<FlowFormat, String> {
    FlowFormat::parse(s).ok_or_else(|| format!("one of: {}", FlowFormat::ALL.map(|f| f.name()).join(", ")))
}

fn socket_format(s: &str) -> Result<SocketFormat, String> {
    SocketFormat::parse(s).ok_or_else(|| format!("one of: {}", SocketFormat::ALL.map(|f| f.name()).join(", ")))
}

fn intent_table(inventory: &Path) -> Result<IntentTable, Failure> {
    crate::cmd_plan::plan_of(inventory).map(|p| IntentTable::from_plan(&p))
}

/// The inputs with their formats (detected unless given).
fn flow_inputs(files: &[PathBuf], given: Option<FlowFormat>) -> Result<Vec<FlowInput>, InputError> {
    files
        .iter()
        .map(|p| {
            let format = match given {
                Some(f) => f,
                None => formats::detect(p)?,
            };
            Ok(FlowInput { path: p.clone(), format })
        })
        .collect()
}

/// Prints progress on standard error while `work` runs (terminal only).
fn with_progress<T>(progress: &Arc<Progress>, work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let done = Arc::new(AtomicBool::new(false));
    let (p, d) = (progress.clone(), done.clone());
    let t = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        while !d.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(250));
            let (r, c) = (p.read.load(Ordering::Relaxed), p.classified.load(Ordering::Relaxed));
            eprint!("\r  {r} records read, {c} classified ({:.0} s)   ", started.elapsed().as_secs_f64());
        }
        eprint!("\r{:60}\r", "");
    });
    let out = work();
    done.store(true, Ordering::Relaxed);
    let _ = t.join();
    out
}

/// Writes `bytes` to `out` (atomically) or standard output.
fn emit(out: &Option<PathBuf>, bytes: &[u8]) -> Result<(), Failure> {
    match out {
        Some(p) => crate::output::write_atomic_bytes(p, bytes).map_err(|e| Failure::Message(format!("cannot write {}: {e}", p.display()))),
        None => {
            crate::output::print(&String::from_utf8_lossy(bytes));
            Ok(())
        }
    }
}

fn render(
    batches: &[portmatrix_audit::RecordBatch],
    format: OutFormat,
    out: &Option<PathBuf>,
    limit: usize,
    sheet: &str,
) -> Result<(), Failure> {
    if matches!(format, OutFormat::Parquet | OutFormat::Xlsx) && out.is_none() {
        return Err("--format parquet and xlsx write a file: give -o FILE".into());
    }
    let bytes = match format {
        OutFormat::Table => output::text_table(batches, Some(limit)).map(String::into_bytes).map_err(|e| e.to_string()),
        OutFormat::Json => output::json_lines(batches).map_err(|e| e.to_string()),
        OutFormat::Csv => output::csv(batches).map_err(|e| e.to_string()),
        OutFormat::Parquet => output::parquet_bytes(batches).map_err(|e| e.to_string()),
        OutFormat::Xlsx => output::xlsx(&[(sheet, batches)]).map_err(|e| e.to_string()),
    };
    emit(out, &bytes?)
}

fn summary_text(r: &AuditResult) -> String {
    let s = &r.summary;
    let mut t = format!(
        "audit of {} record(s) from {} file(s) against {} intent(s) of `{}` ({})\n",
        s.records,
        s.inputs.len(),
        s.intents,
        s.inventory.escape_debug(),
        s.engine
    );
    for c in &s.classes {
        t += &format!(
            "  {:<20} {:>6} row(s) {:>12} record(s) {:>14} byte(s)\n",
            c.class.as_str(),
            c.rows,
            c.traffic.records,
            c.traffic.bytes
        );
    }
    for i in &s.inputs {
        let Some(st) = &i.stats else { continue };
        if st.bad_lines > 0 {
            t += &format!("  {}: {} unparseable line(s), not classified:\n", i.file.escape_debug(), st.bad_lines);
            for b in &st.bad_samples {
                t += &format!("    line {}: {}\n", b.line, b.reason.escape_debug());
            }
            if st.bad_lines > st.bad_samples.len() as u64 {
                t += &format!("    ... and {} more\n", st.bad_lines - st.bad_samples.len() as u64);
            }
        }
    }
    if s.unusable_rows > 0 {
        t += &format!("  {} Parquet row(s) unusable (missing fields, bad addresses or values), not classified\n", s.unusable_rows);
    }
    if s.skipdata > 0 {
        t += &format!("  {} SKIPDATA record(s): the flow log service skipped records in those windows\n", s.skipdata);
    }
    if let Some((a, b)) = r.period() {
        t += &format!("  period: {} .. {}\n", iso_time(a), iso_time(b));
    }
    t += &match (s.findings, s.complete) {
        (0, true) => "clean: every accepted flow is planned and no planned flow was rejected\n".to_string(),
        (0, false) => "no finding in what could be read, but the evidence is incomplete (see above)\n".to_string(),
        (n, _) => format!("{n} finding(s)\n"),
    };
    t
}

fn flows(a: FlowsArgs) -> Outcome {
    let table = Arc::new(intent_table(&a.inventory.inventory)?);
    let inputs = flow_inputs(&a.files, a.input_format)?;
    let opts = AuditOptions {
        threads: a.threads.unwrap_or_else(|| AuditOptions::default().threads),
        read: ReadOptions { accept_prefixes: a.log_accept.clone(), drop_prefixes: a.log_drop.clone() },
    };
    let progress = Arc::new(Progress::default());
    let session = match &a.cluster {
        Some(url) => cluster::session(url, table, inputs, &opts, progress.clone())?,
        None => Session::embedded(table, inputs, &opts, progress.clone())?,
    };
    let result = with_progress(&progress, || session.classify())?;
    finish_flows(&a, &session, &result)?;
    Ok(result.exit_code())
}

/// Writes what `audit flows` was asked for: the records, a query's answer or the results.
fn finish_flows(a: &FlowsArgs, session: &Session, result: &AuditResult) -> Result<(), Failure> {
    if let Some(p) = &a.records_out {
        let n = session.write_records(p)?;
        eprintln!("wrote {n} record(s) to {}", p.display());
    }
    session.register_results(result)?;
    if let Some(q) = &a.sql {
        let batches = session.sql(q)?;
        return render(&batches, a.format, &a.out, a.limit, "query");
    }
    match a.format {
        OutFormat::Json => {
            let mut s = serde_json::to_string_pretty(result).expect("results serialise");
            s.push('\n');
            emit(&a.out, s.as_bytes())
        }
        OutFormat::Table => {
            let rows = output::rows_batch(result).map_err(|e| Failure::Message(e.to_string()))?;
            let mut text = output::text_table(&[rows], Some(a.limit)).unwrap_or_default();
            text += "\n";
            text += &summary_text(result);
            emit(&a.out, text.as_bytes())
        }
        f => {
            let rows = output::rows_batch(result).map_err(|e| Failure::Message(e.to_string()))?;
            if a.out.is_some() {
                eprint!("{}", summary_text(result));
            }
            render(&[rows], f, &a.out, a.limit, "audit")
        }
    }
}

#[derive(Args)]
pub struct SocketsArgs {
    #[command(flatten)]
    pub inventory: crate::args::InventoryArg,
    /// The host of the inventory the listing comes from
    #[arg(long)]
    pub host: String,
    /// `ss -tulpn`, `netstat -ano`, or a PowerShell export
    pub file: PathBuf,
    /// ss, netstat, pwsh-csv or pwsh-json (default: detected)
    #[arg(long, value_parser = socket_format)]
    pub input_format: Option<SocketFormat>,
    /// table, json or csv
    #[arg(short, long, value_enum, default_value_t = OutFormat::Table)]
    pub format: OutFormat,
}

fn sockets_cmd(a: SocketsArgs) -> Outcome {
    let table = intent_table(&a.inventory.inventory)?;
    if !sockets::host_known(&table, &a.host) {
        let hosts: Vec<&str> = table.endpoints.iter().filter(|e| e.is_host).map(|e| e.name.as_str()).collect();
        let hint = portmatrix_model::diag::did_you_mean(&a.host, hosts.iter().copied())
            .map_or_else(|| format!("hosts: {}", hosts.join(", ")), |h| format!("did you mean `{h}`?"));
        return Err(format!("the inventory has no host `{}`\n  hint: {hint}", a.host.escape_debug()).into());
    }
    let format = match a.input_format {
        Some(f) => f,
        None => formats::sockets::detect(&a.file)?,
    };
    let (listeners, stats) = formats::sockets::read(&a.file, format)?;
    let r = sockets::audit_sockets(&table, &a.host, &listeners, stats);
    let text = match a.format {
        OutFormat::Json => serde_json::to_string_pretty(&r).expect("results serialise") + "\n",
        OutFormat::Csv | OutFormat::Table => sockets_table(&r, a.format == OutFormat::Csv),
        OutFormat::Parquet | OutFormat::Xlsx => return Err("audit sockets writes table, json or csv".into()),
    };
    crate::output::print(&text);
    Ok(r.exit_code())
}

fn sockets_table(r: &sockets::SocketsResult, csv: bool) -> String {
    let mut t = portmatrix_report::table::Table::new(&["class", "proto", "address", "port", "process", "line", "flows", "detail"]);
    for row in &r.rows {
        t.push(vec![
            row.class.as_str().to_string(),
            row.protocol.to_string(),
            row.address.clone(),
            row.port.clone(),
            row.process.clone().unwrap_or_default(),
            row.line.map(|l| l.to_string()).unwrap_or_default(),
            row.flows.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(" "),
            row.detail.clone(),
        ]);
    }
    if csv {
        return t.to_csv();
    }
    let mut s = t.to_text(crate::output::terminal_width());
    for b in &r.read.bad_samples {
        s += &format!("unparseable: line {}: {}\n", b.line, b.reason.escape_debug());
    }
    s += &format!("{}: {} listener(s), {} finding(s)\n", r.host.escape_debug(), r.read.records, r.findings);
    s
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub inventory: crate::args::InventoryArg,
    /// Output format
    #[arg(long, value_parser = flow_format)]
    pub format: FlowFormat,
    /// Number of records (AWS adds the reply halves of some flows)
    #[arg(long, default_value_t = 10_000)]
    pub records: u64,
    /// Seed of the random choices: the same seed writes the same records
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// AWS text: the flow log version of the custom format (2 to 5)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(2..=5))]
    pub aws_version: u8,
    /// Class weights: planned-seen,planned-rejected,unplanned-accepted,unplanned-rejected
    #[arg(long, value_parser = mix, default_value = "70,5,10,15")]
    pub mix: Mix,
    /// IPv4 records only
    #[arg(long)]
    pub ipv4_only: bool,
    /// Output file (`.gz` compresses text formats)
    #[arg(short, long)]
    pub out: PathBuf,
    /// Also write the ground truth as JSON
    #[arg(long)]
    pub truth: Option<PathBuf>,
}

fn mix(s: &str) -> Result<Mix, String> {
    let v: Vec<u32> =
        s.split(',').map(|x| x.trim().parse::<u32>().map_err(|_| format!("`{x}` is not a weight"))).collect::<Result<_, _>>()?;
    match v[..] {
        [a, b, c, d] => Ok(Mix { planned_seen: a, planned_rejected: b, unplanned_accepted: c, unplanned_rejected: d }),
        _ => Err("four weights: planned-seen,planned-rejected,unplanned-accepted,unplanned-rejected".into()),
    }
}

fn generate(a: GenerateArgs) -> Outcome {
    let table = intent_table(&a.inventory.inventory)?;
    let opts = GenOptions {
        records: a.records,
        seed: a.seed,
        mix: a.mix,
        truth: a.truth.is_some(),
        ipv4_only: a.ipv4_only,
        ..GenOptions::default()
    };
    let truth = portmatrix_audit::generate::generate(&table, a.format, &opts, &a.out, a.aws_version)
        .map_err(|e| Failure::Message(format!("cannot write {}: {e}", a.out.display())))?;
    eprintln!("wrote {} record(s) to {}", truth.records, a.out.display());
    if let Some(p) = &a.truth {
        let json = serde_json::to_string_pretty(&truth).expect("truth serialises") + "\n";
        crate::output::write_atomic_bytes(p, json.as_bytes())
            .map_err(|e| Failure::Message(format!("cannot write {}: {e}", p.display())))?;
    }
    Ok(crate::exit::CLEAN)
}

/// The cluster's processes (`audit scheduler`, `audit executor`) and client.
#[cfg(feature = "distributed")]
mod cluster {
    use std::sync::Arc;

    use portmatrix_audit::results::AuditError;
    use portmatrix_audit::{distributed, AuditOptions, FlowInput, IntentTable, Progress, Session};

    use super::{ExecutorArgs, SchedulerArgs};
    use crate::failure::{Failure, Outcome};

    type ServiceResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

    /// Runs a scheduler or executor until it stops.
    fn serve(what: &str, f: impl std::future::Future<Output = ServiceResult>) -> Outcome {
        let rt = portmatrix_audit::runtime_for_services().map_err(|e| Failure::Message(format!("cannot start the {what}: {e}")))?;
        rt.block_on(f).map_err(|e| Failure::Message(format!("the {what} stopped: {e}")))?;
        Ok(crate::exit::CLEAN)
    }

    pub fn scheduler(a: SchedulerArgs) -> Outcome {
        eprintln!("portmatrix audit scheduler listening on {}", a.bind);
        serve("scheduler", async move { distributed::run_scheduler(a.bind).await.map_err(Into::into) })
    }

    pub fn executor(a: ExecutorArgs) -> Outcome {
        let vcores = a.vcores.unwrap_or_else(|| AuditOptions::default().threads);
        let work_dir = a.work_dir.map(|p| p.display().to_string());
        eprintln!("portmatrix audit executor on {} for scheduler {}", a.bind, a.scheduler);
        serve("executor", async move { distributed::run_executor(a.scheduler, a.bind, work_dir, vcores).await.map_err(Into::into) })
    }

    pub fn session(
        url: &str,
        table: Arc<IntentTable>,
        inputs: Vec<FlowInput>,
        opts: &AuditOptions,
        progress: Arc<Progress>,
    ) -> Result<Session, AuditError> {
        Session::cluster(url, table, inputs, opts, progress)
    }
}

/// A build without Ballista: the cluster's commands say how to get one.
#[cfg(not(feature = "distributed"))]
mod cluster {
    use std::sync::Arc;

    use portmatrix_audit::{AuditOptions, FlowInput, IntentTable, Progress, Session};

    use super::{ExecutorArgs, SchedulerArgs};
    use crate::failure::{Failure, Outcome};

    fn absent(what: &str) -> Failure {
        Failure::Message(format!(
            "{what} needs the cluster engine (Apache Ballista), which this build leaves out\n  hint: build portmatrix with it: cargo build --release --features portmatrix/distributed"
        ))
    }

    pub fn scheduler(_: SchedulerArgs) -> Outcome {
        Err(absent("`audit scheduler`"))
    }

    pub fn executor(_: ExecutorArgs) -> Outcome {
        Err(absent("`audit executor`"))
    }

    pub fn session(_: &str, _: Arc<IntentTable>, _: Vec<FlowInput>, _: &AuditOptions, _: Arc<Progress>) -> Result<Session, Failure> {
        Err(absent("`audit flows --cluster`"))
    }
}
