//! wasmtime's `Type` is a handle into a compiled component's type tables: it
//! cannot be built by hand, compared cheaply, or kept after the component is
//! dropped. `Ty` is an owned, plain copy of the JSON-representable part of
//! the component type system, so schemas, conversions and tests can work
//! without a component — and so the unsupported parts (resources, futures,
//! streams) are rejected once, up front, with a message saying where.

use std::fmt;

use wasmtime::component::Type;

use crate::error::Unsupported;
use crate::path::{self, Seg};

/// A component-model value type that has a JSON form. See the crate docs for
/// the mapping of each case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ty {
    Bool,
    S8,
    U8,
    S16,
    U16,
    S32,
    U32,
    S64,
    U64,
    F32,
    F64,
    Char,
    String,
    List(Box<Ty>),
    /// `list<T, N>`: a list of exactly `N` elements.
    FixedList(Box<Ty>, u32),
    Map(Box<Ty>, Box<Ty>),
    Tuple(Vec<Ty>),
    /// Fields in declaration order.
    Record(Vec<(String, Ty)>),
    /// Cases in declaration order, each with an optional payload.
    Variant(Vec<(String, Option<Ty>)>),
    Enum(Vec<String>),
    Option(Box<Ty>),
    Result {
        ok: Option<Box<Ty>>,
        err: Option<Box<Ty>>,
    },
    /// Flag names in declaration order.
    Flags(Vec<String>),
}

impl Ty {
    /// Copies a wasmtime type into the owned model.
    ///
    /// Resource handles (`own`/`borrow`), `future`, `stream` and
    /// `error-context` have no JSON form and yield [`Unsupported`], naming
    /// the offending part and where it sits inside `ty`.
    pub fn from_wasmtime(ty: &Type) -> Result<Ty, Unsupported> {
        lower(ty, &mut Vec::new())
    }

    /// WIT-like rendering, e.g. `list<tuple<u8, string>>`, for generated
    /// descriptions. Records, variants, enums and flags are anonymous in this
    /// model, so they are written out structurally (`record { x: u32 }`).
    pub fn wit(&self) -> String {
        let mut out = String::new();
        self.write_wit(&mut out);
        out
    }

    fn write_wit(&self, out: &mut String) {
        let simple = match self {
            Ty::Bool => "bool",
            Ty::S8 => "s8",
            Ty::U8 => "u8",
            Ty::S16 => "s16",
            Ty::U16 => "u16",
            Ty::S32 => "s32",
            Ty::U32 => "u32",
            Ty::S64 => "s64",
            Ty::U64 => "u64",
            Ty::F32 => "f32",
            Ty::F64 => "f64",
            Ty::Char => "char",
            Ty::String => "string",
            Ty::List(t) => {
                out.push_str("list<");
                t.write_wit(out);
                out.push('>');
                return;
            }
            Ty::FixedList(t, n) => {
                out.push_str("list<");
                t.write_wit(out);
                out.push_str(", ");
                out.push_str(&n.to_string());
                out.push('>');
                return;
            }
            Ty::Map(k, v) => {
                out.push_str("map<");
                k.write_wit(out);
                out.push_str(", ");
                v.write_wit(out);
                out.push('>');
                return;
            }
            Ty::Tuple(ts) => {
                out.push_str("tuple<");
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    t.write_wit(out);
                }
                out.push('>');
                return;
            }
            Ty::Record(fields) => {
                out.push_str("record {");
                for (i, (name, t)) in fields.iter().enumerate() {
                    out.push_str(if i > 0 { ", " } else { " " });
                    out.push_str(name);
                    out.push_str(": ");
                    t.write_wit(out);
                }
                out.push_str(" }");
                return;
            }
            Ty::Variant(cases) => {
                out.push_str("variant {");
                for (i, (name, t)) in cases.iter().enumerate() {
                    out.push_str(if i > 0 { ", " } else { " " });
                    out.push_str(name);
                    if let Some(t) = t {
                        out.push('(');
                        t.write_wit(out);
                        out.push(')');
                    }
                }
                out.push_str(" }");
                return;
            }
            Ty::Enum(names) | Ty::Flags(names) => {
                out.push_str(if matches!(self, Ty::Enum(_)) {
                    "enum {"
                } else {
                    "flags {"
                });
                for (i, name) in names.iter().enumerate() {
                    out.push_str(if i > 0 { ", " } else { " " });
                    out.push_str(name);
                }
                out.push_str(" }");
                return;
            }
            Ty::Option(t) => {
                out.push_str("option<");
                t.write_wit(out);
                out.push('>');
                return;
            }
            Ty::Result { ok, err } => {
                out.push_str("result");
                match (ok, err) {
                    (None, None) => {}
                    (Some(ok), None) => {
                        out.push('<');
                        ok.write_wit(out);
                        out.push('>');
                    }
                    (ok, Some(err)) => {
                        out.push('<');
                        match ok {
                            Some(ok) => ok.write_wit(out),
                            None => out.push('_'),
                        }
                        out.push_str(", ");
                        err.write_wit(out);
                        out.push('>');
                    }
                }
                return;
            }
        };
        out.push_str(simple);
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.wit())
    }
}

