//! A tool is a function: its arguments arrive as one JSON object and its
//! result must leave as an MCP `structuredContent` *object* with a matching
//! object `outputSchema`. This module fixes how a parameter list becomes that
//! input object and how a result (in particular `result<T, E>`, the usual
//! way a component reports failure) becomes structured output, text, or a
//! tool error — in one place, so the schemas advertised and the values
//! produced cannot drift apart.

use serde_json::{Map, Value};
use wasmtime::component::Val;
use wasmtime::component::types::ComponentFunc;

use crate::Ty;
use crate::convert::{self, FieldFail};
use crate::error::{ConvertError, Oversize, SchemaPart, Scope, TooLarge, TypeError, Unsupported};
use crate::schema;
use crate::size::Budget;
use crate::source::TypeSource;
use crate::ty::{Bounded, LowerFail, lower};

const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// The JSON-relevant shape of a component function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signature {
    /// Parameters in declaration order.
    pub params: Vec<(String, Ty)>,
    /// The single result type, if the function returns anything.
    pub result: Option<Ty>,
}

/// A function result, ready to become an MCP `CallToolResult`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    /// `structuredContent`; always an object, matching
    /// [`Signature::output_schema`].
    pub structured: Option<Map<String, Value>>,
    /// Text content: a string result as the raw string, anything else as
    /// compact JSON.
    pub text: Option<String>,
    /// True when the function returned `err(_)` (or its result could not be
    /// rendered).
    pub is_error: bool,
}

/// How a result's payload is made into an object.
enum Wrap<'a> {
    /// A record is already an object: used as is.
    Record(&'a [(String, Ty)]),
    /// Anything else becomes `{"result": v}`.
    Field(&'a Ty),
}

fn wrap_of(ty: &Ty) -> Wrap<'_> {
    match ty {
        Ty::Record(fields) => Wrap::Record(fields),
        other => Wrap::Field(other),
    }
}

impl Signature {
    /// Reads a wasmtime function type. Fails if any parameter or the result
    /// contains a type with no JSON form (naming which parameter and where),
    /// if the function has more than one result, or if its input or output
    /// schema would exceed the caps ([`crate::MAX_SCHEMA_BYTES`],
    /// [`crate::MAX_SCHEMA_DEPTH`]).
    pub fn from_wasmtime(func_ty: &ComponentFunc) -> Result<Signature, TypeError> {
        Signature::from_source(func_ty.params(), func_ty.results())
    }

    /// Reads a function type from any [`TypeSource`], as
    /// [`Signature::from_wasmtime`]: `params` in declaration order, and the
    /// results (at most one is supported).
    ///
    /// The parameters share one budget of [`crate::MAX_SCHEMA_BYTES`] and
    /// the result has its own, so reading stops as soon as either schema is
    /// known to be too large, whatever the types would expand to.
    pub fn from_source<S: TypeSource, N: AsRef<str>>(
        params: impl IntoIterator<Item = (N, S)>,
        results: impl ExactSizeIterator<Item = S>,
    ) -> Result<Signature, TypeError> {
        let mut budget = Budget::new(crate::MAX_SCHEMA_BYTES);
        let mut depth = 0;
        let mut lowered = Vec::new();
        for (name, source) in params {
            let name = name.as_ref();
            let ty = lower(&source, &mut Vec::new(), &mut budget).map_err(|e| match e {
                LowerFail::Unsupported(e) => TypeError::Unsupported(e.in_parameter(name)),
                other => other.into_error(SchemaPart::Input),
            })?;
            depth = depth.max(ty.schema_size().depth);
            lowered.push((name.to_string(), ty));
        }
        // `{"properties": {"name": <type>}}`
        check_depth(SchemaPart::Input, depth + 2)?;
        let mut results = results;
        if results.len() > 1 {
            return Err(Unsupported::function(format!(
                "a function with {} results has no JSON representation",
                results.len()
            ))
            .into());
        }
        let result = match results.next() {
            Some(source) => {
                let mut budget = Budget::new(crate::MAX_SCHEMA_BYTES);
                let ty = lower(&source, &mut Vec::new(), &mut budget).map_err(|e| match e {
                    LowerFail::Unsupported(e) => TypeError::Unsupported(e.in_result()),
                    other => other.into_error(SchemaPart::Output),
                })?;
                // A record is its own object, anything else
                // `{"properties": {"result": <type>}}`: two levels at most.
                check_depth(SchemaPart::Output, ty.schema_size().depth + 2)?;
                Some(ty)
            }
            None => None,
        };
        Ok(Signature {
            params: lowered,
            result,
        })
    }

