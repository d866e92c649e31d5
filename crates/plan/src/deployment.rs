//! An inventory with its matrices loaded and checked against each other.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use portmatrix_model::decode::Cx;
use portmatrix_model::diag::{did_you_mean, Diagnostics};
use portmatrix_model::{Diagnostic, Inventory, Matrix, MatrixSource, SourceFile, Span, Spanned};

/// One product instance of the deployment, settings resolved.
#[derive(Debug, Clone)]
pub struct Product {
    pub name: String,
    pub matrix: Matrix,
    /// Every feature of the matrix, on or off.
    pub features: BTreeMap<String, bool>,
    /// Every parameter that has a value (set, or its default).
    pub params: BTreeMap<String, i64>,
    /// Where the product is declared, for errors about it.
    pub span: Span,
    /// Roles this site does not have → why.
    pub absent: BTreeMap<String, String>,
    /// Flows this site does not open → why.
    pub excluded: BTreeMap<String, String>,
}

impl Product {
    pub fn feature_on(&self, f: &str) -> bool {
        self.features.get(f).copied().unwrap_or(false)
    }
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub inventory: Inventory,
    pub products: IndexMap<String, Product>,
    pub file: Arc<SourceFile>,
}

impl Deployment {
    /// Reads an inventory and the matrices it names (catalog ids, or paths
    /// relative to the inventory file).
    pub fn load(path: &Path, source: &dyn MatrixSource) -> Result<Self, Vec<Diagnostic>> {
        let inv = portmatrix_model::inventory_from_path(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_inventory(inv, base, source)
    }

    /// Resolves the inventory's products: `matrix:` values that look like
    /// paths are read relative to `base`, the rest are ids in `source`.
    pub fn from_inventory(inv: Inventory, base: &Path, source: &dyn MatrixSource) -> Result<Self, Vec<Diagnostic>> {
        let file = inv.file.clone().unwrap_or_else(|| SourceFile::new("<inventory>", ""));
        let mut diags = Diagnostics::default();
        let mut products = IndexMap::new();
        for (name, p) in &inv.products {
            let spec = p.matrix.value.as_str();
            let Some(matrix) = resolve_matrix(spec, p, base, source, &file, &mut diags) else { continue };
            let mut cx = Cx { file: &file, diags: &mut diags };
            let product = settle(name, p, matrix, &mut cx);
            products.insert(name.value.clone(), product);
        }
        check_role_refs(&inv, &products, &mut Cx { file: &file, diags: &mut diags });
        if diags.has_errors() {
            return Err(diags.sorted());
        }
        Ok(Self { inventory: inv, products, file })
    }
}

fn unknown_setting<'a>(cx: &mut Cx, what: &str, k: &Spanned<String>, m: &Matrix, known: impl Iterator<Item = &'a Spanned<String>> + Clone) {
    let hint = match did_you_mean(k, known.clone().map(|x| x.value.as_str())) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("{what}s of {}: {}", m.key(), known.map(|x| x.value.as_str()).collect::<Vec<_>>().join(", ")),
    };
    cx.error("unknown-setting", k.span, format!("matrix `{}` has no {what} `{}`", m.key(), k.value)).help = Some(hint);
}

/// `absent:` names roles and `exclude:` flows of the product's matrix.
fn check_left_out(cx: &mut Cx, p: &portmatrix_model::inventory::ProductRef, m: &Matrix) {
    for role in p.absent.keys() {
        if !m.roles.contains_key(role.value.as_str()) {
            let hint = match did_you_mean(role, m.roles.keys().map(|k| k.value.as_str())) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("roles of {}: {}", m.key(), m.roles.keys().map(|k| k.value.as_str()).collect::<Vec<_>>().join(", ")),
            };
            cx.error("unknown-role", role.span, format!("matrix `{}` has no role `{}`", m.key(), role.value)).help = Some(hint);
        }
    }
    for flow in p.exclude.keys() {
        if m.flow(&flow.value).is_none() {
            let hint = match did_you_mean(flow, m.flows.iter().map(|f| f.id.value.as_str())) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("`portmatrix show {}` lists its flows", p.matrix.value),
            };
            cx.error("unknown-flow", flow.span, format!("matrix `{}` has no flow `{}`", m.key(), flow.value)).help = Some(hint);
        }
    }
}

