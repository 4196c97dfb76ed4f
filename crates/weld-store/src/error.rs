//! [`StoreError`]: what went wrong with the state directory, and what to do
//! about it.

use std::path::{Path, PathBuf};

/// Errors from the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "{path} is not a valid weld index ({message}); weld will not guess: \
         fix or move the file, then run the command again"
    )]
    CorruptIndex { path: PathBuf, message: String },
    #[error("no component named `{0}` is installed (see `weld list`)")]
    NotInstalled(String),
    #[error(
        "a component named `{0}` is already installed; remove it first or pass --force to replace it"
    )]
    AlreadyInstalled(String),
    #[error(
        "`{0}` is not a valid component name: use 1-64 characters from a-z, 0-9 and '-', \
         starting with a letter (it becomes the prefix of every tool name)"
    )]
    BadName(String),
    #[error(
        "the component name `{0}` is reserved for weld's built-in tools (`{0}_...`); \
         install it under another name with --name (or rename the file)"
    )]
    ReservedName(String),
    #[error(
        "blob {digest} is missing or damaged in the store ({path}); reinstall the component with `weld add`"
    )]
    BadBlob { digest: String, path: PathBuf },
    #[error(transparent)]
    UnsafeDir(#[from] weld_fs::DirError),
    #[error(
        "{path} {problem}; delete it and weld draws a new key (compiled components are then \
         compiled again)"
    )]
    BadCacheKey { path: PathBuf, problem: String },
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |cause| StoreError::Io {
        path: path.to_path_buf(),
        cause,
    }
}
