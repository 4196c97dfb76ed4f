//! `weld docs embed`: put a WIT package's doc comments into a component
//! (for tool authors).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use weld_store::{ComponentDocs, docs};

/// `weld docs embed`.
pub(super) fn embed(component: &Path, wit: &Path, output: Option<&Path>) -> Result<ExitCode> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let updated = docs::embed(&bytes, wit)?;
    let found: ComponentDocs = docs::read(&updated)?;
    let target = output.unwrap_or(component);
    weld_store::write_atomically(target, &updated)?;
    outln!(
        "wrote docs for {} function(s) into {}",
        found.0.len(),
        target.display()
    );
    Ok(ExitCode::SUCCESS)
}
