//! wasmtime's `Type` is a handle into a compiled component's type tables: it
//! cannot be built by hand, compared cheaply, or kept after the component is
//! dropped. `Ty` is an owned, plain copy of the JSON-representable part of
//! the component type system, so schemas, conversions and tests can work
//! without a component — and so the unsupported parts (resources, futures,
//! streams) are rejected once, up front, with a message saying where.

use std::fmt;

use wasmtime::component::Type;

use crate::error::{Oversize, SchemaPart, TooLarge, TypeError, Unsupported};
use crate::path::{self, Seg};
use crate::size::{Budget, Spent};
use crate::source::{Node, TypeSource};

/// A component-model value type that has a JSON form. See the crate docs for
/// the mapping of each case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Ty {
    /// `bool`.
    Bool,
    /// `s8`.
    S8,
    /// `u8`.
    U8,
    /// `s16`.
    S16,
    /// `u16`.
    U16,
    /// `s32`.
    S32,
    /// `u32`.
    U32,
    /// `s64`.
    S64,
    /// `u64`.
    U64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `char`.
    Char,
    /// `string`.
    String,
    /// `list<T>`.
    List(Box<Ty>),
    /// `list<T, N>`: a list of exactly `N` elements.
    FixedList(Box<Ty>, u32),
    /// `map<K, V>`: the key type, then the value type.
    Map(Box<Ty>, Box<Ty>),
    /// `tuple<...>`, its parts in order.
    Tuple(Vec<Ty>),
    /// Fields in declaration order.
    Record(Vec<(String, Ty)>),
    /// Cases in declaration order, each with an optional payload.
    Variant(Vec<(String, Option<Ty>)>),
    /// `enum`: case names in declaration order.
    Enum(Vec<String>),
    /// `option<T>`.
    Option(Box<Ty>),
    /// `result<ok, err>`; either side may be absent.
    Result {
        /// The `ok` payload, if any.
        ok: Option<Box<Ty>>,
        /// The `err` payload, if any.
        err: Option<Box<Ty>>,
    },
    /// Flag names in declaration order.
    Flags(Vec<String>),
}

impl Ty {
    /// Copies a wasmtime type into the owned model.
    ///
    /// Resource handles (`own`/`borrow`), `future`, `stream` and
    /// `error-context` have no JSON form and yield [`TypeError::Unsupported`], naming
    /// the offending part and where it sits inside `ty`.
    ///
    /// The type's schema must fit the caps ([`crate::MAX_SCHEMA_BYTES`],
    /// [`crate::MAX_SCHEMA_DEPTH`]); a larger one yields
    /// [`TypeError::TooLarge`] after at most that much work.
    pub fn from_wasmtime(ty: &Type) -> Result<Ty, TypeError> {
        Ty::from_source(ty)
    }

    /// Copies a type from any [`TypeSource`], as [`Ty::from_wasmtime`].
    pub fn from_source<S: TypeSource>(source: &S) -> Result<Ty, TypeError> {
        let mut budget = Budget::new(crate::MAX_SCHEMA_BYTES);
        let ty = lower(source, &mut Vec::new(), &mut budget)
            .map_err(|e| e.into_error(SchemaPart::Type))?;
        let depth = ty.schema_size().depth;
        if depth > crate::MAX_SCHEMA_DEPTH {
            return Err(TooLarge::new(SchemaPart::Type, Oversize::Depth(depth)).into());
        }
        Ok(ty)
    }

    /// WIT-like rendering, e.g. `list<tuple<u8, string>>`, for generated
    /// descriptions. Records, variants, enums and flags are anonymous in this
    /// model, so they are written out structurally (`record { x: u32 }`).
    pub fn wit(&self) -> String {
        self.wit_within(usize::MAX)
    }

    /// [`Ty::wit`], cut to at most `max` bytes (plus a closing `…` when
    /// cut). The work done is bounded by `max` too, so this is safe on a
    /// type of any size.
    pub fn wit_within(&self, max: usize) -> String {
        let mut out = Bounded::new(max);
        self.write_wit(&mut out);
        out.finish()
    }

