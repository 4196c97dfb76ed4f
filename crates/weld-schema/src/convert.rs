//! JSON ⇄ `Val` conversion. JSON → `Val` is strict: it accepts exactly what
//! the type's JSON Schema accepts (see `schema.rs`), so a model gets the same
//! answer from the schema and from the server, and errors name the path,
//! the expectation and the offending JSON. `Val` → JSON is total for values
//! of the type and produces JSON that validates against the schema and
//! converts back to an equal `Val`.
//!
//! All recursion follows the *type*, never the JSON, so the depth of any
//! input is bounded by the (finite) WIT type regardless of how deeply nested
//! the incoming JSON is.

use serde_json::{Map, Number, Value};
use wasmtime::component::Val;

use crate::Ty;
use crate::error::{ConvertError, Scope};
use crate::path::{self, Seg};
use crate::schema::{F32_LIMIT, NON_FINITE};

/// An error on its way up: segments are collected innermost first and
/// rendered once at the top.
pub(crate) struct Fail {
    rev_segs: Vec<Seg>,
    problem: String,
}

impl Fail {
    fn new(problem: String) -> Self {
        Fail {
            rev_segs: Vec::new(),
            problem,
        }
    }

    fn at(mut self, seg: Seg) -> Self {
        self.rev_segs.push(seg);
        self
    }

    /// Turns this into a public error, with `root` as the outermost segment.
    pub(crate) fn finish(mut self, scope: Scope, root: Option<&str>) -> ConvertError {
        if let Some(root) = root {
            self.rev_segs.push(Seg::Field(root.to_string()));
        }
        self.rev_segs.reverse();
        ConvertError::new(scope, path::render(&self.rev_segs), self.problem)
    }
}

fn expected(what: &str, got: &Value) -> Fail {
    Fail::new(format!("expected {what}, got {}", describe(got)))
}

/// A short description of a JSON value for error messages: scalars as JSON
/// (long strings cut), containers by kind and size.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Array(items) => match items.len() {
            1 => "an array of 1 item".to_string(),
            n => format!("an array of {n} items"),
        },
        Value::Object(m) if m.is_empty() => "an empty object".to_string(),
        Value::Object(m) => {
            // Sorted, so messages do not depend on serde_json's map order.
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            format!("an object with {}", quoted_list(keys.into_iter(), "`"))
        }
        Value::String(s) if s.chars().count() > 40 => {
            let cut: String = s.chars().take(40).collect();
            format!("{}…", Value::String(cut))
        }
        _ => v.to_string(),
    }
}

