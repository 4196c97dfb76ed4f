//! `weld.toml`: weld's configuration file — for now where to fetch from and
//! whom to trust (docs/trust.md). Strict like the policy parser: an unknown
//! key, a missing key file or a scope that names nothing is an error with
//! the line, never ignored.
//!
//! ```toml
//! [distribution]
//! insecure_registries = ["127.0.0.1:5000"]   # plain HTTP only for these
//! max_component_mib = 64
//! docker_config = "/home/me/.docker/config.json"
//! credential_helpers = false
//!
//! [[trust]]
//! scope = "oci://ghcr.io/acme/"
//! keys = ["keys/acme.pub"]                    # relative to this file
//!
//! [[trust]]
//! scope = "oci://ghcr.io/acme/"
//! identities = [{ subject = "https://github.com/acme/tools/.github/workflows/release.yml@refs/tags/v1", issuer = "https://token.actions.githubusercontent.com" }]
//! trusted_root = "trusted_root.json"
//!
//! [[unsigned]]
//! scope = "oci://127.0.0.1:5000/dev/"
//!
//! [serve]                                      # `weld serve`'s flags
//! http = "0.0.0.0:8808"
//! allow_host = ["weld.internal"]
//! token_file = "token"                         # relative to this file
//! max_instances = 64
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use weld_host::trust::{NamedSigner, Scope, TrustPolicy};
use weld_trust::{PublicKey, TrustedRoot, TrustedSigner};

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    distribution: Distribution,
    #[serde(default)]
    trust: Vec<TrustRule>,
    #[serde(default)]
    unsigned: Vec<UnsignedRule>,
    /// `weld serve`'s flags by their long names, with where each is
    /// written (for errors); checked against the command line's flags
    /// ([`serve_args`]).
    #[serde(default)]
    serve: Option<std::collections::BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Distribution {
    #[serde(default)]
    insecure_registries: Vec<String>,
    max_component_mib: Option<u64>,
    docker_config: Option<PathBuf>,
    #[serde(default)]
    credential_helpers: bool,
    timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustRule {
    scope: String,
    #[serde(default)]
    keys: Vec<PathBuf>,
    #[serde(default)]
    identities: Vec<Identity>,
    trusted_root: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    subject: String,
    issuer: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsignedRule {
    scope: String,
}

/// The configuration, read and checked.
pub struct Config {
    /// Registry and download settings.
    pub dist: weld_dist::Config,
    /// Whom to trust for what.
    pub trust: TrustPolicy,
}

/// The default place: `$XDG_CONFIG_HOME/weld/weld.toml`.
pub fn default_path() -> Result<PathBuf> {
    Ok(crate::dirs::config_dir()?.join("weld.toml"))
}

/// Reads the configuration at `path` (explicit) or the default place; a
/// missing default file is the default configuration (signatures required,
/// nobody trusted), a missing explicit one an error.
pub fn load(explicit: Option<&Path>) -> Result<Config> {
    let (path, text) = read(explicit)?;
    parse(&text.unwrap_or_default(), &path)
}

/// The configuration file's path (explicit, or the default place) and its
/// text: `None` when the default file does not exist; a missing explicit
/// one is an error.
fn read(explicit: Option<&Path>) -> Result<(PathBuf, Option<String>)> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => default_path()?,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((path, Some(text))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            Ok((path, None))
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Flags whose values are paths: relative ones are taken relative to the
/// file, like its keys.
const PATH_FLAGS: &[&str] = &[
    "component",
    "token-file",
    "state-dir",
    "cache-dir",
    "base-dir",
    "lock",
];

/// One of `weld serve`'s flags, as the `[serve]` table may set it.
pub struct ServeFlag {
    /// Its long name (`max-instances`).
    pub long: String,
    /// Whether it takes a value (else it is a switch: `true` or `false`).
    pub takes_value: bool,
}

/// `weld serve`'s flags, for the configuration's `[serve]` table.
pub fn serve_flags() -> Vec<ServeFlag> {
    use clap::CommandFactory;
    let command = crate::cli::Cli::command();
    let Some(serve) = command.find_subcommand("serve") else {
        return Vec::new();
    };
    // Global flags (`--state-dir`, `--compile-timeout`, …) are `weld
    // serve`'s too, but are only copied into it when clap builds the
    // command, which would also add `help` and `version`.
    let global = command.get_arguments().filter(|arg| arg.is_global_set());
    serve
        .get_arguments()
        .chain(global)
        .filter_map(|arg| {
            Some(ServeFlag {
                long: arg.get_long()?.to_owned(),
                takes_value: arg.get_action().takes_values(),
            })
        })
        .collect()
}

/// A configuration's `[serve]` table as `weld serve` arguments.
#[derive(Debug)]
pub struct ServeTable {
    /// The file it is in.
    pub path: PathBuf,
    /// Each key's arguments, after where it is written (`FILE: [serve]
    /// KEY (line L, column C)`), so that an error in them can say where.
    pub keys: Vec<(String, Vec<std::ffi::OsString>)>,
}

impl ServeTable {
    /// Every key's arguments, in the table's order.
    pub fn args(&self) -> impl Iterator<Item = &std::ffi::OsString> {
        self.keys.iter().flat_map(|(_, args)| args)
    }
}

/// The `[serve]` table of the configuration at `path` (explicit) or the
/// default place, as command-line arguments for `weld serve` (`max_instances
/// = 64` is `--max-instances 64`; `true` a bare flag, `false` none; an array
/// the flag repeated), with the file they came from. `None` when there is
/// no file or no `[serve]` table.
///
/// Every key must be one of `flags`, and a switch's value a boolean: a
/// key that sets nothing (`false`, `[]`) is checked as strictly as one that
/// does, so a misspelt key never passes for a default.
///
/// # Errors
///
/// The file cannot be read or parsed, a key is no flag of `weld serve`, or
/// a value is not a string, number, boolean or array of them, or not what
/// its flag takes.
pub fn serve_args(explicit: Option<&Path>, flags: &[ServeFlag]) -> Result<Option<ServeTable>> {
    let (path, Some(text)) = read(explicit)? else {
        return Ok(None);
    };
    let file: File =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let Some(table) = file.serve else {
        return Ok(None);
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut keys = Vec::new();
    for (key, value) in table {
        // `FILE: [serve] KEY (line L, column C)`, at the key or its value.
        let at = |span: std::ops::Range<usize>| {
            let before = text.get(..span.start).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(
                "{}: [serve] {} (line {line}, column {column})",
                path.display(),
                key.get_ref()
            )
        };
        let flag = key.get_ref().replace('_', "-");
        let Some(known) = flags.iter().find(|f| f.long == flag) else {
            bail!(
                "{}: `weld serve` has no flag --{flag} (see `weld serve --help`; a key is a \
                 flag's long name, with `_` or `-`)",
                at(key.span())
            );
        };
        let where_value = at(value.span());
        let mut args = Vec::new();
        let values = match value.into_inner() {
            toml::Value::Array(items) => items,
            other => vec![other],
        };
        for value in values {
            if matches!(value, toml::Value::Boolean(_)) == known.takes_value {
                bail!(
                    "{where_value}: {}",
                    if known.takes_value {
                        format!("--{flag} takes a value, not true or false")
                    } else {
                        format!("--{flag} is a switch: give true or false")
                    }
                );
            }
            let text = match value {
                toml::Value::Boolean(true) => {
                    args.push(format!("--{flag}").into());
                    continue;
                }
                toml::Value::Boolean(false) => continue,
                toml::Value::String(text) if PATH_FLAGS.contains(&flag.as_str()) => {
                    base.join(text).into_os_string()
                }
                toml::Value::String(text) => text.into(),
                toml::Value::Integer(n) => n.to_string().into(),
                toml::Value::Float(x) => x.to_string().into(),
                other => bail!(
                    "{where_value}: a {} is not a flag's value; give a string, a number, true \
                     or a list of them",
                    other.type_str()
                ),
            };
            args.push(format!("--{flag}").into());
            args.push(text);
        }
        keys.push((where_value, args));
    }
    Ok(Some(ServeTable { path, keys }))
}

fn parse(text: &str, path: &Path) -> Result<Config> {
    let file: File =
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut dist = weld_dist::Config {
        insecure_registries: file.distribution.insecure_registries,
        ..weld_dist::Config::default()
    };
    if let Some(mib) = file.distribution.max_component_mib {
        if mib == 0 {
            bail!("{}: max_component_mib must be at least 1", path.display());
        }
        dist.max_component_bytes = mib.saturating_mul(1024 * 1024);
    }
    dist.docker_config = file.distribution.docker_config.map(|p| base.join(p));
    dist.credential_helpers = file.distribution.credential_helpers;
    if let Some(secs) = file.distribution.timeout_seconds {
        dist.timeout = Duration::from_secs(secs.max(1));
    }
    let mut trust = TrustPolicy::default();
    for rule in file.trust {
        let scope =
            Scope::new(&rule.scope).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut signers = Vec::new();
        for key in &rule.keys {
            let key_path = base.join(key);
            let pem = std::fs::read_to_string(&key_path).with_context(|| {
                format!("{}: reading the key {}", path.display(), key_path.display())
            })?;
            let key = PublicKey::from_pem(&pem)
                .with_context(|| format!("{}: the key {}", path.display(), key_path.display()))?;
            signers.push(NamedSigner {
                label: format!("key {} ({})", key.key_id(), key_path.display()),
                signer: TrustedSigner::Key(key),
            });
        }
        if !rule.identities.is_empty() {
            let Some(root_path) = &rule.trusted_root else {
                bail!(
                    "{}: the rule for {} trusts identities but names no trusted_root \
                     (a Sigstore trusted_root.json with the CA and log keys to check them against)",
                    path.display(),
                    rule.scope
                );
            };
            let root_path = base.join(root_path);
            let bytes = std::fs::read(&root_path)
                .with_context(|| format!("{}: reading {}", path.display(), root_path.display()))?;
            let root = Arc::new(
                TrustedRoot::from_json(&bytes)
                    .with_context(|| format!("{}: {}", path.display(), root_path.display()))?,
            );
            for identity in rule.identities {
                signers.push(NamedSigner {
                    label: format!("{} (issuer {})", identity.subject, identity.issuer),
                    signer: TrustedSigner::Identity {
                        root: Arc::clone(&root),
                        subject: identity.subject,
                        issuer: identity.issuer,
                    },
                });
            }
        } else if rule.trusted_root.is_some() {
            bail!(
                "{}: trusted_root is given for {} but no identities",
                path.display(),
                rule.scope
            );
        }
        if signers.is_empty() {
            bail!(
                "{}: the rule for {} names no keys and no identities; a rule that trusts \
                 nobody would refuse everything under it",
                path.display(),
                rule.scope
            );
        }
        trust.trust(scope, signers);
    }
    for rule in file.unsigned {
        let scope =
            Scope::new(&rule.scope).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        trust.allow_unsigned(scope);
    }
    Ok(Config { dist, trust })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serve_table_becomes_flags_with_paths_relative_to_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("weld.toml");
        std::fs::write(
            &path,
            "[serve]\nhttp = \"0.0.0.0:8808\"\nallow_host = [\"a\", \"b\"]\n\
             token_file = \"token\"\nno_builtin_tools = true\nallow_model_grants = false\n\
             shutdown_grace = 2.5\n",
        )
        .expect("write");
        let table = serve_args(Some(&path), &flags())
            .expect("read")
            .expect("a [serve] table");
        let args: Vec<String> = table
            .args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let token = dir.path().join("token").display().to_string();
        assert_eq!(
            args,
            [
                "--allow-host",
                "a",
                "--allow-host",
                "b",
                "--http",
                "0.0.0.0:8808",
                "--no-builtin-tools",
                "--shutdown-grace",
                "2.5",
                "--token-file",
                &token,
            ]
        );
        std::fs::write(&path, "[serve]\nhttp = { a = 1 }\n").expect("write");
        let error = serve_args(Some(&path), &flags()).expect_err("refused");
        assert!(format!("{error:#}").contains("[serve] http"), "{error:#}");
    }

    /// Flags as `weld serve` has them (cli.rs's test checks the real ones
    /// are read).
    fn flags() -> Vec<ServeFlag> {
        let switch = |long: &str| ServeFlag {
            long: long.into(),
            takes_value: false,
        };
        let valued = |long: &str| ServeFlag {
            long: long.into(),
            takes_value: true,
        };
        vec![
            valued("http"),
            valued("allow-host"),
            valued("token-file"),
            switch("no-builtin-tools"),
            switch("allow-model-grants"),
            valued("shutdown-grace"),
        ]
    }

    #[test]
    fn a_serve_key_that_sets_nothing_is_checked_like_one_that_does() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("weld.toml");
        // Where: the key when it is no flag, the value when it does not fit.
        for (table, says, at) in [
            (
                "alow_host = []",
                "no flag --alow-host",
                "(line 3, column 1)",
            ),
            (
                "no_bultin_tools = false",
                "no flag --no-bultin-tools",
                "(line 3, column 1)",
            ),
            (
                "shutdown_grace = false",
                "--shutdown-grace takes a value",
                "(line 3, column 18)",
            ),
            (
                "no_builtin_tools = \"yes\"",
                "--no-builtin-tools is a switch",
                "(line 3, column 20)",
            ),
        ] {
            std::fs::write(&path, format!("[serve]\nhttp = \"127.0.0.1:0\"\n{table}\n"))
                .expect("write");
            let error = serve_args(Some(&path), &flags()).expect_err(table);
            let text = format!("{error:#}");
            assert!(text.contains(says), "{table}: {text}");
            assert!(text.contains("weld.toml: [serve]"), "{table}: {text}");
            assert!(text.contains(at), "{table}: {text}");
        }
    }

    #[test]
    fn an_unknown_key_is_an_error_with_its_line() {
        let error = parse(
            "[distribution]\ninsecure = true\n",
            Path::new("/x/weld.toml"),
        )
        .err()
        .expect("refused");
        let text = format!("{error:#}");
        assert!(text.contains("unknown field `insecure`"), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn a_rule_that_trusts_nobody_is_refused() {
        let error = parse(
            "[[trust]]\nscope = \"oci://r/x\"\n",
            Path::new("/x/weld.toml"),
        )
        .err()
        .expect("refused");
        assert!(format!("{error:#}").contains("names no keys"), "{error:#}");
    }

    #[test]
    fn keys_are_read_relative_to_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let key = weld_trust::SigningKey::generate().expect("key");
        std::fs::create_dir(dir.path().join("keys")).expect("mkdir");
        std::fs::write(dir.path().join("keys/p.pub"), key.public_key().to_pem()).expect("key");
        let config = parse(
            "[[trust]]\nscope = \"oci://r/x\"\nkeys = [\"keys/p.pub\"]\n",
            &dir.path().join("weld.toml"),
        )
        .expect("parsed");
        assert!(matches!(
            config.trust.requirement("oci://r/x:1"),
            weld_host::trust::Requirement::Signed(s) if s.len() == 1
        ));
    }
}
