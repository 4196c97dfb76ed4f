//! A component's code, loaded when its first call needs it ([`Code`]).
//!
//! A server lists an installed component's tools from its
//! [`Description`], kept authenticated beside its compiled artefact, and
//! loads the artefact (or compiles the component again, when the artefact
//! is gone) only when one of its tools is first called. So start-up and
//! idle memory grow with the number of components listed, not with their
//! code. Concurrent first calls wait for one load; a load that fails is
//! each waiting call's error, is never retried with the same inputs, and
//! is reported to [`LoadFailures`], which the state watcher turns into a
//! catalog that lists the component as disabled, with the reason.
//!
//! Components that are listed by running them — MCP-world components and
//! commands — and files given with `--component` are loaded at once
//! ([`Code::loaded`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;
use weld_runtime::{Description, LoadedComponent, Metering, Prepared, Runtime, Share};
use weld_store::{Digest, Store};

/// A component's code: loaded, or to be loaded on first use.
pub struct Code {
    description: Description,
    /// Its tools' definitions as kept beside its description (see
    /// `crate::catalog::prepared`), or as derived since.
    prepared: Mutex<Option<Arc<Prepared>>>,
    cell: OnceCell<Result<Arc<LoadedComponent>, String>>,
    /// How to load it; `None` when it was loaded when built.
    loader: Option<Loader>,
}

