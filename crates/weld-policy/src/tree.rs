//! The spanned document tree both readers produce.
//!
//! YAML and JSON are read into the same small tree — every node and every
//! mapping key keeps its [`Location`] — so one decoder gives the same
//! messages at exact places for both formats. The tree is deliberately poor:
//! no anchors, aliases, tags or merge keys survive reading, and scalars are
//! resolved by the YAML 1.2 core schema (quoted scalars are always strings).

use crate::error::{ErrorKind, Location, PolicyError};

/// The largest document weld reads. Policies are a few hundred bytes; the cap
/// bounds the work an untrusted `tool.policy.yaml` can cause.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// The most entries weld reads in one list (rules of a section, ports of a
/// rule, …). Checks across rules are quadratic; this keeps them instant.
pub const MAX_LIST_ITEMS: usize = 1024;

/// The deepest nesting weld reads. The schema itself nests five levels.
pub const MAX_DEPTH: usize = 32;

/// A value with the place it starts at.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub at: Location,
}

/// A mapping entry: the key's text and place, and its value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_at: Location,
    pub value: Node,
}

/// The value of a node. Numbers keep their source text; the decoder parses
/// them into the width each field needs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(String),
    Float(String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

impl Value {
    /// "a string", "an integer", … for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Null => "an empty value (null)",
            Value::Bool(_) => "true/false",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a decimal number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Resolves an unquoted YAML scalar by the YAML 1.2 core schema, except that
/// only decimal integers are integers (`0x10` and `0o7` stay strings, and are
/// refused wherever a number is expected).
pub(crate) fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Value::Float(text.to_owned()),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Value::Int(text.to_owned());
    }
    if is_core_float(digits) {
        return Value::Float(text.to_owned());
    }
    Value::Str(text.to_owned())
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(&b[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&b[i..]);
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = count_digits(&b[i..]);
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Strips a leading byte-order mark and refuses documents over
/// [`MAX_DOCUMENT_BYTES`].
pub(crate) fn prepare(text: &str) -> Result<&str, PolicyError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(PolicyError::nowhere(
            ErrorKind::TooLarge,
            format!(
                "the policy is {} bytes; weld reads policies of at most {MAX_DOCUMENT_BYTES} bytes",
                text.len()
            ),
        ));
    }
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

pub(crate) fn too_deep(at: Location) -> PolicyError {
    PolicyError::at(
        ErrorKind::TooLarge,
        at,
        format!("the document nests deeper than {MAX_DEPTH} levels; a policy needs at most 6"),
    )
}

/// A list longer than [`MAX_LIST_ITEMS`]: refused, never truncated.
pub(crate) fn too_many(at: impl Into<Option<Location>>, path: &str, n: usize) -> PolicyError {
    PolicyError::new(
        ErrorKind::TooLarge,
        at.into(),
        format!("`{path}` has {n} entries; weld reads at most {MAX_LIST_ITEMS} per list"),
    )
}

pub(crate) fn empty_document() -> PolicyError {
    PolicyError::at(
        ErrorKind::Empty,
        Location { line: 1, column: 1 },
        "the policy is empty; the smallest policy (which grants nothing) is `version: \"1.0\"`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_by_the_core_schema_with_decimal_integers_only() {
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain(""), Value::Null);
        assert_eq!(resolve_plain("TRUE"), Value::Bool(true));
        assert_eq!(resolve_plain("no"), Value::Str("no".into()));
        assert_eq!(resolve_plain("-12"), Value::Int("-12".into()));
        assert_eq!(resolve_plain("0x10"), Value::Str("0x10".into()));
        assert_eq!(resolve_plain("1.0"), Value::Float("1.0".into()));
        assert_eq!(resolve_plain(".5e3"), Value::Float(".5e3".into()));
        assert_eq!(resolve_plain("1e"), Value::Str("1e".into()));
        assert_eq!(resolve_plain("10.0.0.1"), Value::Str("10.0.0.1".into()));
        assert_eq!(resolve_plain(".nan"), Value::Float(".nan".into()));
        assert_eq!(resolve_plain("."), Value::Str(".".into()));
        assert_eq!(resolve_plain("128Mi"), Value::Str("128Mi".into()));
    }
}
