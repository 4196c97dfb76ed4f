//! Making sure the connection cap is reachable: every connection is a file
//! descriptor, and a cap above the process's open-file limit would let the
//! accept loop run out of descriptors (`EMFILE`) before it refuses anyone,
//! failing calls and component files alike.
//!
//! When the soft limit (`ulimit -n`) is too low, weld raises it as far as
//! it needs (never above the hard limit, which only an administrator can
//! raise); when even the hard limit is too low, it refuses to start.

/// Open files weld needs besides its connections: the audit log, the state
/// and cache files it reads, and the directories calls are given.
pub(super) const RESERVED: u64 = 256;

/// Why the open-file limit cannot hold the connection cap.
#[derive(Debug, thiserror::Error)]
pub enum FdLimitError {
    /// The hard limit is below what `--max-connections` needs.
    #[error(
        "{connections} HTTP connections (--max-connections) need about {needed} open files, but \
         this process may open at most {hard} (the hard limit, `ulimit -Hn`); lower \
         --max-connections or raise the limit"
    )]
    TooLow {
        /// `--max-connections`.
        connections: usize,
        /// Open files those connections need, with weld's own.
        needed: u64,
        /// The hard limit.
        hard: u64,
    },
    /// `getrlimit` or `setrlimit` failed.
    #[error("could not read or raise the open-file limit: {0}")]
    System(#[source] std::io::Error),
}

/// Makes the soft open-file limit at least `needed`, raising it if the hard
/// limit allows.
#[cfg(unix)]
pub(super) fn ensure(connections: usize, needed: u64) -> Result<(), FdLimitError> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    // `None` is no limit at all.
    let enough = |value: Option<u64>| value.is_none_or(|v| v >= needed);
    if enough(limit.current) {
        return Ok(());
    }
    if !enough(limit.maximum) {
        return Err(FdLimitError::TooLow {
            connections,
            needed,
            hard: limit.maximum.unwrap_or(u64::MAX),
        });
    }
    let previous = limit.current;
    limit.current = Some(needed);
    setrlimit(Resource::Nofile, limit).map_err(|e| FdLimitError::System(e.into()))?;
    tracing::info!(
        from = previous,
        to = needed,
        "raised the open-file limit to hold --max-connections"
    );
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn ensure(_connections: usize, _needed: u64) -> Result<(), FdLimitError> {
    Ok(())
}