/// `"a", "b"` (JSON-quoted) or `` `a`, `b` `` — at most 20 names.
fn quoted_list<'a>(names: impl Iterator<Item = &'a String>, quote: &str) -> String {
    let mut out = String::new();
    for (i, n) in names.enumerate() {
        if i == 20 {
            out.push_str(", …");
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        if quote == "\"" {
            out.push_str(&Value::String(n.clone()).to_string());
        } else {
            out.push_str(quote);
            out.push_str(n);
            out.push_str(quote);
        }
    }
    out
}

fn one_of(names: &[String]) -> String {
    if names.is_empty() {
        "nothing (the type has no values)".to_string()
    } else {
        format!("one of {}", quoted_list(names.iter(), "\""))
    }
}

fn items(n: usize) -> String {
    if n == 1 {
        "1 item".to_string()
    } else {
        format!("{n} items")
    }
}

/// The integer value of a JSON number if it is integral (JSON Schema's
/// `"type": "integer"`, which includes `3.0` and `-0.0`), exactly.
fn integral(n: &Number) -> Option<i128> {
    if let Some(u) = n.as_u64() {
        Some(u.into())
    } else if let Some(i) = n.as_i64() {
        Some(i.into())
    } else {
        let f = n.as_f64()?;
        // `as` saturates beyond i128, which is far outside every WIT range.
        (f.is_finite() && f.fract() == 0.0).then_some(f as i128)
    }
}

fn int(json: &Value, min: i128, max: i128) -> Result<i128, Fail> {
    match json {
        Value::Number(n) => match integral(n) {
            Some(i) if (min..=max).contains(&i) => Ok(i),
            _ => Err(expected(&format!("an integer in {min}..={max}"), json)),
        },
        _ => Err(expected(&format!("an integer in {min}..={max}"), json)),
    }
}

fn float(json: &Value, limit: f64, what: &str) -> Result<f64, Fail> {
    match json {
        Value::Number(n) => match n.as_f64() {
            Some(f) if (-limit..=limit).contains(&f) => Ok(f),
            _ => Err(expected(what, json)),
        },
        Value::String(s) if s == NON_FINITE[0] => Ok(f64::NAN),
        Value::String(s) if s == NON_FINITE[1] => Ok(f64::INFINITY),
        Value::String(s) if s == NON_FINITE[2] => Ok(f64::NEG_INFINITY),
        _ => Err(expected(what, json)),
    }
}

const F64_WHAT: &str = "a number or one of \"NaN\", \"Infinity\", \"-Infinity\"";
const F32_WHAT: &str = "a number in -3.4028234663852886e+38..=3.4028234663852886e+38 (the f32 range) or one of \"NaN\", \"Infinity\", \"-Infinity\"";

/// Exactly one `"key": value` pair, or a description of what is wrong.
fn single_entry<'a>(json: &'a Value, what: &str) -> Result<(&'a String, &'a Value), Fail> {
    match json {
        Value::Object(m) if m.len() == 1 => m.iter().next().ok_or_else(|| expected(what, json)),
        _ => Err(expected(what, json)),
    }
}

fn array<'a>(json: &'a Value, what: &str) -> Result<&'a Vec<Value>, Fail> {
    match json {
        Value::Array(a) => Ok(a),
        _ => Err(expected(what, json)),
    }
}

/// Converts the members of an object against named, typed slots (record
/// fields or function parameters). Omitted `option<_>` slots become `none`.
pub(crate) fn fields_to_vals<'a>(
    slots: impl Iterator<Item = (&'a String, &'a Ty)> + Clone,
    obj: &Map<String, Value>,
) -> Result<Vec<(String, Val)>, FieldFail> {
    for key in obj.keys() {
        if !slots.clone().any(|(name, _)| name == key) {
            return Err(FieldFail::Unknown {
                name: key.clone(),
                known: quoted_list(slots.clone().map(|(n, _)| n), "`"),
            });
        }
    }
    let mut out = Vec::new();
    for (name, ty) in slots {
        let val = match obj.get(name) {
            Some(json) => {
                to_val(ty, json).map_err(|f| FieldFail::Value(f.at(Seg::Field(name.clone()))))?
            }
            None if matches!(ty, Ty::Option(_)) => Val::Option(None),
            None => return Err(FieldFail::Missing(name.clone())),
        };
        out.push((name.clone(), val));
    }
    Ok(out)
}

pub(crate) enum FieldFail {
    Unknown { name: String, known: String },
    Missing(String),
    Value(Fail),
}

