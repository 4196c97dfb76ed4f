//! From a tool's policy to what the runtime enforces for it.
//!
//! Everything here happens at load time: parsing, resolving paths, reading
//! granted environment variables. A policy weld cannot enforce exactly is
//! refused with the reason — never loosened, never half applied. What is
//! enforced: storage grants on directories and single files, network rules (checked
//! per request and per address by the runtime), environment variables from
//! weld's own environment or its secret store (the guest sees them as its
//! environment and as its `wasi:config/store` values), interface denies, and the
//! memory, timeout, output, concurrency and fuel limits.

use std::path::Path;
use std::time::Duration;

use weld_policy::{EnvSource, Grant, PathKind, Policy, StorageGrant};
use weld_runtime::{
    CallLimits, DirIdentity, FileView, GrantedFile, Metering, NetworkGrant, Preopen, Sandbox,
};

/// The largest result a tool may return when its policy sets no
/// `resources.limits.output`: larger results are tool errors, so no client
/// is sent (and weld never renders) an unbounded answer.
pub const DEFAULT_OUTPUT: u64 = 4 * 1024 * 1024;

/// Why a policy cannot be enforced exactly for a component: it is refused,
/// never loosened.
#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    /// The component imports an interface the policy denies.
    #[error("the component imports `{import}`, which the policy denies ({rule})")]
    DeniedImport {
        /// The import.
        import: String,
        /// The rule that denies it.
        rule: String,
    },
    /// A single granted file cannot be shown as the policy means it.
    #[error("{0}")]
    FileView(String),
    /// The stored grant no longer holds (a pinned path moved), or does not
    /// compile.
    #[error(transparent)]
    Grant(#[from] weld_policy::PolicyError),
    /// The runtime refused the sandbox the grant describes.
    #[error(transparent)]
    Sandbox(#[from] weld_runtime::SandboxError),
}

/// A variable a policy grants that has no value to pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsetEnv {
    /// The variable.
    pub key: String,
    /// From weld's secret store (`from: secret`), not its environment.
    pub secret: bool,
}

impl std::fmt::Display for UnsetEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.secret {
            write!(
                f,
                "secret {} is granted but not in weld's secret store (`weld secret set`); the tool will not see it",
                self.key
            )
        } else {
            write!(
                f,
                "variable {} is granted but not set in weld's environment; the tool will not see it",
                self.key
            )
        }
    }
}

/// What a component's policy compiles to: the sandbox and limits every call
/// of its tools runs under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enforcement {
    /// What the guest may reach: directories and files, network rules,
    /// environment variables, interfaces.
    pub sandbox: Sandbox,
    /// The limits of each call: memory and time from the policy (else the
    /// defaults), fuel only from the policy, the rest the defaults.
    pub limits: CallLimits,
    /// Largest result, in bytes of its JSON text.
    pub output: Option<u64>,
    /// Variables the policy grants that have no value to pass: the tool
    /// runs without them. Said where a person looks (`weld serve`'s start,
    /// `weld call`, `weld list`), not on every command that loads policies.
    pub unset_env: Vec<UnsetEnv>,
    /// Calls of the component's tools that may run at once, and whether
    /// more wait or are refused.
    pub concurrency: Option<weld_policy::Concurrency>,
}

impl Enforcement {
    /// A tool without a policy: nothing beyond the defaults, and no fuel
    /// (it is loaded unmetered).
    pub fn deny_all(limits: CallLimits) -> Self {
        Self {
            limits: CallLimits {
                fuel: None,
                ..limits
            },
            output: Some(DEFAULT_OUTPUT),
            ..Self::default()
        }
    }
}

/// The engine a component under `policy` must be loaded on: the metered one
/// exactly when the policy sets a fuel budget. Known before the component is
/// loaded (unlike [`compile`], which needs its imports), and derived from the
/// same field [`compile`] puts into [`CallLimits::fuel`], so the two agree.
pub fn metering(policy: &Policy) -> Metering {
    Metering::for_budget(policy.limits().fuel)
}

