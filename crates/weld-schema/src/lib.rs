//! # weld-schema
//!
//! weld serves WebAssembly component exports as MCP tools, so every call
//! crosses a boundary between JSON (what a model writes and reads) and
//! component-model values (what wasmtime passes). This crate owns that
//! boundary and nothing else — no MCP, no async, no I/O — so the mapping can
//! be stated once, tested exhaustively, and trusted by the crates that call
//! it. It turns component types into JSON Schema (draft 2020-12) and
//! converts JSON ⇄ [`wasmtime::component::Val`].
//!
//! The central promise: **for every type, the JSON Schema and the JSON → `Val`
//! conversion accept exactly the same JSON**, and `Val` → JSON produces JSON
//! that validates and converts back to an equal value. Property tests
//! (`tests/agreement.rs`) check all three against the `jsonschema` crate.
//!
//! ## The JSON mapping (a public contract)
//!
//! | WIT type | JSON | JSON Schema |
//! |---|---|---|
//! | `bool` | `true` / `false` | `{"type":"boolean"}` |
//! | `s8` `u8` `s16` `u16` `s32` `u32` `s64` `u64` | integer; any integral number is accepted (`3.0`, `-0.0`, `1e2`), output is always plain (`3`) | `{"type":"integer","minimum":MIN,"maximum":MAX}` with the type's exact bounds (e.g. `u64` max `18446744073709551615`) |
//! | `f64` | number, or `"NaN"`, `"Infinity"`, `"-Infinity"`; `-0.0` is kept (output `-0.0`) | `{"anyOf":[{"type":"number"},{"enum":["NaN","Infinity","-Infinity"]}]}` |
//! | `f32` | as `f64`; input is rounded to the nearest `f32`; output is the shortest decimal that reads back as the same `f32` (`0.1f32` → `0.1`), except `±f32::MAX`, written exactly (`3.4028234663852886e+38`) to stay inside the bound | as `f64`, with `"minimum": -f32::MAX, "maximum": f32::MAX` (as exact `f64`) on the number branch |
//! | `char` | string of exactly one Unicode code point | `{"type":"string","minLength":1,"maxLength":1}` |
//! | `string` | string | `{"type":"string"}` |
//! | `list<T>` | array of `T` | `{"type":"array","items":T}` |
//! | `list<T, N>` | array of exactly `N` `T`s | `{"type":"array","items":T,"minItems":N,"maxItems":N}` |
//! | `tuple<A, B>` | array `[a, b]` | `{"type":"array","prefixItems":[A,B],"items":{"not":{}},"minItems":2,"maxItems":2}` |
//! | `record { a: A, b: option<B> }` | object `{"a": …, "b": …}`; an `option` field may be omitted (= `none`); output writes `none` as `null` | `{"type":"object","properties":{…},"required":[non-option fields],"additionalProperties":false}` |
//! | `variant { a, b(T) }` | `"a"` for a case without payload, `{"b": t}` for a case with one | `{"oneOf":[{"const":"a"},{"type":"object","properties":{"b":T},"required":["b"],"additionalProperties":false}]}` |
//! | `enum { a, b }` | `"a"` | `{"type":"string","enum":["a","b"]}` |
//! | `option<T>` | `null` for `none`, `t` for `some(t)` | `{"anyOf":[{"type":"null"},T]}` |
//! | `option<option<T>>` | `null` for `none`, `{"some": x}` for `some(x)` (where `x` is the inner option's JSON) | `{"anyOf":[{"type":"null"},{"type":"object","properties":{"some":…},"required":["some"],"additionalProperties":false}]}` |
//! | `result<T, E>` | `{"ok": t}` or `{"err": e}`, exactly one property; a missing payload is `null` (`{"ok": null}`) | `{"oneOf":[{…"ok"…},{…"err"…}]}`, each a one-property object |
//! | `flags { a, b }` | array of distinct flag names; output in declaration order | `{"type":"array","items":{"type":"string","enum":[…]},"uniqueItems":true}` |
//! | `map<string, V>` | object `{"k": v}` | `{"type":"object","additionalProperties":V}` |
//! | `map<K, V>` (other `K`) | array of `[k, v]` pairs | `{"type":"array","items":<tuple<K, V> schema>}` |
//! | `own`, `borrow`, `future`, `stream`, `error-context` | — | rejected by [`Ty::from_wasmtime`] with [`Unsupported`] |
//!
//! Degenerate types WIT itself forbids are still handled: an empty tuple or
//! flags is an empty array (`"maxItems": 0`), a variant without cases
//! accepts nothing (`{"not": {}}`).
//!
//! ## Functions as tools
//!
//! [`Signature`] maps a function's parameters to one argument object (its
//! `inputSchema`: parameters as properties, `option<_>` parameters
//! optional, a parameter's docs as its `description`) and its result to MCP
//! output:
//!
//! | result type | `outputSchema` | on return |
//! |---|---|---|
//! | none | none | nothing |
//! | `result<T, E>` | `T` wrapped (below) | `ok(v)`: structured `wrap(v)`; `err(e)`: tool error, text = `e` |
//! | `result<_, E>` | none | `ok`: nothing; `err(e)`: as above |
//! | other `T` | `T` wrapped | structured `wrap(v)` |
//!
//! wrap: a record is its own object; anything else is `{"result": v}`. Text
//! content is the raw string if the value is a JSON string, otherwise the
//! compact JSON of the structured object (or of `e`).
//!
//! ## Size: types are graphs, schemas are trees
//!
//! A component type may use one record in every field of another, and that
//! one in every field of a third: the type is a small graph, but its JSON
//! Schema writes every use out in full, so a component of a few kilobytes
//! can stand for gigabytes of schema. Every schema is therefore capped:
//! [`MAX_SCHEMA_BYTES`] of compact JSON text and [`MAX_SCHEMA_DEPTH`]
//! levels of nesting (the reasons are on the constants).
//!
//! Types are read one level at a time through [`TypeSource`] (implemented
//! for wasmtime's `Type` here, and for the validator's types by
//! `weld-runtime`, which describes a component without compiling it). The
//! lowering into [`Ty`] charges every node it builds its own share of the
//! schema and stops as soon as the parameters (one budget) or the result
//! (another) pass the cap: the work and memory it takes are bounded by the
//! cap, never by what the type would expand to. A type over a cap yields
//! [`TypeError::TooLarge`] (as opposed to [`TypeError::Unsupported`], a type
//! with no JSON form); a server should refuse such a component whole.
//!
//! A node's share is measured by building that node's schema with a
//! placeholder for each part and serialising it, so the one definition of
//! the schema's shape serves both building and measuring;
//! [`Ty::schema_size`] adds the shares up exactly (a property test checks it
//! against the built schema). [`Ty::wit_within`] and
//! [`Signature::wit_within`] render WIT under a byte limit, with work
//! bounded by it.
//!
//! ## Invariants (written as absences)
//!
//! - It knows nothing of MCP, JSON-RPC, tokio, the filesystem, the store or
//!   policies: its only dependencies are `wasmtime` (for `Type` and `Val`)
//!   and `serde_json`. It never compiles, instantiates or calls a component.
//! - It does no I/O and holds no state: every function is a pure mapping of
//!   its arguments.
//! - No `unsafe` (`forbid`), and no panic on any type or JSON (fuzzed and
//!   property-tested).
//! - No work or memory beyond the schema caps: a type is never expanded past
//!   [`MAX_SCHEMA_BYTES`] before being refused.
//!
//! ## Fuzzing
//!
//! [`fuzz_schema`] and [`fuzz_arguments`] are the oracles of the cargo-fuzz
//! targets `schema_agreement` and `argument_conversion` (`fuzz/`): they
//! read bytes as choices that build a type and near-values of it, and check
//! the promises above against a JSON Schema validator the caller supplies.

#![forbid(unsafe_code)]

mod convert;
mod error;
mod fuzz;
mod path;
mod schema;
mod signature;
mod size;
mod source;
mod ty;

pub use error::{ConvertError, Oversize, SchemaPart, TooLarge, TypeError, Unsupported};
pub use fuzz::{Validate, fuzz_arguments, fuzz_schema};
pub use signature::{Rendered, Signature, min_json_len};
pub use size::{MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, SchemaSize};
pub use source::{Node, Opaque, TypeSource};
pub use ty::Ty;
