//! Cranelift's per-function cache: compiled functions shared between
//! components.
//!
//! Two components built by the same toolchain (componentize-py's CPython,
//! componentize-js's SpiderMonkey) share most of their code, and compiling
//! that code is nearly all of the time it takes to install one (10-20 s for
//! an 11-36 MB component). Cranelift can look up each function it is about to
//! compile by a hash of the function and the target's settings, and reuse
//! what it produced before (Wasmtime's `incremental-cache`, through the
//! [`CacheStore`] trait). [`IncrementalStore`] is weld's store for it: one
//! file per engine configuration, `compiled/<engine key>/incremental.store`,
//! beside the artefacts of the compile cache (so in a directory `weld_fs`
//! checked and that the engine key already separates).
//!
//! **What is trusted.** A record's value is machine code that ends up in an
//! artefact, which weld then signs with its MAC and runs: a record is as
//! powerful as an artefact, so it gets the same protection. Each record
//! carries an HMAC-SHA256 under the state directory's [`CacheKey`] (the one
//! that authenticates artefacts, with its own domain string) over the engine
//! key, the lookup key and the value, and a record that fails it is never
//! handed to Cranelift. Someone who can write the cache directory but not
//! read the state's key cannot plant code; a record cannot be moved under
//! another function's key; a record from another engine configuration or
//! another state's key is a miss. The lookup key is Cranelift's own SHA-256
//! of the function body, the target and its flags, so a guest can only ask
//! for the code of a function identical to its own (finding another body
//! with the same key would take a SHA-256 collision). Without a lasting key
//! ([`RuntimeConfig::cache_key`](crate::RuntimeConfig::cache_key) unset) no
//! store is used: its records could never be trusted again.
//!
//! **Layout.** The file is [`FILE_MAGIC`] followed by records, each
//! [`RECORD_MAGIC`], the value's length (u32, little-endian), the 32-byte
//! key, the value and the 32-byte tag. Opening reads only the headers (one
//! `pread` each) into an index; a value is read, and its tag checked, when
//! Cranelift asks for it. Records are only ever appended, under an
//! exclusive `flock`, in one write per compilation; the file is otherwise
//! replaced whole by a rename (never rewritten in place), so a reader's
//! open descriptor keeps seeing complete records.
//!
//! **Damage never breaks a compilation.** A truncated tail (a compiler
//! process killed while appending) is ignored and cut off by the next
//! writer; a record whose tag fails, or a file that is not a store, is
//! logged once and its functions compiled again; a file others could write
//! is not read and is replaced. Failing to write the store is a warning,
//! never a failed compilation.
//!
//! **Bounded.** The file never grows beyond the cap
//! ([`RuntimeConfig::incremental_cache_bytes`](crate::RuntimeConfig::incremental_cache_bytes)). A
//! compilation whose new records would not fit replaces the file with the
//! records it reused and the ones it made (what the toolchain seen last
//! needs), as many as fit. Records for functions already in the file are
//! not appended again.
//!
//! **What is shared.** A component built by the same toolchain with the
//! same imports as one compiled before reuses about 95% of its functions
//! (a componentize-py or componentize-js tool after another). Not 100%:
//! with Wasmtime 48 a few percent of functions get a different key from
//! one compilation to the next while their code is the same, so they are
//! compiled (and stored) again. Different imports share less (jsconfig
//! after jstext: about half): two more imported functions move Wasmtime's
//! per-instance data, and with it the code of every function that reaches
//! it.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::CacheStore;

use crate::cache::CacheKey;

/// What the file starts with; the version changes with the layout or the
/// MAC's input.
pub(crate) const FILE_MAGIC: &[u8; 8] = b"weldinc1";
/// What every record starts with: a record boundary a scan can check.
pub(crate) const RECORD_MAGIC: &[u8; 4] = b"wrc1";
/// The store's file name in the engine's directory of the compile cache.
pub(crate) const FILE_NAME: &str = "incremental.store";
/// Binds a tag to this use of the key.
const DOMAIN: &[u8] = b"weld incremental compile cache record v1\0";
/// Cranelift's keys: a SHA-256.
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 32;
/// Magic, value length, key.
const HEAD_LEN: usize = RECORD_MAGIC.len() + 4 + KEY_LEN;

type Key = [u8; KEY_LEN];

/// How much a store was used, since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IncrementalStats {
    /// Functions Cranelift took from the store instead of compiling them.
    pub hits: u64,
    /// Functions it looked up and did not find (and so compiled).
    pub misses: u64,
    /// Records found but not trusted (their tag failed, or they could not be
    /// read): counted as misses too.
    pub rejected: u64,
    /// Records written to the file.
    pub stored: u64,
}

