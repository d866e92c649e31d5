//! Parquet inputs: AWS VPC flow logs delivered as Parquet (the columns of
//! the "Available fields" table, hyphens written as underscores, with the
//! Parquet types stated there), and portmatrix's own record schema.
//!
//! The query engine reads the data; this module checks each file's footer
//! and columns first, so that a missing column is reported with its file
//! before any query runs, and finds the row group of a file the engine
//! could not decode.

use std::path::Path;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{FlowFormat, InputError};
use crate::record;

/// Columns of AWS Parquet flow logs this reader uses, and whether each is required.
pub const AWS_COLUMNS: &[(&str, bool)] = &[
    ("version", false),
    ("srcaddr", true),
    ("dstaddr", true),
    ("srcport", false),
    ("dstport", true),
    ("protocol", true),
    ("packets", false),
    ("bytes", false),
    ("start", false),
    ("end", false),
    ("action", true),
    ("log_status", false),
    ("pkt_srcaddr", false),
    ("pkt_dstaddr", false),
];

fn is_int(t: &DataType) -> bool {
    t.is_integer()
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) || matches!(t, DataType::Dictionary(_, v) if is_text(v))
}

/// Footer facts of one Parquet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetInfo {
    pub format: FlowFormat,
    pub rows: i64,
    pub row_groups: usize,
    /// The optional AWS columns the file has.
    pub columns: Vec<String>,
}

fn footer(path: &Path) -> Result<(Schema, i64, usize), InputError> {
    let f = std::fs::File::open(path).map_err(|e| InputError::new(path, format!("cannot open: {e}")))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| {
        InputError::new(path, format!("not a readable Parquet file: {e}"))
            .with_hint("the footer is missing or corrupt (a truncated upload?); fetch the file again")
    })?;
    let md = b.metadata();
    Ok((b.schema().as_ref().clone(), md.file_metadata().num_rows(), md.num_row_groups()))
}

/// Which Parquet flavour a file is.
pub fn detect(path: &Path) -> Result<FlowFormat, InputError> {
    let (schema, _, _) = footer(path)?;
    if schema.field_with_name("srcaddr").is_ok() {
        Ok(FlowFormat::AwsParquet)
    } else if schema.field_with_name(record::col::SRC_ADDR).is_ok() {
        Ok(FlowFormat::RecordsParquet)
    } else {
        Err(InputError::new(path, "a Parquet file with neither AWS flow log columns (srcaddr, dstaddr, ...) nor portmatrix record columns")
            .with_hint("give --input-format aws-parquet to see which columns are missing"))
    }
}

/// Checks a file's columns against its format.
pub fn check(path: &Path, format: FlowFormat) -> Result<ParquetInfo, InputError> {
    let (schema, rows, row_groups) = footer(path)?;
    let mut present = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let wrong = |name: &str, t: &DataType| {
        InputError::new(path, format!("column `{name}` has type {t}, which the flow log format does not give it"))
            .with_hint("AWS writes addresses, action and log_status as strings and the numbers as INT_32/INT_64")
    };
    match format {
        FlowFormat::AwsParquet => {
            for (name, required) in AWS_COLUMNS {
                match schema.field_with_name(name) {
                    Ok(f) => {
                        let text = matches!(*name, "srcaddr" | "dstaddr" | "action" | "log_status" | "pkt_srcaddr" | "pkt_dstaddr");
                        if (text && !is_text(f.data_type())) || (!text && !is_int(f.data_type())) {
                            return Err(wrong(name, f.data_type()));
                        }
                        if !required {
                            present.push(name.to_string());
                        }
                    }
                    Err(_) if *required => missing.push(name.to_string()),
                    Err(_) => {}
                }
            }
        }
        FlowFormat::RecordsParquet => {
            let ours = record::schema();
            for f in ours.fields() {
                match schema.field_with_name(f.name()) {
                    Ok(g) if g.data_type() == f.data_type() => {}
                    Ok(g) => return Err(wrong(f.name(), g.data_type())),
                    Err(_) => missing.push(f.name().clone()),
                }
            }
        }
        other => return Err(InputError::new(path, format!("{other} is not a Parquet format"))),
    }
    if !missing.is_empty() {
        return Err(InputError::new(
            path,
            format!("missing column(s) {} (checked the schema all {row_groups} row group(s) share)", missing.join(", ")),
        )
        .with_hint("records cannot be classified without them; export the flow log with these fields"));
    }
    Ok(ParquetInfo { format, rows, row_groups, columns: present })
}

/// After the engine failed on a file: decodes it row group by row group
/// and names the first one that fails.
pub fn locate_error(path: &Path) -> Option<InputError> {
    let (_, _, groups) = footer(path).ok()?;
    for g in 0..groups {
        let f = std::fs::File::open(path).ok()?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(f).ok()?.with_row_groups(vec![g]).build();
        let failure = match reader {
            Err(e) => Some(e.to_string()),
            Ok(r) => r.into_iter().find_map(|b| b.err()).map(|e| e.to_string()),
        };
        if let Some(msg) = failure {
            let mut e = InputError::new(path, format!("cannot decode: {msg}")).with_hint("the file is corrupt; fetch it again");
            e.row_group = Some(g);
            return Some(e);
        }
    }
    None
}
