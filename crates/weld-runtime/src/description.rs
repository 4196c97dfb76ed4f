//! What a loaded component offers and asks for, kept beside its compiled
//! artefact so that a server can list its tools — and compile its policy
//! against its imports — without loading its code ([`Description`]).
//!
//! A description is written the first time a component is loaded on an
//! engine (`<digest>.desc` in that engine's cache directory) and read by
//! [`Runtime::cached_description`](crate::Runtime::cached_description).
//! It decides what a model is offered and what a policy is checked
//! against, so it is trusted no more than an artefact: the file starts
//! with [`MAGIC`] and an HMAC-SHA256 under the state's [`CacheKey`]
//! (`crate::CacheKey`) over a domain of its own, the engine key, the
//! component's digest and the body that follows. A file weld did not write
//! with this key (planted, truncated, another component's copied over
//! this one) is ignored: the component is then loaded, which writes it
//! again. Unlike an artefact it is parsed, never executed, so it is read
//! into memory whole (capped at [`MAX_DESCRIPTION_FILE`]).
//!
//! **Prepared text.** A host may keep beside the description text it
//! derived from it ([`Prepared`]: for weld-host, each tool's definition as
//! JSON text), so that a start reads what it would otherwise derive again.
//! The runtime neither reads nor checks its meaning: it authenticates it
//! with the description and hands it back.
//!
//! **Layout.** The body is the description in postcard (a start reads one
//! per installed component, and postcard reads several times faster than
//! JSON), which also says how long each prepared text is, followed by the
//! texts as they are (not as strings inside the encoding, which would be
//! copied or unescaped field by field): `u32` little-endian length of the
//! encoded description, the description, the texts. Files of the first
//! layout (`welddsc1`: the description's JSON alone, without prepared
//! text) are still read; every file written has the current layout.

use std::io::Read;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cache::CompileCache;
use crate::capacity::Footprint;
use crate::component::LoadedComponent;
use crate::describe::{ExportedFunctionType, ToolchainExport};

/// What every description file weld writes starts with; the version
/// changes with the layout or the MAC's input.
const MAGIC: &[u8; 8] = b"welddsc2";
/// Binds a MAC to this use of the key (artefacts use another domain).
const DOMAIN: &[u8] = b"weld component description v2\0";
/// The first layout: the body is the description's JSON alone.
const MAGIC_V1: &[u8; 8] = b"welddsc1";
const DOMAIN_V1: &[u8] = b"weld component description v1\0";
const TAG_LEN: usize = 32;
/// The largest description file read: a component's schemas are capped
/// (each at `weld_schema::MAX_SCHEMA_BYTES`), and its types as stored are
/// smaller than its schemas; a file beyond this is not one weld wrote (or
/// one whose prepared text is larger than is worth keeping: it is not
/// written, and the host derives the text again).
const MAX_DESCRIPTION_FILE: u64 = 64 * 1024 * 1024;

/// Text a host derived from a [`Description`], kept beside it and
/// authenticated with it (see the module doc); its meaning is the host's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    /// What the texts were derived from and by which rules, as the host
    /// writes it: a host uses them only when it would derive the same now.
    pub key: String,
    /// The texts, in the host's order; `None` where there is none.
    pub texts: Vec<Option<Arc<str>>>,
}

/// The encoded part of a description file's body.
#[derive(serde::Serialize, serde::Deserialize)]
struct Body<D> {
    description: D,
    /// The prepared text's key and the length of each text, in order.
    prepared: Option<(String, Vec<Option<u32>>)>,
}

/// A component as its types describe it, independent of its compiled
/// code: enough to list its tools, compile its policy and size its share
/// of the pool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Description {
    /// Exported functions, in declaration order (as
    /// [`LoadedComponent::functions`] lists them once loaded).
    pub functions: Vec<ExportedFunctionType>,
    /// Exports its toolchain added for its own use: never tools.
    pub toolchain_exports: Vec<ToolchainExport>,
    /// Whether it implements an MCP world (its offers are listed by
    /// running it, so it is loaded at once).
    pub mcp: bool,
    /// Imported interface names.
    pub imports: Vec<String>,
    /// What one call takes from the instance pool.
    pub footprint: Footprint,
}

impl Description {
    /// Whether it is a command (`wasi:cli/run` only): an MCP server
    /// component, whose tools are listed by running it.
    pub fn is_command(&self) -> bool {
        crate::command::is_command(
            self.functions
                .iter()
                .map(|f| (f.interface.as_deref(), f.name.as_str())),
        )
    }
}

impl LoadedComponent {
    /// Its description, as [`Runtime::cached_description`](crate::Runtime::cached_description)
    /// would read it back.
    pub fn description(&self) -> Description {
        Description {
            functions: self.functions.iter().map(|f| f.function_type()).collect(),
            toolchain_exports: self.toolchain_exports.clone(),
            mcp: self.mcp.is_some(),
            imports: self.imports.clone(),
            footprint: self.footprint,
        }
    }
}