impl IncrementalStats {
    /// What was counted after `before`, taken from the same store.
    pub(crate) fn since(self, before: Self) -> Self {
        Self {
            hits: self.hits.saturating_sub(before.hits),
            misses: self.misses.saturating_sub(before.misses),
            rejected: self.rejected.saturating_sub(before.rejected),
            stored: self.stored.saturating_sub(before.stored),
        }
    }
}

/// Where a store's file is, and which engine its records are for: known
/// once the engine exists (its key is a hash of the engine).
#[derive(Debug)]
struct Place {
    path: PathBuf,
    dir: PathBuf,
    engine_key: String,
}

/// Where one record is in the file.
#[derive(Debug, Clone, Copy)]
struct Loc {
    offset: u64,
    value_len: u32,
}

impl Loc {
    fn record_len(self) -> u64 {
        (HEAD_LEN + TAG_LEN) as u64 + u64::from(self.value_len)
    }
}

/// The file as this process knows it: an open descriptor and the index of
/// its records.
#[derive(Debug)]
struct Reader {
    file: File,
    index: HashMap<Key, Loc>,
}

#[derive(Debug)]
enum Loaded {
    NotYet,
    Nothing,
    Open(Reader),
}

/// Records made by this process's compilations, not yet written, as they
/// will be written.
#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Offset of each record in `bytes`.
    index: HashMap<Key, Loc>,
}

/// weld's [`CacheStore`] (see the module docs).
pub(crate) struct IncrementalStore {
    key: CacheKey,
    cap: u64,
    place: OnceLock<Place>,
    reader: RwLock<Loaded>,
    pending: Mutex<Pending>,
    /// Records read since the last flush: what a replaced file keeps.
    used: Mutex<Vec<Loc>>,
    /// Keys whose record on file was refused: written again.
    refused: Mutex<HashSet<Key>>,
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    stored: AtomicU64,
    warned: AtomicBool,
}

impl std::fmt::Debug for IncrementalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncrementalStore")
            .field("place", &self.place.get())
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

