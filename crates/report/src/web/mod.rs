//! The web UI of `portmatrix serve`: the catalog, a matrix's table with
//! filters, the diagram with a panel per role, and downloads of every
//! rendering. Pages are server-rendered HTML; every filter is a plain GET
//! form and every diagram role a link, so nothing needs JavaScript. The one
//! script (optional) only adds conveniences. Assets are compiled in.

mod deploy;
mod pages;
pub mod results;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use portmatrix_model::Matrix;
use portmatrix_plan::Plan;
use serde::Deserialize;

use crate::render::{render_matrix, Format};

pub const SCRIPT: &str = include_str!("../../assets/app.js");

/// What the server shows.
pub struct App {
    /// Matrices by key: `ID` for the current catalog version, `ID@VERSION`
    /// for older ones and files.
    pub matrices: Vec<(String, Matrix)>,
    /// The plan of the deployment given with `serve -i INV`.
    pub plan: Option<Plan>,
    /// Probe or lab results given with `serve --results FILE`.
    pub results: Option<results::Results>,
}

impl App {
    pub fn new(matrices: Vec<(String, Matrix)>) -> Self {
        Self { matrices, plan: None, results: None }
    }
    pub fn with_plan(mut self, plan: Plan) -> Self {
        self.plan = Some(plan);
        self
    }
    pub fn with_results(mut self, results: results::Results) -> Self {
        self.results = Some(results);
        self
    }
    fn matrix(&self, key: &str) -> Option<&Matrix> {
        self.matrices.iter().find(|(k, _)| k == key).map(|(_, m)| m)
    }
}

/// Query of the matrix and diagram pages. Empty form fields count as unset.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    pub role: Option<String>,
    pub feature: Option<String>,
    pub proto: Option<String>,
    pub port: Option<String>,
}

impl Filters {
    fn get(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    pub fn role(&self) -> Option<&str> {
        Self::get(&self.role)
    }
    pub fn feature(&self) -> Option<&str> {
        Self::get(&self.feature)
    }
    pub fn proto(&self) -> Option<&str> {
        Self::get(&self.proto)
    }
    pub fn port(&self) -> Option<&str> {
        Self::get(&self.port)
    }
}

/// The routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(catalog))
        .route("/assets/style.css", get(style))
        .route("/assets/app.js", get(script))
        .route("/m/{key}", get(matrix_page))
        .route("/m/{key}/diagram", get(diagram_page))
        .route("/m/{key}/diagram.svg", get(diagram_svg))
        .route("/m/{key}/export/{format}", get(export))
        .route("/d", get(deployment_page))
        .route("/d/export/{format}", get(deployment_export))
        .route("/d/host/{name}", get(host_page))
        .route("/d/host/{name}/file/{target}/{index}", get(host_file))
        .route("/results", get(results_page))
        .fallback(not_found)
        .with_state(app)
}

/// A bound server: bind first (port 0 picks a free port), then run.
pub struct Server {
    listener: std::net::TcpListener,
    app: Arc<App>,
}

impl Server {
    pub fn bind(addr: SocketAddr, app: App) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Self { listener, app: Arc::new(app) })
    }
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
    /// Serves until the process ends.
    pub fn run(self) -> io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            axum::serve(listener, router(self.app)).await
        })
    }
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, Html(body)).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; script-src 'self'; connect-src 'self'",
        ),
    );
    r
}

/// A page of the UI with the views this server has in the top bar: the
/// deployment (`-i`) and the results (`--results`). Added here, where the
/// app is known, so the page functions need not carry it.
fn page(app: &App, status: StatusCode, body: String) -> Response {
    let mut views = String::new();
    if app.plan.is_some() {
        views.push_str("<a href=\"/d\">Deployment</a>");
    }
    if let Some(r) = &app.results {
        let failed = r.failed();
        views.push_str(&format!(
            "<a href=\"/results\">Results{}</a>",
            if failed > 0 { format!(" ({failed} failed)") } else { String::new() }
        ));
    }
    if views.is_empty() {
        return html(status, body);
    }
    let body = body.replacen("</nav></header>", &format!("</nav><nav class=\"views\" aria-label=\"views\">{views}</nav></header>"), 1);
    html(status, body)
}

async fn catalog(State(app): State<Arc<App>>) -> Response {
    page(&app, StatusCode::OK, pages::catalog(&app))
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], crate::html::STYLE).into_response()
}

async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

async fn not_found() -> Response {
    html(StatusCode::NOT_FOUND, pages::not_found("No such page."))
}

async fn matrix_page(State(app): State<Arc<App>>, Path(key): Path<String>, Query(q): Query<Filters>) -> Response {
    match app.matrix(&key) {
        Some(m) => page(&app, StatusCode::OK, pages::matrix(&key, m, &q)),
        None => html(StatusCode::NOT_FOUND, pages::not_found(&format!("No matrix `{key}`."))),
    }
}