fn mac(cache: &CompileCache, domain: &[u8], digest: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(cache.key_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(domain);
    mac.update(cache.engine_key().as_bytes());
    mac.update(b"\0");
    mac.update(digest.as_bytes());
    mac.update(b"\0");
    mac
}

/// The description stored for `digest`, and the text prepared with it,
/// when there is one weld wrote with this key; `None` otherwise (a file
/// that is not is logged).
pub(crate) fn read(cache: &CompileCache, digest: &str) -> Option<(Description, Option<Prepared>)> {
    let path = cache.description_path(digest);
    let rejected = |why: &str| {
        tracing::warn!(path = %path.display(), "component description not used: {why}; the component is loaded instead");
    };
    let file = match weld_fs::open_regular(&path) {
        Ok(Some(file)) => file,
        Ok(None) => return None,
        Err(error) => {
            rejected(&format!("it cannot be read safely ({error})"));
            return None;
        }
    };
    match weld_fs::only_owner_writes(&file) {
        Ok(true) => {}
        Ok(false) => {
            rejected("it is not yours, or others could write it");
            return None;
        }
        Err(error) => {
            rejected(&format!("it cannot be read safely ({error})"));
            return None;
        }
    }
    // Sized from the file, so it is read in one call (and one more that
    // finds its end), not in doubling chunks: a start reads one per
    // installed component.
    let size = file
        .metadata()
        .map_or(0, |m| m.len())
        .min(MAX_DESCRIPTION_FILE)
        + 1;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    if let Err(error) = file.take(MAX_DESCRIPTION_FILE + 1).read_to_end(&mut bytes) {
        rejected(&format!("it cannot be read ({error})"));
        return None;
    }
    let header = MAGIC.len() + TAG_LEN;
    let domain = if bytes.starts_with(MAGIC) {
        DOMAIN
    } else if bytes.starts_with(MAGIC_V1) {
        DOMAIN_V1
    } else {
        rejected("it is not a description weld wrote");
        return None;
    };
    if bytes.len() < header || bytes.len() as u64 > MAX_DESCRIPTION_FILE {
        rejected("it is not a description weld wrote");
        return None;
    }
    let (tag, body) = bytes[MAGIC.len()..].split_at(TAG_LEN);
    let mut check = mac(cache, domain, digest);
    check.update(body);
    if check.verify_slice(tag).is_err() {
        rejected(
            "its MAC does not match (not written by this weld with this state directory's key)",
        );
        return None;
    }
    let parsed = if domain == DOMAIN_V1 {
        serde_json::from_slice(body)
            .map(|description| (description, None))
            .map_err(|e| e.to_string())
    } else {
        parse(body)
    };
    match parsed {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            rejected(&format!("it does not parse ({error})"));
            None
        }
    }
}

/// A body of the current layout: the encoded description's length, the
/// description, the texts.
fn parse(body: &[u8]) -> Result<(Description, Option<Prepared>), String> {
    let (len, rest) = body
        .split_first_chunk::<4>()
        .ok_or("it is shorter than its header")?;
    let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|e| e.to_string())?;
    if len > rest.len() {
        return Err("its description is longer than the file".into());
    }
    let (encoded, texts) = rest.split_at(len);
    let parsed: Body<Description> = postcard::from_bytes(encoded).map_err(|e| e.to_string())?;
    let Some((key, lens)) = parsed.prepared else {
        if !texts.is_empty() {
            return Err("it has text after its description but says of none".into());
        }
        return Ok((parsed.description, None));
    };
    let texts = std::str::from_utf8(texts).map_err(|e| format!("its text is not UTF-8: {e}"))?;
    let mut at = 0usize;
    let mut kept = Vec::with_capacity(lens.len());
    for len in lens {
        let Some(len) = len else {
            kept.push(None);
            continue;
        };
        let end = at.saturating_add(len as usize);
        let text = texts
            .get(at..end)
            .ok_or("its text lengths do not match its text")?;
        kept.push(Some(Arc::from(text)));
        at = end;
    }
    if at != texts.len() {
        return Err("its text lengths do not match its text".into());
    }
    Ok((parsed.description, Some(Prepared { key, texts: kept })))
}

/// The file for `description` of `digest`, with `prepared` text if given;
/// an error when it would be larger than is read back.
fn file(
    cache: &CompileCache,
    digest: &str,
    description: &Description,
    prepared: Option<&Prepared>,
) -> Result<Vec<u8>, String> {
    let mut lens = Vec::new();
    let mut texts_len = 0usize;
    for text in prepared.iter().flat_map(|p| &p.texts) {
        lens.push(match text {
            Some(text) => {
                texts_len = texts_len.saturating_add(text.len());
                Some(u32::try_from(text.len()).map_err(|_| "a prepared text is over 4 GiB")?)
            }
            None => None,
        });
    }
    let body = Body {
        description,
        prepared: prepared.map(|p| (p.key.clone(), lens)),
    };
    let encoded = postcard::to_allocvec(&body).map_err(|e| e.to_string())?;
    let size = MAGIC.len() + TAG_LEN + 4 + encoded.len() + texts_len;
    if size as u64 > MAX_DESCRIPTION_FILE {
        return Err(format!(
            "it would be {size} bytes, over the {MAX_DESCRIPTION_FILE} bytes read back"
        ));
    }
    let encoded_len = u32::try_from(encoded.len()).map_err(|_| "its description is over 4 GiB")?;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0; TAG_LEN]);
    out.extend_from_slice(&encoded_len.to_le_bytes());
    out.extend_from_slice(&encoded);
    for text in prepared.iter().flat_map(|p| &p.texts).flatten() {
        out.extend_from_slice(text.as_bytes());
    }
    let mut tag = mac(cache, DOMAIN, digest);
    tag.update(&out[MAGIC.len() + TAG_LEN..]);
    out[MAGIC.len()..MAGIC.len() + TAG_LEN].copy_from_slice(&tag.finalize().into_bytes());
    Ok(out)
}

