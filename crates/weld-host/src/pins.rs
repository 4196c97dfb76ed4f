//! The pins file beside a stored policy (`policies/NAME.pins.json`): what
//! each storage rule resolved to when a person granted it (see
//! [`weld_policy::Pins`]), as JSON.
//!
//! Read strictly: a pins file that does not parse, or that names a path
//! that is not absolute, stops that component from loading (it could not
//! say what was granted), never falls back to resolving the rules again.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use weld_policy::{Identity, Pin, Pinned, Pins, StorageUri};

const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    pins: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// `allow` or `deny`.
    rule: Rule,
    uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base: Option<PathBuf>,
    /// Where the tool finds it (the URI's path before symlinks).
    path: PathBuf,
    /// What is granted or denied (symlinks resolved).
    real: PathBuf,
    /// `dir` or `file` for an allow rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<Kind>,
    /// Device and inode of the directory (for a file: of its directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dev: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ino: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Rule {
    Allow,
    Deny,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Dir,
    File,
}

/// Why a pins file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PinsError {
    #[error("a granted path is not valid UTF-8 ({0}); weld stores paths as text — rename it")]
    NotUtf8(String),
    #[error("the pins file does not parse: {0}")]
    Parse(String),
}

/// `pins` as the file's text.
///
/// # Errors
///
/// A path that is not valid UTF-8.
pub fn to_text(pins: &Pins) -> Result<String, PinsError> {
    let mut entries = Vec::new();
    for pin in pins.as_slice() {
        for path in [Some(&pin.lexical), Some(&pin.real), pin.base.as_ref()]
            .into_iter()
            .flatten()
        {
            if path.to_str().is_none() {
                return Err(PinsError::NotUtf8(path.display().to_string()));
            }
        }
        let (rule, kind, identity) = match pin.pinned {
            Pinned::Dir(id) => (Rule::Allow, Some(Kind::Dir), Some(id)),
            Pinned::File(id) => (Rule::Allow, Some(Kind::File), Some(id)),
            Pinned::Deny => (Rule::Deny, None, None),
        };
        entries.push(Entry {
            rule,
            uri: pin.uri.to_string(),
            base: pin.base.clone(),
            path: pin.lexical.clone(),
            real: pin.real.clone(),
            kind,
            dev: identity.map(|i| i.dev),
            ino: identity.map(|i| i.ino),
        });
    }
    let mut text = serde_json::to_string_pretty(&File {
        version: VERSION,
        pins: entries,
    })
    .map_err(|e| PinsError::Parse(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

/// The pins in a file's text.
///
/// # Errors
///
/// Text that is not a pins file of this version, a URI that does not
/// parse, a relative path, or an allow rule without its kind and identity.
pub fn from_text(text: &str) -> Result<Pins, PinsError> {
    let file: File = serde_json::from_str(text).map_err(|e| PinsError::Parse(e.to_string()))?;
    if file.version != VERSION {
        return Err(PinsError::Parse(format!(
            "version {} is not the version {VERSION} this weld writes",
            file.version
        )));
    }
    let mut pins = Vec::new();
    for entry in file.pins {
        let uri = StorageUri::parse(&entry.uri).map_err(|e| PinsError::Parse(e.to_string()))?;
        for path in [Some(&entry.path), Some(&entry.real), entry.base.as_ref()]
            .into_iter()
            .flatten()
        {
            if !path.is_absolute() {
                return Err(PinsError::Parse(format!(
                    "`{}` is not an absolute path",
                    path.display()
                )));
            }
        }
        let identity = match (entry.dev, entry.ino) {
            (Some(dev), Some(ino)) => Some(Identity { dev, ino }),
            _ => None,
        };
        let pinned = match (entry.rule, entry.kind, identity) {
            (Rule::Deny, None, None) => Pinned::Deny,
            (Rule::Allow, Some(Kind::Dir), Some(id)) => Pinned::Dir(id),
            (Rule::Allow, Some(Kind::File), Some(id)) => Pinned::File(id),
            _ => {
                return Err(PinsError::Parse(format!(
                    "the pin of `{}` must give kind, dev and ino for an allow rule and none \
                     of them for a deny rule",
                    entry.uri
                )));
            }
        };
        pins.push(Pin {
            uri,
            base: entry.base,
            lexical: entry.path,
            real: entry.real,
            pinned,
        });
    }
    Ok(Pins::new(pins))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_survive_the_round_trip_through_text() {
        let pins = Pins::new(vec![
            Pin {
                uri: StorageUri::parse("fs://./data/**").expect("uri"),
                base: Some(PathBuf::from("/home/me/proj")),
                lexical: PathBuf::from("/home/me/proj/data"),
                real: PathBuf::from("/srv/data"),
                pinned: Pinned::Dir(Identity { dev: 3, ino: 42 }),
            },
            Pin {
                uri: StorageUri::parse("fs:///etc/hosts").expect("uri"),
                base: None,
                lexical: PathBuf::from("/etc/hosts"),
                real: PathBuf::from("/etc/hosts"),
                pinned: Pinned::File(Identity { dev: 3, ino: 7 }),
            },
            Pin {
                uri: StorageUri::parse("fs:///srv/**").expect("uri"),
                base: None,
                lexical: PathBuf::from("/srv"),
                real: PathBuf::from("/srv"),
                pinned: Pinned::Deny,
            },
        ]);
        let text = to_text(&pins).expect("text");
        assert_eq!(from_text(&text).expect("parses"), pins);
    }

    #[test]
    fn a_damaged_pins_file_is_refused_not_guessed() {
        for bad in [
            "",
            "{\"version\": 2, \"pins\": []}",
            "{\"version\": 1, \"pins\": [{\"rule\": \"allow\", \"uri\": \"fs:///a\", \"path\": \"/a\", \"real\": \"/a\"}]}",
            "{\"version\": 1, \"pins\": [{\"rule\": \"deny\", \"uri\": \"fs:///a\", \"path\": \"a\", \"real\": \"/a\"}]}",
            "{\"version\": 1, \"pins\": [], \"extra\": 1}",
        ] {
            assert!(from_text(bad).is_err(), "{bad}");
        }
    }
}
