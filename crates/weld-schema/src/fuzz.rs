//! The fuzzing oracles, kept here so `cargo test` runs them too (the
//! cargo-fuzz targets in `fuzz/` are glue over [`fuzz_schema`] and
//! [`fuzz_arguments`]).
//!
//! A fuzzer hands over bytes; these read them as a stream of choices that
//! build a type (any shape, names drawn from a pool that includes the keys
//! the mapping itself uses) and then JSON that is *almost* a value of it —
//! random JSON alone would almost never reach the inside of a nested type.
//! Whether a JSON document fits a schema is decided by a validator the
//! caller supplies (the fuzz targets and the tests use the independent
//! `jsonschema` crate), so this crate needs no JSON Schema implementation of
//! its own.

use serde_json::{Map, Number, Value};
use wasmtime::component::Val;

use crate::{
    MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, Node, Oversize, SchemaSize, Signature, Ty, TypeError,
    TypeSource,
};

/// Decides whether `instance` is valid against `schema` (draft 2020-12).
/// Panics if `schema` is not a valid schema: that is a finding too.
pub type Validate<'a> = &'a dyn Fn(&Value, &Value) -> bool;

/// Builds a type and a near-value from `data` and asserts:
///
/// - the predicted schema size ([`Ty::schema_size`]) is the built one's;
/// - [`Ty::to_val`] accepts exactly what the schema accepts;
/// - a converted value renders ([`Ty::from_val`]) to JSON the schema
///   accepts and that converts back to an equal value, and rendering is a
///   fixpoint;
/// - a cut WIT rendering is a prefix of the whole within its limit;
/// - reading the type back through [`TypeSource`] gives the same type, and
///   reading a tower of records that share it (each level uses the one
///   below in every field) gives the written-out tower exactly when that is
///   within the caps, and [`TypeError::TooLarge`] otherwise.
///
/// # Panics
/// When one of those does not hold: that is the bug the fuzzer looks for.
#[doc(hidden)]
pub fn fuzz_schema(data: &[u8], validate: Validate<'_>) {
    let mut choices = Choices(data);
    let ty = choices.ty(4);
    assert_eq!(Ty::from_source(&Source::Ty(&ty)), Ok(ty.clone()));
    let (width, levels) = (2 + choices.below(3), choices.below(6) as u32);
    check_tower(&ty, width, levels);
    let json = choices.json_for(&ty, 3);
    let schema = ty.json_schema();
    assert_eq!(
        ty.schema_size(),
        SchemaSize::of(&schema),
        "predicted size differs for {}",
        ty.wit()
    );
    check_value(&ty, &schema, &json, validate);
    let max = usize::from(choices.byte());
    let (whole, cut) = (ty.wit(), ty.wit_within(max));
    if whole.len() <= max {
        assert_eq!(cut, whole);
    } else {
        let kept = cut.strip_suffix('…').expect("a cut rendering ends in …");
        assert!(
            kept.len() <= max && whole.starts_with(kept),
            "{cut} / {whole}"
        );
    }
}

/// Builds a parameter list from the first part of `data` and reads the rest
/// as the JSON text of a `tools/call`'s arguments; asserts that
/// [`Signature::args_from_json`] never panics, accepts exactly what
/// [`Signature::input_schema`] accepts, and that what it accepts converts
/// back to the same arguments.
///
/// # Panics
/// When one of those does not hold.
#[doc(hidden)]
pub fn fuzz_arguments(data: &[u8], validate: Validate<'_>) {
    let split = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let (head, text) = data.split_at(split);
    let text = text.get(1..).unwrap_or_default();
    let mut choices = Choices(head);
    let params: Vec<(String, Ty)> = (0..choices.below(4))
        .map(|i| (format!("p{i}"), choices.ty(3)))
        .collect();
    let signature = Signature {
        params,
        result: None,
    };
    let Ok(json) = serde_json::from_slice::<Value>(text) else {
        return;
    };
    let schema = Value::Object(signature.input_schema(&|_| None));
    let args = match &json {
        Value::Object(m) => Some(m),
        _ => None,
    };
    let converted = signature.args_from_json(args);
    // Absent arguments are `{}`; anything but an object is refused by the
    // MCP layer before conversion, so only objects are compared.
    if args.is_some() {
        assert_eq!(
            converted.is_ok(),
            validate(&schema, &json),
            "schema {schema} / arguments {json} / conversion says {:?}",
            converted.as_ref().err().map(ToString::to_string)
        );
    }
    if let (Ok(vals), Some(_)) = (&converted, args) {
        let back: Map<String, Value> = signature
            .params
            .iter()
            .zip(vals)
            .map(|((name, ty), val)| (name.clone(), ty.from_val(val)))
            .collect();
        let again = signature
            .args_from_json(Some(&back))
            .unwrap_or_else(|e| panic!("rendered arguments {back:?} refused: {e}"));
        assert!(
            vals.iter().zip(&again).all(|(a, b)| val_eq(a, b)),
            "{vals:?} / {again:?}"
        );
    }
}

