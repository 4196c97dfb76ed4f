//! Where component types come from. weld reads them from two places: a
//! compiled component (wasmtime's `Type`, when a component is loaded to be
//! served) and the validator's type information alone (wasmparser's
//! types, when a component is only inspected, so nothing is compiled). Both
//! must give the same [`Ty`](crate::Ty), so both go through one lowering
//! (`ty.rs`), which sees a type one level at a time through [`TypeSource`].

use wasmtime::component::Type;

/// One level of a component type: its kind, its own names, and its parts,
/// each of which is again a `T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node<T> {
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
    List(T),
    /// `list<T, N>`: a list of exactly `N` elements.
    FixedList(T, u32),
    /// `map<K, V>`: the key type, then the value type.
    Map(T, T),
    /// `tuple<...>`, its parts in order.
    Tuple(Vec<T>),
    /// Fields in declaration order.
    Record(Vec<(String, T)>),
    /// Cases in declaration order, each with an optional payload.
    Variant(Vec<(String, Option<T>)>),
    /// `enum`: case names in declaration order.
    Enum(Vec<String>),
    /// `option<T>`.
    Option(T),
    /// `result<ok, err>`; either side may be absent.
    Result {
        /// The `ok` payload, if any.
        ok: Option<T>,
        /// The `err` payload, if any.
        err: Option<T>,
    },
    /// Flag names in declaration order.
    Flags(Vec<String>),
    /// A type with no JSON form.
    Opaque(Opaque),
}

/// The kinds of type that have no JSON form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opaque {
    /// An owned resource handle, `own<R>`.
    Own,
    /// A borrowed resource handle, `borrow<R>`.
    Borrow,
    /// `future<T>`.
    Future,
    /// `stream<T>`.
    Stream,
    /// `error-context`.
    ErrorContext,
}

impl Opaque {
    /// How an error names it.
    pub(crate) fn what(self) -> &'static str {
        match self {
            Opaque::Own => "resource handle `own<…>`",
            Opaque::Borrow => "resource handle `borrow<…>`",
            Opaque::Future => "`future`",
            Opaque::Stream => "`stream`",
            Opaque::ErrorContext => "`error-context`",
        }
    }
}

/// A component type that can be looked at one level at a time.
///
/// Implementations only describe; they never expand. Sharing in the
/// underlying type graph (one record used by many fields) is invisible
/// here, which is why the lowering charges every node it builds against a
/// budget: a small graph can stand for an exponentially large tree.
pub trait TypeSource: Sized {
    /// This type's kind, names and parts.
    fn node(&self) -> Node<Self>;
}

impl TypeSource for Type {
    fn node(&self) -> Node<Type> {
        match self {
            Type::Bool => Node::Bool,
            Type::S8 => Node::S8,
            Type::U8 => Node::U8,
            Type::S16 => Node::S16,
            Type::U16 => Node::U16,
            Type::S32 => Node::S32,
            Type::U32 => Node::U32,
            Type::S64 => Node::S64,
            Type::U64 => Node::U64,
            Type::Float32 => Node::F32,
            Type::Float64 => Node::F64,
            Type::Char => Node::Char,
            Type::String => Node::String,
            Type::List(l) => Node::List(l.ty()),
            Type::FixedLengthList(l) => Node::FixedList(l.ty(), l.len()),
            Type::Map(m) => Node::Map(m.key(), m.value()),
            Type::Tuple(t) => Node::Tuple(t.types().collect()),
            Type::Record(r) => {
                Node::Record(r.fields().map(|f| (f.name.to_string(), f.ty)).collect())
            }
            Type::Variant(v) => {
                Node::Variant(v.cases().map(|c| (c.name.to_string(), c.ty)).collect())
            }
            Type::Enum(e) => Node::Enum(e.names().map(str::to_string).collect()),
            Type::Flags(f) => Node::Flags(f.names().map(str::to_string).collect()),
            Type::Option(o) => Node::Option(o.ty()),
            Type::Result(r) => Node::Result {
                ok: r.ok(),
                err: r.err(),
            },
            Type::Own(_) => Node::Opaque(Opaque::Own),
            Type::Borrow(_) => Node::Opaque(Opaque::Borrow),
            Type::Future(_) => Node::Opaque(Opaque::Future),
            Type::Stream(_) => Node::Opaque(Opaque::Stream),
            Type::ErrorContext => Node::Opaque(Opaque::ErrorContext),
        }
    }
}
