//! Results as files and text: one flat table of result rows (and any SQL
//! result) written as a terminal table, CSV, JSON lines, Parquet or XLSX.
//! Every string is escaped by its writer; the terminal table escapes
//! control characters so that no input can forge lines.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::parquet::arrow::ArrowWriter;

use crate::results::{iso_time, AuditResult};

/// The result rows as one table: planned rows, then unplanned ones.
pub fn rows_batch(r: &AuditResult) -> Result<RecordBatch, ArrowError> {
    let mut cols: [Vec<String>; 8] = Default::default();
    let mut nums: [Vec<u64>; 4] = Default::default();
    let mut times: [Vec<Option<String>>; 2] = Default::default();
    let mut push = |c: [String; 8], t: &crate::results::Traffic| {
        for (v, x) in cols.iter_mut().zip(c) {
            v.push(x);
        }
        for (v, x) in nums.iter_mut().zip([t.records, t.reply_records, t.packets, t.bytes]) {
            v.push(x);
        }
        times[0].push(t.first_seen.map(iso_time));
        times[1].push(t.last_seen.map(iso_time));
    };
    for p in &r.planned {
        push(
            [
                p.class.as_str().into(),
                p.basis.as_str().into(),
                p.flows.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(" "),
                p.sources.join(" "),
                p.destination.clone(),
                p.destination.clone(),
                p.service.clone(),
                p.cites.join(" | "),
            ],
            &p.traffic,
        );
    }
    for u in &r.unplanned {
        let src = match &u.sample_source_name {
            Some(n) => format!("{} ({n}), ~{} source(s)", u.sample_source, u.sources_estimate),
            None => format!("{}, ~{} source(s)", u.sample_source, u.sources_estimate),
        };
        push(
            [
                u.class.as_str().into(),
                String::new(),
                String::new(),
                src,
                u.destination_address.clone(),
                u.destination.clone().unwrap_or_default(),
                u.service(),
                String::new(),
            ],
            &u.traffic,
        );
    }
    let names = ["class", "basis", "flows", "sources", "destination", "destination_name", "service", "cites"];
    let mut fields: Vec<Field> = names.iter().map(|n| Field::new(*n, DataType::Utf8, false)).collect();
    let mut arrays: Vec<ArrayRef> = cols.into_iter().map(|v| Arc::new(StringArray::from(v)) as ArrayRef).collect();
    for (n, v) in ["records", "reply_records", "packets", "bytes"].into_iter().zip(nums) {
        fields.push(Field::new(n, DataType::UInt64, false));
        arrays.push(Arc::new(UInt64Array::from(v)));
    }
    for (n, v) in ["first_seen", "last_seen"].into_iter().zip(times) {
        fields.push(Field::new(n, DataType::Utf8, true));
        arrays.push(Arc::new(StringArray::from(v)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// Cell text of every column (escaped for a terminal).
fn cells(batches: &[RecordBatch]) -> Result<(Vec<String>, Vec<Vec<String>>), ArrowError> {
    let Some(first) = batches.first() else { return Ok((Vec::new(), Vec::new())) };
    let header: Vec<String> = first.schema().fields().iter().map(|f| f.name().escape_debug().to_string()).collect();
    let mut rows = Vec::new();
    for b in batches {
        let cols: Vec<ArrayRef> = b.columns().iter().map(|c| cast(c, &DataType::Utf8)).collect::<Result<_, _>>()?;
        for r in 0..b.num_rows() {
            rows.push(
                cols.iter()
                    .map(|c| {
                        let s = c.as_any().downcast_ref::<StringArray>().expect("cast to Utf8");
                        if s.is_null(r) {
                            String::new()
                        } else {
                            s.value(r).escape_debug().to_string()
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok((header, rows))
}

/// A plain text table; `limit` rows at most (the rest counted).
pub fn text_table(batches: &[RecordBatch], limit: Option<usize>) -> Result<String, ArrowError> {
    let (header, rows) = cells(batches)?;
    if header.is_empty() {
        return Ok("(no rows)\n".into());
    }
    let shown = limit.map_or(rows.len(), |l| l.min(rows.len()));
    let width = |i: usize| rows[..shown].iter().map(|r| r[i].chars().count()).chain([header[i].chars().count()]).max().unwrap_or(0).min(60);
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = if c.chars().count() > *w { c.chars().take(w - 1).chain(['…']).collect() } else { c.clone() };
                format!("{c:<w$}")
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(&header);
    out += &line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    for r in &rows[..shown] {
        out += &line(r);
    }
    if shown < rows.len() {
        out += &format!("... and {} more row(s) (all of them with --format csv/json/parquet/xlsx)\n", rows.len() - shown);
    }
    Ok(out)
}

/// CSV with a header. Text cells that a spreadsheet would evaluate get the
/// report crate's leading apostrophe: cites come from the inventory and
/// `--sql` can select anything.
pub fn csv(batches: &[RecordBatch]) -> Result<Vec<u8>, ArrowError> {
    let mut buf = Vec::new();
    {
        let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(&mut buf);
        for b in batches {
            w.write(&inert_text(b)?)?;
        }
    }
    Ok(buf)
}

/// `b` with every text column passed through `escape::csv_cell`.
fn inert_text(b: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let mut fields = Vec::with_capacity(b.num_columns());
    let mut columns = Vec::with_capacity(b.num_columns());
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        if matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
            let text = cast(c, &DataType::Utf8)?;
            let text = text.as_any().downcast_ref::<StringArray>().expect("cast to Utf8");
            let inert: StringArray = text.iter().map(|v| v.map(portmatrix_report::escape::csv_cell)).collect();
            fields.push(Field::new(f.name(), DataType::Utf8, f.is_nullable()));
            columns.push(Arc::new(inert) as ArrayRef);
        } else {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// JSON lines: one object per row.
pub fn json_lines(batches: &[RecordBatch]) -> Result<Vec<u8>, ArrowError> {
    let mut buf = Vec::new();
    {
        let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    Ok(buf)
}

pub fn parquet_bytes(batches: &[RecordBatch]) -> Result<Vec<u8>, ArrowError> {
    let Some(first) = batches.first() else { return Err(ArrowError::InvalidArgumentError("no rows to write".into())) };
    let mut buf = Vec::new();
    {
        let mut w = ArrowWriter::try_new(&mut buf, first.schema(), None).map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        for b in batches {
            w.write(b).map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        }
        w.close().map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
    }
    Ok(buf)
}

/// Writes batches to a Parquet file (through a temporary file in the same
/// directory, renamed into place); returns the rows written.
pub fn write_parquet(path: &Path, batches: &[RecordBatch]) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    let schema = batches.first().map(|b| b.schema()).unwrap_or_else(crate::record::schema);
    let mut w = ArrowWriter::try_new(tmp.as_file().try_clone()?, schema, None)?;
    let mut rows = 0;
    for b in batches {
        w.write(b)?;
        rows += b.num_rows() as u64;
    }
    w.close()?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)?;
    Ok(rows)
}

/// An XLSX workbook with one sheet per (name, batches).
pub fn xlsx(sheets: &[(&str, &[RecordBatch])]) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (name, batches) in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(*name)?;
        let Some(first) = batches.first() else { continue };
        for (c, f) in first.schema().fields().iter().enumerate() {
            ws.write_string_with_format(0, c as u16, f.name(), &bold)?;
        }
        let mut row = 1u32;
        for b in batches.iter() {
            for (c, col) in b.columns().iter().enumerate() {
                let numeric = col.data_type().is_numeric();
                let text = cast(col, &DataType::Utf8)?;
                let text = text.as_any().downcast_ref::<StringArray>().expect("cast to Utf8");
                let num = if numeric { Some(cast(col, &DataType::Float64)?) } else { None };
                for r in 0..b.num_rows() {
                    if text.is_null(r) {
                        continue;
                    }
                    let at = row + r as u32;
                    match &num {
                        Some(n) => {
                            let n = n.as_any().downcast_ref::<datafusion::arrow::array::Float64Array>().expect("cast to f64");
                            ws.write_number(at, c as u16, n.value(r))?;
                        }
                        // write_string never makes a formula of text that starts with `=`
                        None => {
                            ws.write_string(at, c as u16, text.value(r))?;
                        }
                    }
                }
            }
            row += b.num_rows() as u32;
        }
        ws.autofit();
    }
    Ok(wb.save_to_buffer()?)
}
