//! Turning installed components (and any given on the command line) into
//! [`ComponentEntry`]s, before the server answers its first request.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weld_policy::{Pins, Policy, RealFileSystem};
use weld_runtime::{CallLimits, Metering, Runtime, RuntimeError};
use weld_store::{Digest, Store, StoreError, docs};

use crate::catalog::{ComponentEntry, Disabled};
use crate::enforce::{self as sandbox, Enforcement};
use crate::lazy::{Code, LoadFailures, LoadKey, Loader};
use crate::mcp::McpNaming;

/// Why loading stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The state directory could not be read (its index, a policy, a
    /// secret), or a component name is invalid.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A component file (`--component`, `weld add`, `weld inspect`) could
    /// not be read.
    #[error("could not read {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        cause: std::io::Error,
    },
    /// A component file's `package-docs` section is malformed.
    #[error("{path}: {cause}")]
    Docs {
        /// The file.
        path: PathBuf,
        /// What is wrong with the section.
        cause: docs::DocsError,
    },
    /// A component does not compile or link, or its installed blob is
    /// missing or no longer matches its digest.
    #[error("component `{name}` ({path}) could not be loaded: {cause}")]
    Runtime {
        /// The component.
        name: String,
        /// Its file: the installed blob, or the file given.
        path: String,
        /// What the runtime refused.
        cause: RuntimeError,
    },
    /// A stored policy or its pins file does not parse; weld never falls
    /// back to a default.
    #[error("{path}: {message}")]
    Policy {
        /// The policy or pins file.
        path: PathBuf,
        /// Where and why it does not parse, and what to do.
        message: String,
    },
    /// A policy parses but weld cannot enforce it exactly for this
    /// component, so it is refused rather than loosened.
    #[error("the policy of `{name}` cannot be enforced: {cause}")]
    Unenforceable {
        /// The component.
        name: String,
        /// What cannot be enforced, and what to do instead.
        #[source]
        cause: Box<crate::enforce::EnforceError>,
    },
    /// Two components would be served under one name, so their tool
    /// names would clash; carries the name.
    #[error(
        "two components are named `{0}`; give one another name (`weld add PATH --name OTHER`, \
         or rename the file passed to --component)"
    )]
    DuplicateName(String),
    /// Loading an installed component for a call failed (its reason, said
    /// in full); it stays disabled until it or its policy changes, or weld
    /// restarts.
    #[error("{0}")]
    CallLoad(String),
}

/// A component file given with `--component`, read and described.
pub struct FileComponent {
    /// The name given, or the one derived from the file name; validated.
    pub name: String,
    /// The digest of its bytes, as the store would install it under.
    pub digest: Digest,
    /// The file's contents, to compile, inspect or install.
    pub bytes: Vec<u8>,
    /// Its `package-docs` section (empty without one).
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
    let name = match name {
        Some(name) => name.to_string(),
        None => weld_store::default_name(path),
    };
    component_from_bytes(bytes, name, path)
}

/// Describes a component's `bytes` (read from `origin`, named in errors)
/// to be installed or served as `name`.
///
/// # Errors
///
/// When the name is invalid or the docs section is malformed.
pub fn component_from_bytes(
    bytes: Vec<u8>,
    name: String,
    origin: &Path,
) -> Result<FileComponent, LoadError> {
    let docs = docs::read(&bytes).map_err(|cause| LoadError::Docs {
        path: origin.to_path_buf(),
        cause,
    })?;
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
            .map_err(|e| RuntimeError::Compile { source: e.into() })
    })
}

/// Whether [`load_all`] may compile a component whose artefact is not in
/// the compile cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compiling {
    /// Compile it now (bounded by the runtime's compile limits): at start,
    /// and for commands that load once.
    Now,
    /// Leave it out of this load (disabled while it compiles) and report it
    /// in `Loaded::pending` for the watcher: a running server reloads for
    /// every policy change, and a revocation must not wait behind a compile.
    Later,
}

/// A component [`load_all`] left out because it must be compiled first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Pending {
    pub name: String,
    pub digest: Digest,
    pub metering: Metering,
}

/// What [`load_all`] found: the components to serve, the installed ones
/// that are not served (with the reason), and those waiting to be compiled.
pub struct Loaded {
    /// The components to serve, each with its compiled policy.
    pub entries: Vec<ComponentEntry>,
    pub(crate) disabled: Vec<Disabled>,
    pub(crate) pending: Vec<Pending>,
    /// How MCP-world components' tools and prompts are named.
    pub naming: McpNaming,
}

