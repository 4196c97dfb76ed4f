//! Registry credentials from the user's docker `config.json`: `auths`
//! entries (base64 `auth`, or `username`/`password`, or `registrytoken`), and
//! — only when the user opted in — the `credHelpers`/`credsStore` programs.
//!
//! Credential helpers are programs found on `PATH`; running one because a
//! file said so is a decision the user makes (`Config::credential_helpers`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use crate::{Config, DistError};

/// The parts of `config.json` weld reads.
#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    auths: HashMap<String, Entry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct Entry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    registrytoken: Option<String>,
    identitytoken: Option<String>,
}

/// Credentials as configured for each registry.
#[derive(Debug, Default)]
pub(crate) struct DockerConfig {
    path: Option<PathBuf>,
    auths: HashMap<String, Entry>,
    creds_store: Option<String>,
    cred_helpers: HashMap<String, String>,
}

/// The file `config.docker_config` names, or the default one if it exists.
fn config_path(config: &Config) -> Option<PathBuf> {
    if let Some(path) = &config.docker_config {
        return Some(path.clone());
    }
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
    };
    let path = dir.join("config.json");
    path.is_file().then_some(path)
}

impl DockerConfig {
    /// Reads the docker config. A file named explicitly must exist; the
    /// default one may be absent. A file that is not valid JSON is an error
    /// naming it, never silently ignored.
    pub(crate) fn load(config: &Config) -> Result<DockerConfig, DistError> {
        let Some(path) = config_path(config) else {
            return Ok(DockerConfig::default());
        };
        let text = std::fs::read(&path).map_err(|source| DistError::Io {
            action: "cannot read the docker config",
            path: path.clone(),
            source,
        })?;
        let file: File = serde_json::from_slice(&text).map_err(|e| DistError::Credentials {
            registry: "every registry".into(),
            reason: format!("{} is not a docker config.json: {e}", path.display()),
        })?;
        let mut auths = HashMap::new();
        for (key, entry) in file.auths {
            auths.insert(registry_of_key(&key).to_owned(), entry);
        }
        Ok(DockerConfig {
            path: Some(path),
            auths,
            creds_store: file.creds_store,
            cred_helpers: file.cred_helpers,
        })
    }

    /// The credentials for `registry`: a helper's first (when allowed), then
    /// the `auths` entry, else anonymous.
    pub(crate) async fn credentials(
        &self,
        registry: &str,
        run_helpers: bool,
        timeout: Duration,
    ) -> Result<RegistryAuth, DistError> {
        if run_helpers
            && let Some(helper) = self.helper_for(registry)
            && let Some(auth) = run_helper(helper, registry, timeout).await?
        {
            return Ok(auth);
        }
        let Some(entry) = aliases(registry).find_map(|name| self.auths.get(name)) else {
            return Ok(RegistryAuth::Anonymous);
        };
        self.decode(registry, entry)
    }

    fn decode(&self, registry: &str, entry: &Entry) -> Result<RegistryAuth, DistError> {
        let bad = |reason: String| DistError::Credentials {
            registry: registry.to_owned(),
            reason: format!("{reason} in {}", self.shown_path()),
        };
        if let Some(token) = &entry.registrytoken {
            return Ok(RegistryAuth::Bearer(token.clone()));
        }
        if let (Some(user), Some(password)) = (&entry.username, &entry.password) {
            return Ok(RegistryAuth::Basic(user.clone(), password.clone()));
        }
        if let Some(encoded) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| bad("the `auth` value is not base64".into()))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| bad("the `auth` value is not UTF-8".into()))?;
            let (user, password) = text
                .split_once(':')
                .ok_or_else(|| bad("the `auth` value is not `user:password`".into()))?;
            return Ok(RegistryAuth::Basic(user.to_owned(), password.to_owned()));
        }
        if entry.identitytoken.is_some() {
            tracing::warn!(
                registry,
                "the docker config holds an identity token for this registry, which weld cannot use; trying anonymously"
            );
        }
        Ok(RegistryAuth::Anonymous)
    }

    fn helper_for(&self, registry: &str) -> Option<&str> {
        aliases(registry)
            .find_map(|name| self.cred_helpers.get(name))
            .or(self.creds_store.as_ref())
            .map(String::as_str)
    }

    fn shown_path(&self) -> String {
        self.path
            .as_deref()
            .map_or_else(|| "the docker config".into(), |p| p.display().to_string())
    }

    /// What to do after `registry` refused us: where credentials go, and
    /// whether a helper is configured but was not run.
    pub(crate) fn hint(&self, registry: &str, run_helpers: bool) -> String {
        let mut hint = format!(
            "add credentials with `docker login {registry}` or to the `auths` of {}",
            self.path.as_deref().map_or_else(
                || "~/.docker/config.json".into(),
                |p| p.display().to_string()
            )
        );
        if !run_helpers && let Some(helper) = self.helper_for(registry) {
            hint.push_str(&format!(
                " (it names the credential helper `docker-credential-{helper}`, which runs only when credential helpers are enabled)"
            ));
        }
        hint
    }
}

