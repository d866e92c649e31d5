//! `portmatrix show`: a matrix as a table, Markdown, CSV, JSON or YAML.

use clap::Args;
use portmatrix_model::Proto;
use portmatrix_report::matrix_table::{flows_table, FlowFilter};

use crate::output::{self, Format};

#[derive(Args)]
#[command(
    after_help = "Examples:\n  portmatrix show jtel-acd\n  portmatrix show avaya-pom --role campaign-manager --format md\n  portmatrix show moderro-rem --port 8443/tcp\n  portmatrix show my-product.yaml --format json\n  portmatrix show imagicle-ucsuite --feature ha --format csv > ha-flows.csv"
)]
pub struct ShowArgs {
    /// A catalog id (`jtel-acd`, `jtel-acd@previous`) or a matrix file
    pub matrix: String,
    /// Output format
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Only flows from or to this role (id, title or the document's name for it)
    #[arg(long)]
    pub role: Option<String>,
    /// Only flows that depend on this feature
    #[arg(long)]
    pub feature: Option<String>,
    /// Only flows to this listener port, optionally with protocol: 5060, 5060/udp
    #[arg(long, value_parser = parse_port_proto)]
    pub port: Option<(u16, Option<Proto>)>,
}

/// `5060` or `5060/udp`.
pub fn parse_port_proto(s: &str) -> Result<(u16, Option<Proto>), String> {
    let (p, proto) = match s.split_once('/') {
        Some((p, pr)) => (p, Some(Proto::parse(pr).ok_or_else(|| format!("unknown protocol `{pr}`: tcp, udp, sctp, icmp or icmpv6"))?)),
        None => (s, None),
    };
    let port = p.trim().parse::<u16>().map_err(|_| format!("`{p}` is not a port (0-65535)"))?;
    Ok((port, proto))
}

pub fn run(a: ShowArgs) -> crate::failure::Outcome {
    let m = crate::matrices::load(&a.matrix)?;
    if let Some(f) = &a.feature {
        if !m.features.contains_key(f.as_str()) {
            let known: Vec<&str> = m.features.keys().map(|k| k.value.as_str()).collect();
            return Err(format!("`{}` has no feature `{f}`; features: {}", m.matrix.value, known.join(", ")).into());
        }
    }
    let filter =
        FlowFilter { role: a.role.clone(), feature: a.feature.clone(), port: a.port.map(|p| p.0), proto: a.port.and_then(|p| p.1) };
    let text = match a.format {
        Format::Json | Format::Yaml => {
            let keep: Vec<bool> = m.flows.iter().map(|f| filter.keep(&m, f)).collect();
            let mut m = m;
            let mut k = keep.into_iter();
            m.flows.retain(|_| k.next().unwrap_or(false));
            if a.format == Format::Json {
                serde_json::to_string_pretty(&m).expect("a matrix serialises") + "\n"
            } else {
                serde_saphyr::to_string(&m).expect("a matrix serialises")
            }
        }
        f => {
            let t = flows_table(&m, &filter);
            let head = if f == Format::Table {
                format!("{} {} — {} ({} of {} flows)\n", m.matrix.value, m.version.value, m.title, t.rows.len(), m.flows.len())
            } else {
                String::new()
            };
            head + &output::table(&t, f)
        }
    };
    output::print(&text);
    Ok(crate::exit::CLEAN)
}
