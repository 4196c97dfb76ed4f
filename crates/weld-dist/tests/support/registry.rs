//! A real OCI registry for tests: Debian's `docker-registry` (CNCF
//! distribution 2.8) on 127.0.0.1 with a free port and a temporary storage
//! directory, optionally behind htpasswd basic auth. It is killed when the
//! value is dropped.
//!
//! Self-contained (std and `tempfile` only) so that other test crates can
//! include it with `#[path = "…/registry.rs"] mod registry;`.

#![allow(dead_code, reason = "each including test binary uses a different part")]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `docker-registry serve`.
pub struct TestRegistry {
    child: Child,
    dir: tempfile::TempDir,
    addr: String,
}

impl TestRegistry {
    /// An anonymous registry (anyone may pull and push).
    pub fn start() -> TestRegistry {
        Self::start_inner(None)
    }

    /// A registry that wants HTTP basic auth with this user and password.
    pub fn start_with_basic_auth(user: &str, password: &str) -> TestRegistry {
        Self::start_inner(Some((user, password)))
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The storage root (`docker/registry/v2/...` below it).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Everything the registry has logged so far (including its access log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The file holding the blob `sha256:<hex>` in storage.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    fn start_inner(basic: Option<(&str, &str)>) -> TestRegistry {
        let binary = find_binary("docker-registry").unwrap_or_else(|| {
            panic!(
                "`docker-registry` is not on PATH; these tests run a real registry: \
                 `apt-get install docker-registry apache2-utils`"
            )
        });
        // A port picked by binding to 0 can be taken again before the
        // registry binds it; a registry that exits for that reason gets
        // another port, any other failure is reported at once.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let auth = match basic {
                Some((user, password)) => {
                    let htpasswd = dir.path().join("htpasswd");
                    write_htpasswd(&htpasswd, user, password);
                    format!(
                        "auth:\n  htpasswd:\n    realm: weld-test\n    path: {}\n",
                        htpasswd.display()
                    )
                }
                None => String::new(),
            };
            let addr = format!("127.0.0.1:{}", free_port());
            let config = dir.path().join("config.yml");
            let yaml = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {addr}\n  secret: weld-test-secret\n\
                 {auth}",
                storage = dir.path().join("storage").display(),
            );
            std::fs::write(&config, yaml).expect("write the registry config");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("a log file");
            let child = Command::new(&binary)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("a log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut registry = TestRegistry { child, dir, addr };
            if registry.wait_until_up() {
                return registry;
            }
            let log = registry.log();
            if !log.contains("address already in use") {
                panic!("docker-registry did not come up; its log:\n{log}");
            }
        }
        panic!("docker-registry found no free port in 5 attempts");
    }

    /// Polls `GET /v2/` until it answers 200 or 401 (up), the process
    /// exits (no), or 10 s pass (no).
    fn wait_until_up(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut stream) = TcpStream::connect(&self.addr) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let request = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
                if stream.write_all(request.as_bytes()).is_ok() {
                    let mut answer = [0u8; 12];
                    if stream.read_exact(&mut answer).is_ok() {
                        let status = &answer[9..12];
                        if status == b"200" || status == b"401" {
                            return true;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A bcrypt htpasswd line, as distribution requires (`htpasswd -Bbn`).
fn write_htpasswd(path: &Path, user: &str, password: &str) {
    let htpasswd = find_binary("htpasswd")
        .unwrap_or_else(|| panic!("`htpasswd` is not on PATH: `apt-get install apache2-utils`"));
    let output = Command::new(htpasswd)
        .args(["-Bbn", user, password])
        .output()
        .expect("run htpasswd");
    assert!(output.status.success(), "htpasswd failed: {output:?}");
    std::fs::write(path, output.stdout).expect("write the htpasswd file");
}
