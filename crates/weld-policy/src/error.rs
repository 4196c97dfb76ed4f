//! The one error type of the crate: where, what kind, and a message that
//! names the rule and says how to fix it.

use std::fmt;

/// A position in a policy document: 1-based line, 1-based column counted in
/// characters (Unicode scalar values), the same for YAML and JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Line, starting at 1.
    pub line: usize,
    /// Column, starting at 1, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What went wrong, for callers that react differently to different
/// failures (the CLI prints all of them the same way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not well-formed YAML or JSON, or uses a YAML feature weld
    /// refuses (anchors, aliases, tags, several documents).
    Syntax,
    /// The document is larger or deeper than weld reads.
    TooLarge,
    /// A field weld does not know (including policy-mcp fields weld does not
    /// support).
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A value of the wrong type (a number where a string belongs, …).
    WrongType,
    /// A value of the right type that is not valid (a bad glob, unit, port,
    /// host, key, …).
    InvalidValue,
    /// An empty list, mapping or value where it would mean nothing.
    Empty,
    /// The same rule, key or entry twice.
    Duplicate,
    /// Rules that together cannot be enforced exactly (e.g. a deny rule
    /// inside an allowed directory).
    Conflict,
    /// A grant that would have no effect because a deny rule covers it.
    NoEffect,
    /// A revoke of something the policy does not grant.
    NotGranted,
    /// The filesystem refused or contradicted a storage rule at compile time.
    Filesystem,
    /// A storage rule that has no pin: nobody granted what it resolves to
    /// (see [`Pins`](crate::Pins)).
    NotPinned,
    /// A pinned storage rule whose path no longer leads to what was granted.
    Moved,
}

/// An error parsing, validating, changing or compiling a policy.
///
/// `Display` is `LINE:COLUMN: MESSAGE` when the error has a place in a
/// document, otherwise `MESSAGE`. The message names the rule at fault and
/// says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    kind: ErrorKind,
    location: Option<Location>,
    message: String,
}

impl PolicyError {
    pub(crate) fn new(
        kind: ErrorKind,
        location: Option<Location>,
        message: impl Into<String>,
    ) -> Self {
        PolicyError {
            kind,
            location,
            message: message.into(),
        }
    }

    pub(crate) fn at(kind: ErrorKind, location: Location, message: impl Into<String>) -> Self {
        Self::new(kind, Some(location), message)
    }

    pub(crate) fn nowhere(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::new(kind, None, message)
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Where in the document, if the error comes from a document.
    #[must_use]
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    /// The message without the location.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(at) => write!(f, "{at}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}