/// Poisoned locks only mean a compilation thread panicked; what they guard
/// is always whole.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl IncrementalStore {
    /// A store of at most `cap` bytes whose records are authenticated with
    /// `key`; it reads and writes nothing until [`IncrementalStore::bind`]
    /// says where and for which engine.
    pub(crate) fn new(key: CacheKey, cap: u64) -> Self {
        Self {
            key,
            cap,
            place: OnceLock::new(),
            reader: RwLock::new(Loaded::NotYet),
            pending: Mutex::default(),
            used: Mutex::default(),
            refused: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// Keeps the records at `path` (a file in a directory `weld_fs`
    /// checked) for the engine whose key is `engine_key`. Only the first
    /// call counts. The file is read when Cranelift first asks for a record.
    pub(crate) fn bind(&self, path: PathBuf, engine_key: String) {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let _ = self.place.set(Place {
            path,
            dir,
            engine_key,
        });
    }

    /// The file's path, once bound.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.place.get().map(|p| p.path.as_path())
    }

    /// The key that authenticates the records.
    pub(crate) fn key(&self) -> &CacheKey {
        &self.key
    }

    /// The cap, in bytes.
    pub(crate) fn cap(&self) -> u64 {
        self.cap
    }

    /// How much the store was used so far.
    pub(crate) fn stats(&self) -> IncrementalStats {
        IncrementalStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
        }
    }

    fn tag(&self, engine_key: &str, key: &Key, value: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        // The engine key is hex, the key and the length have fixed sizes:
        // the fields cannot run into each other.
        mac.update(DOMAIN);
        mac.update(engine_key.as_bytes());
        mac.update(b"\0");
        mac.update(key);
        mac.update(&(value.len() as u64).to_le_bytes());
        mac.update(value);
        mac
    }

    fn warn_once(&self, path: &Path, what: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                path = %path.display(),
                "incremental compile cache: {what}; the functions it concerns are compiled \
                 again and the store is repaired as they are written (deleting the file is \
                 safe too)"
            );
        }
    }

    /// Reads the index of the file on first use.
    fn ensure_loaded(&self, place: &Place) {
        let loaded = self.reader.read().unwrap_or_else(PoisonError::into_inner);
        if !matches!(*loaded, Loaded::NotYet) {
            return;
        }
        drop(loaded);
        let mut loaded = self.reader.write().unwrap_or_else(PoisonError::into_inner);
        if matches!(*loaded, Loaded::NotYet) {
            *loaded = match self.load(place) {
                Ok(Some(reader)) => Loaded::Open(reader),
                Ok(None) => Loaded::Nothing,
                Err(problem) => {
                    self.warn_once(&place.path, &problem);
                    Loaded::Nothing
                }
            };
        }
    }

    fn load(&self, place: &Place) -> Result<Option<Reader>, String> {
        let file = match weld_fs::open_regular(&place.path) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(None),
            Err(error) => return Err(format!("it cannot be read safely ({error})")),
        };
        match weld_fs::only_owner_writes(&file) {
            Ok(true) => {}
            Ok(false) => {
                return Err("it is not yours, or others could write it; it is not read".into());
            }
            Err(error) => return Err(format!("it cannot be read ({error})")),
        }
        let len = file
            .metadata()
            .map_err(|e| format!("it cannot be read ({e})"))?
            .len();
        let scan = scan(&file, len).map_err(|e| format!("it cannot be read ({e})"))?;
        if let Some(damage) = &scan.damage {
            self.warn_once(&place.path, damage);
        }
        Ok(Some(Reader {
            file,
            index: scan.entries.into_iter().collect(),
        }))
    }

    /// The value for `key`, from this process's new records or the file.
    fn lookup(&self, key: &[u8]) -> Option<Vec<u8>> {
        let key: &Key = key.try_into().ok()?;
        let place = self.place.get()?;
        {
            let pending = lock(&self.pending);
            if let Some(loc) = pending.index.get(key) {
                let start = usize::try_from(loc.offset).ok()? + HEAD_LEN;
                let end = start + loc.value_len as usize;
                return pending.bytes.get(start..end).map(<[u8]>::to_vec);
            }
        }
        self.ensure_loaded(place);
        let loaded = self.reader.read().unwrap_or_else(PoisonError::into_inner);
        let Loaded::Open(reader) = &*loaded else {
            return None;
        };
        let loc = *reader.index.get(key)?;
        match self.read_record(place, &reader.file, key, loc) {
            Ok(value) => {
                lock(&self.used).push(loc);
                Some(value)
            }
            Err(problem) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                lock(&self.refused).insert(*key);
                self.warn_once(
                    &place.path,
                    &format!("the record at byte {} {problem}", loc.offset),
                );
                None
            }
        }
    }

    fn read_record(
        &self,
        place: &Place,
        file: &File,
        key: &Key,
        loc: Loc,
    ) -> Result<Vec<u8>, String> {
        let len = usize::try_from(loc.record_len()).map_err(|_| "is too large".to_string())?;
        let mut record = vec![0u8; len];
        file.read_exact_at(&mut record, loc.offset)
            .map_err(|e| format!("cannot be read ({e})"))?;
        let (head, rest) = record.split_at(HEAD_LEN);
        let value_len = loc.value_len as usize;
        let (value, tag) = rest.split_at(value_len);
        if &head[..RECORD_MAGIC.len()] != RECORD_MAGIC
            || head[RECORD_MAGIC.len()..RECORD_MAGIC.len() + 4] != loc.value_len.to_le_bytes()
            || &head[RECORD_MAGIC.len() + 4..] != key
        {
            return Err("changed since it was indexed".into());
        }
        self.tag(&place.engine_key, key, value)
            .verify_slice(tag)
            .map_err(|_| {
                "failed its check (not written by this weld with this state directory's \
                 key, or changed since)"
                    .to_string()
            })?;
        Ok(value.to_vec())
    }

    fn store(&self, key: &[u8], value: &[u8]) -> bool {
        let Ok(key) = <&Key>::try_from(key) else {
            return false;
        };
        let Some(place) = self.place.get() else {
            return false;
        };
        let Ok(value_len) = u32::try_from(value.len()) else {
            return false;
        };
        let loc_len = Loc {
            offset: 0,
            value_len,
        }
        .record_len();
        let tag = self
            .tag(&place.engine_key, key, value)
            .finalize()
            .into_bytes();
        let mut pending = lock(&self.pending);
        if pending.index.contains_key(key) {
            return true;
        }
        // Never more than the file could hold.
        let offset = pending.bytes.len() as u64;
        if (FILE_MAGIC.len() as u64)
            .saturating_add(offset)
            .saturating_add(loc_len)
            > self.cap
        {
            return false;
        }
        pending.bytes.extend_from_slice(RECORD_MAGIC);
        pending.bytes.extend_from_slice(&value_len.to_le_bytes());
        pending.bytes.extend_from_slice(key);
        pending.bytes.extend_from_slice(value);
        pending.bytes.extend_from_slice(&tag);
        pending.index.insert(*key, Loc { offset, value_len });
        true
    }

    /// Writes the records made since the last flush (after a compilation).
    /// Nothing depends on it succeeding: the caller logs an error and goes
    /// on.
    ///
    /// # Errors
    ///
    /// When the directory is not safe or the file cannot be written.
    pub(crate) fn flush(&self) -> io::Result<()> {
        let Some(place) = self.place.get() else {
            return Ok(());
        };
        let pending = std::mem::take(&mut *lock(&self.pending));
        let used = std::mem::take(&mut *lock(&self.used));
        let refused = std::mem::take(&mut *lock(&self.refused));
        if pending.index.is_empty() {
            return Ok(());
        }
        // Made again if the cache was deleted meanwhile, and checked again.
        weld_fs::private_subdir(&place.dir).map_err(io::Error::other)?;
        let written = match open_locked(&place.path) {
            Ok(file) => self.write_locked(place, file, &pending, &used, &refused),
            // A link or anything else that is not a regular file: replaced
            // (by a rename, which never writes through it), as an artefact
            // would be.
            Err(_)
                if std::fs::symlink_metadata(&place.path)
                    .is_ok_and(|m| !m.file_type().is_file()) =>
            {
                self.replace(place, &pending, &used)
            }
            Err(error) => Err(error),
        };
        let (reader, stored) = written?;
        self.stored.fetch_add(stored, Ordering::Relaxed);
        *self.reader.write().unwrap_or_else(PoisonError::into_inner) = Loaded::Open(reader);
        Ok(())
    }

    /// Appends what is new to `file` (locked), or replaces the file when it
    /// is damaged, untrusted, or would go over the cap. Returns the file as
    /// it is now, and how many records were written.
    fn write_locked(
        &self,
        place: &Place,
        file: File,
        pending: &Pending,
        used: &[Loc],
        refused: &HashSet<Key>,
    ) -> io::Result<(Reader, u64)> {
        let trusted = weld_fs::only_owner_writes(&file)?;
        let len = file.metadata()?.len();
        let scan = scan(&file, len)?;
        let mut index: HashMap<Key, Loc> = scan.entries.into_iter().collect();
        let fresh: Vec<(&Key, &Loc)> = pending
            .index
            .iter()
            .filter(|(key, _)| !index.contains_key(*key) || refused.contains(*key))
            .collect();
        let start = scan.end.max(FILE_MAGIC.len() as u64);
        let fresh_len: u64 = fresh.iter().map(|(_, loc)| loc.record_len()).sum();
        if !trusted || scan.damage.is_some() || start.saturating_add(fresh_len) > self.cap {
            drop(file);
            return self.replace(place, pending, used);
        }
        if len == 0 {
            file.write_all_at(FILE_MAGIC, 0)?;
        } else if len > start {
            // The tail of an append that never finished.
            file.set_len(start)?;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(fresh_len).unwrap_or(0));
        let mut at = start;
        for (key, loc) in &fresh {
            bytes.extend_from_slice(record_bytes(pending, **loc));
            index.insert(
                **key,
                Loc {
                    offset: at,
                    ..**loc
                },
            );
            at += loc.record_len();
        }
        if let Err(error) = file.write_all_at(&bytes, start) {
            // Leaves no partial record behind for the next reader.
            let _ = file.set_len(start);
            return Err(error);
        }
        file.unlock()?;
        Ok((Reader { file, index }, fresh.len() as u64))
    }

    /// A new file with the records this process used and made, as many as
    /// fit, renamed over the old one.
    fn replace(&self, place: &Place, pending: &Pending, used: &[Loc]) -> io::Result<(Reader, u64)> {
        let mut tmp = tempfile::NamedTempFile::new_in(&place.dir)?;
        let mut out = Rewrite {
            out: io::BufWriter::new(tmp.as_file_mut()),
            at: FILE_MAGIC.len() as u64,
            index: HashMap::new(),
            cap: self.cap,
        };
        out.out.write_all(FILE_MAGIC)?;
        {
            let loaded = self.reader.read().unwrap_or_else(PoisonError::into_inner);
            if let Loaded::Open(reader) = &*loaded {
                for loc in used {
                    let mut record = vec![0u8; usize::try_from(loc.record_len()).unwrap_or(0)];
                    // Copied as they are: their tags still hold, or fail
                    // when read again.
                    if reader.file.read_exact_at(&mut record, loc.offset).is_ok() {
                        let mut key = [0u8; KEY_LEN];
                        key.copy_from_slice(&record[HEAD_LEN - KEY_LEN..HEAD_LEN]);
                        out.keep(&record, key, loc.value_len)?;
                    }
                }
            }
        }
        let reused = out.index.len();
        for (key, loc) in &pending.index {
            out.keep(record_bytes(pending, *loc), *key, loc.value_len)?;
        }
        let stored = (out.index.len() - reused) as u64;
        let index = out.finish()?;
        // A rename replaces whatever is at the name (a link, a file others
        // could write) and never writes through it.
        let file = tmp.persist(&place.path).map_err(|e| e.error)?;
        Ok((Reader { file, index }, stored))
    }
}