    /// The number of result slots a caller must provide to wasmtime (0 or 1).
    pub fn result_len(&self) -> usize {
        usize::from(self.result.is_some())
    }

    /// The MCP `inputSchema`: an object with one property per parameter.
    /// Parameters of type `option<_>` may be omitted (meaning `none`); the
    /// rest are required; no other properties are allowed. `param_docs`
    /// supplies a parameter's documentation, which becomes that property's
    /// `description`.
    pub fn input_schema(&self, param_docs: &impl Fn(&str) -> Option<String>) -> Map<String, Value> {
        let mut s = schema::record(
            self.params
                .iter()
                .map(|(n, t)| (n, t.json_schema(), matches!(t, Ty::Option(_)))),
        );
        if let Some(Value::Object(props)) = s.get_mut("properties") {
            for (name, prop) in props.iter_mut() {
                if let (Some(doc), Value::Object(prop)) = (param_docs(name), prop) {
                    prop.insert("description".into(), Value::String(doc));
                }
            }
        }
        s.insert("$schema".into(), DRAFT_2020_12.into());
        s
    }

    /// The MCP `outputSchema`, which must describe an object.
    ///
    /// * no result, or `result<_, E>` → `None` (nothing structured to say);
    /// * `result<T, E>` → the schema of `T` wrapped as below (an `err` is
    ///   reported as a tool error, not as structured content);
    /// * any other `T` → `T` wrapped: a record as itself, anything else as
    ///   `{"result": T}`.
    pub fn output_schema(&self) -> Option<Map<String, Value>> {
        let payload = self.payload_ty()?;
        let mut s = match wrap_of(payload) {
            Wrap::Record(fields) => schema::record(
                fields
                    .iter()
                    .map(|(n, t)| (n, t.json_schema(), matches!(t, Ty::Option(_)))),
            ),
            Wrap::Field(t) => match schema::single_property("result", t.json_schema()) {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        };
        s.insert("$schema".into(), DRAFT_2020_12.into());
        Some(s)
    }

    /// The type whose values end up in `structuredContent`.
    fn payload_ty(&self) -> Option<&Ty> {
        match self.result.as_ref()? {
            Ty::Result { ok, .. } => ok.as_deref(),
            other => Some(other),
        }
    }

    /// Converts MCP `arguments` to wasmtime parameter values, in declaration
    /// order. Absent arguments are treated as `{}`. Accepts exactly what
    /// [`Signature::input_schema`] accepts.
    pub fn args_from_json(
        &self,
        args: Option<&Map<String, Value>>,
    ) -> Result<Vec<Val>, ConvertError> {
        let empty = Map::new();
        let args = args.unwrap_or(&empty);
        match convert::fields_to_vals(self.params.iter().map(|(n, t)| (n, t)), args) {
            Ok(vals) => Ok(vals.into_iter().map(|(_, v)| v).collect()),
            Err(FieldFail::Value(f)) => Err(f.finish(Scope::Parameter, None)),
            Err(FieldFail::Missing(name)) => Err(ConvertError::new(
                Scope::Arguments,
                name.clone(),
                format!("missing required parameter `{name}`"),
            )),
            Err(FieldFail::Unknown { name, known }) => {
                let known = if known.is_empty() {
                    "this function takes no parameters".to_string()
                } else {
                    format!("known: {known}")
                };
                Err(ConvertError::new(
                    Scope::Arguments,
                    name.clone(),
                    format!("unknown parameter `{name}` ({known})"),
                ))
            }
        }
    }

    /// Turns the values wasmtime returned into tool output (see
    /// [`Signature::output_schema`] for the shapes). Never panics: values
    /// that do not fit the declared result type become an error result.
    pub fn render_result(&self, results: &[Val]) -> Rendered {
        let Some(result_ty) = &self.result else {
            return Rendered::default();
        };
        let [val] = results else {
            return failed(format!(
                "internal error: expected 1 result value, got {}",
                results.len()
            ));
        };
        match (result_ty, val) {
            (Ty::Result { ok, err }, Val::Result(r)) => match (r, ok, err) {
                (Ok(None), None, _) => Rendered::default(),
                (Ok(Some(v)), Some(t), _) => structured(t, v),
                (Err(None), _, None) => Rendered {
                    structured: None,
                    text: None,
                    is_error: true,
                },
                (Err(Some(e)), _, Some(t)) => match convert::from_val(t, e) {
                    Ok(json) => Rendered {
                        structured: None,
                        text: Some(text_of(&json, &json)),
                        is_error: true,
                    },
                    Err(f) => failed(f.finish(Scope::Result, Some("err")).to_string()),
                },
                _ => mismatched(result_ty, val),
            },
            (Ty::Result { .. }, _) => mismatched(result_ty, val),
            (t, v) => structured(t, v),
        }
    }

    /// WIT-like rendering, e.g. `add: func(a: u32, b: u32) -> u32`; without
    /// the `name: ` prefix if `name` is empty.
    pub fn wit(&self, name: &str) -> String {
        self.wit_within(name, usize::MAX)
    }

    /// [`Signature::wit`], cut to at most `max` bytes (plus a closing `…`
    /// when cut), with work bounded by `max`.
    pub fn wit_within(&self, name: &str, max: usize) -> String {
        let mut out = Bounded::new(max);
        if !name.is_empty() {
            out.push(name);
            out.push(": ");
        }
        out.push("func(");
        for (i, (n, t)) in self.params.iter().enumerate() {
            if i > 0 {
                out.push(", ");
            }
            out.push(n);
            out.push(": ");
            t.write_wit(&mut out);
        }
        out.push(")");
        if let Some(r) = &self.result {
            out.push(" -> ");
            r.write_wit(&mut out);
        }
        out.finish()
    }
}

fn check_depth(part: SchemaPart, depth: u32) -> Result<(), TooLarge> {
    if depth > crate::MAX_SCHEMA_DEPTH {
        Err(TooLarge::new(part, Oversize::Depth(depth)))
    } else {
        Ok(())
    }
}

/// Text form: a JSON string as the raw string, anything else as compact
/// JSON of `whole`.
fn text_of(value: &Value, whole: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        _ => whole.to_string(),
    }
}

