//! `portmatrix serve`: the web UI on loopback.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use portmatrix_web::{App, Server};

use crate::failure::{Failure, Outcome};

#[derive(Args)]
#[command(
    after_help = "Examples:\n  portmatrix serve\n  portmatrix serve --listen 127.0.0.1:9000\n  portmatrix serve my-product.yaml\n  portmatrix serve -i examples/jtel-acd.yaml\n  portmatrix serve -i examples/jtel-acd.yaml --results lab.json\n  portmatrix serve -i site.yaml --compare old/site.yaml\n  portmatrix audit flows -i site.yaml flows.log.gz --format json -o audit.json; portmatrix serve -i site.yaml --audit audit.json\n\n\
With --audit, the UI shows a flow audit (/audit): each class with its rows, findings first, filtered by class, host \
or service, the evidence's gaps (unreadable lines by number), and on each host page the audited flows from or to it.\n\n\
With --compare, the UI also shows what changed from the older inventory to the served one (/diff/deployment): the \
connections to open and to close, filtered by firewall and zone pair, and the delta change request to download \
(the same documents as `portmatrix diff OLD NEW --format xlsx|html|md|csv`).\n\nThe server listens on loopback unless told otherwise; it has no authentication. It answers only to the \
host names it listens as (its address, and localhost when it listens on loopback): a request for any other Host \
gets 421, so a web page that rebinds its own name to this address cannot read the deployment."
)]
pub struct ServeArgs {
    /// Matrix files (or catalog ids) to show besides the catalog
    pub matrices: Vec<String>,
    /// Also show this deployment: hosts by zone, planned connections, and
    /// each host's compiled configuration per target
    #[arg(long, short = 'i', value_name = "INV")]
    pub inventory: Option<PathBuf>,
    /// Also show these probe or lab results: the JSON of `portmatrix probe
    /// --format json` or `portmatrix lab --format json`
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Also show this flow audit: the JSON of `portmatrix audit flows
    /// --format json` (with -i, its rows link to the host pages)
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Also show what changed from this older inventory to the one of -i:
    /// what to open and to close, and the delta change request
    #[arg(long, value_name = "OLD_INV", requires = "inventory")]
    pub compare: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
}

pub fn run(a: ServeArgs) -> Outcome {
    let mut matrices = Vec::new();
    for m in portmatrix_catalog::all()? {
        let current = portmatrix_catalog::get(&m.matrix.value).is_some_and(|c| c.is_ok_and(|c| c.version == m.version));
        let key = if current { m.matrix.value.clone() } else { m.key() };
        matrices.push((key, m));
    }
    for spec in &a.matrices {
        let m = crate::matrices::load(spec)?;
        let mut key = m.key();
        if matrices.iter().any(|(k, _)| *k == key) {
            key = format!("{key}~{}", matrices.len());
        }
        matrices.push((key, m));
    }
    let results = match &a.results {
        Some(f) => Some(portmatrix_web::results::load_results(f).map_err(|e| Failure::Message(e.to_string()))?),
        None => None,
    };
    let audit = match &a.audit {
        Some(f) => Some(portmatrix_web::audit::load_audit(f).map_err(Failure::Message)?),
        None => None,
    };
    if !a.listen.ip().is_loopback() {
        eprintln!("warning: listening on {} — the UI has no authentication and shows every matrix", a.listen);
    }
    let mut app = App::new(matrices);
    if let Some(inv) = &a.inventory {
        let (dep, plan) = crate::cmd_plan::deployment_plan_of(inv)?;
        let date = crate::cmd_render::cover_date();
        if let Some(old) = &a.compare {
            let (old_dep, old_plan) = crate::cmd_plan::deployment_plan_of(old)?;
            let diff = portmatrix_diff::diff_deployments(&old_plan, &plan);
            let cover = portmatrix_report::delta::DeltaCover::new(&old_dep, &dep, &date);
            app = app.with_comparison(portmatrix_web::diff::Comparison { diff, cover });
        }
        let cover = portmatrix_report::change_request::Cover::new(&dep, &date);
        app = app.with_plan(plan).with_cover(cover);
    }
    if let Some(r) = results {
        app = app.with_results(r);
    }
    if let Some(v) = audit {
        app = app.with_audit(v);
    }
    let server = Server::bind(a.listen, app).map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    let addr = server.local_addr().unwrap_or(a.listen);
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "portmatrix: serving on http://{addr}/ (Ctrl-C to stop)");
        let _ = out.flush();
    }
    server.run().map_err(|e| e.to_string())?;
    Ok(crate::exit::CLEAN)
}
