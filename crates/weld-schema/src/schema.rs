//! The JSON Schema is what a model reads to call a tool, and what a client
//! may validate against before calling; conversion (`convert.rs`) is what the
//! server actually enforces. The two are written side by side, case by case,
//! to accept exactly the same JSON — a property test checks they agree — so
//! that nothing the schema allows is refused at call time and vice versa.

use serde_json::{Map, Value, json};

use crate::Ty;

/// `f32::MAX` widened exactly to `f64`; the `f32` number range. Conversion
/// uses the same constant, so schema and conversion agree at the boundary.
pub(crate) const F32_LIMIT: f64 = f32::MAX as f64;

/// The strings that stand for non-finite floats.
pub(crate) const NON_FINITE: [&str; 3] = ["NaN", "Infinity", "-Infinity"];

impl Ty {
    /// JSON Schema (draft 2020-12) for this type's JSON form. The result is a
    /// subschema: it has no `$schema` key (see
    /// [`crate::Signature::input_schema`] for a complete document).
    pub fn json_schema(&self) -> Value {
        self.schema_with(&mut Ty::json_schema)
    }

    /// This node's schema, with `part` giving the schema of each part type
    /// (list element, field, payload, …) in declaration order. The one
    /// definition of the schema's shape: [`Ty::json_schema`] recurses
    /// through it, and the size computation (`size.rs`) measures each node
    /// by calling it with a placeholder for every part, so the size it
    /// predicts is the size of what is built.
    pub(crate) fn schema_with(&self, part: &mut dyn FnMut(&Ty) -> Value) -> Value {
        match self {
            Ty::Bool => json!({"type": "boolean"}),
            Ty::S8 => int(i8::MIN.into(), i8::MAX.into()),
            Ty::U8 => int(0, u8::MAX.into()),
            Ty::S16 => int(i16::MIN.into(), i16::MAX.into()),
            Ty::U16 => int(0, u16::MAX.into()),
            Ty::S32 => int(i32::MIN.into(), i32::MAX.into()),
            Ty::U32 => int(0, u32::MAX.into()),
            Ty::S64 => json!({"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX}),
            Ty::U64 => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
            Ty::F32 => json!({"anyOf": [
                {"type": "number", "minimum": -F32_LIMIT, "maximum": F32_LIMIT},
                {"enum": NON_FINITE},
            ]}),
            Ty::F64 => json!({"anyOf": [
                {"type": "number"},
                {"enum": NON_FINITE},
            ]}),
            Ty::Char => json!({"type": "string", "minLength": 1, "maxLength": 1}),
            Ty::String => json!({"type": "string"}),
            Ty::List(t) => json!({"type": "array", "items": part(t)}),
            Ty::FixedList(t, n) => json!({
                "type": "array", "items": part(t), "minItems": n, "maxItems": n,
            }),
            Ty::Map(k, v) => {
                if **k == Ty::String {
                    json!({"type": "object", "additionalProperties": part(v)})
                } else {
                    let pair = [part(k), part(v)];
                    json!({"type": "array", "items": tuple(&pair)})
                }
            }
            Ty::Tuple(ts) => tuple(&ts.iter().map(&mut *part).collect::<Vec<_>>()),
            Ty::Record(fields) => Value::Object(record(
                fields.iter().map(|(n, t)| (n, part(t), is_option(t))),
            )),
            Ty::Variant(cases) => {
                let branches: Vec<Value> = cases
                    .iter()
                    .map(|(name, payload)| match payload {
                        None => json!({"const": name}),
                        Some(t) => single_property(name, part(t)),
                    })
                    .collect();
                if branches.is_empty() {
                    // No case: no value. (WIT forbids this; `oneOf: []` is
                    // not a valid schema, so say "nothing" directly.)
                    json!({"not": {}})
                } else {
                    json!({"oneOf": branches})
                }
            }
            Ty::Enum(names) => json!({"type": "string", "enum": names}),
            Ty::Option(t) => {
                // The non-null part is `t` itself, or `{"some": t}` when `t`
                // is itself an option (to keep `none` and `some(none)`
                // apart).
                let some = if is_option(t) {
                    single_property("some", part(t))
                } else {
                    part(t)
                };
                json!({"anyOf": [{"type": "null"}, some]})
            }
            Ty::Result { ok, err } => {
                let mut payload = |t: &Option<Box<Ty>>| match t {
                    Some(t) => part(t),
                    None => json!({"type": "null"}),
                };
                let ok = payload(ok);
                let err = payload(err);
                json!({"oneOf": [
                    single_property("ok", ok),
                    single_property("err", err),
                ]})
            }
            Ty::Flags(names) => {
                if names.is_empty() {
                    json!({"type": "array", "maxItems": 0})
                } else {
                    json!({
                        "type": "array",
                        "items": {"type": "string", "enum": names},
                        "uniqueItems": true,
                    })
                }
            }
        }
    }
}

fn is_option(t: &Ty) -> bool {
    matches!(t, Ty::Option(_))
}

fn int(min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

/// Fixed-length heterogeneous array.
fn tuple(items: &[Value]) -> Value {
    if items.is_empty() {
        // `prefixItems` must be non-empty in 2020-12.
        json!({"type": "array", "maxItems": 0})
    } else {
        json!({
            "type": "array",
            "prefixItems": items,
            "items": {"not": {}},
            "minItems": items.len(),
            "maxItems": items.len(),
        })
    }
}

/// `{"name": <schema>}` with exactly that one property.
pub(crate) fn single_property(name: &str, schema: Value) -> Value {
    let mut props = Map::new();
    props.insert(name.to_string(), schema);
    json!({
        "type": "object",
        "properties": props,
        "required": [name],
        "additionalProperties": false,
    })
}

/// An object schema with one property per field; fields of type `option<_>`
/// may be omitted. Shared by records and function parameter lists.
pub(crate) fn record(
    fields: impl Iterator<Item = (impl Into<String>, Value, bool)>,
) -> Map<String, Value> {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, schema, optional) in fields {
        let name = name.into();
        if !optional {
            required.push(Value::String(name.clone()));
        }
        props.insert(name, schema);
    }
    let mut schema = Map::new();
    schema.insert("type".into(), "object".into());
    schema.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    schema.insert("additionalProperties".into(), false.into());
    schema
}
