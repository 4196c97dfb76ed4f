//! A function's MCP tool definition ([`describe`]): its name, its
//! description (the component's, or one generated from its signature) and
//! its schemas, each checked against the caps.
//!
//! The definition is derived in two steps, so the costly one can be kept:
//! [`derive`] builds a function's schemas (with its parameters' docs) and
//! keeps them as compact JSON text ([`FunctionTexts`]); [`assemble`] adds
//! what depends on the name the component is installed under. A start
//! reads the texts kept beside the component's description (see
//! [`super::prepared`]) and only assembles.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};
use weld_schema::{SchemaPart, SchemaSize, Signature};

use super::{GENERATED_SIGNATURE_BYTES, MAX_DESCRIPTION_BYTES, ToolSpec, tool_name};

/// A JSON Schema held as its compact JSON text, which is what a listing
/// sends and measures: weld keeps a tool's schemas as text (about the size
/// of the listing) rather than as JSON values (up to 18 times that), and
/// parses one only to send it ([`SchemaText::to_object`]), or, for the
/// per-call path, once ([`SchemaText::kept_object`]).
#[derive(Debug, Clone)]
pub struct SchemaText {
    text: Arc<str>,
    /// The schema as values, once a call has needed it (shared by clones).
    kept: Arc<OnceLock<Arc<Map<String, Value>>>>,
}

impl PartialEq for SchemaText {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SchemaText {}

impl SchemaText {
    /// The text of `schema`.
    pub fn of(schema: &Map<String, Value>) -> Self {
        // Serialising a map of JSON values to a string cannot fail.
        Self::kept(Arc::from(
            serde_json::to_string(schema).unwrap_or_else(|_| "{}".into()),
        ))
    }

    /// Text kept by weld (authenticated), taken as the text of an object.
    pub(crate) fn kept(text: Arc<str>) -> Self {
        Self {
            text,
            kept: Arc::default(),
        }
    }

    /// The compact JSON text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The shared text, to keep.
    pub(crate) fn shared(&self) -> &Arc<str> {
        &self.text
    }

    /// The schema as a JSON object, parsed anew (for a listing page, which
    /// drops it once sent).
    ///
    /// # Errors
    ///
    /// When the text is not a JSON object: never for text weld built or
    /// kept (kept text is authenticated), but not assumed.
    pub fn to_object(&self) -> Result<Map<String, Value>, serde_json::Error> {
        serde_json::from_str(&self.text)
    }

    /// The schema as a JSON object, parsed the first time it is asked for
    /// and kept: for what a call needs (rmcp checks a call's `Mcp-Param-*`
    /// headers against its tool's input schema), so only tools that are
    /// called hold their schemas as values.
    ///
    /// # Errors
    ///
    /// As [`SchemaText::to_object`].
    pub fn kept_object(&self) -> Result<Arc<Map<String, Value>>, serde_json::Error> {
        if let Some(kept) = self.kept.get() {
            return Ok(Arc::clone(kept));
        }
        let parsed = Arc::new(self.to_object()?);
        Ok(Arc::clone(self.kept.get_or_init(|| parsed)))
    }
}

impl serde::Serialize for SchemaText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Only reports (`weld inspect --json`) serialise a schema whole.
        let value: Value = serde_json::from_str(&self.text).map_err(serde::ser::Error::custom)?;
        value.serialize(serializer)
    }
}

/// What a function's tool definition is made of that does not depend on
/// the component's name: derived once ([`derive`]) and kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionTexts {
    /// The input schema, with the parameters' docs.
    pub input: SchemaText,
    /// The output schema, when the function returns a value.
    pub output: Option<SchemaText>,
    /// The signature written out for a generated description (cut at
    /// [`GENERATED_SIGNATURE_BYTES`]); `None` when the docs give one.
    pub signature: Option<Arc<str>>,
    /// The description the docs give (within [`MAX_DESCRIPTION_BYTES`]);
    /// `None` when they give none. Exactly one of this and `signature` is
    /// set.
    pub description: Option<Arc<str>>,
}

/// The MCP tool definition of one function, checked against the caps on
/// its schemas and description.
///
/// # Errors
///
/// Which cap is exceeded, by how much.
pub fn describe(
    component: &str,
    interface: Option<&str>,
    function: &str,
    signature: &Signature,
    docs: Option<&weld_store::FunctionDocs>,
) -> Result<ToolSpec, String> {
    let texts = derive(function, signature, docs)?;
    assemble(component, interface, function, &texts)
}