/// A type seen through [`TypeSource`]: a [`Ty`], or a tower of records
/// over one, described level by level without being written out.
#[derive(Clone, Copy)]
enum Source<'a> {
    Ty(&'a Ty),
    Tower {
        base: &'a Ty,
        width: usize,
        levels: u32,
    },
}

impl TypeSource for Source<'_> {
    fn node(&self) -> Node<Self> {
        match *self {
            Source::Ty(ty) => view(ty),
            Source::Tower {
                base, levels: 0, ..
            } => view(base),
            Source::Tower {
                base,
                width,
                levels,
            } => Node::Record(
                (0..width)
                    .map(|i| {
                        let below = Source::Tower {
                            base,
                            width,
                            levels: levels - 1,
                        };
                        (format!("t{i}"), below)
                    })
                    .collect(),
            ),
        }
    }
}

fn view(ty: &Ty) -> Node<Source<'_>> {
    fn at(t: &Ty) -> Source<'_> {
        Source::Ty(t)
    }
    match ty {
        Ty::Bool => Node::Bool,
        Ty::S8 => Node::S8,
        Ty::U8 => Node::U8,
        Ty::S16 => Node::S16,
        Ty::U16 => Node::U16,
        Ty::S32 => Node::S32,
        Ty::U32 => Node::U32,
        Ty::S64 => Node::S64,
        Ty::U64 => Node::U64,
        Ty::F32 => Node::F32,
        Ty::F64 => Node::F64,
        Ty::Char => Node::Char,
        Ty::String => Node::String,
        Ty::List(t) => Node::List(at(t)),
        Ty::FixedList(t, n) => Node::FixedList(at(t), *n),
        Ty::Map(k, v) => Node::Map(at(k), at(v)),
        Ty::Tuple(ts) => Node::Tuple(ts.iter().map(at).collect()),
        Ty::Record(fields) => {
            Node::Record(fields.iter().map(|(n, t)| (n.clone(), at(t))).collect())
        }
        Ty::Variant(cases) => Node::Variant(
            cases
                .iter()
                .map(|(n, t)| (n.clone(), t.as_ref().map(at)))
                .collect(),
        ),
        Ty::Enum(names) => Node::Enum(names.clone()),
        Ty::Flags(names) => Node::Flags(names.clone()),
        Ty::Option(t) => Node::Option(at(t)),
        Ty::Result { ok, err } => Node::Result {
            ok: ok.as_deref().map(at),
            err: err.as_deref().map(at),
        },
    }
}

