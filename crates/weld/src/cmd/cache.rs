//! `weld cache verify` and `weld cache gc`: the stored component blobs.

use std::process::ExitCode;

use anyhow::Result;

use super::Env;
use crate::cli::CacheCommand;

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
            if bad == 0 {
                outln!("{} blobs verified", checks.len());
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "{bad} of {} blobs are damaged; weld refuses to run them. Fetch them again \
                 with `weld sync` (from the lock file) or `weld add SOURCE --force`",
                checks.len()
            );
            Ok(ExitCode::FAILURE)
        }
        CacheCommand::Gc => {
            let deleted = store.collect_garbage()?;
            for path in &deleted {
                outln!("deleted {}", path.display());
            }
            outln!("{} files deleted", deleted.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}