/// What loading an installed component needs.
pub(crate) struct Loader {
    pub name: String,
    pub store: Store,
    pub runtime: Arc<Runtime>,
    pub digest: Digest,
    pub metering: Metering,
    pub failures: Arc<LoadFailures>,
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Code")
            .field("loaded", &self.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Code {
    /// Code already loaded.
    pub fn loaded(loaded: Arc<LoadedComponent>) -> Self {
        Self {
            description: loaded.description(),
            prepared: Mutex::new(None),
            cell: OnceCell::new_with(Some(Ok(loaded))),
            loader: None,
        }
    }

    /// Code described by `description` (with the text `prepared` from
    /// it, if kept), loaded by its first call.
    pub(crate) fn lazy(
        description: Description,
        prepared: Option<Prepared>,
        loader: Loader,
    ) -> Self {
        Self {
            description,
            prepared: Mutex::new(prepared.map(Arc::new)),
            cell: OnceCell::new(),
            loader: Some(loader),
        }
    }

    /// Which installed component, bytes and engine it loads; `None` for
    /// code loaded when it was built.
    pub(crate) fn key(&self) -> Option<LoadKey> {
        self.loader.as_ref().map(|l| LoadKey {
            name: l.name.clone(),
            digest: l.digest.clone(),
            metering: l.metering,
        })
    }

    /// What it offers and imports.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// The text prepared from its description, if any was kept or derived.
    pub(crate) fn prepared(&self) -> Option<Arc<Prepared>> {
        self.prepared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Holds `prepared`, derived from its description, for the catalogs
    /// built from this code later.
    pub(crate) fn set_prepared(&self, prepared: Prepared) {
        *self.prepared.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(prepared));
    }

    /// Which description file it was listed from (digest and engine);
    /// `None` for code loaded when it was built.
    pub(crate) fn description_file(&self) -> Option<(Digest, Metering)> {
        self.loader.as_ref().map(|l| (l.digest.clone(), l.metering))
    }

    /// Keeps `prepared` beside its description for the next start; only
    /// logged when that fails (the next start derives it again).
    pub(crate) fn keep_prepared(&self, prepared: &Prepared) {
        let Some(loader) = &self.loader else {
            return;
        };
        let kept = loader.runtime.keep_prepared(
            loader.digest.hex(),
            loader.metering,
            &self.description,
            prepared,
        );
        if let Err(error) = kept {
            tracing::warn!(component = %loader.name, %error, "tool definitions not kept: the next start derives them again");
        }
    }

    /// The loaded component, when it has been loaded.
    pub fn get(&self) -> Option<&Arc<LoadedComponent>> {
        match self.cell.get() {
            Some(Ok(loaded)) => Some(loaded),
            _ => None,
        }
    }

    /// The loaded component, loading it first when no call has yet; a
    /// loaded component costs one atomic load.
    ///
    /// # Errors
    ///
    /// Why it could not be loaded (the same for every call).
    pub async fn load(&self) -> Result<&Arc<LoadedComponent>, &str> {
        let loaded = match self.cell.get() {
            Some(loaded) => loaded,
            None => self.cell.get_or_init(|| self.load_once()).await,
        };
        loaded.as_ref().map_err(String::as_str)
    }

    async fn load_once(&self) -> Result<Arc<LoadedComponent>, String> {
        let Some(loader) = &self.loader else {
            return Err("the component was not loaded".into());
        };
        let (store, runtime, digest, metering) = (
            loader.store.clone(),
            Arc::clone(&loader.runtime),
            loader.digest.clone(),
            loader.metering,
        );
        tracing::info!(component = %loader.name, "loading the component for its first call");
        // A child of the span of the call that started the load; calls
        // waiting for the same load meanwhile count it only in `load_us`.
        let span = tracing::trace_span!(target: weld_runtime::TRACE_TARGET, "weld.load");
        let loaded = tracing::Instrument::instrument(
            tokio::task::spawn_blocking(move || {
                crate::load::load_installed(&store, &runtime, &digest, metering)
            }),
            span,
        )
        .await;
        let result = match loaded {
            Ok(Ok(loaded)) if loaded.description() == self.description => Ok(Arc::new(loaded)),
            Ok(Ok(_)) => Err(format!(
                "component `{}` could not be loaded: its code does not match the description \
                 its tools were listed from; restart weld to list it again",
                loader.name
            )),
            Ok(Err(cause)) => Err(crate::LoadError::Runtime {
                name: loader.name.clone(),
                path: loader.store.blob_path(&loader.digest).display().to_string(),
                cause,
            }
            .to_string()),
            Err(error) => Err(format!(
                "component `{}` could not be loaded: {error}",
                loader.name
            )),
        };
        if let Err(reason) = &result {
            tracing::error!(component = %loader.name, %reason, "component disabled: it could not be loaded for a call");
            loader.failures.record(
                LoadKey {
                    name: loader.name.clone(),
                    digest: loader.digest.clone(),
                    metering: loader.metering,
                },
                reason.clone(),
            );
        }
        result
    }

    /// How many of its calls may run at once with memory limit `memory`
    /// (see [`LoadedComponent::share`]).
    ///
    /// # Errors
    ///
    /// When one call of it cannot fit in the pool.
    pub(crate) fn share(&self, memory: u64) -> Result<Share, weld_runtime::RuntimeError> {
        if let Some(loaded) = self.get() {
            return Ok(loaded.share(memory));
        }
        match &self.loader {
            Some(loader) => loader
                .runtime
                .share_of(&self.description, loader.metering, memory),
            // Built loaded, so never here; no call could run.
            None => Ok(Share {
                calls: 0,
                bound_by: weld_runtime::Capacity::InstanceSlots,
            }),
        }
    }
}

/// Which load failed: the same component, bytes and engine fail again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct LoadKey {
    pub name: String,
    pub digest: Digest,
    pub metering: Metering,
}

/// Components whose load for a call failed, and why; the state watcher
/// rebuilds the catalog (listing them as disabled) when one is added.
#[derive(Default)]
pub struct LoadFailures {
    failed: Mutex<HashMap<LoadKey, String>>,
    changed: tokio::sync::Notify,
}

impl LoadFailures {
    fn record(&self, key: LoadKey, reason: String) {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, reason);
        self.changed.notify_one();
    }

    /// Why loading `key` failed, if it did.
    pub(crate) fn reason(&self, key: &LoadKey) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Waits until a load fails.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}
