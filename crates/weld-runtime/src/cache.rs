//! The on-disk compile cache, whose artefacts are authenticated.
//!
//! Compiling a component takes from milliseconds (small Rust tools) to
//! seconds (an interpreter compiled to Wasm); loading a precompiled artefact
//! takes well under a millisecond for the former. So every component is
//! compiled once and its artefact kept, keyed by the component's digest and
//! the engine's compatibility hash: a new Wasmtime or a changed engine
//! configuration simply misses the cache.
//!
//! `Component::deserialize` trusts its input completely: an artefact is
//! native code. So the cache keeps Wasmtime's promise — only bytes weld
//! itself wrote are ever deserialized — by three means:
//!
//! - **Private directories.** The cache root, `compiled/` and the engine's
//!   directory must be this user's and writable by no one else, and so must
//!   the root's parents (see `weld_fs`); one that is not is refused with the
//!   fix, at [`CompileCache::open`].
//! - **No links.** An artefact is opened with `O_NOFOLLOW`, must be a
//!   regular file of this user's that no one else can write.
//! - **A MAC.** Beside each artefact `<digest>.cwasm` lies `<digest>.mac`:
//!   [`MAGIC`] and an HMAC-SHA256, under a [`CacheKey`] kept outside the
//!   cache (weld keeps it in its state directory), over the engine key, the
//!   component's digest and the artefact. The artefact is opened once; its
//!   MAC is computed from that descriptor, and Wasmtime maps the file through
//!   the same descriptor (`/proc/self/fd/N`), never through the path again —
//!   and since only this user can write the file, what was checked is what
//!   is mapped. A file weld did not write with this key (tampered,
//!   truncated, another component's artefact copied over this one, one from
//!   an older weld) is logged and compiled again, never run.
//!
//! Mapping the file, rather than reading it into memory first, keeps a warm
//! start cheap (one pass for the MAC, no copy: ~45 ms for a 35 MB artefact
//! in a debug build, where a read, MAC and copy took ~130 ms) and the code
//! shared with the page cache.
//!
//! Beside them, `<digest>.desc` is the component's description, kept so
//! that a server can list its tools without loading it, authenticated the
//! same way under a domain of its own (see `description`).
//!
//! Artefact and MAC each appear under their name only through an atomic
//! rename after a full write and fsync: a crash mid-write leaves a stray temp
//! file, never a torn artefact, and a crash between the two renames leaves
//! a pair that does not match, which is compiled again.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::RuntimeError;

/// What every MAC file starts with; the version changes with the layout
/// or the MAC's input.
const MAGIC: &[u8; 8] = b"weldmac1";
/// Binds a MAC to this use of the key.
const DOMAIN: &[u8] = b"weld compile cache artefact v1\0";
const TAG_LEN: usize = 32;
const MAC_FILE_LEN: usize = MAGIC.len() + TAG_LEN;

/// The secret that authenticates the cache's artefacts. Its `Debug` does
/// not show it.
#[derive(Clone)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// A key of these 32 bytes (weld draws them once and keeps them in its
    /// state directory).
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes (for the incremental store's records).
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key for this process only.
    pub(crate) fn random() -> Result<Self, RuntimeError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|source| RuntimeError::Randomness { source })?;
        Ok(Self(bytes))
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// Directory of compiled artefacts for one engine configuration.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
    key: CacheKey,
}

/// Feeds `Hash` output into SHA-256 so the engine key is stable across
/// processes and Rust releases (unlike `DefaultHasher`).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        // Never used: the full digest is taken from the inner state instead.
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// A short, stable identifier of the engine's compilation settings.
pub(crate) fn engine_key(engine: &Engine) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..12])
}

