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
//! component's digest and the JSON that follows. A file weld did not write
//! with this key (planted, truncated, another component's copied over
//! this one) is ignored: the component is then loaded, which writes it
//! again. Unlike an artefact it is parsed, never executed, so it is read
//! into memory whole (capped at [`MAX_DESCRIPTION_FILE`]).

use std::io::Read;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cache::CompileCache;
use crate::capacity::Footprint;
use crate::component::LoadedComponent;
use crate::describe::{ExportedFunctionType, ToolchainExport};

/// What every description file starts with; the version changes with the
/// layout or the MAC's input.
const MAGIC: &[u8; 8] = b"welddsc1";
/// Binds a MAC to this use of the key (artefacts use another domain).
const DOMAIN: &[u8] = b"weld component description v1\0";
const TAG_LEN: usize = 32;
/// The largest description file read: a component's schemas are capped
/// (each at `weld_schema::MAX_SCHEMA_BYTES`), and its types as stored are
/// smaller than its schemas; a file beyond this is not one weld wrote.
const MAX_DESCRIPTION_FILE: u64 = 64 * 1024 * 1024;

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

fn mac(cache: &CompileCache, digest: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(cache.key_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(DOMAIN);
    mac.update(cache.engine_key().as_bytes());
    mac.update(b"\0");
    mac.update(digest.as_bytes());
    mac.update(b"\0");
    mac
}

/// The description stored for `digest`, when there is one weld wrote with
/// this key; `None` otherwise (a file that is not is logged).
pub(crate) fn read(cache: &CompileCache, digest: &str) -> Option<Description> {
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
    let mut bytes = Vec::new();
    if let Err(error) = file.take(MAX_DESCRIPTION_FILE + 1).read_to_end(&mut bytes) {
        rejected(&format!("it cannot be read ({error})"));
        return None;
    }
    let header = MAGIC.len() + TAG_LEN;
    if bytes.len() < header
        || bytes.len() as u64 > MAX_DESCRIPTION_FILE
        || !bytes.starts_with(MAGIC)
    {
        rejected("it is not a description weld wrote");
        return None;
    }
    let (tag, body) = bytes[MAGIC.len()..].split_at(TAG_LEN);
    let mut check = mac(cache, digest);
    check.update(body);
    if check.verify_slice(tag).is_err() {
        rejected(
            "its MAC does not match (not written by this weld with this state directory's key)",
        );
        return None;
    }
    match serde_json::from_slice(body) {
        Ok(description) => Some(description),
        Err(error) => {
            rejected(&format!("it does not parse ({error})"));
            None
        }
    }
}

/// Stores `description` for `digest` with its MAC, unless one is there.
pub(crate) fn write_once(cache: &CompileCache, digest: &str, description: &Description) {
    let path = cache.description_path(digest);
    if path.exists() {
        return;
    }
    let body = match serde_json::to_vec(description) {
        Ok(body) => body,
        Err(error) => {
            tracing::warn!(%error, "component description not kept");
            return;
        }
    };
    let mut tag = mac(cache, digest);
    tag.update(&body);
    let mut file = Vec::with_capacity(MAGIC.len() + TAG_LEN + body.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&tag.finalize().into_bytes());
    file.extend_from_slice(&body);
    if let Err(error) = cache.write(&path, &file) {
        // Only start-up is slower: the component is loaded again next time.
        tracing::warn!(%error, "component description not kept");
    }
}
