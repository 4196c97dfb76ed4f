//! A change to one component's policy, as a person reads it: what is asked
//! (kind, target, access), what it means once resolved, the command that
//! makes it, and the text an approval token is bound to.

use std::fmt::Write as _;
use std::path::Path;

use weld_policy::{Access, EnvSource, Pin, Policy};

/// Whether a change adds or takes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Adds the capability to the policy (`weld grant`, `weld_request_grant`).
    Grant,
    /// Takes it away (`weld revoke`, `weld_revoke`); always written, even
    /// when the component stays disabled.
    Revoke,
}

impl Direction {
    /// `grant` or `revoke`, as summaries and commands spell it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Direction::Grant => "grant",
            Direction::Revoke => "revoke",
        }
    }
}

/// What is granted or revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// A storage URI (`fs:///dir/**`) with access modes, sorted, no
    /// duplicates.
    Storage {
        /// The URI as given (`fs:///dir/**`, or `fs://./` relative to the
        /// base directory); resolved and pinned when granted.
        uri: String,
        /// See [`access_modes`].
        access: Vec<Access>,
    },
    /// `HOST[:PORT]` (HTTPS), or `SCHEME://HOST[:PORT]` with `http`,
    /// `https`, `tcp` or `udp` (the scheme's default port when none).
    Network {
        /// As given; parsed by [`weld_policy::NetworkGrant`].
        target: String,
    },
    /// An environment variable, from weld's environment or (`secret`) its
    /// secret store.
    Env {
        /// The variable's name, as the guest sees it.
        key: String,
        /// Whether its value comes from weld's secret store rather than
        /// weld's own environment.
        secret: bool,
    },
}

/// Storage access modes from their names (`read`, `write`), as the CLI's
/// `--access read,write` and the MCP tools' `access` list give them: sorted,
/// each once, never empty, as [`Capability::Storage`] holds them.
///
/// # Errors
///
/// An unknown name, one listed twice, or none.
pub fn access_modes<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Access>, String> {
    let mut access = Vec::new();
    for name in names {
        let mode = match name.trim() {
            "read" => Access::Read,
            "write" => Access::Write,
            other => return Err(format!("unknown access mode `{other}` (use read, write)")),
        };
        if access.contains(&mode) {
            return Err(format!("access mode `{mode}` is listed twice"));
        }
        access.push(mode);
    }
    if access.is_empty() {
        return Err("no access mode given (use read, write)".into());
    }
    access.sort();
    Ok(access)
}

impl Capability {
    /// `storage`, `network` or `env`: the CLI's subcommand and the MCP
    /// tools' `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Capability::Storage { .. } => "storage",
            Capability::Network { .. } => "network",
            Capability::Env { .. } => "env",
        }
    }

    /// The URI, host or key.
    pub fn target(&self) -> &str {
        match self {
            Capability::Storage { uri, .. } => uri,
            Capability::Network { target } => target,
            Capability::Env { key, .. } => key,
        }
    }
}

/// One grant or revocation for one component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyChange {
    /// The installed component whose policy changes.
    pub component: String,
    /// Grant or revoke.
    pub direction: Direction,
    /// What is granted or revoked.
    pub capability: Capability,
}

impl PolicyChange {
    /// The changed policy (pure; nothing is checked against the machine).
    ///
    /// # Errors
    ///
    /// What `weld-policy` refuses: an invalid URI, host or key, a grant a
    /// deny rule would cancel, revoking what is not granted.
    pub fn apply_to(&self, policy: &Policy) -> Result<Policy, weld_policy::PolicyError> {
        match (&self.capability, self.direction) {
            (Capability::Storage { uri, access }, Direction::Grant) => {
                policy.grant_storage(uri, access)
            }
            (Capability::Storage { uri, access }, Direction::Revoke) => {
                policy.revoke_storage(uri, access)
            }
            (Capability::Network { target }, Direction::Grant) => policy.grant_network(target),
            (Capability::Network { target }, Direction::Revoke) => policy.revoke_network(target),
            (Capability::Env { key, secret }, Direction::Grant) => {
                let from = if *secret {
                    EnvSource::Secret
                } else {
                    EnvSource::Host
                };
                policy.grant_env(key, from)
            }
            (Capability::Env { key, .. }, Direction::Revoke) => policy.revoke_env(key),
        }
    }

