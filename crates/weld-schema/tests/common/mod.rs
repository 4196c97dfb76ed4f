//! Shared test machinery: a real JSON Schema validator (so "the schema
//! accepts X" is decided by an independent implementation, not by us),
//! proptest strategies for types, values and JSON that is *almost* right
//! (random JSON alone would almost never reach the interesting parts of a
//! nested type), and a value equality that treats NaNs as equal and maps as
//! unordered.

#![allow(
    dead_code,
    reason = "each test binary includes this module and uses a different part of it"
)]

use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::strategy::Union;
use serde_json::{Map, Number, Value, json};
use wasmtime::component::Val;
use weld_schema::Ty;

/// Compiles `schema` as draft 2020-12, after checking it against the
/// meta-schema.
pub fn validator(schema: &Value) -> jsonschema::Validator {
    assert!(
        jsonschema::draft202012::meta::is_valid(schema),
        "generated schema is not a valid 2020-12 schema: {schema}"
    );
    match jsonschema::draft202012::new(schema) {
        Ok(v) => v,
        Err(e) => panic!("schema does not compile: {e}\n{schema}"),
    }
}

pub fn validates(schema: &Value, instance: &Value) -> bool {
    validator(schema).is_valid(instance)
}

/// Names are drawn from a small pool that deliberately includes the keys
/// the mapping itself uses (`ok`, `err`, `some`, `result`), so collisions
/// between user names and mapping keys get exercised.
pub const NAMES: &[&str] = &["a", "b", "c", "ok", "err", "some", "result", "x-y"];

fn names(min: usize) -> impl Strategy<Value = Vec<String>> {
    subsequence(NAMES, min..=5).prop_map(|v| v.into_iter().map(str::to_string).collect())
}

fn scalar_ty() -> impl Strategy<Value = Ty> {
    prop_oneof![
        Just(Ty::Bool),
        Just(Ty::S8),
        Just(Ty::U8),
        Just(Ty::S16),
        Just(Ty::U16),
        Just(Ty::S32),
        Just(Ty::U32),
        Just(Ty::S64),
        Just(Ty::U64),
        Just(Ty::F32),
        Just(Ty::F64),
        Just(Ty::Char),
        Just(Ty::String),
        names(1).prop_map(Ty::Enum),
        names(1).prop_map(Ty::Flags),
    ]
}

/// Arbitrary types, at most 4 constructors deep, shaped like WIT allows
/// (non-empty records, tuples, variants, enums and flags; unique names).
pub fn arb_ty() -> impl Strategy<Value = Ty> {
    scalar_ty().prop_recursive(4, 32, 4, |inner| {
        let b = |s: BoxedStrategy<Ty>| s.prop_map(Box::new);
        prop_oneof![
            b(inner.clone().boxed()).prop_map(Ty::List),
            (b(inner.clone().boxed()), 0u32..4).prop_map(|(t, n)| Ty::FixedList(t, n)),
            (
                b(
                    prop_oneof![3 => Just(Ty::String), 1 => scalar_ty(), 1 => inner.clone()]
                        .boxed()
                ),
                b(inner.clone().boxed())
            )
                .prop_map(|(k, v)| Ty::Map(k, v)),
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Ty::Tuple),
            (names(1), proptest::collection::vec(inner.clone(), 5))
                .prop_map(|(ns, ts)| { Ty::Record(ns.into_iter().zip(ts).collect()) }),
            (
                names(1),
                proptest::collection::vec(proptest::option::of(inner.clone()), 5)
            )
                .prop_map(|(ns, ts)| Ty::Variant(ns.into_iter().zip(ts).collect())),
            b(inner.clone().boxed()).prop_map(Ty::Option),
            (
                proptest::option::of(b(inner.clone().boxed())),
                proptest::option::of(b(inner.boxed()))
            )
                .prop_map(|(ok, err)| Ty::Result { ok, err }),
        ]
    })
}