impl Loaded {
    /// The catalog of what was loaded. An MCP-world component is listed
    /// first, in a fresh sandboxed instance of its own (see
    /// [`crate::mcp`]); one whose listing fails is disabled, never the
    /// others.
    pub async fn into_catalog(self) -> crate::Catalog {
        self.into_catalog_after(None).await
    }

    /// As [`Loaded::into_catalog`], reusing what an MCP-world component
    /// listed in `previous` when it is the same component under the same
    /// sandbox and limits: a reload (any policy change, a revocation among
    /// them) then lists only what changed, and the listings it does run,
    /// run at once, so one slow component delays a reload by its own
    /// listing at most, never by everyone's.
    pub async fn into_catalog_after(mut self, previous: Option<&crate::Catalog>) -> crate::Catalog {
        let mut jobs = tokio::task::JoinSet::new();
        for (at, entry) in self.entries.iter_mut().enumerate() {
            let Some(loaded) = entry.code.get().filter(|l| l.mcp().is_some()) else {
                continue;
            };
            if let Some(listed) = previous.and_then(|p| p.listing_of(entry)) {
                entry.mcp_listing = Some(listed);
                continue;
            }
            let (loaded, name, policy) =
                (Arc::clone(loaded), entry.name.clone(), entry.policy.clone());
            jobs.spawn(async move { (at, crate::mcp::list_loaded(&loaded, &name, &policy).await) });
        }
        while let Some(done) = jobs.join_next().await {
            match done {
                Ok((at, listed)) => {
                    if let Err(reason) = &listed {
                        tracing::error!(component = %self.entries[at].name, %reason, "MCP-world component disabled: its listing failed");
                    }
                    self.entries[at].mcp_listing = Some(listed);
                }
                // A listing that panicked leaves its component unlisted:
                // none of its MCP offers is served.
                Err(error) => tracing::error!(%error, "a listing task failed"),
            }
        }
        crate::Catalog::build_with(self.entries, self.naming).with_disabled(self.disabled)
    }
}

/// Loads every installed component and every file in `extra`.
///
/// For each installed component: parse its policy, pick the engine the
/// policy needs (metered when it sets fuel), load the component there — or,
/// when a description of it was kept there and it is listed from its types,
/// prepare it to be loaded by its first call ([`crate::lazy`]) — then
/// compile the policy from its pins against the component's imports.
///
/// An installed component that cannot be served — it fails to load, its
/// policy does not parse, or a grant can no longer be honoured (a granted
/// directory moved) — is left out and reported in `Loaded::disabled` (see
/// [`Catalog::disabled`](crate::Catalog::disabled)) and the log: one
/// component's trouble never stops the others, nor the next start. So is
/// a `--component` file that cannot be read, compiled or linked, or whose
/// name another component has; a file with the digest of the component
/// already served under its name is that component, served once. Only a
/// bad state index is an error.
///
/// # Errors
///
/// See [`LoadError`].
pub fn load_all(
    store: &Store,
    runtime: &Arc<Runtime>,
    extra: &[PathBuf],
    limits: CallLimits,
    compiling: Compiling,
    lazy: &Lazy,
) -> Result<Loaded, LoadError> {
    let index = store.index()?;
    let mut names = BTreeSet::new();
    let mut entries = Vec::new();
    let mut disabled = Vec::new();
    let mut pending = Vec::new();
    let mut digests: HashMap<String, String> = index
        .components
        .iter()
        .map(|(name, installed)| (name.clone(), installed.digest.to_string()))
        .collect();
    let installed: Vec<(&String, &weld_store::InstalledComponent)> =
        index.components.iter().collect();
    let ready = in_parallel(&installed, |(name, installed)| {
        prepare_installed(
            store,
            runtime,
            name,
            &installed.digest,
            limits,
            compiling,
            lazy,
        )
    });
    // Moved out of the index, not copied: docs are most of it.
    for ((name, installed), (metering, loaded)) in index.components.into_iter().zip(ready) {
        names.insert(name.clone());
        let digest = installed.digest.clone();
        match loaded {
            Ok(None) => {
                // Not compiled for the engine its policy needs yet: left out
                // until it is. Serving the previous build would mean serving
                // it under the previous policy, which could undo a
                // revocation.
                disabled.push(Disabled {
                    component: name.clone(),
                    digest: digest.to_string(),
                    reason: "being compiled; its tools are served as soon as that finishes".into(),
                    file: None,
                });
                pending.push(Pending {
                    name: name.clone(),
                    digest,
                    metering,
                });
            }
            Ok(Some((code, policy))) => entries.push(ComponentEntry {
                name: name.clone(),
                digest: digest.to_string(),
                docs: crate::catalog::EntryDocs::InBlob(store.clone(), installed.digest.clone()),
                code,
                policy,
                file: None,
                mcp_listing: None,
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
                    file: None,
                });
            }
        }
    }
    for path in extra {
        match load_file(runtime, path, limits, &mut names, &mut digests) {
            Ok(Some(entry)) => entries.push(entry),
            Ok(None) => {}
            Err(disabled_file) => {
                tracing::error!(
                    component = %disabled_file.component,
                    file = %path.display(),
                    reason = %disabled_file.reason,
                    "component file disabled: none of its tools is served; the others are"
                );
                disabled.push(disabled_file);
            }
        }
    }
    Ok(Loaded {
        entries,
        disabled,
        pending,
        naming: McpNaming::default(),
    })
}