    pub(crate) fn write_wit(&self, out: &mut Bounded) {
        if out.is_full() {
            return;
        }
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
                out.push("list<");
                t.write_wit(out);
                out.push(">");
                return;
            }
            Ty::FixedList(t, n) => {
                out.push("list<");
                t.write_wit(out);
                out.push(", ");
                out.push(&n.to_string());
                out.push(">");
                return;
            }
            Ty::Map(k, v) => {
                out.push("map<");
                k.write_wit(out);
                out.push(", ");
                v.write_wit(out);
                out.push(">");
                return;
            }
            Ty::Tuple(ts) => {
                out.push("tuple<");
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        out.push(", ");
                    }
                    t.write_wit(out);
                }
                out.push(">");
                return;
            }
            Ty::Record(fields) => {
                out.push("record {");
                for (i, (name, t)) in fields.iter().enumerate() {
                    out.push(if i > 0 { ", " } else { " " });
                    out.push(name);
                    out.push(": ");
                    t.write_wit(out);
                }
                out.push(" }");
                return;
            }
            Ty::Variant(cases) => {
                out.push("variant {");
                for (i, (name, t)) in cases.iter().enumerate() {
                    out.push(if i > 0 { ", " } else { " " });
                    out.push(name);
                    if let Some(t) = t {
                        out.push("(");
                        t.write_wit(out);
                        out.push(")");
                    }
                }
                out.push(" }");
                return;
            }
            Ty::Enum(names) | Ty::Flags(names) => {
                out.push(if matches!(self, Ty::Enum(_)) {
                    "enum {"
                } else {
                    "flags {"
                });
                for (i, name) in names.iter().enumerate() {
                    out.push(if i > 0 { ", " } else { " " });
                    out.push(name);
                }
                out.push(" }");
                return;
            }
            Ty::Option(t) => {
                out.push("option<");
                t.write_wit(out);
                out.push(">");
                return;
            }
            Ty::Result { ok, err } => {
                out.push("result");
                match (ok, err) {
                    (None, None) => {}
                    (Some(ok), None) => {
                        out.push("<");
                        ok.write_wit(out);
                        out.push(">");
                    }
                    (ok, Some(err)) => {
                        out.push("<");
                        match ok {
                            Some(ok) => ok.write_wit(out),
                            None => out.push("_"),
                        }
                        out.push(", ");
                        err.write_wit(out);
                        out.push(">");
                    }
                }
                return;
            }
        };
        out.push(simple);
    }
}

/// A string that stops growing at a byte limit, so rendering a type that
/// stands for a huge tree costs no more than the limit.
pub(crate) struct Bounded {
    out: String,
    max: usize,
    cut: bool,
}

impl Bounded {
    pub(crate) fn new(max: usize) -> Self {
        Bounded {
            out: String::new(),
            max,
            cut: false,
        }
    }

    pub(crate) fn push(&mut self, s: &str) {
        if self.cut {
            return;
        }
        let room = self.max - self.out.len();
        if s.len() <= room {
            self.out.push_str(s);
            return;
        }
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.out.push_str(&s[..end]);
        self.cut = true;
    }

    pub(crate) fn is_full(&self) -> bool {
        self.cut
    }

    /// The text, ending in `…` if it was cut.
    pub(crate) fn finish(mut self) -> String {
        if self.cut {
            self.out.push('…');
        }
        self.out
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.wit())
    }
}

/// Why a lowering stopped.
pub(crate) enum LowerFail {
    Unsupported(Unsupported),
    /// The budget ran out after this many bytes.
    OverBudget(u64),
}

impl From<Spent> for LowerFail {
    fn from(s: Spent) -> Self {
        LowerFail::OverBudget(s.spent)
    }
}

