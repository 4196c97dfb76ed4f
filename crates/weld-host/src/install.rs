//! Installing a component: read, describe, compile, check the policy it
//! offers, store it.
//!
//! Everything that can refuse a component happens before the state is
//! touched, in order of cost: its tools' sizes are checked from its types
//! (no compile), then it is compiled and linked (a component weld cannot
//! run is never installed), then the policy it offers is pinned and
//! compiled against it (so accepting it later cannot fail). Only then are
//! its bytes written. The offered policy is *not* applied here: a person
//! decides, and the front end applies it through
//! [`crate::policy_admin::Policies::set`], the one policy writer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use weld_policy::{Pins, Policy, PolicyError, RealFileSystem};
use weld_runtime::{CallLimits, Metering, RuntimeError};
use weld_store::{NewComponent, Provenance, StoreError};

use crate::Host;
use crate::catalog::{Catalog, ComponentEntry, Skipped};
use crate::enforce::Enforcement;
use crate::load::{FileComponent, LoadError, StoredPolicy, compile_policy, read_component_file};
use crate::policy_admin::{ManageError, refuse_symlink};

/// What to install.
pub struct Request<'a> {
    /// The component, read (from a file, a registry or a URL) and named.
    pub component: FileComponent,
    /// Where it came from, as recorded and shown (`file:/abs/path`,
    /// `oci://…`, `https://…`).
    pub source: String,
    /// What was proven about its origin (`None` for a local file).
    pub provenance: Option<Provenance>,
    /// Replace a component installed under the same name.
    pub force: bool,
    /// The policy the component offers, and where it was read from.
    pub policy: Option<(&'a Path, &'a Policy)>,
}

impl Request<'_> {
    /// A request for the component file at `path`, named `name` or after
    /// the file.
    ///
    /// # Errors
    ///
    /// When it cannot be read or its docs section is malformed.
    pub fn file(path: &Path, name: Option<&str>) -> Result<Self, InstallError> {
        Ok(Self {
            component: read_component_file(path, name)?,
            source: format!("file:{}", absolute(path).display()),
            provenance: None,
            force: false,
            policy: None,
        })
    }
}

/// An installed component, described.
pub struct Installed {
    /// Its name.
    pub name: String,
    /// The digest of its bytes.
    pub digest: String,
    /// Its tools (and the functions that are not tools, with the reason),
    /// as they will be served under a deny-all policy.
    pub catalog: Catalog,
    /// The interfaces it imports.
    pub imports: Vec<String>,
    /// What the offered policy's storage rules resolve to, for the person
    /// deciding whether to apply it.
    pub pins: Pins,
}

/// Why a component was not installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The file could not be read, or its docs section is malformed.
    #[error(transparent)]
    Read(#[from] LoadError),
    /// A component of that name is installed, and `force` was not given.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A tool of the component is over a size cap.
    #[error("{}", refusal(.0))]
    Refused(Box<Skipped>),
    /// It could not be described, compiled or linked.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The policy it offers cannot be honoured.
    #[error("{} is refused", .path.display())]
    Policy {
        /// Where the policy was read from.
        path: PathBuf,
        /// Why.
        #[source]
        cause: Box<PolicyRefusal>,
    },
}

/// Why an offered policy is refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyRefusal {
    /// A path does not resolve, or is not what the rule says.
    #[error(transparent)]
    Pin(#[from] PolicyError),
    /// A path leads through a symlink.
    #[error(transparent)]
    Symlink(#[from] ManageError),
    /// The component cannot be held to it.
    #[error(transparent)]
    Unenforceable(#[from] LoadError),
}

/// How a refused tool reads in an error.
pub fn refusal(refused: &Skipped) -> String {
    if refused.function.is_empty() {
        refused.reason.clone()
    } else {
        format!("tool `{}`: {}", refused.function, refused.reason)
    }
}

/// Installs `request` into `host`'s state.
///
/// # Errors
///
/// See [`InstallError`]; nothing is written when it is returned.
pub fn install(host: &Host, request: Request<'_>) -> Result<Installed, InstallError> {
    let store = host.store();
    let runtime = host.runtime();
    let file = request.component;
    if !request.force && store.index()?.components.contains_key(&file.name) {
        return Err(StoreError::AlreadyInstalled(file.name).into());
    }
    // Described from its types before anything is compiled: a component
    // whose tools exceed the size caps is refused with the reason, without
    // spending the compile on it.
    let inspection = runtime.inspect(&file.bytes)?;
    crate::catalog::inspected_tools(&file.name, &file.docs, &inspection)
        .map_err(|refused| InstallError::Refused(Box::new(refused)))?;
    // It runs deny-all, so unmetered, until a policy says otherwise. A
    // digest compiled before (installed under another name, or earlier)
    // comes from the cache: no second compile.
    let loaded = runtime.load(file.digest.hex(), Metering::Off, || Ok(file.bytes.clone()))?;
    // So a start lists it by reading its tools' definitions.
    crate::catalog::keep_tool_texts(
        runtime,
        file.digest.hex(),
        Metering::Off,
        &loaded.description(),
        &file.docs,
    );
    let mut pins = Pins::default();
    if let Some((path, policy)) = request.policy {
        let refused = |cause: PolicyRefusal| InstallError::Policy {
            path: path.to_path_buf(),
            cause: Box::new(cause),
        };
        let (_, pinned) = policy
            .pin(host.base(), &Pins::default(), &RealFileSystem)
            .map_err(|e| refused(e.into()))?;
        for pin in pinned.as_slice().iter().filter(|p| p.is_allow()) {
            refuse_symlink(pin).map_err(|e| refused(e.into()))?;
        }
        let stored = StoredPolicy {
            policy: policy.clone(),
            pins: pinned.clone(),
            text: String::new(),
        };
        compile_policy(
            store,
            &file.name,
            &stored,
            loaded.imports(),
            CallLimits::default(),
        )
        .map_err(|e| refused(e.into()))?;
        pins = pinned;
    }
    let imports = loaded.imports().to_vec();
    let installed = store.install_component(
        &NewComponent {
            name: &file.name,
            bytes: &file.bytes,
            source: &request.source,
            provenance: request.provenance,
            imports: imports.clone(),
        },
        request.force,
    )?;
    let catalog = Catalog::build(vec![ComponentEntry {
        name: file.name.clone(),
        digest: installed.digest.to_string(),
        docs: crate::catalog::EntryDocs::Read(file.docs),
        code: Arc::new(crate::lazy::Code::loaded(Arc::new(loaded))),
        policy: Enforcement::deny_all(CallLimits::default()),
        file: None,
        mcp_listing: None,
    }]);
    Ok(Installed {
        name: file.name,
        digest: installed.digest.to_string(),
        catalog,
        imports,
        pins,
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
