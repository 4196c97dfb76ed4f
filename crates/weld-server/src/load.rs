//! Turning installed components (and any given on the command line) into
//! [`ComponentEntry`]s, before the server answers its first request.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weld_policy::{Pins, Policy, RealFileSystem};
use weld_runtime::{Limits, Metering, Runtime, RuntimeError};
use weld_store::{Digest, Store, StoreError, docs};

use crate::catalog::{ComponentEntry, Disabled};
use crate::sandbox::{self, ToolPolicy};

/// Why loading stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not read {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: {cause}")]
    Docs {
        path: PathBuf,
        cause: docs::DocsError,
    },
    #[error("component `{name}` ({path}) could not be loaded: {cause}")]
    Runtime {
        name: String,
        path: String,
        cause: RuntimeError,
    },
    #[error("{path}: {message}")]
    Policy { path: PathBuf, message: String },
    #[error("the policy of `{name}` cannot be enforced: {message}")]
    Unenforceable { name: String, message: String },
    #[error(
        "two components are named `{0}`; give one another name (`weld add PATH --name OTHER`, \
         or rename the file passed to --component)"
    )]
    DuplicateName(String),
}

/// A component file given with `--component`, read and described.
pub struct FileComponent {
    pub name: String,
    pub digest: Digest,
    pub bytes: Vec<u8>,
    pub docs: docs::ComponentDocs,
}

/// Reads a component file, deriving its name from the file name.
///
/// # Errors
///
/// When the file cannot be read or its docs section is malformed.
pub fn read_component_file(path: &Path, name: Option<&str>) -> Result<FileComponent, LoadError> {
    let bytes = std::fs::read(path).map_err(|cause| LoadError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let docs = docs::read(&bytes).map_err(|cause| LoadError::Docs {
        path: path.to_path_buf(),
        cause,
    })?;
    let name = match name {
        Some(name) => name.to_string(),
        None => weld_store::default_name(path),
    };
    weld_store::validate_name(&name)?;
    Ok(FileComponent {
        name,
        digest: Digest::of(&bytes),
        bytes,
        docs,
    })
}

/// Loads an installed component on the engine `metering` picks (see
/// [`sandbox::metering`]): from the compile cache, or — on a miss — by
/// compiling its blob (checked against its digest) again.
///
/// # Errors
///
/// When the blob is missing or changed, or does not compile or link.
pub fn load_installed(
    store: &Store,
    runtime: &Runtime,
    digest: &Digest,
    metering: Metering,
) -> Result<weld_runtime::LoadedComponent, RuntimeError> {
    runtime.load(digest.hex(), metering, || {
        store
            .read_blob(digest)
            .map_err(|e| RuntimeError::Compile(e.to_string()))
    })
}

/// What [`load_all`] found: the components to serve, and the installed
/// ones that are not served, with the reason.
pub struct Loaded {
    pub entries: Vec<ComponentEntry>,
    pub disabled: Vec<Disabled>,
}

impl Loaded {
    /// The catalog of what was loaded.
    pub fn into_catalog(self) -> crate::Catalog {
        crate::Catalog::build(self.entries).with_disabled(self.disabled)
    }
}

/// Loads every installed component and every file in `extra`.
///
/// For each installed component: parse its policy, pick the engine the
/// policy needs (metered when it sets fuel), load the component there, then
/// compile the policy from its pins against the component's imports.
///
/// An installed component that cannot be served — it fails to load, its
/// policy does not parse, or a grant can no longer be honoured (a granted
/// directory moved) — is left out and reported in [`Loaded::disabled`] (and
/// the log): one component's trouble never stops the others, nor the next
/// start. A bad state index, or a bad `--component` file (which the
/// operator just named), is an error.
///
/// # Errors
///
/// See [`LoadError`].
pub fn load_all(
    store: &Store,
    runtime: &Runtime,
    extra: &[PathBuf],
    limits: Limits,
) -> Result<Loaded, LoadError> {
    let index = store.index()?;
    let mut names = BTreeSet::new();
    let mut entries = Vec::new();
    let mut disabled = Vec::new();
    for (name, installed) in &index.components {
        names.insert(name.clone());
        let digest = installed.digest.clone();
        let loaded = stored_policy(store, name).and_then(|stored| {
            let metering = stored
                .as_ref()
                .map_or(Metering::Off, |s| sandbox::metering(&s.policy));
            let loaded = load_installed(store, runtime, &digest, metering).map_err(|cause| {
                LoadError::Runtime {
                    name: name.clone(),
                    path: store.blob_path(&digest).display().to_string(),
                    cause,
                }
            })?;
            let policy = match &stored {
                Some(stored) => compile_policy(store, name, stored, loaded.imports(), limits)?,
                None => ToolPolicy::deny_all(limits),
            };
            Ok((loaded, policy))
        });
        match loaded {
            Ok((loaded, policy)) => entries.push(ComponentEntry {
                name: name.clone(),
                digest: digest.to_string(),
                docs: installed.docs.clone(),
                loaded: Arc::new(loaded),
                policy,
            }),
            Err(LoadError::Store(error @ StoreError::CorruptIndex { .. })) => {
                return Err(LoadError::Store(error));
            }
            Err(error) => {
                let reason = error.to_string();
                tracing::error!(component = %name, reason = %reason, "component disabled: none of its tools is served");
                disabled.push(Disabled {
                    component: name.clone(),
                    digest: digest.to_string(),
                    reason,
                });
            }
        }
    }
    for path in extra {
        let file = read_component_file(path, None)?;
        if !names.insert(file.name.clone()) {
            return Err(LoadError::DuplicateName(file.name));
        }
        // Deny-all, so no fuel: the engine without it.
        let loaded = runtime
            .load(file.digest.hex(), Metering::Off, || Ok(file.bytes.clone()))
            .map_err(|cause| LoadError::Runtime {
                name: file.name.clone(),
                path: path.display().to_string(),
                cause,
            })?;
        entries.push(ComponentEntry {
            name: file.name,
            digest: file.digest.to_string(),
            docs: file.docs,
            loaded: Arc::new(loaded),
            // Only a person grants: a component given on the command line
            // runs deny-all, whatever lies next to it.
            policy: ToolPolicy::deny_all(limits),
        });
    }
    Ok(Loaded { entries, disabled })
}

/// A stored policy, parsed, with the pins of its storage rules.
#[derive(Debug, Clone)]
pub struct StoredPolicy {
    pub policy: Policy,
    /// What its storage rules resolved to when granted (empty when the
    /// pins file is missing: then every storage rule is refused as not
    /// pinned).
    pub pins: Pins,
    /// The policy's text as stored.
    pub text: String,
}

/// The stored policy of installed component `name`, parsed, and its pins;
/// `None` when it has none. Read before the component is loaded: it decides
/// the engine.
///
/// # Errors
///
/// A policy or pins file that does not parse, naming the file: weld never
/// falls back to a default.
pub fn stored_policy(store: &Store, name: &str) -> Result<Option<StoredPolicy>, LoadError> {
    let stored = store.stored_policy(name)?;
    let Some(text) = stored.text else {
        return Ok(None);
    };
    let policy = Policy::parse(&text).map_err(|e| LoadError::Policy {
        path: store.policy_path(name),
        message: e.to_string(),
    })?;
    let pins = match &stored.pins {
        Some(pins) => crate::pins::from_text(pins).map_err(|e| LoadError::Policy {
            path: store.pins_path(name),
            message: format!(
                "{e}; grant the component's storage again, or set its policy again \
                 (`weld policy show {name} > p.yaml && weld policy set {name} p.yaml`)"
            ),
        })?,
        None => Pins::default(),
    };
    Ok(Some(StoredPolicy { policy, pins, text }))
}

/// Compiles the stored policy of component `name` (installed or about to
/// be) from its pins, with its imports: the one place that decides whether
/// weld can enforce a policy, used at load and for every policy change.
///
/// # Errors
///
/// [`LoadError::Unenforceable`] with the reason (a grant that no longer
/// leads where it was granted among them), or a store error reading the
/// component's secrets.
pub fn compile_policy(
    store: &Store,
    name: &str,
    stored: &StoredPolicy,
    imports: &[String],
    limits: Limits,
) -> Result<ToolPolicy, LoadError> {
    let unenforceable = |message: String| LoadError::Unenforceable {
        name: name.to_string(),
        message,
    };
    let grant = stored
        .policy
        .compile_pinned(&stored.pins, &RealFileSystem)
        .map_err(|e| unenforceable(e.to_string()))?;
    let secrets = store.secrets(name)?;
    crate::sandbox::compile(
        &grant,
        imports,
        limits,
        &|key| std::env::var(key).ok(),
        &|key| secrets.get(key).cloned(),
    )
    .map_err(unenforceable)
}

/// What identifies the current content of a file without reading it.
type Fingerprint = Vec<Option<(std::time::SystemTime, u64, u64)>>;

fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    use std::os::unix::fs::MetadataExt;
    paths
        .iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok()?;
            Some((meta.modified().ok()?, meta.len(), meta.ino()))
        })
        .collect()
}