/// Why an artefact in the cache was not loaded.
#[derive(Debug)]
enum Rejected {
    Unreadable(std::io::Error),
    OthersCanWrite,
    NoMac,
    BadMac,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable(e) => write!(f, "it cannot be read safely ({e})"),
            Self::OthersCanWrite => {
                f.write_str("it is not yours, or others could write it (weld writes 0600 files)")
            }
            Self::NoMac => {
                f.write_str("it has no valid MAC file beside it (not written by this weld)")
            }
            Self::BadMac => f.write_str(
                "its MAC does not match (not written by this weld with this state \
                 directory's key, or changed since)",
            ),
        }
    }
}

impl CompileCache {
    /// The cache for `engine` under `root`, creating its directories (mode
    /// 0700) and checking them. Without a `key`, one is drawn for this
    /// process: artefacts earlier processes wrote are then compiled again.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnsafeCacheDir`] when another user could change the
    /// cache (with the fix), I/O when it cannot be created.
    pub(crate) fn open(
        root: &Path,
        engine: &Engine,
        key: Option<&CacheKey>,
    ) -> Result<Self, RuntimeError> {
        let engine_key = engine_key(engine);
        let root = weld_fs::private_dir(root)?;
        let compiled = root.join("compiled");
        weld_fs::private_subdir(&compiled)?;
        let dir = compiled.join(&engine_key);
        weld_fs::private_subdir(&dir)?;
        let key = match key {
            Some(key) => key.clone(),
            None => CacheKey::random()?,
        };
        Ok(Self {
            dir,
            engine_key,
            key,
        })
    }

    /// This engine's compatibility key (the directory's name).
    pub(crate) fn engine_key(&self) -> &str {
        &self.engine_key
    }

    /// Where the engine's incremental store is (see `incremental`): in
    /// this checked directory, which its engine key already separates.
    pub(crate) fn incremental_path(&self) -> PathBuf {
        self.dir.join(crate::incremental::FILE_NAME)
    }

    /// The key's bytes (for descriptions' MACs).
    pub(crate) fn key_bytes(&self) -> &[u8; 32] {
        self.key.bytes()
    }