/// Reads a tower of `levels` records of `width` fields over `base` and
/// checks the outcome against the tower's size, predicted level by level
/// from one written-out record (so the tower itself is never written out).
fn check_tower(base: &Ty, width: usize, levels: u32) {
    let read = Ty::from_source(&Source::Tower {
        base,
        width,
        levels,
    });
    // A record of parts of known size gives the record's own share. It
    // depends on whether the parts are options (they are not `required`),
    // which only the lowest level's may be.
    let field = |i: usize| format!("t{i}");
    let shell_bytes = |part: &Ty| {
        let unit = Ty::Record((0..width).map(|i| (field(i), part.clone())).collect());
        unit.schema_size().bytes - width as u64 * part.schema_size().bytes
    };
    let mut size = base.schema_size();
    let mut part_is_option = matches!(base, Ty::Option(_));
    let mut over_bytes = size.bytes > MAX_SCHEMA_BYTES;
    for _ in 0..levels {
        if over_bytes {
            break;
        }
        let part = if part_is_option {
            Ty::Option(Box::new(Ty::Bool))
        } else {
            Ty::Bool
        };
        size = SchemaSize {
            bytes: shell_bytes(&part) + width as u64 * size.bytes,
            // `{"properties": {"t0": <part>}}`
            depth: size.depth + 2,
        };
        part_is_option = false;
        over_bytes = size.bytes > MAX_SCHEMA_BYTES;
    }
    match read {
        Ok(ty) => {
            assert!(!over_bytes && size.depth <= MAX_SCHEMA_DEPTH, "{size:?}");
            assert_eq!(ty.schema_size(), size);
        }
        Err(TypeError::TooLarge(e)) => match e.oversize() {
            Oversize::MoreBytesThan(n) => {
                assert!(over_bytes, "refused at {n} bytes, but {size:?}");
                assert!(n > MAX_SCHEMA_BYTES, "{n}");
            }
            Oversize::Depth(d) => {
                assert!(
                    !over_bytes && d == size.depth && d > MAX_SCHEMA_DEPTH,
                    "{d} / {size:?}"
                );
            }
            Oversize::Bytes(n) => panic!("a lowering measured {n} bytes exactly"),
        },
        Err(e) => panic!("{e}"),
    }
}

fn check_value(ty: &Ty, schema: &Value, json: &Value, validate: Validate<'_>) {
    let converted = ty.to_val(json);
    assert_eq!(
        converted.is_ok(),
        validate(schema, json),
        "type {} / schema {schema} / json {json} / conversion says {:?}",
        ty.wit(),
        converted.as_ref().err().map(ToString::to_string)
    );
    let Ok(val) = converted else {
        return;
    };
    let rendered = ty
        .try_from_val(&val)
        .unwrap_or_else(|e| panic!("type {} / value {val:?} does not render: {e}", ty.wit()));
    assert!(
        validate(schema, &rendered),
        "type {} / rendered {rendered} fails the schema",
        ty.wit()
    );
    let back = ty
        .to_val(&rendered)
        .unwrap_or_else(|e| panic!("type {} / rendered {rendered} refused: {e}", ty.wit()));
    assert!(val_eq(&val, &back), "{val:?} / {back:?}");
    assert_eq!(ty.from_val(&back), rendered, "rendering is not a fixpoint");
}

