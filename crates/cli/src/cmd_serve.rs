//! `portmatrix serve`: the web UI on loopback.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use portmatrix_web::{App, Server};

#[derive(Args)]
#[command(
    after_help = "Examples:\n  portmatrix serve\n  portmatrix serve --listen 127.0.0.1:9000\n  portmatrix serve my-product.yaml\n  portmatrix serve -i examples/jtel-acd.yaml\n  portmatrix serve -i examples/jtel-acd.yaml --results lab.json\n\nThe server listens on loopback unless told otherwise; it has no authentication. It answers only to the \
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
    /// Address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
}

pub fn run(a: ServeArgs) -> u8 {
    let mut matrices = Vec::new();
    match portmatrix_catalog::all() {
        Ok(all) => {
            for m in all {
                let current = portmatrix_catalog::get(&m.matrix.value).is_some_and(|c| c.is_ok_and(|c| c.version == m.version));
                let key = if current { m.matrix.value.clone() } else { m.key() };
                matrices.push((key, m));
            }
        }
        Err(d) => {
            crate::diagnostics::print_all(&d);
            return crate::exit::UNUSABLE;
        }
    }
    for spec in &a.matrices {
        match crate::matrices::load(spec) {
            Ok(m) => {
                let mut key = m.key();
                if matrices.iter().any(|(k, _)| *k == key) {
                    key = format!("{key}~{}", matrices.len());
                }
                matrices.push((key, m));
            }
            Err(d) => {
                crate::diagnostics::print_all(&d);
                return crate::exit::UNUSABLE;
            }
        }
    }
    let results = match &a.results {
        Some(f) => match portmatrix_web::results::load_results(f) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("error: {e}");
                return crate::exit::UNUSABLE;
            }
        },
        None => None,
    };
    if !a.listen.ip().is_loopback() {
        eprintln!("warning: listening on {} — the UI has no authentication and shows every matrix", a.listen);
    }
    let mut app = App::new(matrices);
    if let Some(inv) = &a.inventory {
        match crate::cmd_plan::load_deployment_plan(inv) {
            Ok((dep, plan)) => {
                let cover = portmatrix_report::change_request::Cover::new(&dep, &crate::cmd_render::cover_date());
                app = app.with_plan(plan).with_cover(cover);
            }
            Err(code) => return code,
        }
    }
    if let Some(r) = results {
        app = app.with_results(r);
    }
    let server = match Server::bind(a.listen, app) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", a.listen);
            return crate::exit::UNUSABLE;
        }
    };
    let addr = server.local_addr().unwrap_or(a.listen);
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "portmatrix: serving on http://{addr}/ (Ctrl-C to stop)");
        let _ = out.flush();
    }
    match server.run() {
        Ok(()) => crate::exit::CLEAN,
        Err(e) => {
            eprintln!("error: {e}");
            crate::exit::UNUSABLE
        }
    }
}