    /// Where the description of `digest` is kept (see `description`).
    pub(crate) fn description_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}.desc"))
    }

    fn artefact_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}.cwasm"))
    }

    fn mac_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}.mac"))
    }

    /// The MAC of an artefact for `digest`, before the artefact's bytes.
    fn mac(&self, digest: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        // Engine key and digest are hex (or a caller's name without NUL),
        // so NUL-separated they cannot run into each other.
        mac.update(DOMAIN);
        mac.update(self.engine_key.as_bytes());
        mac.update(b"\0");
        mac.update(digest.as_bytes());
        mac.update(b"\0");
        mac
    }

    /// The cached component for `digest`, if there is an artefact weld
    /// wrote for it. Anything else there is logged and ignored (the caller
    /// compiles, and [`CompileCache::put`] replaces it).
    pub(crate) fn get(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.artefact_path(digest);
        let file = match self.verified(digest, &path) {
            Ok(Some(file)) => file,
            Ok(None) => return None,
            Err(rejected) => {
                tracing::warn!(
                    path = %path.display(),
                    "compiled artefact not loaded: {rejected}; compiling the component again"
                );
                return None;
            }
        };
        #[allow(
            unsafe_code,
            reason = "deserializing is how a cached artefact is loaded; only artefacts weld \
                      wrote pass the checks above (see the SAFETY comment and the module docs)"
        )]
        // SAFETY: the path names the open descriptor `file`, whose whole
        // content the MAC just checked; it is a regular file only this user
        // can write, and weld never writes one in place (it renames new
        // files over old ones), so the content Wasmtime maps is the content
        // checked. Only `put` computes MACs under this key, and it is given
        // nothing but the output of `Engine::precompile_component` for an
        // engine with this directory's compatibility hash (in process, or by
        // weld's own compiler process, whose engine key `compiler` checks).
        // Wasmtime checks the version and configuration again while loading.
        let loaded = unsafe { Component::deserialize_file(engine, descriptor_path(&file)) };
        match loaded {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(
                    path = %path.display(),
                    error = format!("{error:#}"),
                    "compiled artefact could not be loaded; compiling the component again"
                );
                None
            }
        }
    }

    /// The artefact, open, when its MAC is right; `Ok(None)` when there is
    /// none.
    fn verified(&self, digest: &str, path: &Path) -> Result<Option<std::fs::File>, Rejected> {
        use std::io::Read;
        let Some(mut file) = weld_fs::open_regular(path).map_err(Rejected::Unreadable)? else {
            return Ok(None);
        };
        if !weld_fs::only_owner_writes(&file).map_err(Rejected::Unreadable)? {
            return Err(Rejected::OthersCanWrite);
        }
        let mac_path = self.mac_path(digest);
        let expected = weld_fs::read_regular(&mac_path)
            .map_err(Rejected::Unreadable)?
            .filter(|m| m.len() == MAC_FILE_LEN && m.starts_with(MAGIC))
            .ok_or(Rejected::NoMac)?;
        let mut mac = self.mac(digest);
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => mac.update(&buffer[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Rejected::Unreadable(e)),
            }
        }
        mac.verify_slice(&expected[MAGIC.len()..])
            .map_err(|_| Rejected::BadMac)?;
        Ok(Some(file))
    }

    /// Stores `artefact` (the output of `Engine::precompile_component` for
    /// this engine) for `digest` with its MAC, replacing what was there.
    ///
    /// # Errors
    ///
    /// On I/O failure.
    pub(crate) fn put(&self, digest: &str, artefact: &[u8]) -> Result<(), RuntimeError> {
        // Made again if the cache was deleted while weld runs ("safe to
        // delete"), and checked again either way.
        weld_fs::private_subdir(&self.dir)?;
        let mut mac = self.mac(digest);
        mac.update(artefact);
        let mut mac_file = Vec::with_capacity(MAC_FILE_LEN);
        mac_file.extend_from_slice(MAGIC);
        mac_file.extend_from_slice(&mac.finalize().into_bytes());
        // The artefact first: a crash before its MAC is written leaves a
        // pair that does not match, never a MAC for bytes not yet there.
        self.write(&self.artefact_path(digest), artefact)?;
        self.write(&self.mac_path(digest), &mac_file)?;
        Ok(())
    }

    pub(crate) fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), RuntimeError> {
        let io = |e: std::io::Error| RuntimeError::Cache {
            path: self.dir.clone(),
            cause: e,
        };
        // NamedTempFile creates files with mode 0600.
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io)?;
        tmp.write_all(bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        // A rename replaces a symlink or anything else at that name; it never
        // writes through it.
        tmp.persist(path).map_err(|e| io(e.error))?;
        // The rename must survive a crash too, or a later boot could find
        // neither the old nor the new name.
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }
}

/// Each engine's directory under `cache_dir` (`compiled/ENGINE_KEY`), with
/// its engine key, sorted; each checked as [`CompileCache::open`] checks
/// them (private, this user's). Creates nothing: no cache, no directories.
pub(crate) fn engine_dirs(cache_dir: &Path) -> Result<Vec<(PathBuf, String)>, RuntimeError> {
    let compiled = cache_dir.join("compiled");
    if !compiled.is_dir() {
        return Ok(Vec::new());
    }
    let root = weld_fs::private_dir(cache_dir)?;
    let compiled = root.join("compiled");
    weld_fs::private_subdir(&compiled)?;
    let entries = std::fs::read_dir(&compiled).map_err(|cause| RuntimeError::Cache {
        path: compiled.clone(),
        cause,
    })?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let dir = entry.path();
            weld_fs::private_subdir(&dir)?;
            found.push((dir, entry.file_name().to_string_lossy().into_owned()));
        }
    }
    found.sort();
    Ok(found)
}