/// Equality for round trips: floats by bits except that all NaNs are equal,
/// maps as unordered collections.
fn val_eq(a: &Val, b: &Val) -> bool {
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
        (Val::Float32(x), Val::Float32(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Val::Float64(x), Val::Float64(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
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
        _ => a == b,
    }
}

/// Names include the keys the mapping uses (`ok`, `err`, `some`,
/// `result`), so collisions between them and user names are exercised.
const NAMES: [&str; 8] = ["a", "b", "c", "ok", "err", "some", "result", "x-y"];

/// Strings that matter to the mapping: the non-finite floats, names, one
/// and two code points, an empty one.
const STRINGS: [&str; 12] = [
    "",
    "NaN",
    "Infinity",
    "-Infinity",
    "a",
    "ok",
    "some",
    "x-y",
    "ab",
    "\u{1F600}",
    "e\u{301}",
    "\0",
];

/// Reads choices from fuzzer bytes; an exhausted stream reads as zeros, so
/// every input decodes to something.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn coin(&mut self) -> bool {
        self.byte() & 1 == 0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    /// 1 to 4 distinct names, in pool order.
    fn names(&mut self) -> Vec<String> {
        let mask = self.byte();
        let mut out: Vec<String> = NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, n)| n.to_string())
            .take(4)
            .collect();
        if out.is_empty() {
            out.push(NAMES[usize::from(mask) % NAMES.len()].to_string());
        }
        out
    }

    fn ty(&mut self, depth: u32) -> Ty {
        let scalars = 15;
        let kind = if depth == 0 {
            self.below(scalars)
        } else {
            self.below(scalars + 9)
        };
        let inner = |c: &mut Self| Box::new(c.ty(depth.saturating_sub(1)));
        match kind {
            0 => Ty::Bool,
            1 => Ty::S8,
            2 => Ty::U8,
            3 => Ty::S16,
            4 => Ty::U16,
            5 => Ty::S32,
            6 => Ty::U32,
            7 => Ty::S64,
            8 => Ty::U64,
            9 => Ty::F32,
            10 => Ty::F64,
            11 => Ty::Char,
            12 => Ty::String,
            13 => Ty::Enum(self.names()),
            14 => Ty::Flags(self.names()),
            15 => Ty::List(inner(self)),
            16 => {
                let t = inner(self);
                Ty::FixedList(t, self.byte() as u32 % 4)
            }
            17 => {
                let k = if self.coin() {
                    Box::new(Ty::String)
                } else {
                    inner(self)
                };
                Ty::Map(k, inner(self))
            }
            18 => Ty::Tuple((0..=self.below(3)).map(|_| *inner(self)).collect()),
            19 => {
                let names = self.names();
                Ty::Record(names.into_iter().map(|n| (n, *inner(self))).collect())
            }
            20 => {
                let names = self.names();
                Ty::Variant(
                    names
                        .into_iter()
                        .map(|n| {
                            let payload = (self.coin()).then(|| *inner(self));
                            (n, payload)
                        })
                        .collect(),
                )
            }
            21 => Ty::Option(inner(self)),
            _ => {
                let ok = (self.coin()).then(|| inner(self));
                let err = (self.coin()).then(|| inner(self));
                Ty::Result { ok, err }
            }
        }
    }

    /// Arbitrary JSON, a few levels deep.
    fn any_json(&mut self, depth: u32) -> Value {
        match self.below(if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(self.coin()),
            2 => self.number(),
            3 => Value::String(STRINGS[self.below(STRINGS.len())].to_string()),
            4 => Value::String(NAMES[self.below(NAMES.len())].to_string()),
            5 => Value::Array(
                (0..self.below(4))
                    .map(|_| self.any_json(depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..self.below(4))
                    .map(|_| {
                        let key = NAMES[self.below(NAMES.len())].to_string();
                        (key, self.any_json(depth - 1))
                    })
                    .collect(),
            ),
        }
    }

    /// Numbers on and around the edges of every integer type and the
    /// floats, and arbitrary ones.
    fn number(&mut self) -> Value {
        let edges: [f64; 12] = [
            0.5,
            -0.0,
            3.0,
            1e300,
            18446744073709551616.0,
            f32::MAX as f64,
            3.4028235e38,
            -3.4028235e38,
            f64::MAX,
            1e-46,
            0.1,
            255.0,
        ];
        match self.below(6) {
            0 => Value::from(self.u64()),
            1 => Value::from(self.u64() as i64),
            2 => Number::from_f64(f64::from_bits(self.u64())).map_or(Value::Null, Value::Number),
            3 => {
                Number::from_f64(edges[self.below(edges.len())]).map_or(Value::Null, Value::Number)
            }
            4 => {
                let bounds: [i128; 8] = [
                    i8::MIN.into(),
                    i8::MAX.into(),
                    u8::MAX.into(),
                    i16::MIN.into(),
                    u16::MAX.into(),
                    i32::MIN.into(),
                    u32::MAX.into(),
                    i64::MIN.into(),
                ];
                let n = bounds[self.below(bounds.len())] + i128::from(self.byte() % 3) - 1;
                i64::try_from(n).map_or(Value::Null, Value::from)
            }
            _ => Value::from(i64::from(self.byte() as i8)),
        }
    }

    /// JSON shaped like a value of `ty`, except where a choice says to put
    /// something else (arbitrary JSON, a missing or extra member, a wrong
    /// count).
    fn json_for(&mut self, ty: &Ty, depth: u32) -> Value {
        if self.below(16) == 0 {
            return self.any_json(depth.min(2));
        }
        match ty {
            Ty::Bool => Value::Bool(self.coin()),
            Ty::S8 | Ty::U8 | Ty::S16 | Ty::U16 | Ty::S32 | Ty::U32 | Ty::S64 | Ty::U64 => {
                self.number()
            }
            Ty::F32 | Ty::F64 => match self.below(4) {
                0 => Value::String(STRINGS[self.below(4)].to_string()),
                _ => self.number(),
            },
            Ty::Char | Ty::String => Value::String(STRINGS[self.below(STRINGS.len())].to_string()),
            Ty::List(t) => Value::Array(
                (0..self.below(4))
                    .map(|_| self.json_for(t, depth))
                    .collect(),
            ),
            Ty::FixedList(t, n) => {
                let len = (*n as usize + self.below(3)).saturating_sub(1);
                Value::Array((0..len).map(|_| self.json_for(t, depth)).collect())
            }
            Ty::Map(k, v) => {
                if **k == Ty::String {
                    Value::Object(
                        (0..self.below(4))
                            .map(|_| {
                                let key = STRINGS[self.below(STRINGS.len())].to_string();
                                (key, self.json_for(v, depth))
                            })
                            .collect(),
                    )
                } else {
                    Value::Array(
                        (0..self.below(3))
                            .map(|_| {
                                Value::Array(vec![self.json_for(k, depth), self.json_for(v, depth)])
                            })
                            .collect(),
                    )
                }
            }
            Ty::Tuple(ts) => Value::Array(ts.iter().map(|t| self.json_for(t, depth)).collect()),
            Ty::Record(fields) => {
                let mut m = Map::new();
                for (name, t) in fields {
                    // Sometimes leave a field out (fine for an option).
                    if self.below(8) != 0 {
                        let v = self.json_for(t, depth);
                        m.insert(name.clone(), v);
                    }
                }
                if self.below(8) == 0 {
                    m.insert(NAMES[self.below(NAMES.len())].to_string(), self.any_json(1));
                }
                Value::Object(m)
            }
            Ty::Variant(cases) => {
                if cases.is_empty() {
                    return self.any_json(1);
                }
                let (name, payload) = &cases[self.below(cases.len())];
                match (payload, self.below(8)) {
                    (None, 0) | (Some(_), 1) => Value::String(name.clone()),
                    (None, _) => {
                        let mut m = Map::new();
                        m.insert(name.clone(), Value::Null);
                        if self.below(2) == 0 {
                            Value::Object(m)
                        } else {
                            Value::String(name.clone())
                        }
                    }
                    (Some(t), _) => {
                        let mut m = Map::new();
                        m.insert(name.clone(), self.json_for(t, depth));
                        Value::Object(m)
                    }
                }
            }
            Ty::Enum(names) => Value::String(if self.below(8) == 0 {
                STRINGS[self.below(STRINGS.len())].to_string()
            } else {
                names[self.below(names.len())].clone()
            }),
            Ty::Option(t) => match self.below(4) {
                0 => Value::Null,
                _ if matches!(**t, Ty::Option(_)) => {
                    let mut m = Map::new();
                    m.insert("some".into(), self.json_for(t, depth));
                    Value::Object(m)
                }
                _ => self.json_for(t, depth),
            },
            Ty::Result { ok, err } => {
                let (key, payload) = if self.coin() {
                    ("ok", ok)
                } else {
                    ("err", err)
                };
                let inner = match payload {
                    Some(t) => self.json_for(t, depth),
                    None => Value::Null,
                };
                let mut m = Map::new();
                m.insert(key.into(), inner);
                Value::Object(m)
            }
            Ty::Flags(names) => Value::Array(
                (0..self.below(names.len() + 2))
                    .map(|_| Value::String(names[self.below(names.len())].clone()))
                    .collect(),
            ),
        }
    }
}
