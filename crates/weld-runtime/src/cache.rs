//! The on-disk compile cache.
//!
//! Compiling a component takes from milliseconds (small Rust tools) to
//! seconds (an interpreter compiled to Wasm); loading a precompiled artefact
//! takes well under a millisecond for the former. So every component is
//! compiled once and its artefact kept, keyed by the component's digest and
//! the engine's compatibility hash: a new Wasmtime or a changed engine
//! configuration simply misses the cache.
//!
//! `Component::deserialize_file` trusts its input completely, so the cache
//! keeps Wasmtime's promise: a file is only ever loaded from a directory weld
//! created with mode 0700 under a name derived from the digest, and it only
//! appears under that name through an atomic rename after a full write and
//! fsync — a crash mid-write leaves a stray temp file, never a torn artefact.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::RuntimeError;

/// Directory of compiled artefacts for one engine configuration.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
}

/// Feeds `Hash` output into SHA-256 so the engine key is stable across
/// processes and Rust releases (unlike `DefaultHasher`).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        // Never used: the full digest is taken from the inner state instead.
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// A short, stable identifier of the engine's compilation settings.
pub(crate) fn engine_key(engine: &Engine) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..12])
}

impl CompileCache {
    pub(crate) fn new(root: &Path, engine: &Engine) -> Self {
        Self {
            dir: root.join("compiled").join(engine_key(engine)),
        }
    }

    fn artefact_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}.cwasm"))
    }

    /// Loads the artefact for `digest`, compiling `wasm` and storing the
    /// result first when there is none (or the one there cannot be loaded).
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, RuntimeError>,
    ) -> Result<Component, RuntimeError> {
        let path = self.artefact_path(digest);
        if path.exists() {
            // SAFETY: `path` is inside weld's private cache directory under a
            // name only `store` gives, and `store` writes nothing but the
            // output of `Engine::precompile_component` for this engine
            // configuration (the directory name is the engine's
            // compatibility hash), published by an atomic rename after fsync.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(error) => tracing::warn!(
                    path = %path.display(),
                    error = %error,
                    "compiled artefact could not be loaded; recompiling"
                ),
            }
        }
        let bytes = wasm()?;
        self.compile_and_store(engine, digest, &bytes)
    }

    /// Compiles `wasm` and stores the artefact, replacing any previous one.
    pub(crate) fn compile_and_store(
        &self,
        engine: &Engine,
        digest: &str,
        wasm: &[u8],
    ) -> Result<Component, RuntimeError> {
        let compiled = engine
            .precompile_component(wasm)
            .map_err(|e| RuntimeError::Compile(format!("{e:?}")))?;
        let path = self.artefact_path(digest);
        self.store(&path, &compiled)?;
        // SAFETY: `compiled` was produced just above by
        // `Engine::precompile_component` on this very engine.
        unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| RuntimeError::Compile(format!("{e:?}")))
    }

    fn store(&self, path: &Path, bytes: &[u8]) -> Result<(), RuntimeError> {
        let io = |e: std::io::Error| RuntimeError::Cache {
            path: self.dir.clone(),
            cause: e,
        };
        create_private_dir(&self.dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io)?;
        tmp.write_all(bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        // The rename must survive a crash too, or a later boot could find
        // neither the old nor the new name.
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }
}

/// Creates `dir` (and parents) readable only by this user.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
