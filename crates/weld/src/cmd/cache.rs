//! `weld cache verify` and `weld cache gc`: the stored component blobs, and
//! the compile cache in the cache directory (the incremental stores, and
//! what interrupted writes left).

use std::process::ExitCode;

use anyhow::{Context, Result};
use weld_runtime::CacheKey;

use super::Env;
use crate::cli::CacheCommand;
use crate::dirs;

/// Runs a `weld cache` command.
pub(super) fn run(env: &Env, command: &CacheCommand) -> Result<ExitCode> {
    let store = env.state()?;
    match command {
        CacheCommand::Verify => {
            let checks = store.verify_blobs()?;
            let mut bad = 0;
            for check in &checks {
                match &check.problem {
                    None => outln!("ok   {} ({})", check.digest, check.names.join(", ")),
                    Some(problem) => {
                        bad += 1;
                        outln!(
                            "BAD  {} ({}): {problem}",
                            check.digest,
                            check.names.join(", ")
                        );
                    }
                }
            }
            let blobs_ok = bad == 0;
            if blobs_ok {
                outln!("{} blobs verified", checks.len());
            } else {
                outln!(
                    "{bad} of {} blobs are damaged; weld refuses to run them. Fetch them again \
                     with `weld sync` (from the lock file) or `weld add SOURCE --force`",
                    checks.len()
                );
            }
            let cache_dir = dirs::cache_dir(env.dirs.cache_dir.clone())?;
            let key = CacheKey::new(store.cache_key()?);
            let stores = weld_runtime::check_incremental_caches(&cache_dir, &key)
                .with_context(|| format!("checking the compile cache {}", cache_dir.display()))?;
            let mut stores_ok = true;
            for check in &stores {
                let whole = check.is_whole();
                stores_ok &= whole;
                outln!(
                    "{} {}: {} compiled functions, {} MB{}{}{}",
                    if whole { "ok  " } else { "BAD " },
                    check.path.display(),
                    check.records,
                    check.bytes / 1_000_000,
                    if check.failed > 0 {
                        format!("; {} fail their check", check.failed)
                    } else {
                        String::new()
                    },
                    if check.superseded > 0 {
                        format!("; {} superseded", check.superseded)
                    } else {
                        String::new()
                    },
                    check
                        .problem
                        .as_deref()
                        .map(|p| format!("; {p}"))
                        .unwrap_or_default(),
                );
            }
            if !stores_ok {
                outln!(
                    "the incremental compile cache has records weld does not trust: it never \
                     uses them (it compiles those functions again); `weld cache gc` drops them"
                );
            }
            Ok(if blobs_ok && stores_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        CacheCommand::Gc => {
            let mut deleted = store.collect_garbage()?;
            let cache_dir = dirs::cache_dir(env.dirs.cache_dir.clone())?;
            deleted.extend(
                weld_runtime::remove_interrupted_writes(&cache_dir).with_context(|| {
                    format!(
                        "removing interrupted writes from the compile cache {}",
                        cache_dir.display()
                    )
                })?,
            );
            for path in &deleted {
                outln!("deleted {}", path.display());
            }
            outln!("{} files deleted", deleted.len());
            let key = CacheKey::new(store.cache_key()?);
            let compacted = weld_runtime::compact_incremental_caches(&cache_dir, &key)
                .with_context(|| format!("compacting the compile cache {}", cache_dir.display()))?;
            for c in &compacted {
                outln!(
                    "compacted {}: {} compiled functions kept, {} dropped, {} MB -> {} MB",
                    c.path.display(),
                    c.kept,
                    c.dropped,
                    c.bytes_before / 1_000_000,
                    c.bytes_after / 1_000_000
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
