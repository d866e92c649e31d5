//! Human-readable renderings of matrices (and, later, plans): terminal
//! tables, Markdown, CSV, XLSX, self-contained HTML, diagrams (DOT, Mermaid,
//! SVG laid out in-process) and the web UI of `portmatrix serve`.

pub mod diagram;
pub mod graph;
pub mod html;
pub mod matrix_table;
pub mod plan_report;
pub mod render;
pub mod svg;
pub mod table;
pub mod web;
pub mod xlsx;
