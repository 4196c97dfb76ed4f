//! From a tool's policy to what the runtime enforces for it.
//!
//! Everything here happens at load time: parsing, resolving paths, reading
//! granted environment variables. A policy weld cannot enforce exactly is
//! refused with the reason — never loosened, never half applied. What is
//! enforced today: storage grants on directories, network rules (checked
//! per request and per address by the runtime), environment variables from
//! weld's own environment or its secret store, interface denies, and the
//! memory, timeout, output, concurrency and fuel limits.

use std::path::Path;
use std::time::Duration;

use weld_policy::{EnvSource, PathKind, Policy};
use weld_runtime::{Limits, Metering, Preopen, Sandbox};

/// The largest result a tool may return when its policy sets no
/// `resources.limits.output`: larger results are tool errors, so no client
/// is sent (and weld never renders) an unbounded answer.
pub const DEFAULT_OUTPUT: u64 = 4 * 1024 * 1024;

/// What a tool's policy compiles to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolPolicy {
    pub sandbox: Sandbox,
    pub limits: Limits,
    /// Largest result, in bytes of its JSON text.
    pub output: Option<u64>,
    /// Calls of the component's tools that may run at once; more wait.
    pub concurrency: Option<u32>,
}

impl ToolPolicy {
    /// A tool without a policy: nothing beyond the defaults, and no fuel
    /// (it is loaded unmetered).
    pub fn deny_all(limits: Limits) -> Self {
        Self {
            limits: Limits {
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
/// same field [`compile`] puts into [`Limits::fuel`], so the two agree.
pub fn metering(policy: &Policy) -> Metering {
    Metering::for_budget(policy.limits().fuel)
}

/// Compiles `policy` for a component importing `imports`.
///
/// `base` resolves `fs://./` URIs; `env` reads weld's environment (a
/// parameter so tests need not change the process environment); `secret`
/// reads the component's secrets from weld's secret store.
///
/// # Errors
///
/// A message naming what cannot be enforced and what to do instead.
pub fn compile(
    policy: &Policy,
    base: &Path,
    imports: &[String],
    defaults: Limits,
    env: &dyn Fn(&str) -> Option<String>,
    secret: &dyn Fn(&str) -> Option<String>,
) -> Result<ToolPolicy, String> {
    let grant = policy.compile(base).map_err(|e| e.to_string())?;
    for import in imports {
        let decision = grant.interfaces.check(import);
        if !decision.allowed {
            return Err(format!(
                "the component imports `{import}`, which the policy denies ({})",
                decision
                    .rule
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "not in interfaces.allow".into())
            ));
        }
    }
    let mut sandbox = Sandbox {
        network: std::sync::Arc::new(grant.network.clone()),
        ..Sandbox::default()
    };
    for storage in &grant.storage {
        if storage.kind == PathKind::File {
            return Err(format!(
                "the policy grants the single file {}, which this weld cannot enforce yet \
                 (WASI grants whole directories); grant a directory that holds only that file",
                storage.host_path.display()
            ));
        }
        sandbox.preopens.push(Preopen {
            host: storage.host_path.clone(),
            guest: storage.guest_path.clone(),
            writable: storage.write,
        });
    }
    for rule in &grant.env {
        let key = rule.key().as_str();
        match rule.from() {
            EnvSource::Host => match env(key) {
                Some(value) => sandbox.env.push((key.to_string(), value)),
                None => tracing::warn!(
                    key,
                    "the policy grants an environment variable that is not set; the tool will not see it"
                ),
            },
            EnvSource::Secret => match secret(key) {
                Some(value) => sandbox.env.push((key.to_string(), value)),
                None => tracing::warn!(
                    key,
                    "the policy grants a secret that is not in weld's secret store \
                     (`weld secret set`); the tool will not see it"
                ),
            },
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
    Ok(ToolPolicy {
        sandbox,
        limits,
        output: Some(grant.limits.output.map_or(DEFAULT_OUTPUT, |o| o.0)),
        concurrency: grant.limits.concurrency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_text(text: &str, imports: &[&str]) -> Result<ToolPolicy, String> {
        let policy = Policy::parse(text).map_err(|e| e.to_string())?;
        let imports: Vec<String> = imports.iter().map(|s| s.to_string()).collect();
        let env = |key: &str| (key == "GRANTED").then(|| "value".to_string());
        let secret = |key: &str| (key == "TOKEN").then(|| "s3cret".to_string());
        compile(
            &policy,
            Path::new("/"),
            &imports,
            Limits::default(),
            &env,
            &secret,
        )
    }

    #[test]
    fn granted_directories_and_host_variables_reach_the_sandbox() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "version: \"1.0\"\npermissions:\n  storage:\n    allow:\n      - uri: \"fs://{}/**\"\n        access: [read]\n  environment:\n    allow:\n      - key: GRANTED\n      - key: UNSET\n  resources:\n    limits: {{ memory: \"64Mi\", timeout: \"2s\", output: \"1Ki\", concurrency: 2 }}\n",
            dir.path().display()
        );
        let compiled = compile_text(&text, &[]).expect("compiles");
        assert_eq!(compiled.sandbox.preopens.len(), 1);
        assert!(!compiled.sandbox.preopens[0].writable);
        assert_eq!(
            compiled.sandbox.env,
            [("GRANTED".to_string(), "value".to_string())]
        );
        assert_eq!(compiled.limits.memory, 64 * 1024 * 1024);
        assert_eq!(compiled.limits.timeout, Duration::from_secs(2));
        assert_eq!(compiled.output, Some(1024));
        assert_eq!(compiled.concurrency, Some(2));
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
        let defaults = Limits {
            fuel: Some(5),
            ..Limits::default()
        };
        let compiled = compile(&policy, Path::new("/"), &[], defaults, &|_| None, &|_| None)
            .expect("compiles");
        assert_eq!(compiled.limits.fuel, None);
        assert_eq!(metering(&policy), Metering::Off);
    }

    #[test]
    fn network_rules_reach_the_sandbox() {
        let text = "version: \"1.0\"\npermissions:\n  network:\n    allow:\n      - host: \"api.github.com\"\n    deny:\n      - host: \"evil.example.com\"\n";
        let compiled = compile_text(text, &[]).expect("compiles");
        let rules = &compiled.sandbox.network;
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
            compiled.sandbox.env,
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
