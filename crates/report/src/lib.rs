//! Human-readable renderings of matrices and plans — pure functions from
//! the model and the plan to text and bytes: terminal tables, Markdown,
//! CSV, JSON, XLSX, self-contained HTML, diagrams (DOT, Mermaid, SVG laid
//! out in-process) and the change request with its cover sheet. No I/O, no
//! network, no web server (that is `portmatrix-web`).

pub mod change_request;
pub mod delta;
pub mod diagram;
pub mod escape;
pub mod graph;
pub mod html;
pub mod matrix_diff;
pub mod matrix_table;
pub mod plan_report;
pub mod render;
pub mod svg;
pub mod table;
pub mod xlsx;
pub mod zones;