/// Recursion here follows the type, which wasmtime has already validated to
/// be finite and acyclic.
fn lower(ty: &Type, segs: &mut Vec<Seg>) -> Result<Ty, Unsupported> {
    fn within<T>(
        segs: &mut Vec<Seg>,
        seg: Seg,
        f: impl FnOnce(&mut Vec<Seg>) -> Result<T, Unsupported>,
    ) -> Result<T, Unsupported> {
        segs.push(seg);
        let out = f(segs);
        segs.pop();
        out
    }
    let unsupported = |what: &str, segs: &[Seg]| Err(Unsupported::new(what, path::render(segs)));

    Ok(match ty {
        Type::Bool => Ty::Bool,
        Type::S8 => Ty::S8,
        Type::U8 => Ty::U8,
        Type::S16 => Ty::S16,
        Type::U16 => Ty::U16,
        Type::S32 => Ty::S32,
        Type::U32 => Ty::U32,
        Type::S64 => Ty::S64,
        Type::U64 => Ty::U64,
        Type::Float32 => Ty::F32,
        Type::Float64 => Ty::F64,
        Type::Char => Ty::Char,
        Type::String => Ty::String,
        Type::List(l) => Ty::List(Box::new(within(segs, Seg::Raw("[]"), |s| {
            lower(&l.ty(), s)
        })?)),
        Type::FixedLengthList(l) => Ty::FixedList(
            Box::new(within(segs, Seg::Raw("[]"), |s| lower(&l.ty(), s))?),
            l.len(),
        ),
        Type::Map(m) => Ty::Map(
            Box::new(within(segs, Seg::Raw("{key}"), |s| lower(&m.key(), s))?),
            Box::new(within(segs, Seg::Raw("{value}"), |s| lower(&m.value(), s))?),
        ),
        Type::Tuple(t) => Ty::Tuple(
            t.types()
                .enumerate()
                .map(|(i, t)| within(segs, Seg::Index(i), |s| lower(&t, s)))
                .collect::<Result<_, _>>()?,
        ),
        Type::Record(r) => Ty::Record(
            r.fields()
                .map(|f| {
                    let ty = within(segs, Seg::Field(f.name.to_string()), |s| lower(&f.ty, s))?;
                    Ok((f.name.to_string(), ty))
                })
                .collect::<Result<_, _>>()?,
        ),
        Type::Variant(v) => Ty::Variant(
            v.cases()
                .map(|c| {
                    let ty = match &c.ty {
                        Some(t) => Some(within(segs, Seg::Field(c.name.to_string()), |s| {
                            lower(t, s)
                        })?),
                        None => None,
                    };
                    Ok((c.name.to_string(), ty))
                })
                .collect::<Result<_, _>>()?,
        ),
        Type::Enum(e) => Ty::Enum(e.names().map(str::to_string).collect()),
        Type::Flags(f) => Ty::Flags(f.names().map(str::to_string).collect()),
        Type::Option(o) => Ty::Option(Box::new(lower(&o.ty(), segs)?)),
        Type::Result(r) => {
            let ok = match r.ok() {
                Some(t) => Some(Box::new(within(segs, Seg::Field("ok".into()), |s| {
                    lower(&t, s)
                })?)),
                None => None,
            };
            let err = match r.err() {
                Some(t) => Some(Box::new(within(segs, Seg::Field("err".into()), |s| {
                    lower(&t, s)
                })?)),
                None => None,
            };
            Ty::Result { ok, err }
        }
        Type::Own(_) => return unsupported("resource handle `own<…>`", segs),
        Type::Borrow(_) => return unsupported("resource handle `borrow<…>`", segs),
        Type::Future(_) => return unsupported("`future`", segs),
        Type::Stream(_) => return unsupported("`stream`", segs),
        Type::ErrorContext => return unsupported("`error-context`", segs),
    })
}