/// How long a temporary file in the compile cache must have been left
/// untouched before it counts as what an interrupted write left: far longer
/// than any write takes (the largest artefacts are written in seconds), so
/// a write in progress in another weld is never removed.
const INTERRUPTED_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes what interrupted writes left in the compile cache: the
/// temporary files (`.tmp…`, which [`CompileCache::write`] renames into
/// place once written) in each engine's directory, when untouched for
/// [`INTERRUPTED_AFTER`]. A process stopped mid-write (killed, or a one-shot
/// command exiting while it keeps tool definitions in the background)
/// leaves one; nothing reads them, so they only take space. Returns the
/// paths removed.
///
/// # Errors
///
/// A cache directory that is not private (see [`CompileCache::open`]), or
/// one that cannot be read.
pub fn remove_interrupted_writes(cache_dir: &Path) -> Result<Vec<PathBuf>, RuntimeError> {
    let unreadable = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| RuntimeError::Cache { path, cause }
    };
    let now = std::time::SystemTime::now();
    let mut removed = Vec::new();
    for (dir, _) in engine_dirs(cache_dir)? {
        for entry in std::fs::read_dir(&dir).map_err(unreadable(&dir))? {
            let entry = entry.map_err(unreadable(&dir))?;
            let leftover = entry.file_name().to_string_lossy().starts_with(".tmp")
                // The entry's own type: a link is never followed.
                && entry.file_type().is_ok_and(|t| t.is_file())
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|at| now.duration_since(at).is_ok_and(|age| age >= INTERRUPTED_AFTER));
            if leftover {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(unreadable(&path))?;
                removed.push(path);
            }
        }
    }
    removed.sort();
    Ok(removed)
}