/// Reloads the catalog whenever the state index (a `weld add` or `weld
/// remove` from another process) or a `--component` file changes, until
/// `shutdown` fires. Checks once a second; a check is one `stat` per file.
///
/// A reload that fails (a corrupt index, a component that no longer
/// compiles) is logged and the current tools stay served: weld never falls
/// back to an empty or partial set.
pub async fn watch_state(
    store: Store,
    runtime: Arc<Runtime>,
    extra: Vec<PathBuf>,
    limits: Limits,
    registry: Arc<crate::Registry>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    // A policy or secret change renames a file into `policies/` or
    // `secrets/`, which changes the directory's own modification time.
    let mut watched = vec![
        store.root().join("index.json"),
        store.policies_dir(),
        store.root().join("secrets"),
    ];
    watched.extend(extra.iter().cloned());
    let mut seen = fingerprint(&watched);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = fingerprint(&watched);
        if now == seen {
            continue;
        }
        seen = now;
        let (store, runtime, extra) = (store.clone(), Arc::clone(&runtime), extra.clone());
        let rebuilt = tokio::task::spawn_blocking(move || {
            load_all(&store, &runtime, &extra, limits).map(Loaded::into_catalog)
        })
        .await;
        match rebuilt {
            Ok(Ok(catalog)) => {
                tracing::info!(
                    tools = catalog.tools().len(),
                    "state changed; tools reloaded"
                );
                registry.replace(catalog);
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "state changed but could not be loaded; still serving the previous tools");
            }
            Err(error) => tracing::error!(%error, "reload task failed"),
        }
    }
}