/// Stores `description` for `digest` with its MAC, unless one is there.
pub(crate) fn write_once(cache: &CompileCache, digest: &str, description: &Description) {
    let path = cache.description_path(digest);
    if path.exists() {
        return;
    }
    let bytes = match file(cache, digest, description, None) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(%error, "component description not kept");
            return;
        }
    };
    if let Err(error) = cache.write(&path, &bytes) {
        // Only start-up is slower: the component is loaded again next time.
        tracing::warn!(%error, "component description not kept");
    }
}

/// Stores `description` for `digest` with `prepared` text, replacing
/// what is there (atomically: a reader sees the old file or the new).
pub(crate) fn keep(
    cache: &CompileCache,
    digest: &str,
    description: &Description,
    prepared: &Prepared,
) -> Result<(), crate::RuntimeError> {
    let path = cache.description_path(digest);
    let bytes = file(cache, digest, description, Some(prepared)).map_err(|cause| {
        crate::RuntimeError::Cache {
            path: path.clone(),
            cause: std::io::Error::new(std::io::ErrorKind::InvalidData, cause),
        }
    })?;
    cache.write(&path, &bytes)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{DOMAIN_V1, Description, MAGIC_V1, Prepared, keep, mac, read, write_once};
    use crate::cache::{CacheKey, CompileCache};
    use crate::capacity::Footprint;

    fn cache(root: &std::path::Path) -> CompileCache {
        let engine = wasmtime::Engine::default();
        CompileCache::open(root, &engine, Some(&CacheKey::new([7; 32]))).expect("cache")
    }

    fn description() -> Description {
        Description {
            functions: Vec::new(),
            toolchain_exports: Vec::new(),
            mcp: false,
            imports: vec!["wasi:cli/environment@0.2.6".into()],
            footprint: Footprint::ZERO,
        }
    }

    fn prepared() -> Prepared {
        Prepared {
            key: "host rules 1".into(),
            texts: vec![
                Some(Arc::from(r#"{"type":"object"}"#)),
                None,
                Some(Arc::from("f: func(x: u8) -> string · ü")),
                Some(Arc::from("")),
            ],
        }
    }

    #[test]
    fn prepared_text_is_kept_with_the_description_and_read_back_as_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = cache(dir.path());
        write_once(&cache, "d", &description());
        assert_eq!(read(&cache, "d"), Some((description(), None)));
        keep(&cache, "d", &description(), &prepared()).expect("kept");
        assert_eq!(read(&cache, "d"), Some((description(), Some(prepared()))));
        // Written once: a later load does not drop what was kept.
        write_once(&cache, "d", &description());
        assert_eq!(read(&cache, "d"), Some((description(), Some(prepared()))));
    }

    #[test]
    fn a_description_whose_kept_text_was_changed_is_not_used() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = cache(dir.path());
        keep(&cache, "d", &description(), &prepared()).expect("kept");
        let path = cache.description_path("d");
        let good = std::fs::read(&path).expect("read");
        // A byte of the text, then the same file under another digest.
        let mut changed = good.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        cache.write(&path, &changed).expect("write");
        assert_eq!(read(&cache, "d"), None, "a changed text");
        cache
            .write(&cache.description_path("e"), &good)
            .expect("write");
        assert_eq!(read(&cache, "e"), None, "another component's file");
    }

    #[test]
    fn a_description_of_the_first_layout_is_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = cache(dir.path());
        let body = serde_json::to_vec(&description()).expect("JSON");
        let mut tag = mac(&cache, DOMAIN_V1, "d");
        hmac::Mac::update(&mut tag, &body);
        let mut file = MAGIC_V1.to_vec();
        file.extend_from_slice(&hmac::Mac::finalize(tag).into_bytes());
        file.extend_from_slice(&body);
        cache
            .write(&cache.description_path("d"), &file)
            .expect("write");
        assert_eq!(read(&cache, "d"), Some((description(), None)));
        // Its MAC binds the first layout's domain: the same bytes under the
        // current magic are not a description weld wrote.
        file[..8].copy_from_slice(super::MAGIC);
        cache
            .write(&cache.description_path("d"), &file)
            .expect("write");
        assert_eq!(read(&cache, "d"), None);
    }
}
