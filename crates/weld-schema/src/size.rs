//! How big a schema is, without building it.
//!
//! Component types are graphs: a record can be used by every field of
//! another record, which is used by every field of a third, and so on. The
//! JSON Schema of such a type writes each use out in full, so a component of
//! a few kilobytes can stand for a schema of gigabytes. weld therefore caps
//! every schema ([`MAX_SCHEMA_BYTES`], [`MAX_SCHEMA_DEPTH`]) and must learn
//! that a type is over the cap *without* expanding it.
//!
//! The size of one node's own part of its schema (everything but its parts'
//! schemas) is measured by asking [`Ty::schema_with`] for that node with a
//! placeholder for every part and serialising the result: one definition of
//! the schema's shape serves both building and measuring, so what is
//! predicted is exactly what is built (a property test checks it). The
//! lowering (`ty.rs`) charges each node it builds to a [`Budget`] and stops
//! as soon as the budget is spent, so the work and memory it takes are
//! bounded by the cap, however large the expanded type would be.

use std::io;

use serde_json::Value;

use crate::Ty;
use crate::error::{Oversize, SchemaPart, TooLarge};

/// The most bytes of JSON text one schema — a tool's `inputSchema` or its
/// `outputSchema` — may take.
///
/// Real tools' schemas are a few kilobytes: the largest among weld's
/// examples is under 2 KiB, and a function taking ten records of twenty
/// fields stays under 64 KiB. 256 KiB leaves that ample headroom, while a
/// component whose shared types expand to gigabytes (issue 7: 32 KB of
/// nested records made a 1.15 GB `tools/list`) is refused after at most this
/// much work.
pub const MAX_SCHEMA_BYTES: u64 = 256 * 1024;

/// The deepest a schema's JSON may nest (objects and arrays inside one
/// another).
///
/// MCP clients parse `tools/list` as one JSON message, and common parsers
/// stop at a fixed depth (serde_json, under rmcp, at 128 levels for the
/// whole message): one deeper schema would make the client lose *every*
/// tool, not just that one. Each level of a WIT type adds two to four
/// levels of JSON, so 64 still allows types nested 16 deep or more, far
/// beyond what real interfaces use, and leaves room for the envelope.
pub const MAX_SCHEMA_DEPTH: u32 = 64;

/// The size of a JSON document: its compact text (as `serde_json`
/// serialises it) and how deeply its arrays and objects nest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchemaSize {
    /// Bytes of compact JSON text.
    pub bytes: u64,
    /// Nesting depth: 0 for a scalar, 1 for `{}` or `[1]`, 2 for `{"a": []}`.
    pub depth: u32,
}

impl SchemaSize {
    /// Measures `value` without writing it anywhere.
    pub fn of(value: &Value) -> SchemaSize {
        SchemaSize {
            bytes: text_len(value),
            depth: depth(value),
        }
    }

    /// Whether a schema of this size, serving as `part`, is within
    /// [`MAX_SCHEMA_BYTES`] and [`MAX_SCHEMA_DEPTH`].
    ///
    /// # Errors
    ///
    /// The first cap it exceeds, with its size.
    pub fn check(self, part: SchemaPart) -> Result<(), TooLarge> {
        if self.bytes > MAX_SCHEMA_BYTES {
            Err(TooLarge::new(part, Oversize::Bytes(self.bytes)))
        } else if self.depth > MAX_SCHEMA_DEPTH {
            Err(TooLarge::new(part, Oversize::Depth(self.depth)))
        } else {
            Ok(())
        }
    }
}

/// Bytes of compact JSON text of `value`.
fn text_len(value: &Value) -> u64 {
    struct Count(u64);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

fn depth(value: &Value) -> u32 {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// One node's own share of its schema.
struct Shell {
    /// Bytes of the node's schema minus its parts' schemas.
    bytes: u64,
    /// Depth of the node's schema with every part as a scalar.
    depth: u32,
    /// How many arrays and objects enclose a part's schema (the same for
    /// every part of one node; the deepest if that ever changes, which
    /// keeps the depth an upper bound).
    part_depth: u32,
    /// Whether the node has parts at all.
    has_parts: bool,
}

/// Measures `ty`'s own share, calling `part` for each part type in the
/// order [`Ty::schema_with`] visits them.
fn shell(ty: &Ty, part: &mut dyn FnMut(&Ty)) -> Shell {
    // A placeholder that no schema contains otherwise: schemas write
    // `"null"` as a string, never the JSON literal.
    let mut parts = 0u64;
    let shell = ty.schema_with(&mut |t| {
        parts += 1;
        part(t);
        Value::Null
    });
    let placeholder = "null".len() as u64;
    Shell {
        bytes: text_len(&shell) - parts * placeholder,
        depth: depth(&shell),
        part_depth: placeholder_depth(&shell, 0),
        has_parts: parts > 0,
    }
}

/// The number of containers around the deepest placeholder in `value`.
fn placeholder_depth(value: &Value, around: u32) -> u32 {
    match value {
        Value::Null => around,
        Value::Array(items) => items
            .iter()
            .map(|v| placeholder_depth(v, around + 1))
            .max()
            .unwrap_or(0),
        Value::Object(members) => members
            .values()
            .map(|v| placeholder_depth(v, around + 1))
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

impl Ty {
    /// The size of [`Ty::json_schema`]'s compact text and its depth,
    /// exactly, without building it.
    pub fn schema_size(&self) -> SchemaSize {
        let mut parts_bytes = 0u64;
        let mut parts_depth = 0u32;
        let own = shell(self, &mut |t| {
            let s = t.schema_size();
            parts_bytes = parts_bytes.saturating_add(s.bytes);
            parts_depth = parts_depth.max(s.depth);
        });
        SchemaSize {
            bytes: own.bytes.saturating_add(parts_bytes),
            depth: if own.has_parts {
                own.depth.max(own.part_depth + parts_depth)
            } else {
                own.depth
            },
        }
    }
}

/// Bytes of schema the lowering may still build. Every node built is
/// charged its own share, so when the lowering finishes, `spent` is exactly
/// the sum of the finished types' schema sizes.
#[derive(Debug)]
pub(crate) struct Budget {
    cap: u64,
    spent: u64,
}

/// The budget ran out: the schema would be more than `spent` bytes.
#[derive(Debug)]
pub(crate) struct Spent {
    pub(crate) spent: u64,
}

impl Budget {
    pub(crate) fn new(cap: u64) -> Self {
        Budget { cap, spent: 0 }
    }

    /// Charges `ty`'s own share (its parts were charged when they were
    /// built).
    pub(crate) fn charge(&mut self, ty: &Ty) -> Result<(), Spent> {
        let own = shell(ty, &mut |_| {}).bytes;
        self.spent = self.spent.saturating_add(own);
        if self.spent > self.cap {
            Err(Spent { spent: self.spent })
        } else {
            Ok(())
        }
    }
}