/// What an installed component is served as: its code (to be loaded by
/// its first call when its description was kept) and its compiled policy;
/// `None` when it is not compiled for the engine its policy needs yet.
type Ready = Result<Option<(Arc<Code>, Enforcement)>, LoadError>;

/// Prepares installed component `name` (see [`load_all`]), with the
/// engine its policy's metering picks.
fn prepare_installed(
    store: &Store,
    runtime: &Arc<Runtime>,
    name: &str,
    digest: &Digest,
    limits: CallLimits,
    compiling: Compiling,
    lazy: &Lazy,
) -> (Metering, Ready) {
    let mut metering = Metering::Off;
    let ready = stored_policy(store, name).and_then(|stored| {
        metering = stored
            .as_ref()
            .map_or(Metering::Off, |s| sandbox::metering(&s.policy));
        let runtime_error = |cause| LoadError::Runtime {
            name: name.to_string(),
            path: store.blob_path(digest).display().to_string(),
            cause,
        };
        let key = LoadKey {
            name: name.to_string(),
            digest: digest.clone(),
            metering,
        };
        if let Some(code) = lazy_code(store, runtime, key, lazy)? {
            let policy = match &stored {
                Some(stored) => {
                    compile_policy(store, name, stored, &code.description().imports, limits)?
                }
                None => Enforcement::deny_all(limits),
            };
            code.share(policy.limits.memory).map_err(runtime_error)?;
            return Ok(Some((code, policy)));
        }
        let loaded = match compiling {
            Compiling::Now => {
                load_installed(store, runtime, digest, metering).map_err(runtime_error)?
            }
            Compiling::Later => match runtime
                .load_cached(digest.hex(), metering)
                .map_err(runtime_error)?
            {
                Some(loaded) => loaded,
                None => return Ok(None),
            },
        };
        let policy = match &stored {
            Some(stored) => compile_policy(store, name, stored, loaded.imports(), limits)?,
            None => Enforcement::deny_all(limits),
        };
        Ok(Some((Arc::new(Code::loaded(Arc::new(loaded))), policy)))
    });
    (metering, ready)
}

/// Components per thread below which [`in_parallel`] stays on one: a
/// thread costs about as much as reading a few descriptions.
const PER_THREAD: usize = 64;