/// JSON → `Val` for `ty`. Recurses on `ty` only.
pub(crate) fn to_val(ty: &Ty, json: &Value) -> Result<Val, Fail> {
    Ok(match ty {
        Ty::Bool => match json {
            Value::Bool(b) => Val::Bool(*b),
            _ => return Err(expected("a boolean", json)),
        },
        // The `as` casts below are exact: `int` checked the range.
        Ty::S8 => Val::S8(int(json, i8::MIN.into(), i8::MAX.into())? as i8),
        Ty::U8 => Val::U8(int(json, 0, u8::MAX.into())? as u8),
        Ty::S16 => Val::S16(int(json, i16::MIN.into(), i16::MAX.into())? as i16),
        Ty::U16 => Val::U16(int(json, 0, u16::MAX.into())? as u16),
        Ty::S32 => Val::S32(int(json, i32::MIN.into(), i32::MAX.into())? as i32),
        Ty::U32 => Val::U32(int(json, 0, u32::MAX.into())? as u32),
        Ty::S64 => Val::S64(int(json, i64::MIN.into(), i64::MAX.into())? as i64),
        Ty::U64 => Val::U64(int(json, 0, u64::MAX.into())? as u64),
        // Rounds to the nearest f32; the range check keeps it finite.
        Ty::F32 => Val::Float32(float(json, F32_LIMIT, F32_WHAT)? as f32),
        Ty::F64 => Val::Float64(float(json, f64::INFINITY, F64_WHAT)?),
        Ty::Char => {
            let what = "a string of exactly one character (Unicode code point)";
            match json {
                Value::String(s) => {
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Val::Char(c),
                        _ => return Err(expected(what, json)),
                    }
                }
                _ => return Err(expected(what, json)),
            }
        }
        Ty::String => match json {
            Value::String(s) => Val::String(s.clone()),
            _ => return Err(expected("a string", json)),
        },
        Ty::List(t) => Val::List(list(t, array(json, "an array")?)?),
        Ty::FixedList(t, n) => {
            let what = format!("an array of exactly {}", items(*n as usize));
            let a = array(json, &what)?;
            if a.len() != *n as usize {
                return Err(expected(&what, json));
            }
            Val::FixedLengthList(list(t, a)?)
        }
        Ty::Map(k, v) => {
            if **k == Ty::String {
                let Value::Object(m) = json else {
                    return Err(expected("an object", json));
                };
                let mut pairs = Vec::with_capacity(m.len());
                for (key, value) in m {
                    let value = to_val(v, value).map_err(|f| f.at(Seg::Key(key.clone())))?;
                    pairs.push((Val::String(key.clone()), value));
                }
                Val::Map(pairs)
            } else {
                let what = "an array of [key, value] pairs";
                let a = array(json, what)?;
                let mut pairs = Vec::with_capacity(a.len());
                for (i, pair) in a.iter().enumerate() {
                    let pair_what = "a [key, value] array of 2 items";
                    let Value::Array(kv) = pair else {
                        return Err(expected(pair_what, pair).at(Seg::Index(i)));
                    };
                    let [key, value] = kv.as_slice() else {
                        return Err(expected(pair_what, pair).at(Seg::Index(i)));
                    };
                    let key = to_val(k, key).map_err(|f| f.at(Seg::Index(0)).at(Seg::Index(i)))?;
                    let value =
                        to_val(v, value).map_err(|f| f.at(Seg::Index(1)).at(Seg::Index(i)))?;
                    pairs.push((key, value));
                }
                Val::Map(pairs)
            }
        }
        Ty::Tuple(ts) => {
            let what = format!("an array of exactly {}", items(ts.len()));
            let a = array(json, &what)?;
            if a.len() != ts.len() {
                return Err(expected(&what, json));
            }
            let mut out = Vec::with_capacity(ts.len());
            for (i, (t, j)) in ts.iter().zip(a).enumerate() {
                out.push(to_val(t, j).map_err(|f| f.at(Seg::Index(i)))?);
            }
            Val::Tuple(out)
        }
        Ty::Record(fields) => {
            let Value::Object(m) = json else {
                let names = fields.iter().map(|(n, _)| n);
                let what = if fields.is_empty() {
                    "an empty object".to_string()
                } else {
                    format!("an object with fields {}", quoted_list(names, "`"))
                };
                return Err(expected(&what, json));
            };
            match fields_to_vals(fields.iter().map(|(n, t)| (n, t)), m) {
                Ok(vals) => Val::Record(vals),
                Err(FieldFail::Value(f)) => return Err(f),
                Err(FieldFail::Missing(name)) => {
                    return Err(Fail::new(format!("missing required field `{name}`")));
                }
                Err(FieldFail::Unknown { name, known }) => {
                    return Err(Fail::new(format!(
                        "unknown field `{name}` (known: {known})"
                    )));
                }
            }
        }
        Ty::Variant(cases) => {
            let plain: Vec<String> = cases
                .iter()
                .filter(|(_, p)| p.is_none())
                .map(|(n, _)| n.clone())
                .collect();
            let with_payload: Vec<String> = cases
                .iter()
                .filter(|(_, p)| p.is_some())
                .map(|(n, _)| n.clone())
                .collect();
            let what = match (plain.is_empty(), with_payload.is_empty()) {
                (false, true) => one_of(&plain),
                (true, false) => format!(
                    "an object with exactly one of the properties {}",
                    quoted_list(with_payload.iter(), "`")
                ),
                (false, false) => format!(
                    "{} or an object with exactly one of the properties {}",
                    one_of(&plain),
                    quoted_list(with_payload.iter(), "`")
                ),
                (true, true) => one_of(&[]),
            };
            match json {
                Value::String(s) => match cases.iter().find(|(n, _)| n == s) {
                    Some((name, None)) => Val::Variant(name.clone(), None),
                    Some((name, Some(_))) => {
                        return Err(Fail::new(format!(
                            "case `{name}` carries a payload: expected {{\"{name}\": …}}, got {}",
                            describe(json)
                        )));
                    }
                    None => return Err(expected(&what, json)),
                },
                Value::Object(_) => {
                    let (key, payload) = single_entry(json, &what)?;
                    match cases.iter().find(|(n, _)| n == key) {
                        Some((name, Some(t))) => {
                            let v =
                                to_val(t, payload).map_err(|f| f.at(Seg::Field(name.clone())))?;
                            Val::Variant(name.clone(), Some(Box::new(v)))
                        }
                        Some((name, None)) => {
                            return Err(Fail::new(format!(
                                "case `{name}` has no payload: expected the string \"{name}\", got {}",
                                describe(json)
                            )));
                        }
                        None => return Err(expected(&what, json)),
                    }
                }
                _ => return Err(expected(&what, json)),
            }
        }
        Ty::Enum(names) => match json {
            Value::String(s) if names.contains(s) => Val::Enum(s.clone()),
            _ => return Err(expected(&one_of(names), json)),
        },
        Ty::Option(t) => match json {
            Value::Null => Val::Option(None),
            _ if matches!(**t, Ty::Option(_)) => {
                let what = "null or an object {\"some\": …}";
                let (key, inner) = single_entry(json, what)?;
                if key != "some" {
                    return Err(expected(what, json));
                }
                let v = to_val(t, inner).map_err(|f| f.at(Seg::Field("some".into())))?;
                Val::Option(Some(Box::new(v)))
            }
            _ => Val::Option(Some(Box::new(to_val(t, json)?))),
        },
        Ty::Result { ok, err } => {
            let what = "an object with exactly one of the properties `ok`, `err`";
            let (key, payload) = single_entry(json, what)?;
            let (is_ok, payload_ty) = match key.as_str() {
                "ok" => (true, ok),
                "err" => (false, err),
                _ => return Err(expected(what, json)),
            };
            let v = match payload_ty {
                Some(t) => Some(Box::new(
                    to_val(t, payload).map_err(|f| f.at(Seg::Field(key.clone())))?,
                )),
                None if payload.is_null() => None,
                None => {
                    return Err(expected("null (this case has no payload)", payload)
                        .at(Seg::Field(key.clone())));
                }
            };
            Val::Result(if is_ok { Ok(v) } else { Err(v) })
        }
        Ty::Flags(names) => {
            let what = format!(
                "an array of distinct flags from {}",
                quoted_list(names.iter(), "\"")
            );
            let a = array(json, &what)?;
            let mut set = vec![false; names.len()];
            for (i, item) in a.iter().enumerate() {
                let pos = match item {
                    Value::String(s) => names.iter().position(|n| n == s),
                    _ => None,
                };
                let Some(pos) = pos else {
                    return Err(expected(&one_of(names), item).at(Seg::Index(i)));
                };
                if set[pos] {
                    return Err(
                        Fail::new(format!("duplicate flag {}", describe(item))).at(Seg::Index(i))
                    );
                }
                set[pos] = true;
            }
            Val::Flags(
                names
                    .iter()
                    .zip(set)
                    .filter(|(_, on)| *on)
                    .map(|(n, _)| n.clone())
                    .collect(),
            )
        }
    })
}