fn f32_val() -> BoxedStrategy<f32> {
    prop_oneof![
        3 => any::<u32>().prop_map(f32::from_bits),
        2 => any::<f32>(),
        1 => select(vec![
            f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, f32::MAX, f32::MIN,
            f32::MIN_POSITIVE, f32::from_bits(1), 0.1, 1.0, 16777217.0,
        ]),
    ]
    .boxed()
}

fn f64_val() -> BoxedStrategy<f64> {
    prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits),
        2 => any::<f64>(),
        1 => select(vec![
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, f64::MAX, f64::MIN,
            f64::MIN_POSITIVE, f64::from_bits(1), 0.1, 1.0, 9007199254740993.0,
        ]),
    ]
    .boxed()
}

fn string_val() -> BoxedStrategy<String> {
    prop_oneof![
        "\\PC{0,6}",
        select(vec![
            "",
            "NaN",
            "Infinity",
            "a",
            "ok",
            "\u{1F600}",
            "é",
            "\0"
        ])
        .prop_map(str::to_string),
    ]
    .boxed()
}

/// Arbitrary values of `ty`. Map keys are unique (a map with repeated keys
/// means the same as one with the last of each, so only those round-trip).
pub fn arb_val(ty: &Ty) -> BoxedStrategy<Val> {
    use proptest::collection::vec;
    match ty {
        Ty::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Ty::S8 => any::<i8>().prop_map(Val::S8).boxed(),
        Ty::U8 => any::<u8>().prop_map(Val::U8).boxed(),
        Ty::S16 => any::<i16>().prop_map(Val::S16).boxed(),
        Ty::U16 => any::<u16>().prop_map(Val::U16).boxed(),
        Ty::S32 => any::<i32>().prop_map(Val::S32).boxed(),
        Ty::U32 => any::<u32>().prop_map(Val::U32).boxed(),
        Ty::S64 => prop_oneof![any::<i64>(), select(vec![i64::MIN, i64::MAX, 0, -1])]
            .prop_map(Val::S64)
            .boxed(),
        Ty::U64 => prop_oneof![any::<u64>(), select(vec![u64::MAX, 0, 1 << 63])]
            .prop_map(Val::U64)
            .boxed(),
        Ty::F32 => f32_val().prop_map(Val::Float32).boxed(),
        Ty::F64 => f64_val().prop_map(Val::Float64).boxed(),
        Ty::Char => any::<char>().prop_map(Val::Char).boxed(),
        Ty::String => string_val().prop_map(Val::String).boxed(),
        Ty::List(t) => vec(arb_val(t), 0..4).prop_map(Val::List).boxed(),
        Ty::FixedList(t, n) => vec(arb_val(t), *n as usize)
            .prop_map(Val::FixedLengthList)
            .boxed(),
        Ty::Map(k, v) => {
            let k_ty = (**k).clone();
            vec((arb_val(k), arb_val(v)), 0..4)
                .prop_map(move |pairs| {
                    let mut seen = Vec::new();
                    let mut out = Vec::new();
                    for (key, value) in pairs {
                        let rendered = k_ty.from_val(&key).to_string();
                        if !seen.contains(&rendered) {
                            seen.push(rendered);
                            out.push((key, value));
                        }
                    }
                    Val::Map(out)
                })
                .boxed()
        }
        Ty::Tuple(ts) => ts
            .iter()
            .map(arb_val)
            .collect::<Vec<_>>()
            .prop_map(Val::Tuple)
            .boxed(),
        Ty::Record(fields) => {
            let names: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
            fields
                .iter()
                .map(|(_, t)| arb_val(t))
                .collect::<Vec<_>>()
                .prop_map(move |vals| Val::Record(names.iter().cloned().zip(vals).collect()))
                .boxed()
        }
        Ty::Variant(cases) => Union::new(cases.iter().map(|(name, payload)| {
            let name = name.clone();
            match payload {
                None => Just(Val::Variant(name, None)).boxed(),
                Some(t) => arb_val(t)
                    .prop_map(move |v| Val::Variant(name.clone(), Some(Box::new(v))))
                    .boxed(),
            }
        }))
        .boxed(),
        Ty::Enum(names) => select(names.clone()).prop_map(Val::Enum).boxed(),
        Ty::Option(t) => prop_oneof![
            1 => Just(Val::Option(None)),
            3 => arb_val(t).prop_map(|v| Val::Option(Some(Box::new(v)))),
        ]
        .boxed(),
        Ty::Result { ok, err } => {
            let payload = |t: &Option<Box<Ty>>| match t {
                None => Just(None).boxed(),
                Some(t) => arb_val(t).prop_map(|v| Some(Box::new(v))).boxed(),
            };
            prop_oneof![
                payload(ok).prop_map(|p| Val::Result(Ok(p))),
                payload(err).prop_map(|p| Val::Result(Err(p))),
            ]
            .boxed()
        }
        Ty::Flags(names) => subsequence(names.clone(), 0..=names.len())
            .prop_map(Val::Flags)
            .boxed(),
    }
}

