//! Prints a typed nftables document (the JSON schema of the `nftables`
//! crate) as the text `nft -f` reads, in block form:
//! `table inet t { set ... counter ... chain ... { rules } }`.
//!
//! It prints the subset of the schema the layout builds and refuses
//! everything else (an error naming it), so the text can never silently
//! differ from the JSON. Words it prints bare (addresses, keywords, names)
//! are checked to be tokens; comments and interface names are quoted.

use std::fmt::Write;

use nftables::expr::{Expression, MetaKey, NamedExpression, Payload, SetItem};
use nftables::schema::{NfCmd, NfListObject, NfObject, Nftables, Set, SetTypeValue};
use nftables::stmt::{Counter, NATFamily, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::escape::double_quoted;

/// Why a document cannot be printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

type Result<T> = std::result::Result<T, Unsupported>;

fn unsupported<T>(what: impl std::fmt::Debug) -> Result<T> {
    Err(Unsupported(format!("{what:?}")))
}

/// Elements per line stop at about this column.
const WIDTH: usize = 100;

/// A word printed bare: letters, digits and `.:/-_@`, never empty.
pub(super) fn token(s: &str) -> Result<&str> {
    let ok = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || ".:/-_@".contains(c));
    if ok {
        Ok(s)
    } else {
        unsupported(s)
    }
}

pub(super) fn family(f: NfFamily) -> Result<&'static str> {
    match f {
        NfFamily::INet => Ok("inet"),
        NfFamily::IP => Ok("ip"),
        NfFamily::IP6 => Ok("ip6"),
        other => unsupported(other),
    }
}

/// The whole document.
pub fn document(doc: &Nftables<'_>) -> Result<String> {
    let mut o = String::new();
    let objs: Vec<&NfObject> = doc.objects.iter().filter(|x| !matches!(x, NfObject::ListObject(NfListObject::MetainfoObject(_)))).collect();
    let mut i = 0;
    while i < objs.len() {
        match objs[i] {
            NfObject::CmdObject(NfCmd::Add(NfListObject::Table(t))) => {
                let body_follows =
                    matches!(objs.get(i + 1), Some(NfObject::CmdObject(NfCmd::Add(x))) if !matches!(x, NfListObject::Table(_)));
                if !body_follows {
                    writeln!(o, "table {} {}", family(t.family)?, token(&t.name)?).expect("string");
                    i += 1;
                    continue;
                }
                writeln!(o, "table {} {} {{", family(t.family)?, token(&t.name)?).expect("string");
                i = table_body(&objs, i + 1, &t.name, &mut o)?;
                o.push_str("}\n");
            }
            NfObject::CmdObject(NfCmd::Delete(NfListObject::Table(t))) => {
                writeln!(o, "delete table {} {}\n", family(t.family)?, token(&t.name)?).expect("string");
                i += 1;
            }
            other => return unsupported(other),
        }
    }
    Ok(o)
}

/// The objects of one table from `i` on, until the next table command;
/// returns where it stopped.
fn table_body(objs: &[&NfObject], mut i: usize, table: &str, o: &mut String) -> Result<usize> {
    let mut previous: Option<std::mem::Discriminant<NfListObject>> = None;
    while let Some(NfObject::CmdObject(NfCmd::Add(obj))) = objs.get(i) {
        // A blank line between sets and chains, none inside a run of counters.
        let kind = std::mem::discriminant(obj);
        if previous.is_some_and(|p| p != kind || !matches!(obj, NfListObject::Counter(_))) {
            o.push('\n');
        }
        previous = Some(kind);
        match obj {
            NfListObject::Table(_) => break,
            NfListObject::Set(s) if s.table == table => set(s, o)?,
            NfListObject::Counter(c) if c.table == table && c.packets.is_none() && c.bytes.is_none() => {
                writeln!(o, "    counter {} {{ }}", token(&c.name)?).expect("string");
            }
            NfListObject::Chain(c) if c.table == table => {
                let hook = match c.hook {
                    Some(NfHook::Input) => "input",
                    Some(NfHook::Forward) => "forward",
                    Some(NfHook::Output) => "output",
                    Some(NfHook::Prerouting) => "prerouting",
                    other => return unsupported(other),
                };
                let policy = match c.policy {
                    Some(NfChainPolicy::Drop) => "drop",
                    Some(NfChainPolicy::Accept) => "accept",
                    None => return unsupported("chain without policy"),
                };
                // The two base chains the layout builds, by their priority names.
                let (kind, priority) = match (c._type, c.prio, hook) {
                    (Some(NfChainType::Filter), Some(0), _) => ("filter", "filter"),
                    (Some(NfChainType::NAT), Some(-100), "prerouting") => ("nat", "dstnat"),
                    _ => return unsupported(c),
                };
                writeln!(o, "    chain {} {{", token(&c.name)?).expect("string");
                writeln!(o, "        type {kind} hook {hook} priority {priority}; policy {policy};").expect("string");
                while let Some(NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(r)))) = objs.get(i + 1) {
                    if r.chain != c.name || r.table != table {
                        return unsupported(r);
                    }
                    o.push_str("        ");
                    for st in r.expr.iter() {
                        statement(st, o)?;
                        o.push(' ');
                    }
                    match &r.comment {
                        Some(c) => o.push_str(&format!("comment {}", double_quoted(c, 128))),
                        None => {
                            o.pop();
                        }
                    }
                    o.push('\n');
                    i += 1;
                }
                o.push_str("    }\n");
            }
            other => return unsupported(other),
        }
        i += 1;
    }
    Ok(i)
}

