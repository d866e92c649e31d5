//! PDF documents: their text as `pdftotext -layout` (poppler-utils) lays
//! it out, columns kept apart by runs of spaces, which the text extractor
//! then reads like any other column-aligned text.
//!
//! This is the importer's only I/O beyond its input: the PDF is written to
//! an exclusive temporary file (the tempfile crate, random name, removed on
//! every path) and pdftotext reads it.

use std::io::Write;
use std::process::Command;

/// Whether the bytes are a PDF file.
pub fn is_pdf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"%PDF")
}

/// The text of a PDF, laid out; an error says how to get it otherwise.
pub fn to_text(bytes: &[u8], name: &str) -> Result<Vec<u8>, String> {
    let mut tmp = tempfile::Builder::new()
        .prefix("portmatrix-import-")
        .suffix(".pdf")
        .tempfile()
        .map_err(|e| format!("{name} is a PDF and no temporary file could be made for pdftotext: {e}"))?;
    tmp.write_all(bytes).and_then(|()| tmp.flush()).map_err(|e| format!("cannot write a temporary copy of {name}: {e}"))?;
    let out = Command::new("pdftotext").arg("-layout").arg("-enc").arg("UTF-8").arg(tmp.path()).arg("-").output().map_err(|e| {
        format!(
            "{name} is a PDF and pdftotext could not be run ({e}); install poppler-utils, or run `pdftotext -layout` and import the text"
        )
    })?;
    if !out.status.success() {
        return Err(format!("pdftotext failed on {name}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(out.stdout)
}