/// A type together with a value of it.
pub fn ty_and_val() -> impl Strategy<Value = (Ty, Val)> {
    arb_ty().prop_flat_map(|ty| {
        let vals = arb_val(&ty);
        (Just(ty), vals)
    })
}

/// Equality for round-trips: floats by `Val`'s rules (all NaNs equal,
/// `-0.0 != 0.0`), maps as unordered collections; everything else exact.
pub fn val_eq(a: &Val, b: &Val) -> bool {
    fn all(a: &[Val], b: &[Val]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| val_eq(x, y))
    }
    fn opt(a: &Option<Box<Val>>, b: &Option<Box<Val>>) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(x), Some(y)) => val_eq(x, y),
            _ => false,
        }
    }
    match (a, b) {
        (Val::List(x), Val::List(y))
        | (Val::Tuple(x), Val::Tuple(y))
        | (Val::FixedLengthList(x), Val::FixedLengthList(y)) => all(x, y),
        (Val::Map(x), Val::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.iter().any(|(k2, v2)| val_eq(k, k2) && val_eq(v, v2)))
        }
        (Val::Record(x), Val::Record(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((n, v), (n2, v2))| n == n2 && val_eq(v, v2))
        }
        (Val::Variant(n, p), Val::Variant(n2, p2)) => n == n2 && opt(p, p2),
        (Val::Option(x), Val::Option(y)) => opt(x, y),
        (Val::Result(Ok(x)), Val::Result(Ok(y))) | (Val::Result(Err(x)), Val::Result(Err(y))) => {
            opt(x, y)
        }
        (Val::Result(_), Val::Result(_)) => false,
        // Scalars, enums, flags: `Val`'s own equality, which treats floats
        // the way a round-trip should.
        _ => a == b,
    }
}

/// Numbers chosen to sit on, just inside and just outside every integer
/// type's bounds, plus the float-specific edges.
pub fn edge_numbers() -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for (min, max) in [
        (i8::MIN as i128, i8::MAX as i128),
        (0, u8::MAX as i128),
        (i16::MIN as i128, i16::MAX as i128),
        (0, u16::MAX as i128),
        (i32::MIN as i128, i32::MAX as i128),
        (0, u32::MAX as i128),
        (i64::MIN as i128, i64::MAX as i128),
        (0, u64::MAX as i128),
    ] {
        for n in [min - 1, min, max, max + 1] {
            if let Ok(i) = i64::try_from(n) {
                out.push(i.into());
            } else if let Ok(u) = u64::try_from(n) {
                out.push(u.into());
            } else {
                out.push(json!(n as f64));
            }
            // The same value written as a float (`255.0`), where exact.
            out.push(json!(n as f64));
        }
    }
    for f in [
        0.5,
        1.5,
        -0.0,
        3.0,
        -3.0,
        1e300,
        -1e300,
        18446744073709551616.0,
        f32::MAX as f64,
        -(f32::MAX as f64),
        3.4028235e38,
        -3.4028235e38,
        f64::MAX,
        f64::MIN_POSITIVE,
        1e-46,
        0.1,
    ] {
        out.push(Number::from_f64(f).map_or(Value::Null, Value::Number));
    }
    out
}

