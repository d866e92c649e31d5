//! Reading matrices from text: parse, decode, validate.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::decode::Cx;
use crate::diag::{Diagnostic, Diagnostics};
use crate::matrix::Matrix;
use crate::source::{escape_hidden, is_hidden, SourceFile, Span, MAX_INPUT_BYTES, SNIPPET_CONTEXT_BYTES};
use crate::validate::validate_matrix;
use crate::yaml;

/// At most this many problems are returned for one file, followed by one
/// that says how many more there were: a generated file with 200,000 broken
/// hosts gives a readable answer in bounded time and memory, and the first
/// problems are the ones to fix first.
pub const MAX_REPORTED: usize = 200;

/// Messages, labels and hints quote the input (an unknown key, a value):
/// each is cut to this many characters, so that a 10 MB key is not printed
/// whole in every message that names it, and control and bidi characters
/// in them are escaped.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// `text` cut to `MAX_MESSAGE_CHARS`, saying how much was left out, with
/// hidden characters escaped (they come from the input).
fn clipped(text: &mut String) {
    if text.contains(is_hidden) {
        *text = escape_hidden(text);
    }
    if let Some((cut, _)) = text.char_indices().nth(MAX_MESSAGE_CHARS) {
        let more = text[cut..].chars().count();
        text.truncate(cut);
        text.push_str(&format!("… ({more} more characters)"));
    }
}

/// The first `MAX_REPORTED` problems (in file order) and a count of the
/// rest, each with its texts clipped.
fn bounded(file: &Arc<SourceFile>, diags: Diagnostics) -> Vec<Diagnostic> {
    let dropped = diags.dropped;
    let mut items = diags.sorted();
    if items.len() <= MAX_REPORTED {
        items.iter_mut().for_each(clip_texts);
        return items;
    }
    if dropped > 0 {
        // `sorted` said how many were dropped; the count below says it all.
        items.pop();
    }
    let more = items.len() - MAX_REPORTED + dropped;
    items.truncate(MAX_REPORTED);
    items.iter_mut().for_each(clip_texts);
    let last = items.last().map_or(Span::default(), |d| d.span);
    items.push(
        Diagnostic::error("too-many-problems", file, Span::new(last.offset, 0), format!("{more} more problems in this file are not shown"))
            .with_help(format!("only the first {MAX_REPORTED} problems of a file are reported: fix these and check again")),
    );
    items
}

/// Clips the texts, and the span to its first `SNIPPET_CONTEXT_BYTES`: a
/// diagnostic about a 10 MB key points at its start, and the snippet under
/// it stays a few lines.
fn clip_texts(d: &mut Diagnostic) {
    clipped(&mut d.message);
    d.label.iter_mut().chain(d.help.iter_mut()).for_each(clipped);
    if d.span.len > SNIPPET_CONTEXT_BYTES {
        let text = &d.file.text;
        let mut end = (d.span.offset + SNIPPET_CONTEXT_BYTES).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        d.span.len = end.saturating_sub(d.span.offset);
    }
}

/// The matrix, or every error found in it.
pub fn matrix_from_source(file: Arc<SourceFile>) -> Result<Matrix, Vec<Diagnostic>> {
    let mut diags = Diagnostics::default();
    let root = yaml::parse(&file, &mut diags);
    // The other format given by mistake: one clear error, not a dozen missing keys.
    if let Some(key) = root.as_ref().and_then(|r| wrong_format(r, "inventory", "matrix")) {
        diags.push(
            Diagnostic::error("not-a-matrix", &file, key, "this file is an inventory, not a matrix")
                .with_help("inventories are read by `portmatrix plan -i FILE` (and compile, explain, lab)"),
        );
        return Err(bounded(&file, diags));
    }
    let mut cx = Cx { file: &file, diags: &mut diags };
    let m = root.and_then(|r| Matrix::decode_root(&r, &mut cx));
    if let Some(m) = &m {
        validate_matrix(m, &mut cx);
    }
    match m {
        Some(m) if !diags.has_errors() => Ok(m),
        _ => {
            if !diags.has_errors() {
                // Every decoding failure reports itself; never fail silently.
                diags.push(
                    Diagnostic::error("unreadable", &file, Span::default(), "the matrix could not be read")
                        .with_help("this is a bug in portmatrix: please report it with the file"),
                );
            }
            Err(bounded(&file, diags))
        }
    }
}

pub fn matrix_from_str(name: &str, text: &str) -> Result<Matrix, Vec<Diagnostic>> {
    matrix_from_source(SourceFile::new(name, text))
}

