//! Text from the inventory or a matrix, made inert for each syntax.
//!
//! Inventory names follow a grammar that admits none of the characters
//! below, and matrix ids are kebab-case; these functions are the second
//! line of defence, so that no text can leave its comment or string even if
//! a name reached a renderer unchecked.

/// Printable ASCII only: every other character (line breaks, Unicode line
/// separators, bidi controls, quotes that look like ASCII ones) becomes `?`.
fn printable_ascii(s: &str, also_forbidden: &[char]) -> String {
    s.chars().map(|c| if (' '..='~').contains(&c) && !also_forbidden.contains(&c) { c } else { '?' }).collect()
}

/// For a line comment (`# ...`): no line break can end it.
pub fn comment_line(s: &str) -> String {
    printable_ascii(s, &[])
}

/// For a double-quoted string (nftables `comment "..."`, iptables
/// `--comment "..."`, Aerleon `comment:: "..."`), cut to `max` bytes.
pub fn double_quoted(s: &str, max: usize) -> String {
    format!("\"{}\"", quotable(s, max))
}

/// What [`double_quoted`] puts between its quotes: text that needs no
/// escaping in any syntax, cut to `max` bytes.
pub fn quotable(s: &str, max: usize) -> String {
    let mut out = printable_ascii(s, &['"', '\\', '\'', '`', '$']);
    out.truncate(max);
    out
}

/// A PowerShell single-quoted string. PowerShell also ends such a string at
/// the typographic quotes U+2018–U+201B, so everything outside printable
/// ASCII is replaced and the ASCII quote doubled.
pub fn powershell_quoted(s: &str) -> String {
    format!("'{}'", printable_ascii(s, &[]).replace('\'', "''"))
}

/// An identifier for syntaxes that allow letters, digits and `_` only
/// (Aerleon names, chain suffixes): other characters become `_`, upper-cased.
pub fn token(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_leaves_its_string() {
        let hostile = "a\"; accept\n\u{2019}; calc #\u{202e}\\x'$(x)`";
        let q = double_quoted(hostile, 120);
        assert_eq!(q.matches('"').count(), 2);
        assert!(!q.contains('\n') && !q.contains('\\'));
        let p = powershell_quoted(hostile);
        let inner = &p[1..p.len() - 1];
        assert!(!inner.replace("''", "").contains('\''), "{p}");
        assert!(inner.chars().all(|c| c.is_ascii() && !c.is_control()));
        assert!(!comment_line(hostile).contains('\n'));
        assert_eq!(double_quoted(&"x".repeat(200), 120).len(), 122);
    }
}
