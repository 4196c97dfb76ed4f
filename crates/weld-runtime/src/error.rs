//! Errors from building the engines or loading a component.

use std::path::PathBuf;

use crate::compiler::CompileLimit;
#[cfg(doc)]
use crate::compiler::CompileLimits;

/// Errors from building the engine or loading a component.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Wasmtime refused the engine's configuration, or its epoch ticker
    /// could not start.
    #[error("could not configure the Wasmtime engine: {0}")]
    Engine(String),
    /// The bytes are not a component Wasmtime accepts.
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    /// The component imports something weld does not provide.
    #[error(
        "the component needs an import weld does not provide: {0}\n\
         (weld offers the WASI 0.2 interfaces: wasi:cli, wasi:clocks, wasi:filesystem, wasi:io, wasi:random, wasi:sockets, wasi:http)"
    )]
    Link(String),
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
        cause: std::io::Error,
    },
    /// Another user could change the compile cache (the message says how to
    /// fix it).
    #[error("compile cache: {0}")]
    UnsafeCacheDir(#[from] weld_fs::DirError),
    /// Compiling the component went over a limit of [`CompileLimits`].
    #[error("{0}")]
    CompileLimit(CompileLimit),
    /// The compiler process failed for another reason.
    #[error("the compiler process failed: {0}")]
    Compiler(String),
}
