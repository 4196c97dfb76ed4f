//! Errors from building the engines or loading a component.

use std::error::Error;
use std::fmt;
use std::path::PathBuf;

use crate::compiler::CompileLimit;
#[cfg(doc)]
use crate::compiler::CompileLimits;

/// The underlying error of a [`RuntimeError`], with its own causes: from
/// Wasmtime, the validator, or (as text) the compiler process.
pub type Cause = Box<dyn Error + Send + Sync + 'static>;

/// Errors from building the engine or loading a component.
///
/// Each message includes its cause's text, so that a message shown alone
/// says as much as the whole chain; [`source`](Error::source) still leads
/// to the cause itself.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Wasmtime refused the engine's configuration or the host's
    /// definitions.
    #[error("could not configure the Wasmtime engine: {}", Chain(&**source))]
    Engine {
        /// What Wasmtime said.
        #[source]
        source: Cause,
    },
    /// The engine's epoch ticker thread could not start; without it no
    /// deadline would ever fire.
    #[error("could not configure the Wasmtime engine: could not start the epoch ticker: {source}")]
    EpochTicker {
        /// Why the thread could not start.
        #[source]
        source: std::io::Error,
    },
    /// No randomness for the compile cache's key.
    #[error(
        "could not configure the Wasmtime engine: no randomness for the compile cache's key: \
         {source}"
    )]
    Randomness {
        /// What the system said.
        #[source]
        source: getrandom::Error,
    },
    /// The bytes are not a component Wasmtime accepts.
    #[error("not a valid WebAssembly component: {}", Chain(&**source))]
    Compile {
        /// What Wasmtime (or its validator) said.
        #[source]
        source: Cause,
    },
    /// The component imports something weld does not provide.
    #[error(
        "the component needs an import weld does not provide: {}\n\
         (weld offers the WASI 0.2 interfaces: wasi:cli, wasi:clocks, wasi:filesystem, wasi:io, wasi:random, wasi:sockets, wasi:http)",
        Chain(&**source)
    )]
    Link {
        /// What Wasmtime's linker said.
        #[source]
        source: Cause,
    },
    /// One call of the component would need more instance slots than the
    /// pool has.
    #[error(
        "the component needs {slots} instance slots per call (it defines {memories} linear \
         memories and {tables} tables), more than the pool's {capacity}; raise --max-instances"
    )]
    TooLarge {
        /// Slots one call would take.
        slots: u32,
        /// Linear memories the component defines.
        memories: u32,
        /// Tables the component defines.
        tables: u32,
        /// Slots in the pool.
        capacity: u32,
    },
    /// The compile cache could not be read or written.
    #[error("compile cache at {path}: {cause}")]
    Cache {
        /// The cache directory.
        path: PathBuf,
        /// What failed.
        #[source]
        cause: std::io::Error,
    },
    /// Another user could change the compile cache (the message says how to
    /// fix it).
    #[error("compile cache: {0}")]
    UnsafeCacheDir(#[from] weld_fs::DirError),
    /// The directory behind every tool's empty root (see
    /// [`Sandbox`](crate::Sandbox)) could not be made in the cache
    /// directory.
    #[error(
        "could not prepare the tools' empty root directory in {}: {source}; weld needs to \
         create (and at once remove) a directory there",
        .dir.display()
    )]
    EmptyRoot {
        /// The cache directory it was to be made in.
        dir: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Compiling the component went over a limit of [`CompileLimits`].
    #[error("{0}")]
    CompileLimit(CompileLimit),
    /// The compiler process failed for another reason.
    #[error(
        "the compiler process failed: {problem}{}",
        .source.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
    )]
    Compiler {
        /// What went wrong with it.
        problem: String,
        /// The I/O error behind it, if one is.
        #[source]
        source: Option<std::io::Error>,
    },
}

impl RuntimeError {
    /// Wasmtime refused the engine's configuration or definitions.
    pub(crate) fn engine(error: wasmtime::Error) -> Self {
        Self::Engine {
            source: error.into_boxed_dyn_error(),
        }
    }

    /// Wasmtime refused the component's bytes.
    pub(crate) fn compile(error: wasmtime::Error) -> Self {
        Self::Compile {
            source: error.into_boxed_dyn_error(),
        }
    }

    /// The compiler process failed without an I/O error behind it.
    pub(crate) fn compiler(problem: impl Into<String>) -> Self {
        Self::Compiler {
            problem: problem.into(),
            source: None,
        }
    }
}

/// An error and its causes on one line: `outer: inner: innermost`.
struct Chain<'a>(&'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wasmtime_error_keeps_its_causes_in_the_message_and_the_source_chain() {
        let inner = wasmtime::Error::msg("magic header not detected");
        let error = RuntimeError::compile(inner.context("failed to parse WebAssembly module"));
        assert_eq!(
            error.to_string(),
            "not a valid WebAssembly component: failed to parse WebAssembly module: magic \
             header not detected"
        );
        let source = error.source().expect("a source");
        assert_eq!(source.to_string(), "failed to parse WebAssembly module");
        let cause = source.source().expect("the cause's own cause");
        assert_eq!(cause.to_string(), "magic header not detected");
    }
}