async fn diagram_page(State(app): State<Arc<App>>, Path(key): Path<String>, Query(q): Query<Filters>) -> Response {
    match app.matrix(&key) {
        Some(m) => page(&app, StatusCode::OK, pages::diagram(&key, m, &q)),
        None => html(StatusCode::NOT_FOUND, pages::not_found(&format!("No matrix `{key}`."))),
    }
}

async fn diagram_svg(State(app): State<Arc<App>>, Path(key): Path<String>, Query(q): Query<Filters>) -> Response {
    let Some(m) = app.matrix(&key) else {
        return html(StatusCode::NOT_FOUND, pages::not_found(&format!("No matrix `{key}`.")));
    };
    let g = crate::graph::RoleGraph::drawing(m);
    let opts = crate::svg::SvgOptions { highlight: q.role(), ..Default::default() };
    ([(header::CONTENT_TYPE, "image/svg+xml")], crate::svg::to_svg(&g, &opts)).into_response()
}

/// Parses the `{format}` of an export URL: a format name or file extension.
pub fn export_format(s: &str) -> Option<Format> {
    Format::ALL.into_iter().find(|f| f.extension() == s || format!("{f:?}").eq_ignore_ascii_case(s))
}

async fn export(State(app): State<Arc<App>>, Path((key, format)): Path<(String, String)>) -> Response {
    let Some(m) = app.matrix(&key) else {
        return html(StatusCode::NOT_FOUND, pages::not_found(&format!("No matrix `{key}`.")));
    };
    let Some(f) = export_format(&format) else {
        return html(StatusCode::NOT_FOUND, pages::not_found(&format!("No format `{format}`.")));
    };
    match render_matrix(m, f) {
        Ok(bytes) => {
            let name = format!("{}.{}", key.replace('@', "_"), f.extension());
            (
                [
                    (header::CONTENT_TYPE, f.media_type().to_string()),
                    (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => html(StatusCode::INTERNAL_SERVER_ERROR, pages::not_found(&e)),
    }
}

fn no_deployment() -> Response {
    html(StatusCode::NOT_FOUND, pages::not_found("No deployment: start the server with `portmatrix serve -i INVENTORY`."))
}

async fn deployment_page(State(app): State<Arc<App>>, Query(q): Query<deploy::PlanFilters>) -> Response {
    match &app.plan {
        Some(p) => page(&app, StatusCode::OK, deploy::deployment(p, &q, app.results.as_ref())),
        None => no_deployment(),
    }
}

async fn deployment_export(State(app): State<Arc<App>>, Path(format): Path<String>) -> Response {
    let Some(p) = &app.plan else {
        return no_deployment();
    };
    let Some(f) = export_format(&format) else {
        return html(StatusCode::NOT_FOUND, pages::not_found(&format!("No format `{format}`.")));
    };
    match crate::plan_report::render_plan(p, f) {
        Ok(bytes) => {
            let name = format!("{}.{}", p.inventory, f.extension());
            (
                [
                    (header::CONTENT_TYPE, f.media_type().to_string()),
                    (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => html(StatusCode::INTERNAL_SERVER_ERROR, pages::not_found(&e)),
    }
}

async fn host_page(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    let Some(p) = &app.plan else {
        return no_deployment();
    };
    match p.host(&name) {
        Some(h) => page(&app, StatusCode::OK, deploy::host(p, h, app.results.as_ref())),
        None => html(StatusCode::NOT_FOUND, pages::not_found(&format!("No host `{name}`."))),
    }
}

async fn host_file(State(app): State<Arc<App>>, Path((name, target, index)): Path<(String, String, usize)>) -> Response {
    let Some(p) = &app.plan else {
        return no_deployment();
    };
    let file = deploy::target_named(&target).and_then(|t| deploy::host_file(p, &name, t, index));
    match file {
        Some(f) => {
            let base = f.name.rsplit('/').next().unwrap_or(&f.name).to_string();
            (
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{base}\"")),
                ],
                f.contents,
            )
                .into_response()
        }
        None => html(StatusCode::NOT_FOUND, pages::not_found(&format!("No file {index} of target `{target}` for host `{name}`."))),
    }
}

async fn results_page(State(app): State<Arc<App>>, Query(q): Query<results::ResultFilters>) -> Response {
    match &app.results {
        Some(r) => page(&app, StatusCode::OK, results::page(r, app.plan.as_ref(), &q)),
        None => html(StatusCode::NOT_FOUND, pages::not_found("No results: start the server with `portmatrix serve --results FILE`.")),
    }
}