fn list(t: &Ty, a: &[Value]) -> Result<Vec<Val>, Fail> {
    a.iter()
        .enumerate()
        .map(|(i, j)| to_val(t, j).map_err(|f| f.at(Seg::Index(i))))
        .collect()
}

pub(crate) fn f64_json(x: f64) -> Value {
    if x.is_nan() {
        Value::String(NON_FINITE[0].into())
    } else if x == f64::INFINITY {
        Value::String(NON_FINITE[1].into())
    } else if x == f64::NEG_INFINITY {
        Value::String(NON_FINITE[2].into())
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// The shortest decimal that reads back as the same `f32` (so `0.1f32` is
/// `0.1`, not `0.10000000149011612`). `f32::MAX`'s shortest form,
/// `3.4028235e38`, lies just past the schema's `f32` bound, so it and any
/// value whose short form fails to read back exactly fall back to the exact
/// widened `f64`.
pub(crate) fn f32_json(x: f32) -> Value {
    if !x.is_finite() {
        return f64_json(x.into());
    }
    let exact = f64::from(x);
    let short =
        x.to_string().parse::<f64>().ok().filter(|s| {
            (-F32_LIMIT..=F32_LIMIT).contains(s) && (*s as f32).to_bits() == x.to_bits()
        });
    f64_json(short.unwrap_or(exact))
}

fn kind(val: &Val) -> &'static str {
    match val {
        Val::Bool(_) => "bool",
        Val::S8(_) => "s8",
        Val::U8(_) => "u8",
        Val::S16(_) => "s16",
        Val::U16(_) => "u16",
        Val::S32(_) => "s32",
        Val::U32(_) => "u32",
        Val::S64(_) => "s64",
        Val::U64(_) => "u64",
        Val::Float32(_) => "f32",
        Val::Float64(_) => "f64",
        Val::Char(_) => "char",
        Val::String(_) => "string",
        Val::List(_) => "list",
        Val::Map(_) => "map",
        Val::Record(_) => "record",
        Val::Tuple(_) => "tuple",
        Val::Variant(..) => "variant",
        Val::Enum(_) => "enum",
        Val::Option(_) => "option",
        Val::Result(_) => "result",
        Val::Flags(_) => "flags",
        Val::Resource(_) => "resource",
        Val::Future(_) => "future",
        Val::Stream(_) => "stream",
        Val::ErrorContext(_) => "error-context",
        Val::FixedLengthList(_) => "fixed-length list",
    }
}

fn mismatch(ty: &Ty, val: &Val) -> Fail {
    let wit = ty.wit_within(60);
    Fail::new(format!(
        "value of kind {} does not fit type {wit}",
        kind(val)
    ))
}

/// `Val` → JSON for `ty`; fails only if `val` is not a value of `ty`.
pub(crate) fn from_val(ty: &Ty, val: &Val) -> Result<Value, Fail> {
    Ok(match (ty, val) {
        (Ty::Bool, Val::Bool(b)) => Value::Bool(*b),
        (Ty::S8, Val::S8(i)) => (*i).into(),
        (Ty::U8, Val::U8(i)) => (*i).into(),
        (Ty::S16, Val::S16(i)) => (*i).into(),
        (Ty::U16, Val::U16(i)) => (*i).into(),
        (Ty::S32, Val::S32(i)) => (*i).into(),
        (Ty::U32, Val::U32(i)) => (*i).into(),
        (Ty::S64, Val::S64(i)) => (*i).into(),
        (Ty::U64, Val::U64(i)) => (*i).into(),
        (Ty::F32, Val::Float32(x)) => f32_json(*x),
        (Ty::F64, Val::Float64(x)) => f64_json(*x),
        (Ty::Char, Val::Char(c)) => Value::String(c.to_string()),
        (Ty::String, Val::String(s)) => Value::String(s.clone()),
        (Ty::List(t), Val::List(vs)) => Value::Array(list_json(t, vs)?),
        (Ty::FixedList(t, n), Val::FixedLengthList(vs) | Val::List(vs)) => {
            if vs.len() != *n as usize {
                return Err(Fail::new(format!(
                    "list has {} where the type requires exactly {}",
                    items(vs.len()),
                    n
                )));
            }
            Value::Array(list_json(t, vs)?)
        }
        (Ty::Map(k, v), Val::Map(pairs)) => {
            if **k == Ty::String {
                let mut m = Map::new();
                for (i, (key, value)) in pairs.iter().enumerate() {
                    let Val::String(key) = key else {
                        return Err(mismatch(k, key).at(Seg::Index(0)).at(Seg::Index(i)));
                    };
                    let value = from_val(v, value).map_err(|f| f.at(Seg::Key(key.clone())))?;
                    // Later duplicates win, as they do in wasmtime.
                    m.insert(key.clone(), value);
                }
                Value::Object(m)
            } else {
                let mut out = Vec::with_capacity(pairs.len());
                for (i, (key, value)) in pairs.iter().enumerate() {
                    let key =
                        from_val(k, key).map_err(|f| f.at(Seg::Index(0)).at(Seg::Index(i)))?;
                    let value =
                        from_val(v, value).map_err(|f| f.at(Seg::Index(1)).at(Seg::Index(i)))?;
                    out.push(Value::Array(vec![key, value]));
                }
                Value::Array(out)
            }
        }
        (Ty::Tuple(ts), Val::Tuple(vs)) if ts.len() == vs.len() => {
            let mut out = Vec::with_capacity(ts.len());
            for (i, (t, v)) in ts.iter().zip(vs).enumerate() {
                out.push(from_val(t, v).map_err(|f| f.at(Seg::Index(i)))?);
            }
            Value::Array(out)
        }
        (Ty::Record(fields), Val::Record(vs)) => Value::Object(record_json(fields, vs)?),
        (Ty::Variant(cases), Val::Variant(name, payload)) => {
            match (cases.iter().find(|(n, _)| n == name), payload) {
                (Some((_, None)), None) => Value::String(name.clone()),
                (Some((_, Some(t))), Some(p)) => {
                    let p = from_val(t, p).map_err(|f| f.at(Seg::Field(name.clone())))?;
                    let mut m = Map::new();
                    m.insert(name.clone(), p);
                    Value::Object(m)
                }
                _ => return Err(mismatch(ty, val)),
            }
        }
        (Ty::Enum(names), Val::Enum(name)) if names.contains(name) => Value::String(name.clone()),
        (Ty::Option(_), Val::Option(None)) => Value::Null,
        (Ty::Option(t), Val::Option(Some(v))) => {
            if matches!(**t, Ty::Option(_)) {
                let inner = from_val(t, v).map_err(|f| f.at(Seg::Field("some".into())))?;
                let mut m = Map::new();
                m.insert("some".into(), inner);
                Value::Object(m)
            } else {
                from_val(t, v)?
            }
        }
        (Ty::Result { ok, err }, Val::Result(r)) => {
            let (key, payload_ty, payload) = match r {
                Ok(p) => ("ok", ok, p),
                Err(p) => ("err", err, p),
            };
            let json = match (payload_ty, payload) {
                (Some(t), Some(p)) => from_val(t, p).map_err(|f| f.at(Seg::Field(key.into())))?,
                (None, None) => Value::Null,
                _ => return Err(mismatch(ty, val)),
            };
            let mut m = Map::new();
            m.insert(key.into(), json);
            Value::Object(m)
        }
        (Ty::Flags(names), Val::Flags(set)) => {
            if let Some(bad) = set.iter().find(|f| !names.contains(f)) {
                return Err(Fail::new(format!(
                    "flag `{bad}` is not one of the type's flags"
                )));
            }
            // Declaration order, whatever order the value lists them in.
            Value::Array(
                names
                    .iter()
                    .filter(|n| set.contains(n))
                    .map(|n| Value::String(n.clone()))
                    .collect(),
            )
        }
        _ => return Err(mismatch(ty, val)),
    })
}

fn list_json(t: &Ty, vs: &[Val]) -> Result<Vec<Value>, Fail> {
    vs.iter()
        .enumerate()
        .map(|(i, v)| from_val(t, v).map_err(|f| f.at(Seg::Index(i))))
        .collect()
}

/// A record value as a JSON object; `none` fields are written as `null`.
pub(crate) fn record_json(
    fields: &[(String, Ty)],
    vs: &[(String, Val)],
) -> Result<Map<String, Value>, Fail> {
    if let Some((extra, _)) = vs.iter().find(|(n, _)| !fields.iter().any(|(f, _)| f == n)) {
        return Err(Fail::new(format!(
            "record value has a field `{extra}` the type does not have"
        )));
    }
    let mut m = Map::new();
    for (name, t) in fields {
        let Some((_, v)) = vs.iter().find(|(n, _)| n == name) else {
            return Err(Fail::new(format!("record value lacks field `{name}`")));
        };
        m.insert(
            name.clone(),
            from_val(t, v).map_err(|f| f.at(Seg::Field(name.clone())))?,
        );
    }
    Ok(m)
}

/// Best-effort JSON for a `Val` without a type, used only when a value does
/// not match its declared type (a bug elsewhere) so output stays useful.
pub(crate) fn untyped(val: &Val) -> Value {
    match val {
        Val::Bool(b) => Value::Bool(*b),
        Val::S8(i) => (*i).into(),
        Val::U8(i) => (*i).into(),
        Val::S16(i) => (*i).into(),
        Val::U16(i) => (*i).into(),
        Val::S32(i) => (*i).into(),
        Val::U32(i) => (*i).into(),
        Val::S64(i) => (*i).into(),
        Val::U64(i) => (*i).into(),
        Val::Float32(x) => f32_json(*x),
        Val::Float64(x) => f64_json(*x),
        Val::Char(c) => Value::String(c.to_string()),
        Val::String(s) => Value::String(s.clone()),
        Val::List(vs) | Val::Tuple(vs) | Val::FixedLengthList(vs) => {
            Value::Array(vs.iter().map(untyped).collect())
        }
        Val::Map(pairs) => Value::Array(
            pairs
                .iter()
                .map(|(k, v)| Value::Array(vec![untyped(k), untyped(v)]))
                .collect(),
        ),
        Val::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(n, v)| (n.clone(), untyped(v)))
                .collect(),
        ),
        Val::Variant(name, None) | Val::Enum(name) => Value::String(name.clone()),
        Val::Variant(name, Some(p)) => {
            let mut m = Map::new();
            m.insert(name.clone(), untyped(p));
            Value::Object(m)
        }
        Val::Option(None) => Value::Null,
        Val::Option(Some(v)) => untyped(v),
        Val::Result(r) => {
            let (key, p) = match r {
                Ok(p) => ("ok", p),
                Err(p) => ("err", p),
            };
            let mut m = Map::new();
            m.insert(key.into(), p.as_deref().map_or(Value::Null, untyped));
            Value::Object(m)
        }
        Val::Flags(names) => Value::Array(names.iter().map(|n| Value::String(n.clone())).collect()),
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => {
            Value::String(format!("<{}>", kind(val)))
        }
    }
}

impl Ty {
    /// JSON → `Val`, strictly: accepts exactly the JSON that
    /// [`Ty::json_schema`] accepts. Error paths are relative to `json`.
    pub fn to_val(&self, json: &Value) -> Result<Val, ConvertError> {
        to_val(self, json).map_err(|f| f.finish(Scope::Value, None))
    }

    /// `Val` → JSON. For any value of this type the output validates against
    /// [`Ty::json_schema`] and [`Ty::to_val`] turns it back into an equal
    /// value. A `Val` of the wrong shape (a bug in the caller) does not
    /// panic: it is rendered without the type (see [`Ty::try_from_val`] to
    /// detect that case instead).
    pub fn from_val(&self, val: &Val) -> Value {
        from_val(self, val).unwrap_or_else(|_| untyped(val))
    }

    /// Like [`Ty::from_val`], but reports a `Val` that is not a value of
    /// this type.
    pub fn try_from_val(&self, val: &Val) -> Result<Value, ConvertError> {
        from_val(self, val).map_err(|f| f.finish(Scope::Value, None))
    }
}
