//! Turning installed components (and any given on the command line) into
//! [`ComponentEntry`]s, before the server answers its first request.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weld_policy::Policy;
use weld_runtime::{Limits, Metering, Runtime, RuntimeError};
use weld_store::{Digest, Store, StoreError, docs};

use crate::ComponentEntry;
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
    #[error("component `{name}` ({path}): {cause}")]
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

/// Loads every installed component and every file in `extra`.
///
/// For each installed component: parse its policy, pick the engine the
/// policy needs (metered when it sets fuel), load the component there, then
/// compile the policy against the component's imports.
///
/// An installed component that fails to load is logged and left out — one
/// broken tool should not take the others down — while a bad state index, a
/// policy that does not parse or cannot be enforced, or a bad `--component`
/// file (which the operator just named) is an error.
///
/// # Errors
///
/// See [`LoadError`].
pub fn load_all(
    store: &Store,
    runtime: &Runtime,
    extra: &[PathBuf],
    limits: Limits,
    base: &Path,
) -> Result<Vec<ComponentEntry>, LoadError> {
    let index = store.index()?;
    let mut names = BTreeSet::new();
    let mut entries = Vec::new();
    for (name, installed) in &index.components {
        let digest = installed.digest.clone();
        let stored = stored_policy(store, name)?;
        let metering = stored.as_ref().map_or(Metering::Off, sandbox::metering);
        match load_installed(store, runtime, &digest, metering) {
            Ok(loaded) => {
                let policy =
                    installed_policy(store, name, stored.as_ref(), base, loaded.imports(), limits)?;
                names.insert(name.clone());
                entries.push(ComponentEntry {
                    name: name.clone(),
                    digest: digest.to_string(),
                    docs: installed.docs.clone(),
                    loaded: Arc::new(loaded),
                    policy,
                });
            }
            Err(error) => {
                tracing::error!(component = %name, %error, "installed component could not be loaded; its tools are not served");
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
    Ok(entries)
}

/// The stored policy of installed component `name`, parsed; `None` when it
/// has none. Read before the component is loaded: it decides the engine.
///
/// # Errors
///
/// A policy file that does not parse stops loading with an error naming the
/// file: weld never falls back to a default.
pub fn stored_policy(store: &Store, name: &str) -> Result<Option<Policy>, LoadError> {
    let Some(text) = store.read_policy(name)? else {
        return Ok(None);
    };
    Policy::parse(&text)
        .map(Some)
        .map_err(|e| LoadError::Policy {
            path: store.policy_path(name),
            message: e.to_string(),
        })
}

/// The compiled policy of installed component `name` (`policy` as
/// [`stored_policy`] read it); deny-all without one.
///
/// # Errors
///
/// A policy that cannot be enforced stops loading with an error naming the
/// file.
fn installed_policy(
    store: &Store,
    name: &str,
    policy: Option<&Policy>,
    base: &Path,
    imports: &[String],
    limits: Limits,
) -> Result<ToolPolicy, LoadError> {
    let Some(policy) = policy else {
        return Ok(ToolPolicy::deny_all(limits));
    };
    match compile_policy(store, name, policy, base, imports, limits) {
        Err(LoadError::Unenforceable { message, .. }) => Err(LoadError::Policy {
            path: store.policy_path(name),
            message,
        }),
        other => other,
    }
}

/// Compiles `policy` for component `name` (installed or about to be) with
/// its imports: the one place that decides whether weld can enforce a
/// policy, used at load, by `weld policy set` and by `weld add`.
///
/// # Errors
///
/// [`LoadError::Unenforceable`] with the reason, or a store error reading
/// the component's secrets.
pub fn compile_policy(
    store: &Store,
    name: &str,
    policy: &Policy,
    base: &Path,
    imports: &[String],
    limits: Limits,
) -> Result<ToolPolicy, LoadError> {
    let secrets = store.secrets(name)?;
    crate::sandbox::compile(
        policy,
        base,
        imports,
        limits,
        &|key| std::env::var(key).ok(),
        &|key| secrets.get(key).cloned(),
    )
    .map_err(|message| LoadError::Unenforceable {
        name: name.to_string(),
        message,
    })
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
    base: PathBuf,
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
        let (store, runtime, extra, base) = (
            store.clone(),
            Arc::clone(&runtime),
            extra.clone(),
            base.clone(),
        );
        let rebuilt = tokio::task::spawn_blocking(move || {
            load_all(&store, &runtime, &extra, limits, &base).map(crate::Catalog::build)
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
