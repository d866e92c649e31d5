//! The same classification on an Apache Ballista cluster (feature
//! `distributed`): a scheduler plans the query, executors run its stages.
//!
//! `pm_match` travels with the plan: the codecs below write the intent
//! table into the serialized function and build the matcher again where it
//! is decoded, so every executor classifies with exactly the plan of the
//! client. Scheduler and executors must therefore be portmatrix's
//! (`portmatrix audit scheduler|executor`): a stock Ballista process does
//! not know the function. Inputs must be Parquet files the executors can
//! read at the same path (AWS Parquet, or records written by
//! `--records-out`).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::engine::Progress;
use crate::intent::IntentTable;
use crate::udf::{MatchUdf, NAME};

fn encode(node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<bool> {
    match node.inner().downcast_ref::<MatchUdf>() {
        Some(m) => {
            serde_json::to_writer(buf, m.table().as_ref()).map_err(|e| DataFusionError::External(Box::new(e)))?;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn decode(buf: &[u8]) -> Result<Arc<ScalarUDF>> {
    let table: IntentTable = serde_json::from_slice(buf)
        .map_err(|e| DataFusionError::Plan(format!("{NAME}: the plan sent with the query does not decode: {e}")))?;
    Ok(Arc::new(MatchUdf::new(Arc::new(table), Arc::new(Default::default())).into_udf()))
}

/// Ballista's logical codec, plus `pm_match` with its plan.
#[derive(Debug, Default)]
pub struct LogicalCodec(BallistaLogicalExtensionCodec);

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.0.try_decode(buf, inputs, ctx)
    }
    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.0.try_encode(node, buf)
    }
    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        t: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.0.try_decode_table_provider(buf, t, schema, ctx)
    }
    fn try_encode_table_provider(&self, t: &TableReference, node: Arc<dyn TableProvider>, buf: &mut Vec<u8>) -> Result<()> {
        self.0.try_encode_table_provider(t, node, buf)
    }
    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.0.try_decode_file_format(buf, ctx)
    }
    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.0.try_encode_file_format(buf, node)
    }
    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        if name == NAME {
            return decode(buf);
        }
        self.0.try_decode_udf(name, buf)
    }
    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if encode(node, buf)? {
            return Ok(());
        }
        self.0.try_encode_udf(node, buf)
    }
}

/// Ballista's physical codec, plus `pm_match` with its plan.
#[derive(Debug, Default)]
pub struct PhysicalCodec(BallistaPhysicalExtensionCodec);

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        conv: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.0.try_decode(buf, inputs, ctx, conv)
    }
    fn try_encode(&self, node: Arc<dyn ExecutionPlan>, buf: &mut Vec<u8>, conv: &dyn PhysicalProtoConverterExtension) -> Result<()> {
        self.0.try_encode(node, buf, conv)
    }
    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        if name == NAME {
            return decode(buf);
        }
        self.0.try_decode_udf(name, buf)
    }
    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if encode(node, buf)? {
            return Ok(());
        }
        self.0.try_encode_udf(node, buf)
    }
}

/// A Ballista session configuration with portmatrix's codecs.
pub fn config(threads: usize) -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_target_partitions(threads.max(1))
        .with_information_schema(true)
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
}

/// A client context on the cluster whose scheduler is at `url` (`df://host:port`).
pub async fn remote(url: &str, threads: usize) -> Result<SessionContext> {
    let state = SessionStateBuilder::new().with_default_features().with_config(config(threads)).build();
    SessionContext::remote_with_state(url, state).await
}

/// Starts a scheduler and `executors` executors in this process, all on
/// loopback with ports the system picks; returns the scheduler's URL.
pub async fn local_cluster(executors: usize, vcores: usize) -> Result<String> {
    let state = SessionStateBuilder::new().with_default_features().with_config(config(vcores)).build();
    let addr = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state)
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let url = format!("http://localhost:{}", addr.port());
    let connect = || async {
        let ch = ballista_core::utils::create_grpc_client_connection(url.clone(), &ballista_core::utils::GrpcClientConfig::default())
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok::<_, DataFusionError>(ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient::new(ch))
    };
    for _ in 0..executors {
        let client = connect().await?;
        ballista_executor::new_standalone_executor_from_state(client, vcores, &state)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
    }
    Ok(format!("df://localhost:{}", addr.port()))
}

/// Runs a scheduler until the process ends.
pub async fn run_scheduler(bind: SocketAddr) -> Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    let cfg = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        override_config_producer: Some(Arc::new(|| config(1))),
        ..Default::default()
    };
    let cluster = BallistaCluster::new_from_config(&cfg).await.map_err(|e| DataFusionError::External(Box::new(e)))?;
    ballista_scheduler::scheduler_process::start_server(cluster, bind, Arc::new(cfg))
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))
}

/// Runs an executor until the process ends: Arrow Flight on `bind`, its
/// gRPC service on the port after it.
pub async fn run_executor(scheduler: SocketAddr, bind: SocketAddr, work_dir: Option<String>, vcores: usize) -> Result<()> {
    use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
    let cfg = ExecutorProcessConfig {
        bind_host: bind.ip().to_string(),
        port: bind.port(),
        // the executor's own gRPC service listens on the next port
        grpc_port: bind.port().wrapping_add(1),
        scheduler_host: scheduler.ip().to_string(),
        scheduler_port: scheduler.port(),
        vcores: vcores.max(1),
        work_dir,
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        override_config_producer: Some(Arc::new(move || config(vcores))),
        ..Default::default()
    };
    start_executor_process(Arc::new(cfg)).await.map_err(|e| DataFusionError::External(Box::new(e)))
}

/// Progress counters for a cluster run (executors count in their own processes).
pub fn progress() -> Arc<Progress> {
    Arc::new(Progress::default())
}
