//! Component names: which are valid, which is reserved, and the name a
//! component gets from its file.

use std::path::Path;

use crate::error::StoreError;

/// The component name weld's built-in MCP tools use (`weld_list_components`,
/// `weld_request_grant`, ...): no component may have it, or its tools could
/// shadow them (a function `grant` in an interface `request` of a component
/// `weld` would be `weld_request_grant`).
pub const RESERVED_NAME: &str = "weld";

/// Checks a component name: the first part of every tool name it exports.
///
/// # Errors
///
/// [`StoreError::BadName`] when it is not 1-64 characters of `[a-z0-9-]`
/// starting with a letter, [`StoreError::ReservedName`] for [`RESERVED_NAME`].
pub fn validate_name(name: &str) -> Result<(), StoreError> {
    if name == RESERVED_NAME {
        return Err(StoreError::ReservedName(name.to_string()));
    }
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_string()))
    }
}

/// The name a component gets when none is given: its file stem, lowercased,
/// with every run of other characters turned into one `-`.
pub fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name = name.trim_start_matches(|c: char| !c.is_ascii_lowercase());
    let name: String = name.chars().take(64).collect();
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "component".to_string()
    } else {
        name
    }
}