/// Compiles `grant` (a policy compiled against its pins, see
/// [`weld_policy::Policy::compile_pinned`]) for a component importing
/// `imports`.
///
/// `env` reads weld's environment (a parameter so tests need not change the
/// process environment); `secret` reads the component's secrets from
/// weld's secret store.
///
/// # Errors
///
/// A message naming what cannot be enforced and what to do instead.
pub fn compile(
    grant: &Grant,
    imports: &[String],
    defaults: CallLimits,
    env: &dyn Fn(&str) -> Option<String>,
    secret: &dyn Fn(&str) -> Option<String>,
) -> Result<Enforcement, EnforceError> {
    for import in imports {
        let decision = grant.interfaces.check(import);
        if !decision.allowed {
            return Err(EnforceError::DeniedImport {
                import: import.clone(),
                rule: decision
                    .rule
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "not in interfaces.allow".into()),
            });
        }
    }
    let mut sandbox = Sandbox::builder();
    sandbox.network(NetworkGrant::new(grant.network.clone()));
    for storage in grant.storage.iter().filter(|s| s.kind == PathKind::Dir) {
        sandbox.preopened_dir(Preopen::new(
            storage.host_path.clone(),
            storage.guest_path.clone(),
            storage.write,
            identity(storage.identity),
        )?);
    }
    for view in file_views(&grant.storage)? {
        sandbox.file_view(view);
    }
    let mut unset_env = Vec::new();
    for rule in &grant.env {
        let key = rule.key().as_str();
        let secret_rule = matches!(rule.from(), EnvSource::Secret);
        let value = if secret_rule { secret(key) } else { env(key) };
        match value {
            Some(value) => {
                sandbox.env(key, value);
            }
            None => unset_env.push(UnsetEnv {
                key: key.to_string(),
                secret: secret_rule,
            }),
        }
    }
    let mut limits = defaults;
    // Only a policy sets fuel, never the operator's defaults: the budget and
    // the engine the component is loaded on (`metering`) must agree.
    limits.fuel = grant.limits.fuel;
    if let Some(memory) = grant.limits.memory {
        limits.memory = memory.0;
    }
    if let Some(timeout) = grant.limits.timeout {
        limits.timeout = timeout.max(Duration::from_millis(1));
    }
    Ok(Enforcement {
        sandbox: sandbox.build()?,
        limits,
        output: Some(grant.limits.output.map_or(DEFAULT_OUTPUT, |o| o.0)),
        concurrency: grant.limits.concurrency,
        unset_env,
    })
}

/// The identity a granted directory was pinned to (checked again when the
/// policy was compiled), which every call's handle is checked against.
fn identity(pinned: weld_policy::Identity) -> DirIdentity {
    DirIdentity {
        dev: pinned.dev,
        ino: pinned.ino,
    }
}

