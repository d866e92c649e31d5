//! The web UI of `portmatrix serve`: the catalog, a matrix's table with
//! filters, the diagram with a panel per role, downloads of every rendering;
//! with an inventory, the deployment (hosts by zone, the change request
//! filtered by host, zone, port or firewall), a page per host and per
//! network firewall with its configuration per target, an explain form and
//! search by address; with results, the probe verdicts; with a flow audit,
//! its classes, findings and evidence. Pages are
//! server-rendered HTML; every filter is a plain GET form and every diagram
//! role a link, so nothing needs JavaScript. The one script (optional) only
//! adds conveniences. Assets are compiled in. The server answers only to the
//! `Host` names it listens as ([`http::HostPolicy`]).

pub mod audit;
mod deploy;
pub mod diff;
mod explain;
pub mod http;
mod pages;
pub mod results;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use portmatrix_model::Matrix;
use portmatrix_plan::Plan;
use portmatrix_report::change_request::Cover;
use portmatrix_report::render::{render_matrix, Format};
use serde::Deserialize;

pub use http::HostPolicy;

pub const SCRIPT: &str = include_str!("../assets/app.js");

/// What the server shows.
pub struct App {
    /// Matrices by key: `ID` for the current catalog version, `ID@VERSION`
    /// for older ones and files.
    pub matrices: Vec<(String, Matrix)>,
    /// The plan of the deployment given with `serve -i INV`.
    pub plan: Option<Plan>,
    /// The deployment's zone diagram, drawn on first use (it walks every
    /// row of the change request).
    zone_svg: std::sync::OnceLock<String>,
    /// The change request's cover (matrix versions, settings, date).
    pub cover: Option<Cover>,
    /// Probe or lab results given with `serve --results FILE`.
    pub results: Option<results::Results>,
    /// The deployment diff from an older inventory (`serve --compare OLD`).
    pub comparison: Option<diff::Comparison>,
    /// A flow audit given with `serve --audit FILE`.
    pub audit: Option<audit::AuditView>,
}

impl App {
    pub fn new(matrices: Vec<(String, Matrix)>) -> Self {
        Self { matrices, plan: None, zone_svg: std::sync::OnceLock::new(), cover: None, results: None, comparison: None, audit: None }
    }
    pub fn with_plan(mut self, plan: Plan) -> Self {
        self.plan = Some(plan);
        self.zone_svg = std::sync::OnceLock::new();
        self
    }
    /// The cover sheet of the change request downloads.
    pub fn with_cover(mut self, cover: Cover) -> Self {
        self.cover = Some(cover);
        self
    }
    pub fn with_results(mut self, results: results::Results) -> Self {
        self.results = Some(results);
        self
    }
    /// The results of `audit flows` to show.
    pub fn with_audit(mut self, audit: audit::AuditView) -> Self {
        self.audit = Some(audit);
        self
    }
    /// What changed from an older deployment to the served one.
    pub fn with_comparison(mut self, comparison: diff::Comparison) -> Self {
        self.comparison = Some(comparison);
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

/// A form field's value; empty counts as unset.
pub(crate) fn field(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Filters {
    pub fn role(&self) -> Option<&str> {
        field(&self.role)
    }
    pub fn feature(&self) -> Option<&str> {
        field(&self.feature)
    }
    pub fn proto(&self) -> Option<&str> {
        field(&self.proto)
    }
    pub fn port(&self) -> Option<&str> {
        field(&self.port)
    }
}

/// The routes, answering only to the `Host` values of `hosts`.
pub fn router(app: Arc<App>, hosts: HostPolicy) -> Router {
    let shared = Arc::new(hosts);
    Router::new()
        .route("/", get(catalog))
        .route("/assets/style.css", get(style))
        .route("/assets/app.js", get(script))
        .route("/m/{key}", get(matrix_page))
        .route("/m/{key}/diagram", get(diagram_page))
        .route("/m/{key}/diagram.svg", get(diagram_svg))
        .route("/m/{key}/export/{format}", get(export))
        .route("/d", get(deploy::deployment_page))
        .route("/d/export/{format}", get(deploy::deployment_export))
        .route("/d/host/{name}", get(deploy::host_page))
        .route("/d/host/{name}/file/{target}/{index}", get(deploy::host_file))
        .route("/d/firewall/{name}", get(deploy::firewall_page))
        .route("/d/firewall/{name}/file/{target}/{index}", get(deploy::firewall_file))
        .route("/d/explain", get(explain::explain_page))
        .route("/d/search", get(deploy::search_page))
        .route("/diff/matrix", get(diff::matrix_diff_page))
        .route("/diff/matrix/export/{format}", get(diff::matrix_diff_export))
        .route("/diff/deployment", get(diff::deployment_diff_page))
        .route("/diff/deployment/export/{format}", get(diff::deployment_diff_export))
        .route("/results", get(results_page))
        .route("/audit", get(audit_page))
        .fallback(not_found)
        .with_state(app)
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            let hosts = shared.clone();
            async move { guard_host(&hosts, req, next).await }
        }))
}

async fn guard_host(hosts: &HostPolicy, req: Request, next: Next) -> Response {
    match hosts.check(req.headers().get(header::HOST).map(HeaderValue::as_bytes)) {
        Ok(()) => next.run(req).await,
        Err(why) => {
            let status = if why == http::HostRefusal::Missing { StatusCode::BAD_REQUEST } else { StatusCode::MISDIRECTED_REQUEST };
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("refused: {why}\n")).into_response()
        }
    }
}

/// A bound server: bind first (port 0 picks a free port), then run.
pub struct Server {
    listener: std::net::TcpListener,
    app: Arc<App>,
    hosts: HostPolicy,
}