/// Reads at most `limit + 1` bytes: enough to tell that a file (or a device
/// such as `/dev/zero`) is too large without reading all of it.
fn read_at_most(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let hint = file.metadata().map_or(0, |m| m.len()).min(limit as u64 + 1) as usize;
    let mut bytes = Vec::with_capacity(hint);
    file.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The diagnostic for a file over `MAX_INPUT_BYTES`. Its text is not kept:
/// there is nothing in it to point at.
fn too_large(name: String) -> Diagnostic {
    let f = SourceFile::new(name.clone(), "");
    Diagnostic::error("too-large", &f, Span::default(), format!("{name} is larger than {} MiB", MAX_INPUT_BYTES >> 20)).with_help(
        "portmatrix reads matrices and inventories of up to 64 MiB (an inventory of 200,000 hosts is about 17 MB): \
         is this the right file? Split a larger inventory into several",
    )
}

/// Reads a file; an unreadable file is a diagnostic too.
// One diagnostic for one file read: its size does not matter.
#[allow(clippy::result_large_err)]
pub fn read_source(path: &Path) -> Result<Arc<SourceFile>, Diagnostic> {
    let name = path.display().to_string();
    match read_at_most(path, MAX_INPUT_BYTES) {
        Ok(bytes) if bytes.len() > MAX_INPUT_BYTES => Err(too_large(name)),
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(name, text)),
            Err(e) => {
                let off = e.utf8_error().valid_up_to();
                let bad = e.as_bytes()[off];
                let binary = e.as_bytes().contains(&0);
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let f = SourceFile::new(name, text);
                // The lossy text has U+FFFD where the bad byte was.
                let span = Span::new(off, '\u{FFFD}'.len_utf8());
                let help = if binary {
                    "this looks like a binary file (a document or an archive?), not YAML: a matrix is a YAML text file"
                } else {
                    "save it as UTF-8 (it may be Latin-1 or UTF-16); a matrix is a YAML text file"
                };
                Err(Diagnostic::error("not-utf8", &f, span, format!("the file is not UTF-8 text: byte 0x{bad:02x} at offset {off}"))
                    .with_label("not UTF-8")
                    .with_help(help))
            }
        },
        Err(e) => {
            let f = SourceFile::new(name.clone(), "");
            Err(Diagnostic::error("unreadable", &f, Span::default(), format!("cannot read {name}: {e}")))
        }
    }
}

pub fn matrix_from_path(path: &Path) -> Result<Matrix, Vec<Diagnostic>> {
    let file = read_source(path).map_err(|d| vec![d])?;
    matrix_from_source(file)
}

/// The inventory, or every error found in it. Matrices are not read here:
/// checks that need them belong to the plan.
pub fn inventory_from_source(file: Arc<SourceFile>) -> Result<crate::inventory::Inventory, Vec<Diagnostic>> {
    let mut diags = Diagnostics::default();
    let root = yaml::parse(&file, &mut diags);
    if let Some(key) = root.as_ref().and_then(|r| wrong_format(r, "matrix", "inventory")) {
        diags.push(
            Diagnostic::error("not-an-inventory", &file, key, "this file is a matrix, not an inventory")
                .with_help("an inventory names the matrix under `products:`; see docs/inventory-format.md"),
        );
        return Err(bounded(&file, diags));
    }
    let mut cx = Cx { file: &file, diags: &mut diags };
    let inv = root.and_then(|r| crate::inventory::Inventory::decode_root(&r, &mut cx));
    if let Some(inv) = &inv {
        inv.validate(&mut cx);
    }
    match inv {
        Some(i) if !diags.has_errors() => Ok(i),
        _ => Err(bounded(&file, diags)),
    }
}

pub fn inventory_from_path(path: &Path) -> Result<crate::inventory::Inventory, Vec<Diagnostic>> {
    let file = read_source(path).map_err(|d| vec![d])?;
    inventory_from_source(file)
}

/// The span of `other_key` when the document has it at the top and lacks
/// `own_key`: a file of the other format.
fn wrong_format(root: &yaml::Node, other_key: &str, own_key: &str) -> Option<Span> {
    let yaml::NodeKind::Map(entries) = &root.kind else { return None };
    let key = |name: &str| entries.iter().find(|(k, _)| k.as_scalar().map(|s| s.0) == Some(name)).map(|(k, _)| k.span);
    match (key(other_key), key(own_key)) {
        (Some(span), None) => Some(span),
        _ => None,
    }
}