/// A replacement file being written.
struct Rewrite<W: io::Write> {
    out: io::BufWriter<W>,
    at: u64,
    index: HashMap<Key, Loc>,
    cap: u64,
}

impl<W: io::Write> Rewrite<W> {
    /// Writes `record` unless its key is there already or it would not fit.
    fn keep(&mut self, record: &[u8], key: Key, value_len: u32) -> io::Result<()> {
        let loc = Loc {
            offset: self.at,
            value_len,
        };
        if self.index.contains_key(&key) || self.at.saturating_add(loc.record_len()) > self.cap {
            return Ok(());
        }
        self.out.write_all(record)?;
        self.index.insert(key, loc);
        self.at += loc.record_len();
        Ok(())
    }

    fn finish(mut self) -> io::Result<HashMap<Key, Loc>> {
        self.out.flush()?;
        Ok(self.index)
    }
}

impl CacheStore for IncrementalStore {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let found = self.lookup(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        self.store(key, &value)
    }
}

fn record_bytes(pending: &Pending, loc: Loc) -> &[u8] {
    let start = usize::try_from(loc.offset).unwrap_or(usize::MAX);
    let len = usize::try_from(loc.record_len()).unwrap_or(0);
    pending
        .bytes
        .get(start..start.saturating_add(len))
        .unwrap_or(&[])
}

