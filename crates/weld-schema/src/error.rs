//! Errors are the user interface of this crate: a model calling a tool only
//! ever sees the message, so each error says *where* (a path rooted at the
//! parameter name) and *what* (what was expected and what was got), and the
//! two error types keep those parts separate so callers can also use them
//! programmatically.

use std::fmt;

/// Where a path in an error is rooted; decides how [`fmt::Display`] words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// A bare value converted with [`crate::Ty`]: the path is relative to it.
    Value,
    /// A function parameter: the path starts with the parameter's name.
    Parameter,
    /// The argument object as a whole (missing/unknown parameters).
    Arguments,
    /// A function's result value: the path is relative to the result.
    Result,
}

/// A JSON value that does not fit a component-model type, or (when rendering
/// results) a [`wasmtime::component::Val`] that does not fit its declared type.
///
/// `Display` gives a sentence meant for the caller of a tool, e.g.
/// ``parameter `point.x`: expected an integer in 0..=255, got 300``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError {
    path: String,
    problem: String,
    scope: Scope,
}

impl ConvertError {
    pub(crate) fn new(scope: Scope, path: String, problem: String) -> Self {
        ConvertError {
            path,
            problem,
            scope,
        }
    }

    /// Where the problem is: JSON-pointer-ish, e.g. `point.x`, `items[3]`,
    /// `tags["k"]`. For a parameter it starts with the parameter's name; for a
    /// bare value it is relative to the value (empty for the value itself).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong, without the location, e.g.
    /// `expected an integer in 0..=255, got 300`.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.scope, self.path.is_empty()) {
            (Scope::Arguments, _) | (Scope::Value, true) => f.write_str(&self.problem),
            (Scope::Value, false) => write!(f, "at `{}`: {}", self.path, self.problem),
            (Scope::Parameter, _) => write!(f, "parameter `{}`: {}", self.path, self.problem),
            (Scope::Result, true) => write!(f, "result: {}", self.problem),
            (Scope::Result, false) => write!(f, "result `{}`: {}", self.path, self.problem),
        }
    }
}

impl std::error::Error for ConvertError {}

/// Where an unsupported type was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Site {
    /// A bare type given to [`crate::Ty::from_wasmtime`].
    Type,
    /// Inside a parameter; the path starts with the parameter's name.
    Parameter,
    /// Inside the function result.
    Result,
    /// The function shape itself (e.g. more than one result).
    Function,
}

/// A component-model type (or function shape) that has no JSON form, such as
/// a resource handle, a future or a stream.
///
/// `Display` names what and where, e.g.
/// ``parameter `f`: resource handle `own<…>` has no JSON representation``.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unsupported {
    what: String,
    path: String,
    site: Site,
}

impl Unsupported {
    pub(crate) fn new(what: impl Into<String>, path: String) -> Self {
        Unsupported {
            what: what.into(),
            path,
            site: Site::Type,
        }
    }

    pub(crate) fn function(what: impl Into<String>) -> Self {
        Unsupported {
            what: what.into(),
            path: String::new(),
            site: Site::Function,
        }
    }

    /// Re-roots a type-level error inside parameter `name`.
    pub(crate) fn in_parameter(mut self, name: &str) -> Self {
        self.path = crate::path::join_field(name, &self.path);
        self.site = Site::Parameter;
        self
    }

    /// Re-roots a type-level error inside the function result.
    pub(crate) fn in_result(mut self) -> Self {
        self.site = Site::Result;
        self
    }

    /// The unsupported thing, e.g. ``resource handle `own<…>` ``.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Where it is (see [`ConvertError::path`] for the notation).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.site, self.path.is_empty()) {
            (Site::Function, _) => return f.write_str(&self.what),
            (Site::Type, true) => f.write_str("type")?,
            (Site::Type, false) => write!(f, "type at `{}`", self.path)?,
            (Site::Parameter, _) => write!(f, "parameter `{}`", self.path)?,
            (Site::Result, true) => f.write_str("result")?,
            (Site::Result, false) => write!(f, "result at `{}`", self.path)?,
        }
        write!(f, ": {} has no JSON representation", self.what)
    }
}

impl std::error::Error for Unsupported {}

/// Which schema of a function is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SchemaPart {
    /// A bare type given to [`crate::Ty::from_wasmtime`].
    Type,
    /// The parameters: the tool's `inputSchema`.
    Input,
    /// The result: the tool's `outputSchema`.
    Output,
}

impl SchemaPart {
    fn name(self) -> &'static str {
        match self {
            SchemaPart::Type => "the type's schema",
            SchemaPart::Input => "the input schema",
            SchemaPart::Output => "the output schema",
        }
    }
}

/// How a schema exceeds a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Oversize {
    /// More than this many bytes of JSON text (the building stopped there).
    MoreBytesThan(u64),
    /// Exactly this many bytes of JSON text.
    Bytes(u64),
    /// Nested this many levels deep.
    Depth(u32),
}

/// A type whose JSON Schema would exceed one of weld's caps
/// ([`crate::MAX_SCHEMA_BYTES`], [`crate::MAX_SCHEMA_DEPTH`]), typically
/// because shared sub-types expand to far more than the component's size.
///
/// `Display` says which schema, how big and the cap, e.g. ``the input
/// schema is more than 262144 bytes of JSON (the cap is 262144 bytes)``.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TooLarge {
    part: SchemaPart,
    oversize: Oversize,
}

impl TooLarge {
    pub(crate) fn new(part: SchemaPart, oversize: Oversize) -> Self {
        TooLarge { part, oversize }
    }

    /// Which schema.
    pub fn part(&self) -> SchemaPart {
        self.part
    }

    /// By how much.
    pub fn oversize(&self) -> Oversize {
        self.oversize
    }
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = self.part.name();
        let cap = crate::MAX_SCHEMA_BYTES;
        match self.oversize {
            Oversize::MoreBytesThan(n) => write!(
                f,
                "{part} is more than {n} bytes of JSON (the cap is {cap} bytes; \
                 shared types are written out in full at every use)"
            ),
            Oversize::Bytes(n) => {
                write!(f, "{part} is {n} bytes of JSON (the cap is {cap} bytes)")
            }
            Oversize::Depth(n) => write!(
                f,
                "{part} nests {n} levels deep (the cap is {} levels: deeper JSON \
                 makes common MCP clients fail to read the whole tool list)",
                crate::MAX_SCHEMA_DEPTH
            ),
        }
    }
}

impl std::error::Error for TooLarge {}

/// Why a type or function cannot become a tool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TypeError {
    /// It has no JSON form: the function is not a tool, but the component
    /// is otherwise fine.
    Unsupported(Unsupported),
    /// Its schema would exceed a cap: a component offering such a function
    /// is refused whole, since it can only be a mistake or an attack.
    TooLarge(TooLarge),
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeError::Unsupported(e) => e.fmt(f),
            TypeError::TooLarge(e) => e.fmt(f),
        }
    }
}

/// Transparent: the message is the inner error's, so there is no separate
/// source to report.
impl std::error::Error for TypeError {}

impl From<Unsupported> for TypeError {
    fn from(e: Unsupported) -> Self {
        TypeError::Unsupported(e)
    }
}

impl From<TooLarge> for TypeError {
    fn from(e: TooLarge) -> Self {
        TypeError::TooLarge(e)
    }
}
