//! [`StoreError`]: what went wrong with the state directory, and what to do
//! about it.

use std::path::{Path, PathBuf};

/// Errors from the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file or directory at fault.
        path: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// The index (or a secrets file) does not parse; nothing is guessed.
    #[error(
        "{path} is not a valid weld index ({message}); weld will not guess: \
         fix or move the file, then run the command again"
    )]
    CorruptIndex {
        /// The file that does not parse.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// No component has this name.
    #[error("no component named `{0}` is installed (see `weld list`)")]
    NotInstalled(String),
    /// The name is taken and replacing was not asked for.
    #[error(
        "a component named `{0}` is already installed; remove it first or pass --force to replace it"
    )]
    AlreadyInstalled(String),
    /// Not a valid component name.
    #[error(
        "`{0}` is not a valid component name: use 1-64 characters from a-z, 0-9 and '-', \
         starting with a letter (it becomes the prefix of every tool name)"
    )]
    BadName(String),
    /// The name of weld's built-in tools.
    #[error(
        "the component name `{0}` is reserved for weld's built-in tools (`{0}_...`); \
         install it under another name with --name (or rename the file)"
    )]
    ReservedName(String),
    /// A blob is missing, or its bytes no longer have its digest.
    #[error(
        "blob {digest} is missing or damaged in the store ({path}); reinstall the component with `weld add`"
    )]
    BadBlob {
        /// The digest the index names.
        digest: String,
        /// Where the blob should be.
        path: PathBuf,
    },
    /// The state directory (or one in it, or a parent) is not this user's alone.
    #[error(transparent)]
    UnsafeDir(#[from] weld_fs::DirError),
    /// `cache.key` is not a private 32-byte regular file.
    #[error(
        "{path} {problem}; delete it and weld draws a new key (compiled components are then \
         compiled again)"
    )]
    BadCacheKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |cause| StoreError::Io {
        path: path.to_path_buf(),
        cause,
    }
}
