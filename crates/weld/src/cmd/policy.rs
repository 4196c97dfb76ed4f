//! `weld policy show|set|validate`, `weld grant`, `weld revoke`: a person
//! changing what a component may do, through the one policy writer
//! (`weld_host::Policies`), audited like a change made over MCP.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use weld_host::audit::BuiltinRecord;
use weld_host::policy_admin::{Capability, Direction, PolicyChange};
use weld_host::{AuditFailure, Host, Outcome};
use weld_store::Store;

use super::audit::one_line;
use super::serve::open_audit;
use crate::cli;

/// `weld policy show`: the stored text, and what each storage rule was
/// granted as.
pub(super) fn show(store: &Store, name: &str) -> Result<ExitCode> {
    store
        .index()?
        .components
        .get(name)
        .ok_or_else(|| weld_store::StoreError::NotInstalled(name.to_string()))?;
    match store.read_policy(name)? {
        Some(text) => {
            outln!("{}", text.trim_end());
            // What each storage rule was granted as: the part of the
            // policy the text alone cannot say.
            match weld_host::load::stored_policy(store, name) {
                Ok(Some(stored)) if !stored.pins.is_empty() => {
                    outln!("# storage rules, as granted (pinned real paths):");
                    for pin in stored.pins.as_slice() {
                        let rule = if pin.is_allow() { "allow" } else { "deny" };
                        outln!("#   {rule} {}", pin.describe());
                    }
                }
                Ok(_) => {}
                Err(error) => outln!("# {}", one_line(&error.to_string())),
            }
        }
        None => {
            outln!("# `{name}` has no policy: it may use nothing but the clocks and randomness")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `weld policy set`: a whole document.
pub(super) fn set(host: &Host, name: &str, file: &Path) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let policy = parse_policy(&text, &file.display().to_string())?;
    let result = host
        .policies()
        .set(name, &policy)
        .map_err(anyhow::Error::from);
    let change = format!("set policy from {}", shown_path(file));
    audit_cli_change(host.store(), "weld policy set", name, change, &result);
    let changed = result?;
    outln!("policy of `{name}` updated; a running weld applies it within a second");
    print_pins(&changed.pins)?;
    Ok(ExitCode::SUCCESS)
}

/// `weld policy validate`: parse and print the canonical form.
pub(super) fn validate(file: &Path) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    match weld_policy::Policy::parse_all(&text) {
        Ok(policy) => {
            outln!("{}", policy.to_yaml().trim_end());
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            // Every error, one per line, so a person fixes them in one pass.
            for error in &errors {
                eprintln!("{}:{error}", file.display());
            }
            if errors.len() > 1 {
                eprintln!("{}: {} errors", file.display(), errors.len());
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Parses a policy a person offers (`weld policy set`, `weld add`): refused
/// on the first error, but the refusal lists every error found, each as
/// `SHOWN:LINE:COLUMN: message`, so one attempt shows all there is to fix.
pub(super) fn parse_policy(text: &str, shown: &str) -> Result<weld_policy::Policy> {
    weld_policy::Policy::parse_all(text).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("{shown}:{e}")).collect();
        match lines.as_slice() {
            [one] => anyhow::anyhow!("{one}"),
            _ => anyhow::anyhow!("{shown} has {} errors:\n{}", lines.len(), lines.join("\n")),
        }
    })
}

/// What each storage rule of a policy just written is granted as.
pub(super) fn print_pins(pins: &weld_policy::Pins) -> Result<()> {
    for pin in pins.as_slice() {
        let rule = if pin.is_allow() { "allows" } else { "denies" };
        outln!("  {rule} {}", pin.describe());
    }
    Ok(())
}

/// `weld grant` and `weld revoke`.
pub(super) fn change(
    host: &Host,
    change: cli::PolicyChange,
    direction: Direction,
) -> Result<ExitCode> {
    let policies = host.policies();
    let capability = match change.what {
        cli::Grantable::Storage { uri, access } => {
            let access = weld_host::policy_admin::access_modes(access.split(','))
                .map_err(|e| anyhow::anyhow!("--access: {e}"))?;
            Capability::Storage { uri, access }
        }
        cli::Grantable::Network { target } => Capability::Network { target },
        cli::Grantable::Env { key, secret } => Capability::Env { key, secret },
    };
    let change = PolicyChange {
        component: change.name,
        direction,
        capability,
    };
    // The person typing the command approves what the path resolves to
    // now; the apply re-checks that under the state lock.
    let result = policies.apply(&change, None).map_err(anyhow::Error::from);
    let tool = match direction {
        Direction::Grant => "weld grant",
        Direction::Revoke => "weld revoke",
    };
    let summary = match &result {
        Ok(changed) => change.summary_resolved(changed.resolved.as_ref()),
        Err(_) => change.summary(),
    };
    audit_cli_change(
        host.store(),
        tool,
        &change.component,
        summary.clone(),
        &result,
    );
    let changed = result?;
    outln!(
        "policy of `{}` updated ({summary}); a running weld applies it within a second",
        change.component,
    );
    if let Some(pin) = &changed.resolved {
        outln!("  granted {}", pin.describe());
    }
    if let Some(why) = &changed.still_disabled {
        outln!(
            "  note: the component is still not served: {}",
            one_line(why)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `path` as the audit log shows it: absolute, so a record read later says
/// which file it was whatever directory the command ran in.
pub(super) fn shown_path(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Records a policy change made from the command line in the audit log,
/// like one made through the built-in MCP tools: operators see every change,
/// whoever made it. An audit log that cannot be opened is a warning, not a
/// reason to undo a change already written.
pub(super) fn audit_cli_change<T>(
    store: &Store,
    tool: &'static str,
    component: &str,
    change: String,
    result: &Result<T>,
) {
    let audit = match open_audit(store, AuditFailure::KeepServing) {
        Ok(audit) => audit,
        Err(error) => {
            tracing::warn!(error = super::describe(&error), "policy change not audited");
            return;
        }
    };
    let digest = store
        .index()
        .ok()
        .and_then(|index| {
            index
                .components
                .get(component)
                .map(|c| c.digest.to_string())
        })
        .unwrap_or_default();
    audit.record_builtin(BuiltinRecord {
        at: std::time::SystemTime::now(),
        tool,
        component: component.to_string(),
        digest,
        client: Some("cli".into()),
        args_bytes: 0,
        outcome: if result.is_ok() {
            Outcome::Applied
        } else {
            Outcome::Refused
        },
        change: Some(change),
        error: result.as_ref().err().map(super::describe),
    });
    audit.flush(Duration::from_secs(5));
}
