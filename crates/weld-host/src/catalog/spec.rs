//! A function's MCP tool definition ([`describe`]): its name, its
//! description (the component's, or one generated from its signature) and
//! its schemas, each checked against the caps.

use std::sync::Arc;

use weld_schema::{SchemaPart, SchemaSize, Signature};

use super::{GENERATED_SIGNATURE_BYTES, MAX_DESCRIPTION_BYTES, ToolSpec, tool_name};

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
    let interface_short = interface.map(weld_runtime::short_interface_name);
    let name = tool_name(component, interface_short, function);
    let description = match docs.and_then(|d| d.description.clone()) {
        Some(given) if given.len() > MAX_DESCRIPTION_BYTES => {
            return Err(format!(
                "its description is {} bytes (the cap is {MAX_DESCRIPTION_BYTES} bytes)",
                given.len()
            ));
        }
        Some(given) => given,
        None => generated_description(component, interface, function, signature),
    };
    let param_doc = |param: &str| docs.and_then(|d| d.params.get(param).cloned());
    let input_schema =
        checked(SchemaPart::Input, Some(signature.input_schema(&param_doc)))?.unwrap_or_default();
    let output_schema = checked(SchemaPart::Output, signature.output_schema())?;
    Ok(ToolSpec {
        name,
        description,
        input_schema: Arc::new(input_schema),
        output_schema: output_schema.map(Arc::new),
        mcp: None,
    })
}

/// `schema`, if it is within the caps. Its types were already read within
/// them; what the parameters' documentation adds is measured here.
fn checked(
    part: SchemaPart,
    schema: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, String> {
    let Some(schema) = schema else {
        return Ok(None);
    };
    let schema = serde_json::Value::Object(schema);
    SchemaSize::of(&schema)
        .check(part)
        .map_err(|e| e.to_string())?;
    match schema {
        serde_json::Value::Object(schema) => Ok(Some(schema)),
        _ => Ok(None),
    }
}

/// Bytes of `value`'s compact JSON text, without keeping the text.
pub(crate) fn json_len(value: &impl serde::Serialize) -> u64 {
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
/// its signature (cut at [`GENERATED_SIGNATURE_BYTES`]), so a model can
/// still use it correctly.
fn generated_description(
    component: &str,
    interface: Option<&str>,
    function: &str,
    signature: &Signature,
) -> String {
    let place = match interface {
        Some(interface) => format!("interface `{interface}` of component `{component}`"),
        None => format!("component `{component}`"),
    };
    format!(
        "Calls `{}` from {place}. (The component has no description for it.)",
        signature.wit_within(function, GENERATED_SIGNATURE_BYTES)
    )
}