impl LowerFail {
    /// The public error, for a type that is part of `part`.
    pub(crate) fn into_error(self, part: SchemaPart) -> TypeError {
        match self {
            LowerFail::Unsupported(e) => TypeError::Unsupported(e),
            LowerFail::OverBudget(n) => {
                TypeError::TooLarge(TooLarge::new(part, Oversize::MoreBytesThan(n)))
            }
        }
    }
}

/// Copies `source` into a [`Ty`], charging every node built to `budget`.
///
/// Recursion follows the type, which the component's validator has already
/// found finite, acyclic and at most 100 levels deep. Parts are lowered in
/// declaration order, so two sources of the same type fail at the same place
/// with the same message.
pub(crate) fn lower<S: TypeSource>(
    source: &S,
    segs: &mut Vec<Seg>,
    budget: &mut Budget,
) -> Result<Ty, LowerFail> {
    fn within<S: TypeSource>(
        segs: &mut Vec<Seg>,
        seg: Seg,
        source: &S,
        budget: &mut Budget,
    ) -> Result<Ty, LowerFail> {
        segs.push(seg);
        let out = lower(source, segs, budget);
        segs.pop();
        out
    }
    let field = |name: &str| Seg::Field(name.to_string());

    let ty = match source.node() {
        Node::Bool => Ty::Bool,
        Node::S8 => Ty::S8,
        Node::U8 => Ty::U8,
        Node::S16 => Ty::S16,
        Node::U16 => Ty::U16,
        Node::S32 => Ty::S32,
        Node::U32 => Ty::U32,
        Node::S64 => Ty::S64,
        Node::U64 => Ty::U64,
        Node::F32 => Ty::F32,
        Node::F64 => Ty::F64,
        Node::Char => Ty::Char,
        Node::String => Ty::String,
        Node::List(t) => Ty::List(Box::new(within(segs, Seg::Raw("[]"), &t, budget)?)),
        Node::FixedList(t, n) => {
            Ty::FixedList(Box::new(within(segs, Seg::Raw("[]"), &t, budget)?), n)
        }
        Node::Map(k, v) => {
            // A string key has no schema of its own (the map is a JSON
            // object), so it is not charged: the budget counts exactly
            // what is built.
            let key = if matches!(k.node(), Node::String) {
                Ty::String
            } else {
                within(segs, Seg::Raw("{key}"), &k, budget)?
            };
            Ty::Map(
                Box::new(key),
                Box::new(within(segs, Seg::Raw("{value}"), &v, budget)?),
            )
        }
        Node::Tuple(ts) => Ty::Tuple(
            ts.iter()
                .enumerate()
                .map(|(i, t)| within(segs, Seg::Index(i), t, budget))
                .collect::<Result<_, _>>()?,
        ),
        Node::Record(fields) => Ty::Record(
            fields
                .into_iter()
                .map(|(name, t)| {
                    let ty = within(segs, field(&name), &t, budget)?;
                    Ok((name, ty))
                })
                .collect::<Result<_, LowerFail>>()?,
        ),
        Node::Variant(cases) => Ty::Variant(
            cases
                .into_iter()
                .map(|(name, t)| {
                    let ty = match t {
                        Some(t) => Some(within(segs, field(&name), &t, budget)?),
                        None => None,
                    };
                    Ok((name, ty))
                })
                .collect::<Result<_, LowerFail>>()?,
        ),
        Node::Enum(names) => Ty::Enum(names),
        Node::Flags(names) => Ty::Flags(names),
        Node::Option(t) => Ty::Option(Box::new(lower(&t, segs, budget)?)),
        Node::Result { ok, err } => {
            let ok = match ok {
                Some(t) => Some(Box::new(within(segs, field("ok"), &t, budget)?)),
                None => None,
            };
            let err = match err {
                Some(t) => Some(Box::new(within(segs, field("err"), &t, budget)?)),
                None => None,
            };
            Ty::Result { ok, err }
        }
        Node::Opaque(what) => {
            return Err(LowerFail::Unsupported(Unsupported::new(
                what.what(),
                path::render(segs),
            )));
        }
    };
    budget.charge(&ty)?;
    Ok(ty)
}
