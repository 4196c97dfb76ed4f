//! Environment rules: which variables a tool sees, and where their values
//! come from.

use std::fmt;

use crate::error::{ErrorKind, PolicyError};

/// The longest variable name weld accepts.
const MAX_KEY_LEN: usize = 256;

/// A valid environment variable name: ASCII letters, digits and `_`, not
/// starting with a digit (the POSIX portable set, either case).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvKey(String);

impl EnvKey {
    /// Parses a key.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] naming the key and the fix.
    pub fn parse(key: &str) -> Result<EnvKey, PolicyError> {
        let invalid = |m: String| PolicyError::nowhere(ErrorKind::InvalidValue, m);
        if key.contains('*') {
            return Err(invalid(format!(
                "environment key `{key}` has a wildcard; weld allows variables one by one — list each key"
            )));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(invalid(format!(
                "environment key `{key}` is longer than {MAX_KEY_LEN} characters"
            )));
        }
        let valid = key
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(invalid(format!(
                "`{}` is not a valid environment variable name: use ASCII letters, digits and `_`, not starting with a digit",
                key.escape_debug()
            )));
        }
        Ok(EnvKey(key.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the runtime takes a variable's value from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum EnvSource {
    /// The environment of the weld process (`from: host`, the default).
    #[default]
    Host,
    /// weld's secret store (`from: secret`; `weld secret set TOOL KEY`).
    Secret,
}

impl fmt::Display for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvSource::Host => "host",
            EnvSource::Secret => "secret",
        })
    }
}

/// One `permissions.environment.allow` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvRule {
    pub(crate) key: EnvKey,
    pub(crate) from: EnvSource,
}

impl EnvRule {
    /// The variable.
    #[must_use]
    pub fn key(&self) -> &EnvKey {
        &self.key
    }
    /// Where its value comes from.
    #[must_use]
    pub fn from(&self) -> EnvSource {
        self.from
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys_are_portable_names() {
        assert_eq!(
            EnvKey::parse("GITHUB_TOKEN").unwrap().as_str(),
            "GITHUB_TOKEN"
        );
        assert!(EnvKey::parse("_x1").is_ok());
        assert_eq!(
            EnvKey::parse("1X").unwrap_err().to_string(),
            "`1X` is not a valid environment variable name: use ASCII letters, digits and `_`, not starting with a digit"
        );
        assert_eq!(
            EnvKey::parse("AWS_*").unwrap_err().to_string(),
            "environment key `AWS_*` has a wildcard; weld allows variables one by one — list each key"
        );
        assert!(EnvKey::parse("").is_err());
        assert!(EnvKey::parse("A=B").is_err());
        assert!(EnvKey::parse("É").is_err());
    }
}
