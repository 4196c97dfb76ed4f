//! The field helpers of the decoder: a mapping's keys checked against the
//! known fields (with a "did you mean"), and the typed readers whose errors
//! name the field's path and place.

use crate::error::{ErrorKind, PolicyError};
use crate::tree::{Entry, MAX_LIST_ITEMS, Node, Value, too_many};

/// A mapping whose keys were all checked against the known fields.
pub(super) struct Fields<'a> {
    entries: &'a [Entry],
}

impl<'a> Fields<'a> {
    pub(super) fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// The keys and values in document order (a repeated key once, the
    /// first).
    pub(super) fn in_order(&self) -> impl Iterator<Item = (&'a str, &'a Node)> {
        let entries = self.entries;
        (entries.iter().enumerate())
            .filter(move |(i, e)| !entries[..*i].iter().any(|f| f.key == e.key))
            .map(|(_, e)| (e.key.as_str(), &e.value))
    }
}

/// Checks that `node` is a mapping whose keys are distinct and known.
/// `hints` gives a specific message for fields weld knows but refuses.
pub(super) fn fields<'a>(
    node: &'a Node,
    path: &str,
    known: &[&str],
    hints: &[(&str, &str)],
) -> Result<Fields<'a>, PolicyError> {
    let Value::Map(entries) = &node.value else {
        return Err(wrong_type(node, path, "a mapping"));
    };
    for (i, e) in entries.iter().enumerate() {
        check_key(entries, i, e, path, known, hints)?;
    }
    Ok(Fields { entries })
}

/// Like [`fields`], but an unknown or refused key is kept in `errs` and
/// skipped, so the rest of the mapping is still read and every such key is
/// reported. Fails only when `node` is not a mapping.
pub(super) fn fields_all<'a>(
    node: &'a Node,
    path: &str,
    known: &[&str],
    hints: &[(&str, &str)],
    errs: &mut Vec<PolicyError>,
) -> Result<Fields<'a>, PolicyError> {
    let Value::Map(entries) = &node.value else {
        return Err(wrong_type(node, path, "a mapping"));
    };
    for (i, e) in entries.iter().enumerate() {
        if let Err(err) = check_key(entries, i, e, path, known, hints) {
            errs.push(err);
        }
    }
    Ok(Fields { entries })
}

/// Entry `i` of a mapping: not a repeat, and a known field.
fn check_key(
    entries: &[Entry],
    i: usize,
    e: &Entry,
    path: &str,
    known: &[&str],
    hints: &[(&str, &str)],
) -> Result<(), PolicyError> {
    if let Some(first) = entries[..i].iter().find(|f| f.key == e.key) {
        return Err(PolicyError::at(
            ErrorKind::Duplicate,
            e.key_at,
            format!(
                "`{}` appears twice in `{path}` (first at {}); keep one",
                e.key, first.key_at
            ),
        ));
    }
    if known.contains(&e.key.as_str()) {
        return Ok(());
    }
    if let Some((_, hint)) = hints.iter().find(|(k, _)| *k == e.key) {
        return Err(PolicyError::at(
            ErrorKind::UnknownField,
            e.key_at,
            format!("`{path}.{}`: {hint}", e.key),
        ));
    }
    let suggestion = suggest(&e.key, known)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    Err(PolicyError::at(
        ErrorKind::UnknownField,
        e.key_at,
        format!(
            "unknown field `{}` in `{path}`; expected one of: {}{suggestion}",
            e.key.escape_debug(),
            // Annotations (`$schema`) are accepted, not suggested.
            (known.iter().filter(|k| !k.starts_with('$')))
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// The known field closest to `key`, if it is a plausible typo.
pub(super) fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

pub(super) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

pub(super) fn wrong_type(node: &Node, path: &str, expected: &str) -> PolicyError {
    let hint = match node.value {
        Value::Int(_) | Value::Float(_) | Value::Bool(_) if expected == "a string" => {
            "; put it in quotes"
        }
        _ => "",
    };
    PolicyError::at(
        ErrorKind::WrongType,
        node.at,
        format!(
            "`{path}` must be {expected}, found {}{hint}",
            node.value.describe()
        ),
    )
}

pub(super) fn empty(node: &Node, path: &str, fix: &str) -> PolicyError {
    let what = match node.value {
        Value::Seq(_) => "an empty list",
        Value::Map(_) => "an empty mapping",
        _ => "empty",
    };
    PolicyError::at(
        ErrorKind::Empty,
        node.at,
        format!("`{path}` is {what}; {fix}"),
    )
}

/// Prefixes a location-less error from a value parser with the field's path
/// and places it at the value.
pub(super) fn place(err: PolicyError, node: &Node, path: &str) -> PolicyError {
    PolicyError::at(err.kind(), node.at, format!("`{path}`: {}", err.message()))
}

pub(super) fn invalid(node: &Node, path: &str, message: impl std::fmt::Display) -> PolicyError {
    PolicyError::at(
        ErrorKind::InvalidValue,
        node.at,
        format!("`{path}`: {message}"),
    )
}

pub(super) fn string<'a>(node: &'a Node, path: &str) -> Result<&'a str, PolicyError> {
    match &node.value {
        Value::Str(s) => Ok(s),
        Value::Null => Err(empty(node, path, "give a value or remove the field")),
        _ => Err(wrong_type(node, path, "a string")),
    }
}

pub(super) fn list<'a>(node: &'a Node, path: &str, fix: &str) -> Result<&'a [Node], PolicyError> {
    match &node.value {
        Value::Seq(items) if items.is_empty() => Err(empty(node, path, fix)),
        Value::Seq(items) if items.len() > MAX_LIST_ITEMS => {
            Err(too_many(node.at, path, items.len()))
        }
        Value::Seq(items) => Ok(items),
        Value::Null => Err(empty(node, path, fix)),
        _ => Err(wrong_type(node, path, "a list")),
    }
}

/// A mapping section that must say something.
pub(super) fn section<'a>(
    node: &'a Node,
    path: &str,
    known: &[&str],
    hints: &[(&str, &str)],
) -> Result<Fields<'a>, PolicyError> {
    if matches!(node.value, Value::Null) || matches!(&node.value, Value::Map(e) if e.is_empty()) {
        return Err(empty(node, path, "remove it"));
    }
    fields(node, path, known, hints)
}

/// A whole number ≥ 1 that fits `max`.
pub(super) fn count(node: &Node, path: &str, max: u64) -> Result<u64, PolicyError> {
    let Value::Int(raw) = &node.value else {
        return Err(wrong_type(node, path, "a whole number"));
    };
    match raw.parse::<i128>() {
        Ok(n) if n < 1 => Err(invalid(node, path, format!("`{raw}` must be at least 1"))),
        Ok(n) if n <= i128::from(max) => Ok(u64::try_from(n).unwrap_or(max)),
        _ => Err(invalid(
            node,
            path,
            format!("`{raw}` is too large (at most {max})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion_and_strangers_do_not() {
        assert_eq!(suggest("acess", &["uri", "access"]), Some("access"));
        assert_eq!(
            suggest("hots", &["host", "cidr", "ports", "schemes"]),
            Some("host")
        );
        assert_eq!(
            suggest("permission", &["version", "description", "permissions"]),
            Some("permissions")
        );
        assert_eq!(suggest("zzzzzz", &["uri", "access"]), None);
    }
}