fn set(s: &Set<'_>, o: &mut String) -> Result<()> {
    let ty = match &s.set_type {
        SetTypeValue::Single(t) => serde_json::to_value(t).ok().and_then(|v| v.as_str().map(str::to_string)),
        other => return unsupported(other),
    };
    let ty = ty.ok_or_else(|| Unsupported(format!("{:?}", s.set_type)))?;
    writeln!(o, "    set {} {{\n        type {}", token(&s.name)?, token(&ty)?).expect("string");
    if let Some(flags) = &s.flags {
        let mut names: Vec<String> =
            flags.iter().map(|f| serde_json::to_value(f).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()).collect();
        names.sort();
        let names: Vec<&str> = names.iter().map(|n| token(n)).collect::<Result<_>>()?;
        writeln!(o, "        flags {}", names.join(", ")).expect("string");
    }
    if s.timeout.is_some() || s.gc_interval.is_some() || s.size.is_some() || s.policy.is_some() {
        return unsupported(s);
    }
    if let Some(c) = &s.comment {
        writeln!(o, "        comment {}", double_quoted(c, 128)).expect("string");
    }
    if let Some(elems) = s.elem.as_deref().filter(|e| !e.is_empty()) {
        let items: Vec<String> = elems.iter().map(expr).collect::<Result<_>>()?;
        o.push_str("        elements = { ");
        let mut col = 21;
        for (k, item) in items.iter().enumerate() {
            if k > 0 {
                if col + item.len() + 2 > WIDTH {
                    o.push_str(",\n                     ");
                    col = 21;
                } else {
                    o.push_str(", ");
                    col += 2;
                }
            }
            o.push_str(item);
            col += item.len();
        }
        o.push_str(" }\n");
    }
    o.push_str("    }\n");
    Ok(())
}

fn statement(s: &Statement<'_>, o: &mut String) -> Result<()> {
    match s {
        Statement::Accept(_) => o.push_str("accept"),
        Statement::Drop(_) => o.push_str("drop"),
        Statement::Counter(Counter::Named(n)) => o.push_str(&format!("counter name {}", double_quoted(token(n)?, 128))),
        Statement::Counter(Counter::Anonymous(None)) => o.push_str("counter"),
        Statement::DNAT(Some(NAT { addr: Some(a), family: Some(f), port: None, flags: None })) => {
            let f = match f {
                NATFamily::IP => "ip",
                NATFamily::IP6 => "ip6",
            };
            o.push_str(&format!("dnat {f} to {}", expr(a)?));
        }
        Statement::Match(m) => {
            let op = match m.op {
                Operator::EQ | Operator::IN => "",
                Operator::NEQ => "!= ",
                other => return unsupported(other),
            };
            let quoted = matches!(&m.left, Expression::Named(NamedExpression::Meta(x)) if matches!(x.key, MetaKey::Iif | MetaKey::Oif | MetaKey::Iifname | MetaKey::Oifname));
            let right = match (&m.right, quoted) {
                (Expression::String(s), true) => double_quoted(s, 64),
                (r, false) => expr(r)?,
                (r, true) => return unsupported(r),
            };
            o.push_str(&format!("{} {op}{right}", expr(&m.left)?));
        }
        other => return unsupported(other),
    }
    Ok(())
}

pub(super) fn expr(e: &Expression<'_>) -> Result<String> {
    Ok(match e {
        Expression::String(s) => token(s)?.to_string(),
        Expression::Number(n) => n.to_string(),
        Expression::List(items) => items.iter().map(expr).collect::<Result<Vec<_>>>()?.join(","),
        Expression::Range(r) => format!("{}-{}", expr(&r.range[0])?, expr(&r.range[1])?),
        Expression::Named(n) => named(n)?,
        other => return unsupported(other),
    })
}

fn named(n: &NamedExpression<'_>) -> Result<String> {
    Ok(match n {
        NamedExpression::Prefix(p) => format!("{}/{}", expr(&p.addr)?, p.len),
        NamedExpression::Payload(Payload::PayloadField(f)) => format!("{} {}", token(&f.protocol)?, token(&f.field)?),
        NamedExpression::CT(ct) if ct.family.is_none() && ct.dir.is_none() => format!("ct {}", token(&ct.key)?),
        NamedExpression::Meta(m) => {
            let key = serde_json::to_value(m.key).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            format!("meta {}", token(&key)?)
        }
        NamedExpression::Concat(parts) => parts.iter().map(expr).collect::<Result<Vec<_>>>()?.join(" . "),
        NamedExpression::Set(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    SetItem::Element(e) => expr(e),
                    other => unsupported(other),
                })
                .collect::<Result<_>>()?;
            format!("{{ {} }}", parts.join(", "))
        }
        NamedExpression::Elem(el) if el.timeout.is_none() && el.expires.is_none() && el.counter.is_none() => match &el.comment {
            Some(c) => format!("{} comment {}", expr(&el.val)?, double_quoted(c, 128)),
            None => expr(&el.val)?,
        },
        other => return unsupported(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn refuses_what_it_cannot_print_faithfully() {
        let hostile = Expression::String("10.0.0.1 } accept; drop {".into());
        assert!(expr(&hostile).is_err());
        let doc = Nftables { objects: Cow::Owned(vec![NfObject::CmdObject(NfCmd::Flush(nftables::schema::FlushObject::Ruleset(None)))]) };
        assert!(document(&doc).is_err());
    }
}