/// The matrix a product names: a file (relative to the inventory) or an id
/// of the source; `None` after reporting why not.
fn resolve_matrix(
    spec: &str,
    p: &portmatrix_model::inventory::ProductRef,
    base: &Path,
    source: &dyn MatrixSource,
    file: &std::sync::Arc<SourceFile>,
    diags: &mut Diagnostics,
) -> Option<Matrix> {
    let looks_like_path = spec.ends_with(".yaml") || spec.ends_with(".yml") || spec.contains('/');
    let loaded = if looks_like_path { Some(portmatrix_model::matrix_from_path(&base.join(spec))) } else { source.matrix(spec) };
    let matrix = match loaded {
        Some(Ok(m)) => m,
        Some(Err(errs)) => {
            diags.push(
                Diagnostic::error("matrix-unusable", file, p.matrix.span, format!("matrix `{spec}` has errors"))
                    .with_help("run `portmatrix check` on it; its errors follow"),
            );
            diags.items.extend(errs);
            return None;
        }
        None => {
            let ids = source.ids();
            let hint = match did_you_mean(spec, ids.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("catalog ids: {}; or give a path to a matrix file", ids.join(", ")),
            };
            diags.push(Diagnostic::error("unknown-matrix", file, p.matrix.span, format!("no catalog matrix `{spec}`")).with_help(hint));
            return None;
        }
    };
    Some(matrix)
}

/// A product's features and parameters settled (defaults, then the
/// inventory's settings), with what it leaves out.
fn settle(name: &Spanned<String>, p: &portmatrix_model::inventory::ProductRef, matrix: Matrix, cx: &mut Cx) -> Product {
    let spec = p.matrix.value.as_str();
    let mut features: BTreeMap<String, bool> = matrix.features.iter().map(|(k, f)| (k.value.clone(), f.default)).collect();
    for (k, v) in &p.features {
        if features.contains_key(k.value.as_str()) {
            features.insert(k.value.clone(), v.value);
        } else {
            unknown_setting(cx, "feature", k, &matrix, matrix.features.keys());
        }
    }
    // Exclusive alternatives: at most one on.
    let mut on_by_group: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, f) in &matrix.features {
        if let (Some(g), true) = (&f.exclusive, features[k.value.as_str()]) {
            if let Some(prev) = on_by_group.insert(g, &k.value) {
                let span =
                    p.features.get_key_value(k.value.as_str()).or(p.features.get_key_value(prev)).map(|(k, _)| k.span).unwrap_or(name.span);
                cx.error(
                    "exclusive-features",
                    span,
                    format!("features `{prev}` and `{}` of `{spec}` are both on, but they are alternatives ({g})", k.value),
                )
                .help = Some(format!("switch one off: `{prev}: false`"));
            }
        }
    }
    let mut params: BTreeMap<String, i64> =
        matrix.params.iter().filter_map(|(k, v)| v.default.as_ref().map(|d| (k.value.clone(), d.value))).collect();
    for (k, v) in &p.params {
        match matrix.params.get(k.value.as_str()) {
            Some(decl) => {
                if decl.min.is_some_and(|m| v.value < m) || decl.max.is_some_and(|m| v.value > m) {
                    cx.error(
                        "param-out-of-range",
                        v.span,
                        format!("{} is outside {}..{}", v.value, decl.min.unwrap_or(i64::MIN), decl.max.unwrap_or(i64::MAX)),
                    );
                }
                params.insert(k.value.clone(), v.value);
            }
            None => unknown_setting(cx, "parameter", k, &matrix, matrix.params.keys()),
        }
    }
    check_left_out(cx, p, &matrix);
    let absent = p.absent.iter().map(|(k, v)| (k.value.clone(), v.clone())).collect();
    let excluded = p.exclude.iter().map(|(k, v)| (k.value.clone(), v.clone())).collect();
    Product { name: name.value.clone(), matrix, features, params, span: name.span, absent, excluded }
}

/// `PRODUCT/ROLE` references name roles of their product's matrix.
fn check_role_refs(inv: &Inventory, products: &IndexMap<String, Product>, cx: &mut Cx) {
    let refs = inv.hosts.values().flat_map(|h| h.roles.iter()).chain(inv.bind.keys());
    for r in refs {
        let (p, role) = (&r.value.product, &r.value.role);
        let Some(prod) = products.get(p.value.as_str()) else { continue };
        let m = &prod.matrix;
        if role.value == "any" && inv.binding(&p.value, "any").is_some() {
            continue;
        }
        if !m.roles.contains_key(role.value.as_str()) {
            let by_alias = m.roles.iter().find(|(_, rr)| rr.aliases.iter().chain([&rr.title]).any(|a| a.eq_ignore_ascii_case(&role.value)));
            let hint = match (by_alias, did_you_mean(&role.value, m.roles.keys().map(|k| k.value.as_str()))) {
                (Some((id, _)), _) => format!("`{}` is a name of role `{}`: write `{p}/{}`", role.value, id.value, id.value),
                (None, Some(s)) => format!("did you mean `{p}/{s}`?"),
                (None, None) => {
                    format!("roles of {}: {}", m.key(), m.roles.keys().map(|k| k.value.as_str()).collect::<Vec<_>>().join(", "))
                }
            };
            cx.error("unknown-role", role.span, format!("matrix `{}` has no role `{}`", m.key(), role.value)).help = Some(hint);
        }
    }
}