/// A path that opens the file `file` has open, whatever its name now leads
/// to.
fn descriptor_path(file: &std::fs::File) -> PathBuf {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    if cfg!(target_os = "linux") {
        PathBuf::from(format!("/proc/self/fd/{fd}"))
    } else {
        PathBuf::from(format!("/dev/fd/{fd}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "0123abcd";

    fn engine() -> Engine {
        Engine::default()
    }

    fn artefact(engine: &Engine) -> Vec<u8> {
        let wasm = wat::parse_str("(component)").expect("wat");
        engine.precompile_component(&wasm).expect("precompile")
    }

    fn cache(root: &Path, engine: &Engine, key: u8) -> CompileCache {
        CompileCache::open(root, engine, Some(&CacheKey::new([key; 32]))).expect("open")
    }

    #[test]
    fn an_artefact_weld_wrote_is_loaded() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let engine = engine();
        let cache = cache(tmp.path(), &engine, 1);
        assert!(cache.get(&engine, DIGEST).is_none(), "empty");
        cache.put(DIGEST, &artefact(&engine)).expect("put");
        assert!(cache.get(&engine, DIGEST).is_some());
    }

    #[test]
    fn a_changed_byte_in_an_artefact_or_its_mac_is_never_deserialized() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let engine = engine();
        let cache = cache(tmp.path(), &engine, 1);
        cache.put(DIGEST, &artefact(&engine)).expect("put");
        for path in [cache.artefact_path(DIGEST), cache.mac_path(DIGEST)] {
            let good = std::fs::read(&path).expect("read");
            for at in [0, good.len() / 2, good.len() - 1] {
                let mut bad = good.clone();
                bad[at] ^= 1;
                std::fs::write(&path, &bad).expect("write");
                assert!(
                    matches!(
                        cache.verified(DIGEST, &cache.artefact_path(DIGEST)),
                        Err(Rejected::BadMac | Rejected::NoMac)
                    ),
                    "{} byte {at}",
                    path.display()
                );
                assert!(cache.get(&engine, DIGEST).is_none());
            }
            std::fs::write(&path, &good).expect("restore");
        }
        assert!(cache.get(&engine, DIGEST).is_some(), "restored");
        // A bare artefact (as an older weld wrote them, or anyone could).
        std::fs::remove_file(cache.mac_path(DIGEST)).expect("delete");
        assert!(matches!(
            cache.verified(DIGEST, &cache.artefact_path(DIGEST)),
            Err(Rejected::NoMac)
        ));
    }

    #[test]
    fn another_components_artefact_or_another_keys_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let engine = engine();
        let cache = cache(tmp.path(), &engine, 1);
        cache.put("other", &artefact(&engine)).expect("put");
        // Its artefact and its MAC, both valid, under this digest's names.
        std::fs::copy(cache.artefact_path("other"), cache.artefact_path(DIGEST)).expect("copy");
        std::fs::copy(cache.mac_path("other"), cache.mac_path(DIGEST)).expect("copy");
        assert!(matches!(
            cache.verified(DIGEST, &cache.artefact_path(DIGEST)),
            Err(Rejected::BadMac)
        ));
        assert!(
            cache.get(&engine, "other").is_some(),
            "the original is fine"
        );
        let stranger = self::cache(tmp.path(), &engine, 2);
        assert!(stranger.get(&engine, "other").is_none());
    }

    #[test]
    fn an_artefact_others_could_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let engine = engine();
        let cache = cache(tmp.path(), &engine, 1);
        cache.put(DIGEST, &artefact(&engine)).expect("put");
        let path = cache.artefact_path(DIGEST);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        assert!(matches!(
            cache.verified(DIGEST, &path),
            Err(Rejected::OthersCanWrite)
        ));
    }

    #[test]
    fn a_symlinked_artefact_is_not_followed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let engine = engine();
        let cache = cache(tmp.path(), &engine, 1);
        cache.put(DIGEST, &artefact(&engine)).expect("put");
        let path = cache.artefact_path(DIGEST);
        let moved = tmp.path().join("elsewhere.cwasm");
        std::fs::rename(&path, &moved).expect("move");
        std::os::unix::fs::symlink(&moved, &path).expect("symlink");
        // The target is a valid artefact with the right MAC: only the link
        // stands in the way.
        assert!(matches!(
            cache.verified(DIGEST, &path),
            Err(Rejected::Unreadable(_))
        ));
        assert!(cache.get(&engine, DIGEST).is_none());
        cache.put(DIGEST, &artefact(&engine)).expect("put");
        assert!(
            !std::fs::symlink_metadata(&path)
                .expect("meta")
                .file_type()
                .is_symlink(),
            "the link is replaced, not written through"
        );
        assert!(cache.get(&engine, DIGEST).is_some());
    }

    #[test]
    fn a_cache_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("cache");
        std::fs::create_dir_all(root.join("compiled")).expect("mkdir");
        std::fs::set_permissions(
            root.join("compiled"),
            std::fs::Permissions::from_mode(0o777),
        )
        .expect("chmod");
        let error = CompileCache::open(&root, &engine(), None).expect_err("refused");
        assert!(
            matches!(error, RuntimeError::UnsafeCacheDir(_)),
            "{error:?}"
        );
        assert!(error.to_string().contains("chmod go-w"), "{error}");
    }

    #[test]
    fn an_interrupted_writes_old_temporary_file_is_removed_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine();
        let cache = cache(dir.path(), &engine, 1);
        cache.put(DIGEST, &artefact(&engine)).expect("put");
        let old = cache.dir.join(".tmpOld123");
        let fresh = cache.dir.join(".tmpNew456");
        for file in [&old, &fresh] {
            std::fs::write(file, b"half an artefact").expect("write");
        }
        let hours_ago = std::time::SystemTime::now() - 2 * INTERRUPTED_AFTER;
        std::fs::File::options()
            .write(true)
            .open(&old)
            .and_then(|f| f.set_modified(hours_ago))
            .expect("age the leftover");
        // An old temporary name that is a link is not followed or removed.
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"not the cache's").expect("write");
        let link = cache.dir.join(".tmpLink789");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");

        let removed = remove_interrupted_writes(dir.path()).expect("remove");
        assert_eq!(removed, vec![old.clone()]);
        assert!(!old.exists());
        assert!(fresh.exists(), "a write that may still be running is left");
        assert!(link.symlink_metadata().is_ok() && target.exists());
        assert!(
            cache.get(&engine, DIGEST).is_some(),
            "the artefact and its MAC are left"
        );
    }
}
