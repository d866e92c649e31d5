//! `pm_match(src, dst, protocol, src_port, dst_port, icmp_type)`: the
//! classification as a DataFusion scalar function. It returns the match set
//! of a record (see [`crate::matcher`]), NULL when no intent allows it, and
//! [`BAD_INPUT`] when the record's fields are not a flow (an address that
//! does not parse, a port out of range): such rows are counted as unusable.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayAccessor, ArrayRef, AsArray, Int32Array, UInt32Builder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::intent::{IntentTable, IpProto};
use crate::matcher::{Matcher, Probe};
use crate::record::{parse_addr, parse_ipv4};

/// The function's name in SQL.
pub const NAME: &str = "pm_match";

/// The value `pm_match` returns for a row that is not a flow.
pub const BAD_INPUT: u32 = u32::MAX;

/// The scalar function, holding the compiled plan.
#[derive(Debug)]
pub struct MatchUdf {
    table: Arc<IntentTable>,
    matcher: Arc<Matcher>,
    fingerprint: u64,
    signature: Signature,
    /// Rows classified so far (for progress reports).
    rows: Arc<AtomicU64>,
}

impl PartialEq for MatchUdf {
    fn eq(&self, o: &Self) -> bool {
        self.fingerprint == o.fingerprint
    }
}
impl Eq for MatchUdf {}
impl Hash for MatchUdf {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.fingerprint.hash(h);
    }
}

impl MatchUdf {
    pub fn new(table: Arc<IntentTable>, rows: Arc<AtomicU64>) -> Self {
        let matcher = Arc::new(Matcher::new(&table));
        let fingerprint = table.fingerprint();
        Self { table, matcher, fingerprint, signature: Signature::user_defined(Volatility::Immutable), rows }
    }
    pub fn table(&self) -> &Arc<IntentTable> {
        &self.table
    }
    pub fn matcher(&self) -> &Arc<Matcher> {
        &self.matcher
    }
    pub fn into_udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn ints(a: &ArrayRef) -> Result<Int32Array> {
    Ok(cast(a, &DataType::Int32)?.as_primitive::<datafusion::arrow::datatypes::Int32Type>().clone())
}

fn opt(a: &Int32Array, i: usize) -> Option<i32> {
    if a.is_null(i) {
        None
    } else {
        Some(a.value(i))
    }
}

/// Classifies one row; `Err(())` when its fields are not a flow.
fn row(
    m: &Matcher,
    src: &str,
    dst: &str,
    proto: Option<i32>,
    sport: Option<i32>,
    dport: Option<i32>,
    itype: Option<i32>,
) -> Result<Option<u32>, ()> {
    let proto = IpProto(proto.and_then(|p| u8::try_from(p).ok()).ok_or(())?);
    let port = |p: Option<i32>| -> Result<Option<u16>, ()> { p.map(|v| u16::try_from(v).map_err(|_| ())).transpose() };
    let (src_port, dst_port) = if proto.has_ports() {
        let d = port(dport)?.ok_or(())?;
        (port(sport)?, Some(d))
    } else {
        (None, None)
    };
    let icmp_type = if proto.is_icmp() { itype.map(|t| u8::try_from(t).map_err(|_| ())).transpose()? } else { None };
    if let (Some(s), Some(d)) = (parse_ipv4(src.as_bytes()), parse_ipv4(dst.as_bytes())) {
        let probe = Probe { src: [0, 0, 0, 0].into(), dst: [0, 0, 0, 0].into(), proto, src_port, dst_port, icmp_type };
        return Ok(m.lookup_v4(s, d, &probe).map(|s| s.0));
    }
    let (Some(src), Some(dst)) = (parse_addr(src), parse_addr(dst)) else { return Err(()) };
    Ok(m.lookup(&Probe { src, dst, proto, src_port, dst_port, icmp_type }).map(|s| s.0))
}

/// The integer arguments of `pm_match`, cast to Int32.
struct Ints {
    proto: Int32Array,
    sport: Int32Array,
    dport: Int32Array,
    icmp: Int32Array,
}

fn run<'a, S: ArrayAccessor<Item = &'a str>>(m: &Matcher, src: S, dst: S, n: usize, x: &Ints) -> ArrayRef {
    let mut out = UInt32Builder::with_capacity(n);
    for i in 0..n {
        if src.is_null(i) || dst.is_null(i) {
            out.append_value(BAD_INPUT);
            continue;
        }
        match row(m, src.value(i), dst.value(i), opt(&x.proto, i), opt(&x.sport, i), opt(&x.dport, i), opt(&x.icmp, i)) {
            Ok(v) => out.append_option(v),
            Err(()) => out.append_value(BAD_INPUT),
        }
    }
    Arc::new(out.finish())
}

impl ScalarUDFImpl for MatchUdf {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if args.len() != 6 {
            return plan_err!("{NAME}(src, dst, protocol, src_port, dst_port, icmp_type) takes 6 arguments, not {}", args.len());
        }
        let mut out = Vec::with_capacity(6);
        for (i, t) in args.iter().enumerate() {
            out.push(match (i, t) {
                (0 | 1, t) if is_string(t) => t.clone(),
                (0 | 1, DataType::Null) => DataType::Utf8,
                (2..=5, t) if t.is_integer() || *t == DataType::Null => DataType::Int32,
                (i, t) => return plan_err!("{NAME}: argument {} has type {t}; addresses are strings, the rest integers", i + 1),
            });
        }
        // both addresses of one string type, so one loop reads them
        if out[0] != out[1] {
            out[1] = out[0].clone();
        }
        Ok(out)
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [src, dst, p, sp, dp, it] = arrays.as_slice() else { return exec_err!("{NAME} takes 6 arguments") };
        let x = Ints { proto: ints(p)?, sport: ints(sp)?, dport: ints(dp)?, icmp: ints(it)? };
        let m = &self.matcher;
        let out = match src.data_type() {
            DataType::Utf8 => run(m, src.as_string::<i32>(), dst.as_string::<i32>(), n, &x),
            DataType::LargeUtf8 => run(m, src.as_string::<i64>(), dst.as_string::<i64>(), n, &x),
            DataType::Utf8View => run(m, src.as_string_view(), dst.as_string_view(), n, &x),
            t => return exec_err!("{NAME}: addresses of type {t}"),
        };
        self.rows.fetch_add(n as u64, Ordering::Relaxed);
        Ok(ColumnarValue::Array(out))
    }
}
