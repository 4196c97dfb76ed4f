//! `DistError`: every way fetching or publishing can fail, each saying which
//! registry or URL, what happened and what to do next.
//!
//! The variants are the categories a caller acts on differently (retry later,
//! add credentials, fix the reference, refuse the artifact); the text is for
//! the person reading it.

use std::path::PathBuf;

/// A failure to fetch or publish. `target` is `registry HOST[:PORT]` or a URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistError {
    /// The text is not a source weld accepts.
    #[error("`{text}` is not a valid source: {reason}")]
    InvalidSource {
        /// What was given.
        text: String,
        /// Why it was refused and what to write instead.
        reason: String,
    },
    /// A connection could not be made, or timed out.
    #[error(
        "{target} is unreachable: {detail}; check the address and that it is running, then try again"
    )]
    Unreachable {
        /// Registry or URL.
        target: String,
        /// What the connection attempt said.
        detail: String,
        /// The transport error.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The server refused the credentials (or asked for some).
    #[error("{target} answered {status}: {hint}")]
    Auth {
        /// Registry or URL.
        target: String,
        /// The HTTP status (401 or 403).
        status: u16,
        /// What to do.
        hint: String,
    },
    /// The manifest, blob, tag or file does not exist.
    #[error("{target} has no {what} (404); check the repository, tag or digest")]
    NotFound {
        /// Registry or URL.
        target: String,
        /// What was looked for.
        what: String,
    },
    /// The artifact is not a WebAssembly component in the CNCF Wasm OCI layout.
    #[error("{reference} is not a WebAssembly artifact: {reason}")]
    NotWasm {
        /// The `oci://` reference.
        reference: String,
        /// What in the manifest is not as the layout requires.
        reason: String,
    },
    /// Something declared or received is larger than the configured cap.
    #[error(
        "{target}: {what} is {size} bytes, over the cap of {limit} bytes; raise the limit only if you trust the source"
    )]
    TooLarge {
        /// Registry or URL.
        target: String,
        /// What was too large.
        what: String,
        /// Its size (declared, or received so far).
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// Received bytes do not hash to the digest they were asked for by.
    #[error(
        "{target}: {what} does not match its digest (expected {expected}, got {actual}); the registry or something between serves tampered or corrupt content"
    )]
    DigestMismatch {
        /// Registry or URL.
        target: String,
        /// What was checked.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// The answer is not what the protocol allows (not HTTP, not JSON, a bad
    /// header, a bad digest string, a redirect to plain HTTP).
    #[error("{target} sent a malformed response: {reason}")]
    Malformed {
        /// Registry or URL.
        target: String,
        /// What was wrong.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Any other refusal by the server.
    #[error("{target} answered {status} to {action}: {message}")]
    Status {
        /// Registry or URL.
        target: String,
        /// The HTTP status.
        status: u16,
        /// What was being done.
        action: String,
        /// The start of the server's answer.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The docker `config.json` or a credential helper failed.
    #[error("credentials for {registry}: {reason}")]
    Credentials {
        /// The registry the credentials were for.
        registry: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// The HTTP client could not be set up (TLS roots, provider).
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

impl DistError {
    pub(crate) fn malformed(target: &str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            target: target.to_owned(),
            reason: reason.into(),
            source: None,
        }
    }

    pub(crate) fn too_large(target: &str, what: &str, size: u64, limit: u64) -> Self {
        Self::TooLarge {
            target: target.to_owned(),
            what: what.to_owned(),
            size,
            limit,
        }
    }

    /// Classifies a transport error: no connection or a timeout is
    /// "unreachable"; anything else (a peer that does not speak HTTP, a body
    /// cut short, a refused redirect) is a malformed answer.
    pub(crate) fn transport(target: &str, err: reqwest::Error) -> Self {
        if err.is_connect() || err.is_timeout() {
            Self::Unreachable {
                target: target.to_owned(),
                detail: chain(&err),
                source: Some(err),
            }
        } else {
            Self::Malformed {
                target: target.to_owned(),
                reason: chain(&err),
                source: Some(Box::new(err)),
            }
        }
    }
}

/// The messages of an error and its sources, joined, so that "connection
/// refused" is not hidden behind "error sending request".
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

/// Server-sent text made safe to print: control characters (terminal
/// escapes among them) become spaces, and at most 300 characters are kept.
pub(crate) fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(300).is_some() {
        out.push('…');
    }
    out.trim().to_owned()
}