/// The file opened for writing and locked, the one at `path` now (another
/// process may have replaced it while this one waited for the lock).
fn open_locked(path: &Path) -> io::Result<File> {
    for _ in 0..16 {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(weld_fs::NO_FOLLOW_NO_BLOCK)
            .open(path)?;
        let held = file.metadata()?;
        if !held.is_file() {
            return Err(io::Error::other("it is not a regular file"));
        }
        file.lock()?;
        match std::fs::symlink_metadata(path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => return Ok(file),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::other(
        "it kept being replaced while weld waited for its lock",
    ))
}

/// What a scan of the file's headers found.
#[derive(Debug, Default)]
struct Scan {
    entries: Vec<(Key, Loc)>,
    /// Where the last whole record ends (0 for an empty file).
    end: u64,
    /// Why the file cannot be read past `end`, when that is damage rather
    /// than an unfinished append.
    damage: Option<String>,
}

/// Reads the records' headers of the first `len` bytes of `file`.
fn scan(file: &File, len: u64) -> io::Result<Scan> {
    let mut found = Scan::default();
    if len == 0 {
        return Ok(found);
    }
    let mut magic = [0u8; FILE_MAGIC.len()];
    let is_store = len >= magic.len() as u64 && {
        file.read_exact_at(&mut magic, 0)?;
        &magic == FILE_MAGIC
    };
    if !is_store {
        found.damage = Some("it is not an incremental store of this weld".into());
        return Ok(found);
    }
    let mut at = FILE_MAGIC.len() as u64;
    let mut head = [0u8; HEAD_LEN];
    while len - at >= HEAD_LEN as u64 {
        file.read_exact_at(&mut head, at)?;
        if &head[..RECORD_MAGIC.len()] != RECORD_MAGIC {
            found.damage = Some(format!(
                "it is damaged at byte {at}; the records after it are ignored"
            ));
            break;
        }
        let mut value_len = [0u8; 4];
        value_len.copy_from_slice(&head[RECORD_MAGIC.len()..RECORD_MAGIC.len() + 4]);
        let loc = Loc {
            offset: at,
            value_len: u32::from_le_bytes(value_len),
        };
        if loc.record_len() > len - at {
            break;
        }
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&head[RECORD_MAGIC.len() + 4..]);
        found.entries.push((key, loc));
        at += loc.record_len();
    }
    found.end = at;
    Ok(found)
}

mod maintenance;
pub use maintenance::{
    IncrementalCheck, IncrementalCompaction, check_incremental_caches, compact_incremental_caches,
};

#[cfg(test)]
mod tests;
