//! Tool and parameter descriptions, from the component's `package-docs`
//! custom section.
//!
//! Component types carry no doc comments, and `cargo build` does not keep the
//! WIT's `///` comments either. `wit-component` defines a `package-docs`
//! custom section (a version byte, then JSON) that other hosts read too, so
//! weld reads that, and `weld docs embed` writes it from the WIT sources.
//! Keeping the docs inside the component means a component is described the
//! same wherever it is installed from.
//!
//! Inside a function's doc comment, a line `@param NAME text` describes a
//! parameter; every other line belongs to the tool description.
//!
//! Sections are walked by hand at the top level of the component: a section
//! is an id byte and a LEB128 size, so nested modules are skipped whole and
//! no Wasm parser is needed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The name of the custom section `wit-component` defines for WIT docs.
pub const SECTION_NAME: &str = "package-docs";

/// The description of one function and its parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionDocs {
    /// What the function does, if documented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Each documented parameter's description, by parameter name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// Docs for a whole component, keyed by `function` (world level) or
/// `interface/function` (interface short name, e.g. `text/slugify`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ComponentDocs(pub BTreeMap<String, FunctionDocs>);

impl ComponentDocs {
    /// The key a function's docs are stored under.
    pub fn key(interface_short: Option<&str>, function: &str) -> String {
        match interface_short {
            Some(interface) => format!("{interface}/{function}"),
            None => function.to_string(),
        }
    }

    /// Docs for a function, if any were given.
    pub fn get(&self, interface_short: Option<&str>, function: &str) -> Option<&FunctionDocs> {
        self.0.get(&Self::key(interface_short, function))
    }
}

/// Errors reading or writing docs.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    /// The bytes do not start with a component header.
    #[error(
        "not a WebAssembly component (expected the component header `\\0asm` version 0x0d layer 1)"
    )]
    NotAComponent,
    /// The component ends, or stops making sense, at this byte offset.
    #[error("the component is truncated or malformed at byte {0}")]
    Malformed(usize),
    /// The `package-docs` custom section does not parse.
    #[error("the `package-docs` section is not valid: {0}")]
    BadSection(String),
    /// The WIT to take docs from could not be read.
    #[error("could not read the WIT in {path}: {message}")]
    Wit {
        /// The WIT file or directory.
        path: String,
        /// What the WIT parser said.
        message: String,
    },
}

/// The `package-docs` JSON, only the parts weld uses. Unknown fields are
/// allowed: the format belongs to wit-component and grows.
#[derive(Debug, Default, Deserialize)]
struct PackageDocsJson {
    #[serde(default)]
    worlds: BTreeMap<String, WorldDocsJson>,
    #[serde(default)]
    interfaces: BTreeMap<String, InterfaceDocsJson>,
}

#[derive(Debug, Default, Deserialize)]
struct WorldDocsJson {
    /// v0 name for functions (imports or exports); v1 keeps imports here.
    #[serde(default)]
    funcs: BTreeMap<String, FuncDocsJson>,
    #[serde(default)]
    func_exports: BTreeMap<String, FuncDocsJson>,
    /// Inline interfaces (`export foo: interface { … }`).
    #[serde(default)]
    interfaces: BTreeMap<String, InterfaceDocsJson>,
    #[serde(default)]
    interface_exports: BTreeMap<String, InterfaceDocsJson>,
}

#[derive(Debug, Default, Deserialize)]
struct InterfaceDocsJson {
    #[serde(default)]
    funcs: BTreeMap<String, FuncDocsJson>,
}

#[derive(Debug, Default, Deserialize)]
struct FuncDocsJson {
    #[serde(default)]
    docs: Option<String>,
}

/// Splits a doc comment into the description and `@param` lines.
pub fn parse_doc_comment(text: &str) -> FunctionDocs {
    let mut description = Vec::new();
    let mut params = BTreeMap::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("@param ") {
            let rest = rest.trim();
            let (name, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let name = name.trim_end_matches(':');
            if !name.is_empty() {
                params.insert(name.to_string(), text.trim().to_string());
            }
        } else {
            description.push(line.trim_end());
        }
    }
    let description = description.join("\n").trim().to_string();
    FunctionDocs {
        description: (!description.is_empty()).then_some(description),
        params,
    }
}

