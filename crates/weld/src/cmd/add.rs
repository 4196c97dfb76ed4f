//! `weld add`: install a component, and the policy it offers if a person
//! accepts it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use weld_host::{Host, install};

use super::list::print_tools;
use super::policy::{audit_cli_change, print_pins, shown_path};
use crate::cli;

/// `weld add`.
pub(super) fn add(host: &Host, args: &cli::AddArgs) -> Result<ExitCode> {
    let cannot = || format!("{} cannot be installed", args.path.display());
    let proposed = proposed_policy(args)?;
    let request = install::Request {
        path: &args.path,
        name: args.name.as_deref(),
        force: args.force,
        policy: proposed
            .as_ref()
            .map(|(path, policy)| (path.as_path(), policy)),
    };
    let installed = install::install(host, &request).with_context(cannot)?;
    outln!("installed `{}` ({})", installed.name, installed.digest);
    print_tools(&installed.catalog)?;
    for import in &installed.imports {
        outln!("  imports {import}");
    }
    let Some((path, policy)) = proposed else {
        outln!("no policy: the tool may use nothing but the clocks and randomness");
        return Ok(ExitCode::SUCCESS);
    };
    outln!("\nthe component proposes this policy ({}):", path.display());
    for line in policy.to_yaml().lines() {
        outln!("  {line}");
    }
    print_pins(&installed.pins)?;
    if args.accept_policy || confirm("apply it?")? {
        // The one policy writer: it pins the storage rules again under the
        // state lock and loads the component on the engine the policy
        // needs (compiling it for fuel metering when it sets fuel), so the
        // first `weld serve` finds it in the cache.
        let written = host
            .policies()
            .set(&installed.name, &policy)
            .map_err(anyhow::Error::from)
            .context("the policy was NOT applied");
        let how = if args.accept_policy {
            "accepted with --accept-policy"
        } else {
            "confirmed"
        };
        audit_cli_change(
            host.store(),
            "weld add",
            &installed.name,
            format!("set policy from {} ({how})", shown_path(&path)),
            &written,
        );
        written?;
        outln!("policy applied");
    } else {
        outln!(
            "policy NOT applied; the tool runs without it. To apply it later: weld policy set {} {}",
            installed.name,
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The policy offered with the component being added, parsed.
fn proposed_policy(args: &cli::AddArgs) -> Result<Option<(PathBuf, weld_policy::Policy)>> {
    let path = match &args.policy {
        Some(path) => path.clone(),
        None => {
            let beside = args.path.with_extension("policy.yaml");
            if !beside.exists() {
                return Ok(None);
            }
            beside
        }
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let policy =
        weld_policy::Policy::parse(&text).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))?;
    Ok(Some((path, policy)))
}

/// Asks a yes/no question on the terminal; no terminal means no.
fn confirm(question: &str) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