fn failed(message: String) -> Rendered {
    Rendered {
        structured: None,
        text: Some(message),
        is_error: true,
    }
}

fn mismatched(ty: &Ty, val: &Val) -> Rendered {
    match convert::from_val(ty, val) {
        Err(f) => failed(format!("internal error: {}", f.finish(Scope::Result, None))),
        Ok(_) => failed(format!(
            "internal error: result does not fit type {}",
            ty.wit()
        )),
    }
}

/// A successful payload `v` of type `t`, wrapped into an object.
fn structured(t: &Ty, v: &Val) -> Rendered {
    let json = match convert::from_val(t, v) {
        Ok(json) => json,
        Err(f) => return failed(format!("internal error: {}", f.finish(Scope::Result, None))),
    };
    let object = match (wrap_of(t), &json) {
        (Wrap::Record(_), Value::Object(m)) => m.clone(),
        _ => {
            let mut m = Map::new();
            m.insert("result".into(), json.clone());
            m
        }
    };
    Rendered {
        // MCP: a tool returning structured content SHOULD also return it
        // serialized in a text block, for clients that only read text.
        text: Some(Value::Object(object.clone()).to_string()),
        structured: Some(object),
        is_error: false,
    }
}

/// A lower bound on the bytes of JSON text `val` renders to: every string's
/// UTF-8 bytes and one byte per other scalar. Cheap to compute, and never
/// more than the real size — so a result whose bound already exceeds an
/// output cap can be refused before it is rendered (and copied twice more).
#[must_use]
pub fn min_json_len(val: &Val) -> u64 {
    match val {
        Val::String(s) => s.len() as u64,
        Val::List(items) | Val::Tuple(items) => items.iter().map(min_json_len).sum(),
        Val::Record(fields) => fields.iter().map(|(_, v)| min_json_len(v)).sum(),
        Val::Variant(_, Some(v)) | Val::Option(Some(v)) => min_json_len(v),
        Val::Result(Ok(Some(v)) | Err(Some(v))) => min_json_len(v),
        _ => 1,
    }
}

#[cfg(test)]
mod min_len_tests {
    use super::*;

    #[test]
    fn the_bound_never_exceeds_the_rendered_size() {
        let ty = Ty::List(Box::new(Ty::String));
        let signature = Signature {
            params: Vec::new(),
            result: Some(ty),
        };
        let val = Val::List(vec![
            Val::String("a \"quoted\" line\n".into()),
            Val::String(String::new()),
        ]);
        let rendered = signature.render_result(std::slice::from_ref(&val));
        let text = rendered.text.expect("text");
        assert!(min_json_len(&val) <= text.len() as u64);
        assert_eq!(min_json_len(&val), 16);
    }
}