/// Reads the docs of a component, or empty docs when it has none.
///
/// # Errors
///
/// When the bytes are not a component, or the section is present but invalid
/// (an invalid section is an author's mistake worth reporting, not ignoring).
pub fn read(component: &[u8]) -> Result<ComponentDocs, DocsError> {
    let mut docs = ComponentDocs::default();
    let Some(section) = sections(component)?
        .into_iter()
        .rev()
        .find_map(|s| (s.custom_name == Some(SECTION_NAME)).then_some(s.data))
    else {
        return Ok(docs);
    };
    let (version, json) = section
        .split_first()
        .ok_or_else(|| DocsError::BadSection("empty section".into()))?;
    if *version > 1 {
        return Err(DocsError::BadSection(format!(
            "format version {version} is newer than this weld understands (0 or 1)"
        )));
    }
    let parsed: PackageDocsJson =
        serde_json::from_slice(json).map_err(|e| DocsError::BadSection(e.to_string()))?;
    let mut add = |interface: Option<&str>, funcs: &BTreeMap<String, FuncDocsJson>| {
        for (name, func) in funcs {
            if let Some(text) = &func.docs {
                docs.0
                    .insert(ComponentDocs::key(interface, name), parse_doc_comment(text));
            }
        }
    };
    for world in parsed.worlds.values() {
        add(None, &world.funcs);
        add(None, &world.func_exports);
        for (name, interface) in world.interfaces.iter().chain(&world.interface_exports) {
            add(Some(name), &interface.funcs);
        }
    }
    for (name, interface) in &parsed.interfaces {
        add(Some(name), &interface.funcs);
    }
    Ok(docs)
}

/// Returns `component` with its `package-docs` section replaced by the docs
/// of the WIT package in `wit_dir`.
///
/// # Errors
///
/// When the component is malformed or the WIT does not parse.
pub fn embed(component: &[u8], wit_dir: &Path) -> Result<Vec<u8>, DocsError> {
    let wit_error = |message: String| DocsError::Wit {
        path: wit_dir.display().to_string(),
        message,
    };
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_dir(wit_dir)
        .map_err(|e| wit_error(format!("{e:#}")))?;
    let section = wit_parser::PackageMetadata::extract(&resolve, package)
        .encode()
        .map_err(|e| wit_error(format!("{e:#}")))?;

    let existing = sections(component)?;
    let mut out = COMPONENT_HEADER.to_vec();
    for s in existing {
        if s.custom_name != Some(SECTION_NAME) {
            out.extend_from_slice(s.raw);
        }
    }
    let mut payload = Vec::new();
    write_leb128(&mut payload, SECTION_NAME.len() as u64);
    payload.extend_from_slice(SECTION_NAME.as_bytes());
    payload.extend_from_slice(&section);
    out.push(0);
    write_leb128(&mut out, payload.len() as u64);
    out.extend_from_slice(&payload);
    Ok(out)
}

struct Section<'a> {
    /// The whole section including id and size, for copying.
    raw: &'a [u8],
    custom_name: Option<&'a str>,
    /// The section's data (after the name, for a custom section).
    data: &'a [u8],
}

const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

fn sections(bytes: &[u8]) -> Result<Vec<Section<'_>>, DocsError> {
    if bytes.get(..8) != Some(&COMPONENT_HEADER[..]) {
        return Err(DocsError::NotAComponent);
    }
    let mut at = 8;
    let mut out = Vec::new();
    while at < bytes.len() {
        let start = at;
        let id = bytes[at];
        at += 1;
        let size = read_leb128(bytes, &mut at).ok_or(DocsError::Malformed(at))?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|size| at.checked_add(size))
            .filter(|end| *end <= bytes.len())
            .ok_or(DocsError::Malformed(at))?;
        let mut data = &bytes[at..end];
        let mut custom_name = None;
        if id == 0 {
            let mut name_at = 0;
            let len = read_leb128(data, &mut name_at).ok_or(DocsError::Malformed(at))?;
            let name_end = usize::try_from(len)
                .ok()
                .and_then(|len| name_at.checked_add(len))
                .filter(|e| *e <= data.len())
                .ok_or(DocsError::Malformed(at))?;
            custom_name = std::str::from_utf8(&data[name_at..name_end]).ok();
            data = &data[name_end..];
        }
        out.push(Section {
            raw: &bytes[start..end],
            custom_name,
            data,
        });
        at = end;
    }
    Ok(out)
}

fn read_leb128(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn write_leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_lines_become_parameter_docs_and_the_rest_the_description() {
        let docs = parse_doc_comment(
            "Wraps text at a width.\n\n@param text the text to wrap\n@param width: columns",
        );
        assert_eq!(docs.description.as_deref(), Some("Wraps text at a width."));
        assert_eq!(docs.params["text"], "the text to wrap");
        assert_eq!(docs.params["width"], "columns");
    }

    #[test]
    fn a_core_module_is_not_a_component() {
        let module = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
        assert!(matches!(read(&module), Err(DocsError::NotAComponent)));
    }

    #[test]
    fn a_section_running_past_the_end_is_malformed() {
        let mut bytes = COMPONENT_HEADER.to_vec();
        bytes.extend_from_slice(&[0x00, 0x7f, 0x01]);
        assert!(matches!(read(&bytes), Err(DocsError::Malformed(_))));
    }

    #[test]
    fn a_component_without_docs_has_empty_docs() {
        assert_eq!(read(&COMPONENT_HEADER).ok(), Some(ComponentDocs::default()));
    }

    #[test]
    fn leb128_round_trips() {
        for value in [0u64, 1, 127, 128, 300, 1 << 32, u64::MAX] {
            let mut out = Vec::new();
            write_leb128(&mut out, value);
            let mut at = 0;
            assert_eq!(read_leb128(&out, &mut at), Some(value));
            assert_eq!(at, out.len());
        }
    }
}
