//! XDG base directories.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// `$VAR/weld` when `VAR` holds an absolute path (the XDG spec says to
/// ignore relative ones), else `~/fallback/weld`.
fn xdg(var: &str, fallback: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(var).map(PathBuf::from)
        && dir.is_absolute()
    {
        return Ok(dir.join("weld"));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .with_context(|| {
            format!(
                "neither {var} nor HOME is set to an absolute path; pass the directory explicitly"
            )
        })?;
    Ok(home.join(fallback).join("weld"))
}

pub fn state_dir(explicit: Option<PathBuf>) -> Result<PathBuf> {
    match explicit {
        Some(dir) => Ok(dir),
        None => xdg("XDG_STATE_HOME", ".local/state"),
    }
}

pub fn cache_dir(explicit: Option<PathBuf>) -> Result<PathBuf> {
    match explicit {
        Some(dir) => Ok(dir),
        None => xdg("XDG_CACHE_HOME", ".cache"),
    }
}

/// `$XDG_CONFIG_HOME/weld`, else `~/.config/weld`.
pub fn config_dir() -> Result<PathBuf> {
    xdg("XDG_CONFIG_HOME", ".config")
}