    /// One line for logs and the audit record:
    /// `grant storage fs:///x/** access=read,write`.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} {} {}",
            self.direction.as_str(),
            self.capability.kind(),
            self.capability.target()
        );
        match &self.capability {
            Capability::Storage { access, .. } => {
                let _ = write!(out, " access={}", access_text(access));
            }
            Capability::Env { secret: true, .. } => out.push_str(" from=secret"),
            _ => {}
        }
        out
    }

    /// What the change would let the component's tools do (or stop them
    /// doing), in words a person can judge. For a storage grant, `resolved`
    /// is what the URI resolves to: the path shown is that one.
    pub fn meaning(&self, resolved: Option<&Pin>) -> String {
        let who = format!("The tools of component `{}`", self.component);
        match (&self.capability, self.direction) {
            (Capability::Storage { uri, access }, Direction::Grant) => {
                let write = access.contains(&Access::Write);
                let Some(pin) = resolved else {
                    let what = if write {
                        "read, create, change and delete files"
                    } else {
                        "read files"
                    };
                    return format!("{who} could {what} in `{uri}` (the whole tree)");
                };
                let real = pin.real.display();
                let what = match (pin.pinned, write) {
                    (weld_policy::Pinned::File(_), false) => format!("read the file {real}"),
                    (weld_policy::Pinned::File(_), true) => {
                        format!("read and change the file {real}")
                    }
                    (_, false) => format!("read every file in the directory {real} and below it"),
                    (_, true) => format!(
                        "read, create, change and delete files in the directory {real} and below it"
                    ),
                };
                match &pin.base {
                    Some(base) => format!(
                        "{who} could {what} (`{uri}`, relative to weld's base directory {})",
                        base.display()
                    ),
                    None => format!("{who} could {what} (`{uri}`)"),
                }
            }
            (Capability::Storage { uri, access }, Direction::Revoke) => {
                format!(
                    "{who} lose {} access to `{uri}`",
                    access_text(access).replace(',', " and ")
                )
            }
            (Capability::Network { target }, Direction::Grant) => {
                match weld_policy::NetworkGrant::parse(target) {
                    Ok(g) => format!(
                        "{who} could {} `{}` on port {}",
                        network_use(g.scheme),
                        g.host,
                        g.port.unwrap_or(443)
                    ),
                    Err(_) => format!("{who} could reach `{target}`"),
                }
            }
            (Capability::Network { target }, Direction::Revoke) => {
                match weld_policy::NetworkGrant::parse(target) {
                    Ok(g) => match g.port {
                        Some(port) => format!(
                            "{who} lose {} access to `{}` on port {port}",
                            g.scheme.to_string().to_uppercase(),
                            g.host
                        ),
                        None => format!("{who} lose all network access to `{}`", g.host),
                    },
                    Err(_) => format!("{who} lose network access to `{target}`"),
                }
            }
            (Capability::Env { key, secret: false }, Direction::Grant) => {
                format!(
                    "{who} could read the environment variable `{key}` from weld's own environment"
                )
            }
            (Capability::Env { key, secret: true }, Direction::Grant) => format!(
                "{who} could read `{key}` from weld's secret store (`weld secret set {} {key}`)",
                self.component
            ),
            (Capability::Env { key, .. }, Direction::Revoke) => {
                format!("{who} lose the environment variable `{key}`")
            }
        }
    }

    /// The `weld grant` / `weld revoke` command that makes this change,
    /// shell-quoted, for a person to run. It names the state directory so
    /// that it changes the policy this server reads, and for a relative
    /// storage URI the base directory this server resolves it against.
    pub fn command(&self, state_dir: &Path, base: Option<&Path>) -> String {
        let mut words: Vec<String> = vec![
            "weld".into(),
            "--state-dir".into(),
            state_dir.display().to_string(),
        ];
        if let (Capability::Storage { uri, .. }, Some(base)) = (&self.capability, base)
            && uri.starts_with("fs://.")
        {
            words.push("--base-dir".into());
            words.push(base.display().to_string());
        }
        words.extend([
            self.direction.as_str().into(),
            self.component.clone(),
            self.capability.kind().into(),
            self.capability.target().into(),
        ]);
        match &self.capability {
            Capability::Storage { access, .. } => {
                words.push("--access".into());
                words.push(access_text(access));
            }
            Capability::Env { secret: true, .. } => words.push("--secret".into()),
            _ => {}
        }
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The change and what its storage URI resolves to, as one string: an
    /// approval is bound to it, so a path that resolves elsewhere between
    /// the question and the answer (a symlink swapped, a directory
    /// replaced) voids the approval.
    pub fn binding(&self, resolved: Option<&Pin>) -> String {
        let mut out = self.canonical();
        if let Some(pin) = resolved {
            let (kind, identity) = match pin.pinned {
                weld_policy::Pinned::Dir(id) => ("dir", Some(id)),
                weld_policy::Pinned::File(id) => ("file", Some(id)),
                weld_policy::Pinned::Deny => ("deny", None),
            };
            out.push_str(
                &serde_json::json!([
                    pin.real.to_string_lossy(),
                    pin.base.as_ref().map(|b| b.to_string_lossy()),
                    kind,
                    identity.map(|i| [i.dev, i.ino]),
                ])
                .to_string(),
            );
        }
        out
    }

    /// [`PolicyChange::summary`] with the real path a storage grant
    /// resolves to, for the audit record.
    pub fn summary_resolved(&self, resolved: Option<&Pin>) -> String {
        match resolved {
            Some(pin) => format!("{} path={}", self.summary(), pin.real.display()),
            None => self.summary(),
        }
    }

    /// The change as one canonical string: equal strings, equal changes.
    pub fn canonical(&self) -> String {
        let (access, secret) = match &self.capability {
            Capability::Storage { access, .. } => (access_text(access), false),
            Capability::Env { secret, .. } => (String::new(), *secret),
            Capability::Network { .. } => (String::new(), false),
        };
        serde_json::json!([
            self.direction.as_str(),
            self.component,
            self.capability.kind(),
            self.capability.target(),
            access,
            secret,
        ])
        .to_string()
    }
}

/// `read` or `read,write`.
pub fn access_text(access: &[Access]) -> String {
    access
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `word` as one shell word: as it is when that is safe, else in single
/// quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What a grant of `scheme` lets a tool do, for a person approving it.
fn network_use(scheme: weld_policy::Scheme) -> &'static str {
    match scheme {
        weld_policy::Scheme::Https => "make HTTPS requests to",
        weld_policy::Scheme::Http => "make plain (unencrypted) HTTP requests to",
        weld_policy::Scheme::Tcp => "open TCP connections to",
        weld_policy::Scheme::Udp => "send UDP datagrams to",
    }
}