/// Groups the single-file grants by the directory the guest finds them in.
///
/// The runtime shows such a directory with only the granted files in it
/// (see `weld_runtime::FileView`), which hides everything else the guest
/// would otherwise find there. So a file whose directory lies inside a
/// granted directory tree is refused unless that tree already gives the
/// file's access (then the tree exposes the file and no view is needed):
/// the view would take away part of the tree's grant.
fn file_views(storage: &[StorageGrant]) -> Result<Vec<FileView>, EnforceError> {
    let dirs: Vec<&StorageGrant> = storage.iter().filter(|g| g.kind == PathKind::Dir).collect();
    let mut views: Vec<FileView> = Vec::new();
    for file in storage.iter().filter(|g| g.kind == PathKind::File) {
        let guest = Path::new(&file.guest_path);
        let split = |p: &Path| -> Option<(String, String)> {
            let dir = p.parent()?.to_str()?.to_string();
            let name = p.file_name()?.to_str()?.to_string();
            Some((dir, name))
        };
        let (Some((guest_dir, guest_name)), Some((_, host_name)), Some(host_dir)) = (
            split(guest),
            split(&file.host_path),
            file.host_path.parent(),
        ) else {
            return Err(EnforceError::FileView(format!(
                "the granted file {} cannot be shown in a view of its directory: its path (or \
                 its real path) has no parent directory or is not UTF-8; grant the directory",
                file.guest_path
            )));
        };
        let access = |write: bool| if write { "read-write" } else { "read-only" };
        // The tree exposes the file only where the file's path inside the
        // tree is the same for the guest and on the host (no symlink on the
        // way, which the tree would not follow out of itself).
        let covered = dirs.iter().any(|d| {
            let guest_rel = guest.strip_prefix(&d.guest_path).ok();
            let host_rel = file.host_path.strip_prefix(&d.host_path).ok();
            guest_rel.is_some() && guest_rel == host_rel && (d.write || !file.write)
        });
        if covered {
            continue;
        }
        if let Some(d) = dirs
            .iter()
            .find(|d| Path::new(&guest_dir).starts_with(&d.guest_path))
        {
            let same_place = guest.strip_prefix(&d.guest_path).ok()
                == file.host_path.strip_prefix(&d.host_path).ok();
            let why = if same_place {
                format!(
                    "grant {}/** {} if the tool may write the whole tree, or move the file out of it",
                    d.guest_path,
                    access(true)
                )
            } else {
                format!(
                    "the path is a symlink to {}, which the tree does not follow; grant the \
                     file by its real path",
                    file.host_path.display(),
                )
            };
            return Err(EnforceError::FileView(format!(
                "the policy grants the file {} {} inside the directory {}, granted {}; weld shows \
                 a single file through its own view of {guest_dir} holding only the granted \
                 files, which would hide the rest of that directory: {why}",
                file.guest_path,
                access(file.write),
                d.guest_path,
                access(d.write),
            )));
        }
        let entry = GrantedFile::new(guest_name, host_name, file.write)?;
        match views.iter_mut().find(|v| v.guest_dir() == guest_dir) {
            Some(view) if view.host_dir() != host_dir => {
                return Err(EnforceError::FileView(format!(
                    "the granted files in {guest_dir} are really in two directories ({} and {}, \
                     through a symlink); weld shows one directory per path — grant each file by \
                     its real path",
                    view.host_dir().display(),
                    host_dir.display()
                )));
            }
            Some(view) => {
                view.add(entry);
            }
            None => {
                let mut view =
                    FileView::new(host_dir.to_path_buf(), guest_dir, identity(file.identity))?;
                view.add(entry);
                views.push(view);
            }
        }
    }
    Ok(views)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_text(text: &str, imports: &[&str]) -> Result<Enforcement, String> {
        let policy = Policy::parse(text).map_err(|e| e.to_string())?;
        let grant = policy.compile(Path::new("/")).map_err(|e| e.to_string())?;
        let imports: Vec<String> = imports.iter().map(|s| s.to_string()).collect();
        let env = |key: &str| (key == "GRANTED").then(|| "value".to_string());
        let secret = |key: &str| (key == "TOKEN").then(|| "s3cret".to_string());
        compile(&grant, &imports, CallLimits::default(), &env, &secret).map_err(|e| e.to_string())
    }

    #[test]
    fn granted_directories_and_host_variables_reach_the_sandbox() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "version: \"1.0\"\npermissions:\n  storage:\n    allow:\n      - uri: \"fs://{}/**\"\n        access: [read]\n  environment:\n    allow:\n      - key: GRANTED\n      - key: UNSET\n  resources:\n    limits: {{ memory: \"64Mi\", timeout: \"2s\", output: \"1Ki\", concurrency: 2 }}\n",
            dir.path().display()
        );
        let compiled = compile_text(&text, &[]).expect("compiles");
        assert_eq!(compiled.sandbox.preopens().len(), 1);
        assert!(!compiled.sandbox.preopens()[0].writable());
        assert_eq!(
            &compiled.sandbox.env()[..],
            [("GRANTED".to_string(), "value".to_string())]
        );
        assert_eq!(compiled.limits.memory, 64 * 1024 * 1024);
        assert_eq!(compiled.limits.timeout, Duration::from_secs(2));
        assert_eq!(compiled.output, Some(1024));
        assert_eq!(
            compiled.concurrency,
            Some(weld_policy::Concurrency::waiting(2))
        );
    }

    #[test]
    fn a_fuel_budget_reaches_the_limits_and_picks_the_metered_engine() {
        let fuel = "version: \"1.0\"\npermissions:\n  resources:\n    limits: { fuel: 1000 }\n";
        let compiled = compile_text(fuel, &[]).expect("fuel is enforced");
        assert_eq!(compiled.limits.fuel, Some(1000));
        let policy = Policy::parse(fuel).expect("parses");
        assert_eq!(metering(&policy), Metering::Fuel);
    }

    #[test]
    fn without_a_fuel_budget_there_is_no_fuel_even_if_the_defaults_had_one() {
        let policy = Policy::parse("version: \"1.0\"\n").expect("parses");
        let defaults = CallLimits {
            fuel: Some(5),
            ..CallLimits::default()
        };
        let grant = policy.compile(Path::new("/")).expect("compiles");
        let compiled = compile(&grant, &[], defaults, &|_| None, &|_| None).expect("compiles");
        assert_eq!(compiled.limits.fuel, None);
        assert_eq!(metering(&policy), Metering::Off);
    }

    fn storage_policy(rules: &[(String, &str)]) -> String {
        let mut text = String::from("version: \"1.0\"\npermissions:\n  storage:\n    allow:\n");
        for (uri, access) in rules {
            text.push_str(&format!(
                "      - uri: \"{uri}\"\n        access: [{access}]\n"
            ));
        }
        text
    }

    #[test]
    fn a_single_file_grant_becomes_a_view_of_its_directory_holding_only_that_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("real path");
        std::fs::write(root.join("a.md"), "a").expect("write");
        std::fs::write(root.join("b.md"), "b").expect("write");
        std::fs::write(root.join("secret.md"), "s").expect("write");
        std::os::unix::fs::symlink(root.join("b.md"), root.join("link.md")).expect("symlink");
        let text = storage_policy(&[
            (format!("fs://{}/a.md", root.display()), "read"),
            (format!("fs://{}/link.md", root.display()), "read, write"),
        ]);
        let compiled = compile_text(&text, &[]).expect("compiles");
        assert!(compiled.sandbox.preopens().is_empty());
        let views = compiled.sandbox.files();
        assert_eq!(views.len(), 1, "{views:?}");
        assert_eq!(views[0].host_dir(), root);
        assert_eq!(views[0].guest_dir(), root.display().to_string());
        let files: Vec<(&str, &str, bool)> = views[0]
            .files()
            .iter()
            .map(|f| (f.guest_name(), f.host_name(), f.writable()))
            .collect();
        assert_eq!(files, [("a.md", "a.md", false), ("link.md", "b.md", true)]);
    }

    #[test]
    fn a_file_inside_a_granted_tree_needs_no_view_when_the_tree_covers_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("real path");
        std::fs::create_dir(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("sub/a.md"), "a").expect("write");
        let text = storage_policy(&[
            (format!("fs://{}/**", root.display()), "read, write"),
            (format!("fs://{}/sub/a.md", root.display()), "read"),
        ]);
        let compiled = compile_text(&text, &[]).expect("compiles");
        assert_eq!(compiled.sandbox.preopens().len(), 1);
        assert!(compiled.sandbox.files().is_empty());
    }

    #[test]
    fn a_symlinked_file_inside_a_tree_is_refused_with_its_real_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("real path");
        std::fs::write(root.join("real.md"), "r").expect("write");
        std::os::unix::fs::symlink(root.join("real.md"), root.join("link.md")).expect("symlink");
        let text = storage_policy(&[
            (format!("fs://{}/**", root.display()), "read"),
            (format!("fs://{}/link.md", root.display()), "read"),
        ]);
        let error = compile_text(&text, &[]).unwrap_err();
        assert!(
            error.contains(&format!("symlink to {}/real.md", root.display())),
            "{error}"
        );
    }

    #[test]
    fn a_writable_file_inside_a_read_only_tree_is_refused_naming_both() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("real path");
        std::fs::create_dir(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("sub/a.md"), "a").expect("write");
        let text = storage_policy(&[
            (format!("fs://{}/**", root.display()), "read"),
            (format!("fs://{}/sub/a.md", root.display()), "read, write"),
        ]);
        let error = compile_text(&text, &[]).unwrap_err();
        assert!(
            error.contains(&format!("{}/sub/a.md read-write", root.display()))
                && error.contains(&format!("directory {}, granted read-only", root.display()))
                && error.contains("would hide the rest"),
            "{error}"
        );
    }

    #[test]
    fn network_rules_reach_the_sandbox() {
        let text = "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"api.github.com\"\n    deny:\n      - host: \"evil.example.com\"\n";
        let compiled = compile_text(text, &[]).expect("compiles");
        let rules = compiled.sandbox.network().rules();
        assert!(
            rules
                .check(weld_policy::Scheme::Https, "api.github.com", 443)
                .allowed
        );
        assert!(
            !rules
                .check(weld_policy::Scheme::Https, "api.github.com", 8443)
                .allowed
        );
        assert!(
            !rules
                .check(weld_policy::Scheme::Https, "evil.example.com", 443)
                .allowed
        );
    }

    #[test]
    fn secrets_come_from_the_store_and_are_never_shown_in_debug_output() {
        let text = "version: \"1.0\"\npermissions:\n  environment:\n    allow:\n      - key: TOKEN\n        from: secret\n";
        let compiled = compile_text(text, &[]).expect("compiles");
        assert_eq!(
            &compiled.sandbox.env()[..],
            [("TOKEN".to_string(), "s3cret".to_string())]
        );
        let shown = format!("{compiled:?}");
        assert!(
            shown.contains("TOKEN") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn a_denied_import_is_refused_naming_the_interface() {
        let text = "version: \"1.0\"\npermissions:\n  interfaces:\n    deny: [\"wasi:random/*\"]\n";
        let error = compile_text(text, &["wasi:random/random@0.2.6"]).unwrap_err();
        assert!(error.contains("wasi:random/random@0.2.6"), "{error}");
        assert!(compile_text(text, &["wasi:cli/stdout@0.2.6"]).is_ok());
    }
}