/// Whether the description the docs give (if any) is within its cap.
///
/// # Errors
///
/// Its size and the cap.
pub(crate) fn check_description(docs: Option<&weld_store::FunctionDocs>) -> Result<(), String> {
    match docs.and_then(|d| d.description.as_ref()) {
        Some(given) if given.len() > MAX_DESCRIPTION_BYTES => Err(format!(
            "its description is {} bytes (the cap is {MAX_DESCRIPTION_BYTES} bytes)",
            given.len()
        )),
        _ => Ok(()),
    }
}

/// The schemas of `function` as text, and its description as its docs give
/// it or else its signature, checked against the caps.
///
/// # Errors
///
/// Which cap is exceeded, by how much.
pub fn derive(
    function: &str,
    signature: &Signature,
    docs: Option<&weld_store::FunctionDocs>,
) -> Result<FunctionTexts, String> {
    check_description(docs)?;
    let param_doc = |param: &str| docs.and_then(|d| d.params.get(param).cloned());
    let input =
        checked(SchemaPart::Input, Some(signature.input_schema(&param_doc)))?.unwrap_or_default();
    let output = checked(SchemaPart::Output, signature.output_schema())?;
    let description = docs.and_then(|d| d.description.as_deref()).map(Arc::from);
    Ok(FunctionTexts {
        input: SchemaText::of(&input),
        output: output.as_ref().map(SchemaText::of),
        signature: description
            .is_none()
            .then(|| Arc::from(signature.wit_within(function, GENERATED_SIGNATURE_BYTES))),
        description,
    })
}

/// The tool definition of `function` of `component` from its `texts`,
/// measured.
///
/// # Errors
///
/// When the texts hold neither a description nor a signature (or both):
/// never for texts [`derive`] made.
pub fn assemble(
    component: &str,
    interface: Option<&str>,
    function: &str,
    texts: &FunctionTexts,
) -> Result<ToolSpec, String> {
    let interface_short = interface.map(weld_runtime::short_interface_name);
    let name = tool_name(component, interface_short, function);
    let description = match (&texts.description, &texts.signature) {
        (Some(given), None) => given.to_string(),
        (None, Some(signature)) => generated_description(component, interface, signature),
        _ => return Err("its kept definition holds neither a description nor a signature".into()),
    };
    Ok(ToolSpec::new(
        name,
        description,
        texts.input.clone(),
        texts.output.clone(),
        None,
        0,
    ))
}

/// `schema`, if it is within the caps. Its types were already read within
/// them; what the parameters' documentation adds is measured here.
fn checked(
    part: SchemaPart,
    schema: Option<Map<String, Value>>,
) -> Result<Option<Map<String, Value>>, String> {
    let Some(schema) = schema else {
        return Ok(None);
    };
    let schema = Value::Object(schema);
    SchemaSize::of(&schema)
        .check(part)
        .map_err(|e| e.to_string())?;
    match schema {
        Value::Object(schema) => Ok(Some(schema)),
        _ => Ok(None),
    }
}

/// Bytes of `value`'s compact JSON text, without keeping the text: what
/// it adds to a listing.
pub fn json_len(value: &(impl serde::Serialize + ?Sized)) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serialising plain data to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The description a tool gets when its author gave none: what it is and
/// its signature (`signature`, already cut), so a model can still use it
/// correctly.
fn generated_description(component: &str, interface: Option<&str>, signature: &str) -> String {
    let place = match interface {
        Some(interface) => format!("interface `{interface}` of component `{component}`"),
        None => format!("component `{component}`"),
    };
    format!("Calls `{signature}` from {place}. (The component has no description for it.)")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::SchemaText;

    #[test]
    fn a_schema_a_call_needs_is_parsed_once_and_shared_by_its_copies() {
        let schema = SchemaText::kept(Arc::from(r#"{"type":"object"}"#));
        let copy = schema.clone();
        let first = schema.kept_object().expect("an object");
        assert!(Arc::ptr_eq(&first, &copy.kept_object().expect("an object")));
        // A listing page parses its own, which it drops once sent.
        let page = schema.to_object().expect("an object");
        assert_eq!(&page, first.as_ref());
    }
}