/// Arbitrary JSON, at most 3 levels deep, biased towards the numbers,
/// strings and keys that matter to the mapping.
pub fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        select(edge_numbers()),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        select(vec![
            "",
            "NaN",
            "Infinity",
            "-Infinity",
            "nan",
            "a",
            "b",
            "c",
            "ok",
            "err",
            "some",
            "result",
            "x-y",
            "ab",
            "\u{1F600}",
            "e\u{301}",
        ])
        .prop_map(|s| Value::String(s.to_string())),
        "\\PC{0,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(select(NAMES), inner, 0..4).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// One random edit to a JSON document.
#[derive(Debug, Clone)]
pub enum Edit {
    Replace(Value),
    RemoveMember,
    AddMember(String, Value),
    DuplicateItem,
    RemoveItem,
    PushItem(Value),
    WrapIn(&'static str),
    WrapInArray,
    Unwrap,
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => arb_json().prop_map(Edit::Replace),
        3 => select(edge_numbers()).prop_map(Edit::Replace),
        1 => Just(Edit::RemoveMember),
        1 => (select(NAMES), arb_json()).prop_map(|(k, v)| Edit::AddMember(k.to_string(), v)),
        1 => Just(Edit::DuplicateItem),
        1 => Just(Edit::RemoveItem),
        1 => arb_json().prop_map(Edit::PushItem),
        1 => select(vec!["some", "ok", "err", "a"]).prop_map(Edit::WrapIn),
        1 => Just(Edit::WrapInArray),
        1 => Just(Edit::Unwrap),
    ]
}

/// Edits as (which node, pre-order, modulo the node count; what to do).
pub fn arb_edits() -> impl Strategy<Value = Vec<(usize, Edit)>> {
    proptest::collection::vec((any::<usize>(), arb_edit()), 1..3)
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(m) => m.values().map(count).sum(),
        _ => 0,
    }
}

/// The `n`th node in pre-order.
fn nth_mut(v: &mut Value, mut n: usize) -> Option<&mut Value> {
    if n == 0 {
        return Some(v);
    }
    n -= 1;
    let children: Vec<&mut Value> = match v {
        Value::Array(a) => a.iter_mut().collect(),
        Value::Object(m) => m.values_mut().collect(),
        _ => return None,
    };
    for child in children {
        let c = count(child);
        if n < c {
            return nth_mut(child, n);
        }
        n -= c;
    }
    None
}

pub fn apply(mut doc: Value, edits: &[(usize, Edit)]) -> Value {
    for (seed, edit) in edits {
        let n = seed % count(&doc);
        let Some(node) = nth_mut(&mut doc, n) else {
            continue;
        };
        match edit {
            Edit::Replace(v) => *node = v.clone(),
            Edit::RemoveMember => {
                if let Value::Object(m) = node
                    && let Some(k) = m.keys().nth(seed % m.len().max(1)).cloned()
                {
                    m.remove(&k);
                }
            }
            Edit::AddMember(k, v) => {
                if let Value::Object(m) = node {
                    m.insert(k.clone(), v.clone());
                }
            }
            Edit::DuplicateItem => {
                if let Value::Array(a) = node
                    && !a.is_empty()
                {
                    let item = a[seed % a.len()].clone();
                    a.push(item);
                }
            }
            Edit::RemoveItem => {
                if let Value::Array(a) = node
                    && !a.is_empty()
                {
                    a.remove(seed % a.len());
                }
            }
            Edit::PushItem(v) => {
                if let Value::Array(a) = node {
                    a.push(v.clone());
                }
            }
            Edit::WrapIn(k) => {
                let mut m = Map::new();
                m.insert(k.to_string(), node.take());
                *node = Value::Object(m);
            }
            Edit::WrapInArray => *node = Value::Array(vec![node.take()]),
            Edit::Unwrap => {
                let inner = match node {
                    Value::Array(a) if a.len() == 1 => a.pop(),
                    Value::Object(m) if m.len() == 1 => m.values_mut().next().map(Value::take),
                    _ => None,
                };
                if let Some(inner) = inner {
                    *node = inner;
                }
            }
        }
    }
    doc
}
