//! A starter inventory for one or more matrices (`portmatrix init`): every
//! internal role the default features need on a host of its own, every
//! external role and audience bound to a network of its own, every feature
//! and parameter with its default and meaning. Addresses are left as
//! placeholders the user fills in; then it plans.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::matrix::{Matrix, Os};

/// Placeholders a user replaces: host addresses, network CIDRs, and
/// parameters the vendor leaves to the deployment.
pub const FILL_ADDRESS: &str = "FILL-ADDRESS";
pub const FILL_CIDR: &str = "FILL-CIDR";
pub const FILL_PORT: &str = "FILL-PORT";

/// One product of the starter: its name in the inventory and its matrix
/// (`spec` is how the inventory names it: a catalog id or a path).
pub struct StarterProduct<'m> {
    pub name: String,
    pub spec: String,
    pub matrix: &'m Matrix,
}

/// Roles the matrix's flows use with every feature at its default:
/// (internal roles, external roles, whether `any` is used).
fn needed(m: &Matrix) -> (BTreeSet<&str>, BTreeSet<&str>, bool) {
    let on = |f: &str| m.features.get(f).is_some_and(|x| x.default);
    let mut internal = BTreeSet::new();
    let mut external = BTreeSet::new();
    let mut any = false;
    for f in m.flows.iter().filter(|f| f.when.as_ref().is_none_or(|w| w.eval(&on))) {
        for end in f.from.iter().chain(&f.to) {
            if end.value == "any" {
                any = true;
            }
            for r in m.expand(end) {
                if m.roles[r].external {
                    external.insert(r);
                } else {
                    internal.insert(r);
                }
            }
        }
    }
    (internal, external, any)
}

/// A YAML comment line's text: one line, no control characters.
fn comment(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ").chars().filter(|c| !c.is_control()).collect();
    if one.chars().count() <= 110 {
        return one;
    }
    one.chars().take(109).collect::<String>() + "…"
}

pub fn starter_inventory(products: &[StarterProduct]) -> String {
    let mut o = String::new();
    let names: Vec<&str> = products.iter().map(|p| p.spec.as_str()).collect();
    let _ = writeln!(o, "# A starter inventory for {}, written by `portmatrix init`.", names.join(", "));
    let _ = writeln!(o, "# Replace every {FILL_ADDRESS} and {FILL_CIDR} (and {FILL_PORT}, where a parameter has no default),");
    let _ = writeln!(o, "# move hosts and networks into your zones, then: portmatrix plan -i THIS-FILE");
    let _ = writeln!(o, "# docs/inventory-format.md explains every key.");
    let _ = writeln!(o, "inventory: my-site\n\nproducts:");
    for p in products {
        write_product(&mut o, p);
    }
    let _ = writeln!(o, "\nzones:\n  servers: {{ about: the products' hosts }}\n  clients: {{ about: \"users, peers and outside parties\" }}\n  mgmt: {{ about: administration }}");
    let _ = writeln!(o, "\nnetworks:\n  admin: {{ cidrs: [{FILL_CIDR}], zone: mgmt }}   # who may ssh/RDP to every managed host");
    for p in products {
        let (_, external, any) = needed(p.matrix);
        for r in &external {
            let role = &p.matrix.roles[*r];
            if !role.fqdns.is_empty() {
                continue;
            }
            let _ = writeln!(o, "  {}-{r}: {{ cidrs: [{FILL_CIDR}], zone: clients }}   # {}", p.name, comment(&role.title));
        }
        if any {
            let _ = writeln!(
                o,
                "  {}-any: {{ cidrs: [{FILL_CIDR}], zone: clients }}   # what `any` means for {}: never 0.0.0.0/0 by itself",
                p.name, p.name
            );
        }
    }
    let _ = writeln!(o, "\nadmin: {{ networks: [admin] }}\n\nhosts:");
    for p in products {
        write_hosts(&mut o, p);
    }
    let _ = writeln!(o, "\nbind:");
    let mut bound = 0;
    for p in products {
        let (_, external, any) = needed(p.matrix);
        for r in &external {
            let role = &p.matrix.roles[*r];
            if role.fqdns.is_empty() {
                let _ = writeln!(o, "  {}/{r}: {{ networks: [{}-{r}] }}", p.name, p.name);
                bound += 1;
            } else {
                let _ = writeln!(
                    o,
                    "  # {}/{r} is reached by name ({}): bind it to a network, or allow the names on your proxy",
                    p.name,
                    comment(&role.fqdns.iter().map(|f| f.value.as_str()).collect::<Vec<_>>().join(", "))
                );
            }
        }
        if any {
            let _ = writeln!(o, "  {}/any: {{ networks: [{}-any] }}", p.name, p.name);
            bound += 1;
        }
    }
    if bound == 0 {
        let _ = writeln!(o, "  {{}}");
    }
    o
}

fn write_product(o: &mut String, p: &StarterProduct) {
    let m = p.matrix;
    let _ = writeln!(o, "  {}:   # {} {}", p.name, comment(&m.title), comment(&m.version.value));
    let _ = writeln!(o, "    matrix: {}", p.spec);
    if !m.features.is_empty() {
        let _ = writeln!(o, "    features:");
        for (k, f) in &m.features {
            let excl = f.exclusive.as_ref().map(|g| format!(" (one of {g})")).unwrap_or_default();
            let _ = writeln!(o, "      {}: {}   # {}{excl}", k.value, f.default, comment(f.about.as_deref().unwrap_or("")));
        }
    }
    if !m.params.is_empty() {
        let _ = writeln!(o, "    params:");
        for (k, v) in &m.params {
            let about = comment(v.about.as_deref().unwrap_or(""));
            match &v.default {
                Some(d) => {
                    let _ = writeln!(o, "      {}: {}   # default; {about}", k.value, d.value);
                }
                None => {
                    let _ = writeln!(o, "      {}: {FILL_PORT}   # no default: the vendor leaves it to you; {about}", k.value);
                }
            }
        }
    }
    let _ = writeln!(o, "    # absent: {{ ROLE: why }}     optional integrations this site does not have");
    let _ = writeln!(o, "    # exclude: {{ FLOW: why }}    flows this site decides not to open");
}

fn write_hosts(o: &mut String, p: &StarterProduct) {
    let m = p.matrix;
    let (internal, _, _) = needed(m);
    for r in &internal {
        let role = &m.roles[*r];
        let os = match role.os {
            Some(Os::Windows) => ", os: windows",
            Some(Os::Appliance) => ", os: appliance",
            _ => ", os: linux",
        };
        let _ = writeln!(
            o,
            "  {}-{r}: {{ addresses: [{FILL_ADDRESS}], zone: servers{os}, roles: [{}/{r}] }}   # {}",
            p.name,
            p.name,
            comment(&role.title)
        );
    }
    let idle: Vec<&str> =
        m.roles.iter().filter(|(k, r)| !r.external && !internal.contains(k.value.as_str())).map(|(k, _)| k.value.as_str()).collect();
    if !idle.is_empty() {
        let _ = writeln!(o, "  # {}: needed only with features that are off by default: {}", p.name, idle.join(", "));
    }
}