/// `https://index.docker.io/v1/` → `index.docker.io`; `host:5000` stays.
fn registry_of_key(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// The names one registry goes by in a docker config (Docker Hub has three).
fn aliases(registry: &str) -> impl Iterator<Item = &str> {
    const HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    let hub = HUB.contains(&registry);
    std::iter::once(registry).chain(HUB.into_iter().filter(move |_| hub))
}

/// Output of `docker-credential-NAME get`.
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Runs `docker-credential-NAME get` with the registry on stdin. A helper
/// that has no credentials for it (non-zero exit) means "none".
async fn run_helper(
    name: &str,
    registry: &str,
    timeout: Duration,
) -> Result<Option<RegistryAuth>, DistError> {
    let bad = |reason: String| DistError::Credentials {
        registry: registry.to_owned(),
        reason,
    };
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid_name {
        return Err(bad(format!("`{name}` is not a credential helper name")));
    }
    let program = format!("docker-credential-{name}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| bad(format!("cannot run `{program}`: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(registry.as_bytes())
            .await
            .map_err(|e| bad(format!("cannot write to `{program}`: {e}")))?;
    }
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| bad(format!("`{program} get` did not answer within {timeout:?}")))?
        .map_err(|e| bad(format!("`{program} get` failed: {e}")))?;
    if !output.status.success() {
        return Ok(None);
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout).map_err(|e| {
        bad(format!(
            "`{program} get` answered something that is not its JSON: {e}"
        ))
    })?;
    if answer.username == "<token>" {
        // An identity token is an OAuth refresh token; the token dance here
        // cannot use it, so say so rather than send it as a password.
        return Err(bad(format!(
            "`{program}` holds an identity token, which weld cannot use; log in with a password or access token"
        )));
    }
    Ok(Some(RegistryAuth::Basic(answer.username, answer.secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_for_tests(path: &std::path::Path) -> Result<DockerConfig, DistError> {
        DockerConfig::load(&Config {
            docker_config: Some(path.to_owned()),
            ..Config::default()
        })
    }

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn auth_entries_are_decoded_by_registry_host() {
        // "dTpw" is base64 of "u:p".
        let (_dir, path) = write(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},
                "127.0.0.1:5000":{"username":"a","password":"b:c"},
                "tok.io":{"registrytoken":"T"}}}"#,
        );
        let config = read_for_tests(&path).unwrap();
        let get = |r: &'static str| config.credentials(r, false, Duration::from_secs(1));
        assert_eq!(
            get("docker.io").await.unwrap(),
            RegistryAuth::Basic("u".into(), "p".into())
        );
        assert_eq!(
            get("127.0.0.1:5000").await.unwrap(),
            RegistryAuth::Basic("a".into(), "b:c".into())
        );
        assert_eq!(
            get("tok.io").await.unwrap(),
            RegistryAuth::Bearer("T".into())
        );
        assert_eq!(get("other.io").await.unwrap(), RegistryAuth::Anonymous);
    }

    #[tokio::test]
    async fn a_broken_config_is_an_error_naming_it() {
        let (_dir, path) = write("{not json");
        let err = read_for_tests(&path).unwrap_err();
        assert!(err.to_string().contains("config.json"), "{err}");
        let (_dir, path) = write(r#"{"auths":{"r.io":{"auth":"!!!"}}}"#);
        let err = read_for_tests(&path)
            .unwrap()
            .credentials("r.io", false, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
    }

    #[tokio::test]
    async fn helpers_are_not_run_unless_enabled_and_the_hint_says_so() {
        let (_dir, path) = write(r#"{"credsStore":"weld-test-absent-helper"}"#);
        let config = read_for_tests(&path).unwrap();
        assert_eq!(
            config
                .credentials("r.io", false, Duration::from_secs(1))
                .await
                .unwrap(),
            RegistryAuth::Anonymous
        );
        assert!(
            config
                .hint("r.io", false)
                .contains("docker-credential-weld-test-absent-helper")
        );
        // Enabled, the missing program is an error that names it.
        let err = config
            .credentials("r.io", true, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("docker-credential-weld-test-absent-helper"),
            "{err}"
        );
    }

    #[test]
    fn helper_names_cannot_be_paths() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt
            .block_on(run_helper("../x", "r.io", Duration::from_secs(1)))
            .unwrap_err();
        assert!(
            err.to_string().contains("not a credential helper name"),
            "{err}"
        );
    }
}