/// `each` of `items`, in order, on up to as many threads as there are
/// cores: a start reads one description (and policy) per installed
/// component, each independent of the others. A component that must be
/// compiled first is compiled on its thread (in the runtime's bounded
/// compiler process), so at most one compile per core runs at once.
fn in_parallel<T: Sync, R: Send>(items: &[T], each: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let threads = cores.min(items.len() / PER_THREAD).max(1);
    if threads == 1 {
        return items.iter().map(each).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let each = &each;
    std::thread::scope(|scope| {
        let running: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(each).collect::<Vec<R>>()))
            .collect();
        running
            .into_iter()
            .flat_map(|thread| match thread.join() {
                Ok(done) => done,
                // A panic in one is a panic of the start, as it would be on
                // one thread.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Loads a component file given with `--component`, deny-all. `Ok(None)`
/// when the same bytes are already served under the same name (installed,
/// or the file given twice): that is one component, served once (an
/// installed one with its policy), not a name clash. `digests` maps each
/// name served so far to its digest.
///
/// # Errors
///
/// The [`Disabled`] entry saying why the file is not served: it cannot be
/// read, described, compiled or linked, or its name is taken by another
/// component.
fn load_file(
    runtime: &Runtime,
    path: &Path,
    limits: CallLimits,
    names: &mut BTreeSet<String>,
    digests: &mut HashMap<String, String>,
) -> Result<Option<ComponentEntry>, Disabled> {
    let fallback_name = weld_store::default_name(path);
    let disabled = |component: String, digest: String, reason: String| Disabled {
        component,
        digest,
        reason,
        file: Some(path.to_path_buf()),
    };
    let file = read_component_file(path, None)
        .map_err(|e| disabled(fallback_name.clone(), String::new(), e.to_string()))?;
    let digest = file.digest.to_string();
    if digests.get(&file.name) == Some(&digest) {
        tracing::info!(
            file = %path.display(),
            component = %file.name,
            "--component file is a component already served under its name (same digest); served once"
        );
        return Ok(None);
    }
    if !names.insert(file.name.clone()) {
        return Err(disabled(
            file.name.clone(),
            digest,
            LoadError::DuplicateName(file.name).to_string(),
        ));
    }
    // Deny-all, so no fuel: the engine without it.
    let loaded = runtime
        .load(file.digest.hex(), Metering::Off, || Ok(file.bytes.clone()))
        .map_err(|cause| {
            let reason = LoadError::Runtime {
                name: file.name.clone(),
                path: path.display().to_string(),
                cause,
            }
            .to_string();
            disabled(file.name.clone(), digest.clone(), reason)
        })?;
    digests.insert(file.name.clone(), digest.clone());
    Ok(Some(ComponentEntry {
        name: file.name,
        digest,
        docs: crate::catalog::EntryDocs::Read(file.docs),
        code: Arc::new(Code::loaded(Arc::new(loaded))),
        // Only a person grants: a component given on the command line runs
        // deny-all, whatever lies next to it.
        policy: Enforcement::deny_all(limits),
        file: Some(path.to_path_buf()),
        mcp_listing: None,
    }))
}

/// What lets [`load_all`] list installed components without loading them:
/// the failures of earlier loads for calls, and the code of the catalog
/// being replaced (a reload keeps what calls have loaded).
#[derive(Default)]
pub struct Lazy {
    /// Loads that failed for a call; those components are disabled.
    pub failures: Arc<LoadFailures>,
    /// Code of the previous catalog, lazily loaded or not yet.
    pub(crate) previous: HashMap<LoadKey, Arc<Code>>,
}

/// The code of installed component `key`, to be loaded by its first call,
/// when a description of it was kept and it is listed from its types (not
/// an MCP-world component nor a command, which are listed by running
/// them); `None` when it must be loaded now.
///
/// # Errors
///
/// When an earlier load for a call failed (the same load fails again), or
/// the metered engine cannot be built.
fn lazy_code(
    store: &Store,
    runtime: &Arc<Runtime>,
    key: LoadKey,
    lazy: &Lazy,
) -> Result<Option<Arc<Code>>, LoadError> {
    if let Some(reason) = lazy.failures.reason(&key) {
        return Err(LoadError::CallLoad(reason));
    }
    if let Some(code) = lazy.previous.get(&key) {
        return Ok(Some(Arc::clone(code)));
    }
    let described = runtime.cached_listing(key.digest.hex(), key.metering);
    let Some((description, prepared)) = described.map_err(|cause| LoadError::Runtime {
        name: key.name.clone(),
        path: store.blob_path(&key.digest).display().to_string(),
        cause,
    })?
    else {
        return Ok(None);
    };
    if description.mcp || description.is_command() {
        return Ok(None);
    }
    let loader = Loader {
        name: key.name,
        store: store.clone(),
        runtime: Arc::clone(runtime),
        digest: key.digest,
        metering: key.metering,
        failures: Arc::clone(&lazy.failures),
    };
    Ok(Some(Arc::new(Code::lazy(description, prepared, loader))))
}

/// A stored policy, parsed, with the pins of its storage rules.
#[derive(Debug, Clone)]
pub struct StoredPolicy {
    /// The parsed policy, still to be compiled against its pins
    /// ([`compile_policy`]).
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
    limits: CallLimits,
) -> Result<Enforcement, LoadError> {
    let unenforceable = |cause: crate::enforce::EnforceError| LoadError::Unenforceable {
        name: name.to_string(),
        cause: Box::new(cause),
    };
    let grant = stored
        .policy
        .compile_pinned(&stored.pins, &RealFileSystem)
        .map_err(|e| unenforceable(e.into()))?;
    let secrets = store.secrets(name)?;
    crate::enforce::compile(
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
/// remove` from another process), a policy, a secret or a `--component`
/// file changes, until `shutdown` fires. Checks once a second; a check is
/// one `stat` per file.
///
/// A reload never waits for a compile: a component whose artefact is not
/// cached is left out of that reload ([`Compiling::Later`]) and compiled in
/// the background, and the catalog is rebuilt when it is ready. So a policy
/// change — a revocation above all — is applied within a second even while
/// a large or hostile component compiles (for up to the compile limit).
///
/// A reload that fails (a corrupt index) is logged and the current tools
/// stay served: weld never falls back to an empty or partial set.
#[allow(
    clippy::too_many_arguments,
    reason = "what a load needs, and where it goes"
)]
pub async fn watch_state(
    store: Store,
    runtime: Arc<Runtime>,
    extra: Vec<PathBuf>,
    limits: CallLimits,
    naming: McpNaming,
    failures: Arc<LoadFailures>,
    live: Arc<crate::LiveCatalog>,
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
    // Compiles running in the background (each reports back when it ends),
    // and those that failed: the same bytes on the same engine under the
    // same limits fail again, so they are not retried.
    let mut compiling: HashSet<Pending> = HashSet::new();
    let mut failed: HashMap<Pending, String> = HashMap::new();
    let (compiled_tx, mut compiled_rx) =
        tokio::sync::mpsc::unbounded_channel::<(Pending, Option<String>)>();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let now = fingerprint(&watched);
                if now == seen {
                    continue;
                }
                seen = now;
            }
            Some((done, error)) = compiled_rx.recv() => {
                compiling.remove(&done);
                if let Some(error) = error {
                    failed.insert(done, error);
                }
            }
            // A component failed to load for a call: list it as disabled.
            () = failures.changed() => {}
        }
        let (store_, runtime_, extra_) = (store.clone(), Arc::clone(&runtime), extra.clone());
        let lazy = Lazy {
            failures: Arc::clone(&failures),
            previous: live.snapshot().lazy_code(),
        };
        let rebuilt = tokio::task::spawn_blocking(move || {
            load_all(&store_, &runtime_, &extra_, limits, Compiling::Later, &lazy)
        })
        .await;
        let mut loaded = match rebuilt {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(error)) => {
                tracing::error!(%error, "state changed but could not be loaded; still serving the previous tools");
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "reload task failed");
                continue;
            }
        };
        for job in &loaded.pending {
            if let Some(error) = failed.get(job) {
                for disabled in loaded
                    .disabled
                    .iter_mut()
                    .filter(|d| d.component == job.name)
                {
                    disabled.reason = format!("could not be compiled: {error}");
                }
                continue;
            }
            if !compiling.insert(job.clone()) {
                continue;
            }
            tracing::info!(component = %job.name, "compiling in the background; its tools are served once it is ready");
            let (store, runtime, done, job) = (
                store.clone(),
                Arc::clone(&runtime),
                compiled_tx.clone(),
                job.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let error = load_installed(&store, &runtime, &job.digest, job.metering)
                    .err()
                    .map(|e| e.to_string());
                if let Some(error) = &error {
                    tracing::error!(component = %job.name, %error, "could not be compiled; its tools are not served");
                }
                // Either way the catalog is rebuilt: with the component when
                // it compiled, with the reason when it did not.
                let _ = done.send((job, error));
            });
        }
        loaded.naming = naming;
        let catalog = loaded.into_catalog_after(Some(&live.snapshot())).await;
        tracing::info!(
            tools = catalog.tools().len(),
            "state changed; tools reloaded"
        );
        live.replace(catalog);
    }
}