impl Server {
    pub fn bind(addr: SocketAddr, app: App) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let hosts = HostPolicy::new(listener.local_addr()?);
        Ok(Self { listener, app: Arc::new(app), hosts })
    }
    /// Also answer to this host name (e.g. a reverse proxy's).
    pub fn allow_host(mut self, name: &str) -> Self {
        self.hosts.allow(name);
        self
    }
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
    /// Serves until the process ends.
    pub fn run(self) -> io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            axum::serve(listener, router(self.app, self.hosts)).await
        })
    }
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, Html(body)).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; script-src 'self'; connect-src 'self'",
        ),
    );
    r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// A file to download: its media type and an RFC 6266 file name.
pub(crate) fn download(media_type: &str, name: &str, body: Vec<u8>) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(media_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(header::CONTENT_DISPOSITION, http::attachment(name));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

pub(crate) fn missing(msg: &str) -> Response {
    html(StatusCode::NOT_FOUND, pages::not_found(msg))
}

/// A page of the UI with the views this server has in the top bar: the
/// deployment (`-i`), the results (`--results`), the changes (`--compare`)
/// and the flow audit (`--audit`). Added here, where the
/// app is known, so the page functions need not carry it.
pub(crate) fn page(app: &App, status: StatusCode, body: String) -> Response {
    let mut views = String::new();
    if app.plan.is_some() {
        views.push_str("<a href=\"/d\">Deployment</a>");
    }
    if let Some(c) = &app.comparison {
        views.push_str(&format!("<a href=\"/diff/deployment\">Changes ({} open, {} close)</a>", c.diff.opened.len(), c.diff.closed.len()));
    }
    if let Some(r) = &app.results {
        let failed = r.failed();
        views.push_str(&format!(
            "<a href=\"/results\">Results{}</a>",
            if failed > 0 { format!(" ({failed} failed)") } else { String::new() }
        ));
    }
    if let Some(a) = &app.audit {
        let findings = a.findings();
        views.push_str(&format!(
            "<a href=\"/audit\">Audit{}</a>",
            if findings > 0 { format!(" ({findings} findings)") } else { String::new() }
        ));
    }
    if views.is_empty() {
        return html(status, body);
    }
    let tools = if app.plan.is_some() {
        "<nav class=\"tools\" aria-label=\"tools\"><a href=\"/d/explain\">Explain</a><a href=\"/d/search\">Find address</a></nav>"
    } else {
        ""
    };
    let body =
        body.replacen("</nav></header>", &format!("</nav><nav class=\"views\" aria-label=\"views\">{views}</nav>{tools}</header>"), 1);
    html(status, body)
}

async fn catalog(State(app): State<Arc<App>>) -> Response {
    page(&app, StatusCode::OK, pages::catalog(&app))
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], portmatrix_report::html::STYLE).into_response()
}

async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

async fn not_found() -> Response {
    missing("No such page.")
}

async fn matrix_page(State(app): State<Arc<App>>, Path(key): Path<String>, Query(q): Query<Filters>) -> Response {
    match app.matrix(&key) {
        Some(m) => page(&app, StatusCode::OK, pages::matrix(&key, m, &q, &diff::other_versions(&app, &key))),
        None => missing(&format!("No matrix `{key}`.")),
    }
}

async fn diagram_page(State(app): State<Arc<App>>, Path(key): Path<String>, Query(q): Query<Filters>) -> Response {
    match app.matrix(&key) {
        Some(m) => page(&app, StatusCode::OK, pages::diagram(&key, m, &q)),
        None => missing(&format!("No matrix `{key}`.")),
    }
}

async fn diagram_svg(State(app): State<Arc<App>>, Path(key): Path<String>, Query(q): Query<Filters>) -> Response {
    let Some(m) = app.matrix(&key) else {
        return missing(&format!("No matrix `{key}`."));
    };
    let g = portmatrix_report::graph::RoleGraph::drawing(m);
    let opts = portmatrix_report::svg::SvgOptions { highlight: q.role(), ..Default::default() };
    ([(header::CONTENT_TYPE, "image/svg+xml")], portmatrix_report::svg::to_svg(&g, &opts)).into_response()
}

/// Parses the `{format}` of an export URL: a format name or file extension.
pub fn export_format(s: &str) -> Option<Format> {
    Format::ALL.into_iter().find(|f| f.extension() == s || format!("{f:?}").eq_ignore_ascii_case(s))
}

async fn export(State(app): State<Arc<App>>, Path((key, format)): Path<(String, String)>) -> Response {
    let Some(m) = app.matrix(&key) else {
        return missing(&format!("No matrix `{key}`."));
    };
    let Some(f) = export_format(&format) else {
        return missing(&format!("No format `{format}`."));
    };
    match render_matrix(m, f) {
        Ok(bytes) => download(f.media_type(), &format!("{}.{}", key.replace('@', "_"), f.extension()), bytes),
        Err(e) => html(StatusCode::INTERNAL_SERVER_ERROR, pages::not_found(&e)),
    }
}

async fn results_page(State(app): State<Arc<App>>, Query(q): Query<results::ResultFilters>) -> Response {
    match &app.results {
        Some(r) => page(&app, StatusCode::OK, results::page(r, app.plan.as_ref(), &q)),
        None => missing("No results: start the server with `portmatrix serve --results FILE`."),
    }
}

async fn audit_page(State(app): State<Arc<App>>, Query(q): Query<audit::AuditFilters>) -> Response {
    match &app.audit {
        Some(a) => page(&app, StatusCode::OK, audit::page(a, app.plan.as_ref(), &q)),
        None => missing("No flow audit: write one with `portmatrix audit flows --format json -o FILE`, then start the server with `portmatrix serve --audit FILE`."),
    }
}
