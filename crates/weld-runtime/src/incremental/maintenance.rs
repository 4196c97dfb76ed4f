//! `weld cache verify` and `weld cache gc` for the incremental stores: every
//! engine directory's store checked record by record, or rewritten with only
//! the records a compilation would use and trust.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::{FILE_MAGIC, FILE_NAME, IncrementalStore, Key, Loc, Rewrite, open_locked, scan};
use crate::cache::CacheKey;
use crate::error::RuntimeError;

/// One incremental store, checked record by record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalCheck {
    /// The store's file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Records a compilation would look at (the last one for each function).
    pub records: u64,
    /// Of those, the ones whose check fails: never used, compiled again.
    pub failed: u64,
    /// Earlier records of a function written again since: dead weight.
    pub superseded: u64,
    /// What is wrong with the file as a whole, if anything: records after
    /// it are not read.
    pub problem: Option<String>,
}

impl IncrementalCheck {
    /// Whether a compilation can use every record in the file.
    pub fn is_whole(&self) -> bool {
        self.failed == 0 && self.problem.is_none()
    }
}

/// What rewriting one store with its good records did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalCompaction {
    /// The store's file.
    pub path: PathBuf,
    /// Its size before and after, in bytes.
    pub bytes_before: u64,
    /// Its size after, in bytes.
    pub bytes_after: u64,
    /// Records kept.
    pub kept: u64,
    /// Records dropped: failed or superseded (those past damage in the
    /// file cannot be read, so are not counted).
    pub dropped: u64,
}

/// The store of each engine directory under `cache_dir`, with the engine
/// key its records are bound to (the directory's name). Checks the
/// directories as the compile cache does; creates nothing.
fn stores(cache_dir: &Path) -> Result<Vec<(PathBuf, String)>, RuntimeError> {
    Ok(crate::cache::engine_dirs(cache_dir)?
        .into_iter()
        .map(|(dir, engine_key)| (dir.join(FILE_NAME), engine_key))
        .filter(|(path, _)| path.exists())
        .collect())
}

fn store_at(path: &Path, engine_key: &str, key: &CacheKey) -> IncrementalStore {
    let store = IncrementalStore::new(key.clone(), u64::MAX);
    store.bind(path.to_path_buf(), engine_key.to_owned());
    store
}

/// Checks every record of every incremental store under `cache_dir`
/// against `key` (the state directory's).
///
/// # Errors
///
/// When the cache directory is not safe ([`RuntimeError::UnsafeCacheDir`])
/// or a store cannot be read.
pub fn check_incremental_caches(
    cache_dir: &Path,
    key: &CacheKey,
) -> Result<Vec<IncrementalCheck>, RuntimeError> {
    stores(cache_dir)?
        .into_iter()
        .map(|(path, engine_key)| {
            store_at(&path, &engine_key, key)
                .check()
                .map_err(|cause| RuntimeError::Cache { path, cause })
        })
        .collect()
}

/// Rewrites every incremental store under `cache_dir` with only its good
/// records (the last, valid one for each function), under each store's
/// lock.
///
/// # Errors
///
/// As [`check_incremental_caches`], or when a store cannot be written.
pub fn compact_incremental_caches(
    cache_dir: &Path,
    key: &CacheKey,
) -> Result<Vec<IncrementalCompaction>, RuntimeError> {
    stores(cache_dir)?
        .into_iter()
        .map(|(path, engine_key)| {
            store_at(&path, &engine_key, key)
                .compact()
                .map_err(|cause| RuntimeError::Cache { path, cause })
        })
        .collect()
}

/// A file's records as a compilation sees them.
struct Records {
    /// Every record, in file order (and what stopped the scan).
    found: super::Scan,
    /// How many functions have a record (the last one counts).
    functions: usize,
    /// The last record of each function, where its check holds, in file
    /// order.
    good: Vec<(Key, Loc)>,
}

impl IncrementalStore {
    /// The last record of each function in the file, each checked.
    fn good_records(&self, file: &std::fs::File) -> io::Result<Records> {
        let len = file.metadata()?.len();
        let found = scan(file, len)?;
        let last: HashMap<Key, Loc> = found.entries.iter().copied().collect();
        let place = self
            .place
            .get()
            .ok_or_else(|| io::Error::other("the store is not bound"))?;
        let mut good: Vec<(Key, Loc)> = last
            .iter()
            .filter(|(key, loc)| self.read_record(place, file, key, **loc).is_ok())
            .map(|(key, loc)| (*key, *loc))
            .collect();
        good.sort_by_key(|(_, loc)| loc.offset);
        Ok(Records {
            found,
            functions: last.len(),
            good,
        })
    }

    fn check(&self) -> io::Result<IncrementalCheck> {
        let path = self.path().map(Path::to_path_buf).unwrap_or_default();
        let Some(file) = weld_fs::open_regular(&path)? else {
            return Err(io::Error::new(io::ErrorKind::NotFound, "it is gone"));
        };
        let bytes = file.metadata()?.len();
        let Records {
            found,
            functions,
            good,
        } = self.good_records(&file)?;
        let mut problem = found.damage;
        if !weld_fs::only_owner_writes(&file)? {
            problem =
                Some("it is not yours, or others could write it; weld does not read it".into());
        }
        Ok(IncrementalCheck {
            path,
            bytes,
            records: functions as u64,
            failed: (functions - good.len()) as u64,
            superseded: (found.entries.len() - functions) as u64,
            problem,
        })
    }

    fn compact(&self) -> io::Result<IncrementalCompaction> {
        let place = self
            .place
            .get()
            .ok_or_else(|| io::Error::other("the store is not bound"))?;
        let file = open_locked(&place.path)?;
        let bytes_before = file.metadata()?.len();
        let Records { found, good, .. } = self.good_records(&file)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&place.dir)?;
        let mut out = Rewrite {
            out: io::BufWriter::new(tmp.as_file_mut()),
            at: FILE_MAGIC.len() as u64,
            index: HashMap::new(),
            cap: u64::MAX,
        };
        io::Write::write_all(&mut out.out, FILE_MAGIC)?;
        for (key, loc) in &good {
            let mut record = vec![0u8; usize::try_from(loc.record_len()).unwrap_or(0)];
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut record, loc.offset)?;
            out.keep(&record, *key, loc.value_len)?;
        }
        let kept = out.index.len() as u64;
        let bytes_after = out.at;
        out.finish()?;
        // Renamed over the old file while its lock is held: writers waiting
        // for it find the new file when they get it.
        tmp.persist(&place.path).map_err(|e| e.error)?;
        drop(file);
        Ok(IncrementalCompaction {
            path: place.path.clone(),
            bytes_before,
            bytes_after,
            kept,
            dropped: (found.entries.len() as u64).saturating_sub(kept),
        })
    }
}
