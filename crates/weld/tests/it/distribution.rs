//! Distribution against a real registry (Debian's `docker-registry`, on
//! loopback): `weld publish` + `weld sign`, then `weld add oci://…`
//! accepted only when signed by a trusted signer over exactly the digest
//! installed — and refused, with nothing changed, when unsigned, signed by
//! another key, re-pointed, tampered with, over the cap, unreachable or
//! lying, or killed midway.

use std::path::{Path, PathBuf};

use rmcp::model::CallToolRequestParams;

use crate::common::{Dirs, component, weld_ok};
use crate::registry::TestRegistry;
use crate::tamper::{Rule, Tamper};

/// A registry, weld's directories, a publisher key pair, and a weld.toml
/// that trusts the key for `oci://ADDR/tools` (and lets `oci://ADDR/dev` in
/// unsigned).
struct World {
    registry: TestRegistry,
    dirs: Dirs,
    keys: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let registry = TestRegistry::start();
        let dirs = Dirs::new();
        let keys = tempfile::tempdir().expect("keys");
        let world = Self {
            registry,
            dirs,
            keys,
        };
        weld_ok(&world.dirs, &["keygen", "-o", &world.key("publisher")]).await;
        weld_ok(&world.dirs, &["keygen", "-o", &world.key("stranger")]).await;
        world.configure(world.registry.addr(), "");
        world
    }

    fn key(&self, name: &str) -> String {
        self.keys.path().join(name).display().to_string()
    }

    fn config_dir(&self) -> PathBuf {
        self.dirs.state.with_file_name("config").join("weld")
    }

    /// Writes weld.toml trusting the publisher's key for `addr`'s `tools`
    /// repositories (and plain HTTP to `addr` and the real registry).
    fn configure(&self, addr: &str, extra: &str) {
        self.configure_key(addr, extra, &format!("{}.pub", self.key("publisher")));
    }

    /// Writes weld.toml trusting the public key file `key` for `addr`'s
    /// `tools` repositories.
    fn configure_key(&self, addr: &str, extra: &str, key: &str) {
        let dir = self.config_dir();
        std::fs::create_dir_all(&dir).expect("config dir");
        let real = self.registry.addr();
        let text = format!(
            "[distribution]\ninsecure_registries = [\"{real}\", \"{addr}\"]\n{extra}\n\
             [[trust]]\nscope = \"oci://{addr}/tools\"\nkeys = [\"{key}\"]\n\n\
             [[unsigned]]\nscope = \"oci://{addr}/dev\"\n"
        );
        std::fs::write(dir.join("weld.toml"), text).expect("weld.toml");
    }

    fn oci(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.registry.addr())
    }

    async fn publish(&self, file: &Path, reference: &str, signer: Option<&str>, format: &str) {
        let mut args = vec![
            "publish".to_string(),
            file.display().to_string(),
            reference.to_string(),
            "--format".into(),
            format.into(),
        ];
        if let Some(signer) = signer {
            args.push("--key".into());
            args.push(format!("{}.key", self.key(signer)));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        weld_ok(&self.dirs, &args).await;
    }

    async fn add(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["add", "--quiet"];
        all.extend_from_slice(args);
        self.dirs.run(&all).await
    }

    fn index(&self) -> String {
        std::fs::read_to_string(self.dirs.state.join("index.json")).unwrap_or_default()
    }

    fn blobs(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dirs.state.join("blobs/sha256"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts `output` failed saying `what`, and the state is as `before`.
fn refused(
    world: &World,
    output: &std::process::Output,
    what: &str,
    before: &(String, Vec<String>),
) {
    assert!(!output.status.success(), "installed: {}", stdout(output));
    assert!(
        stderr(output).contains(what),
        "expected `{what}` in: {}",
        stderr(output)
    );
    assert_eq!(&(world.index(), world.blobs()), before, "the state changed");
}

#[tokio::test]
async fn a_signed_component_installs_by_tag_and_by_digest_in_both_signature_formats() {
    let world = World::new().await;
    for format in ["simple", "bundle"] {
        let reference = world.oci(&format!("tools/text-{format}:1.0"));
        world
            .publish(&component("text"), &reference, Some("publisher"), format)
            .await;
        let output = world
            .add(&[&reference, "--name", &format!("by-tag-{format}")])
            .await;
        assert!(output.status.success(), "{}", stderr(&output));
        let printed = stdout(&output);
        assert!(printed.contains("signed by key sha256:"), "{printed}");
        assert!(printed.contains("tool by-tag-"), "{printed}");
    }
    // By digest: the digest the simple-signed tag resolves to.
    let manifest = world.registry.digest("tools/text-simple", "1.0").await;
    let by_digest = format!("{}@{manifest}", world.oci("tools/text-simple"));
    let output = world.add(&[&by_digest, "--name", "by-digest"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let list = stdout(&world.dirs.run(&["list"]).await);
    assert!(list.contains("by-digest"), "{list}");
    assert!(list.contains("signed by key sha256:"), "{list}");
    // Each install is audited with its source and signer.
    let installs: Vec<_> = crate::common::audit_lines(&world.dirs)
        .into_iter()
        .filter(|r| r["tool"] == "weld add")
        .collect();
    assert_eq!(installs.len(), 3, "{installs:?}");
    assert!(
        installs.iter().all(|r| r["change"]
            .as_str()
            .is_some_and(|c| c.contains("(signed by key sha256:"))),
        "{installs:?}"
    );
}

#[tokio::test]
async fn a_digest_already_stored_and_compiled_is_neither_downloaded_nor_compiled_again() {
    let world = World::new().await;
    world
        .publish(
            &component("text"),
            &world.oci("tools/text:1"),
            Some("publisher"),
            "simple",
        )
        .await;
    let manifest = world.registry.digest("tools/text", "1").await;
    let layer = world
        .registry
        .layers("tools/text", &manifest)
        .await
        .remove(0);
    let proxy = Tamper::start(
        world.registry.addr(),
        Rule::Count {
            path: layer.clone(),
        },
    )
    .await;
    world.configure(&proxy.addr().to_string(), "");
    let reference = format!("oci://{}/tools/text:1", proxy.addr());
    let first = world.add(&[&reference]).await;
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(
        proxy.hits(),
        1,
        "the first install downloads the layer once"
    );
    let artefact = std::fs::read_dir(world.dirs.cache.join("compiled"))
        .expect("compiled")
        .flatten()
        .flat_map(|engine| std::fs::read_dir(engine.path()).expect("engine").flatten())
        .find(|f| f.file_name().to_string_lossy().ends_with(".cwasm"))
        .expect("an artefact")
        .path();
    let compiled_at = std::fs::metadata(&artefact)
        .expect("artefact")
        .modified()
        .expect("mtime");

    let again = world.add(&[&reference, "--name", "again"]).await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(proxy.hits(), 1, "the stored digest was downloaded again");
    let after = std::fs::metadata(&artefact)
        .expect("artefact")
        .modified()
        .expect("mtime");
    assert_eq!(compiled_at, after, "the stored digest was compiled again");
    assert!(
        stdout(&again).contains("signed by key sha256:"),
        "{}",
        stdout(&again)
    );
}

#[tokio::test]
async fn unsigned_or_untrusted_components_are_refused_and_nothing_is_written() {
    let world = World::new().await;
    // Each in its own repository: the same bytes pushed twice in one second
    // are one manifest, and a signature for one would be for both.
    let unsigned = world.oci("tools/unsigned:1");
    world
        .publish(&component("text"), &unsigned, None, "both")
        .await;
    let stranger = world.oci("tools/stranger:1");
    world
        .publish(&component("text"), &stranger, Some("stranger"), "both")
        .await;
    let nobody = world.oci("elsewhere/text:1");
    world
        .publish(&component("text"), &nobody, Some("publisher"), "both")
        .await;
    let before = (world.index(), world.blobs());

    refused(
        &world,
        &world.add(&[&unsigned]).await,
        "holds no signature",
        &before,
    );
    refused(
        &world,
        &world.add(&[&stranger]).await,
        "not signed by a trusted signer",
        &before,
    );
    refused(
        &world,
        &world.add(&[&nobody]).await,
        "no signer is trusted",
        &before,
    );

    // An explicit opt-out never overrides a publisher's rule …
    refused(
        &world,
        &world.add(&[&unsigned, "--allow-unsigned"]).await,
        "holds no signature",
        &before,
    );
    // … but lets in what no rule covers, and says so in the listing.
    let dev = world.oci("dev/text:1");
    world.publish(&component("text"), &dev, None, "both").await;
    let output = world.add(&[&dev]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let list = stdout(&world.dirs.run(&["list"]).await);
    assert!(list.contains("UNSIGNED"), "{list}");
}

#[tokio::test]
async fn a_tag_moved_to_unsigned_content_after_signing_is_refused() {
    let world = World::new().await;
    let reference = world.oci("tools/text:1.0");
    world
        .publish(&component("text"), &reference, Some("publisher"), "both")
        .await;
    // Same tag, other bytes, no signature.
    world
        .publish(&component("add"), &reference, None, "both")
        .await;
    let before = (world.index(), world.blobs());
    refused(
        &world,
        &world.add(&[&reference]).await,
        "holds no signature",
        &before,
    );
}

#[tokio::test]
async fn a_valid_signature_copied_onto_another_digest_is_refused() {
    let world = World::new().await;
    let signed = world.oci("tools/text:signed");
    world
        .publish(&component("text"), &signed, Some("publisher"), "simple")
        .await;
    let other = world.oci("tools/text:other");
    world
        .publish(&component("add"), &other, None, "simple")
        .await;
    let signed_digest = world.registry.digest("tools/text", "signed").await;
    let other_digest = world.registry.digest("tools/text", "other").await;
    // The publisher's signature manifest, re-tagged for the other digest.
    world
        .registry
        .copy_manifest(
            "tools/text",
            &format!("sha256-{}.sig", &signed_digest["sha256:".len()..]),
            &format!("sha256-{}.sig", &other_digest["sha256:".len()..]),
        )
        .await;
    let before = (world.index(), world.blobs());
    let output = world.add(&[&other]).await;
    refused(&world, &output, &signed_digest, &before);
}

#[tokio::test]
async fn tampered_manifests_layers_and_policy_layers_are_refused() {
    let world = World::new().await;
    let policy = tempfile::tempdir().expect("dir");
    let text = policy.path().join("text.wasm");
    std::fs::copy(component("text"), &text).expect("copy");
    std::fs::write(text.with_extension("policy.yaml"), "version: \"1.0\"\n").expect("policy");
    world
        .publish(&text, &world.oci("tools/text:1"), Some("publisher"), "both")
        .await;
    let manifest = world.registry.digest("tools/text", "1").await;
    let layers = world.registry.layers("tools/text", &manifest).await;
    assert_eq!(layers.len(), 2, "component and policy layers: {layers:?}");
    for target in [manifest.clone(), layers[0].clone(), layers[1].clone()] {
        let proxy = Tamper::start(
            world.registry.addr(),
            Rule::Flip {
                path: target.clone(),
            },
        )
        .await;
        world.configure(&proxy.addr().to_string(), "");
        let reference = format!("oci://{}/tools/text:1", proxy.addr());
        let before = (world.index(), world.blobs());
        let output = world.add(&[&reference, "--accept-policy"]).await;
        refused(&world, &output, "does not match its digest", &before);
        assert!(proxy.hits() > 0, "the proxy changed nothing for {target}");
    }
}

#[tokio::test]
async fn a_layer_over_the_size_cap_is_refused_before_it_is_downloaded() {
    let world = World::new().await;
    let big = tempfile::tempdir().expect("dir");
    let file = big.path().join("big.wasm");
    std::fs::write(&file, vec![0u8; 2 * 1024 * 1024]).expect("big");
    world
        .publish(
            &file,
            &world.oci("tools/big:1"),
            Some("publisher"),
            "simple",
        )
        .await;
    let addr = world.registry.addr().to_string();
    world.configure(&addr, "max_component_mib = 1");
    let before = (world.index(), world.blobs());
    refused(
        &world,
        &world.add(&[&world.oci("tools/big:1")]).await,
        "cap",
        &before,
    );
}

#[tokio::test]
async fn a_registry_that_is_down_or_lies_changes_nothing() {
    let world = World::new().await;
    let before = (world.index(), world.blobs());
    // Nothing listens on a port just closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    world.configure(&closed.to_string(), "");
    let output = world.add(&[&format!("oci://{closed}/tools/text:1")]).await;
    refused(&world, &output, &closed.to_string(), &before);

    let liar = Tamper::start(world.registry.addr(), Rule::Garbage).await;
    world.configure(&liar.addr().to_string(), "");
    let output = world
        .add(&[&format!("oci://{}/tools/text:1", liar.addr())])
        .await;
    refused(&world, &output, &liar.addr().to_string(), &before);
}

#[tokio::test]
async fn plain_http_is_refused_for_a_registry_not_listed_as_insecure() {
    let world = World::new().await;
    let reference = world.oci("tools/text:1");
    world
        .publish(&component("text"), &reference, Some("publisher"), "simple")
        .await;
    // The same registry, reached as localhost: not in insecure_registries.
    let port = world
        .registry
        .addr()
        .rsplit(':')
        .next()
        .expect("port")
        .to_string();
    let dir = world.config_dir();
    std::fs::write(
        dir.join("weld.toml"),
        format!(
            "[distribution]\ninsecure_registries = [\"{}\"]\n\n[[trust]]\n\
             scope = \"oci://localhost:{port}/tools\"\nkeys = [\"{}.pub\"]\n",
            world.registry.addr(),
            world.key("publisher")
        ),
    )
    .expect("toml");
    let before = (world.index(), world.blobs());
    let output = world
        .add(&[&format!("oci://localhost:{port}/tools/text:1")])
        .await;
    refused(&world, &output, "insecure", &before);
}

#[tokio::test]
async fn killing_weld_mid_download_leaves_the_state_unchanged_and_readable() {
    let world = World::new().await;
    weld_ok(
        &world.dirs,
        &["add", &component("add").display().to_string()],
    )
    .await;
    world
        .publish(
            &component("text"),
            &world.oci("tools/text:1"),
            Some("publisher"),
            "simple",
        )
        .await;
    let manifest = world.registry.digest("tools/text", "1").await;
    let layer = world
        .registry
        .layers("tools/text", &manifest)
        .await
        .remove(0);
    let proxy = Tamper::start(world.registry.addr(), Rule::Stall { path: layer }).await;
    world.configure(&proxy.addr().to_string(), "");
    let before = (world.index(), world.blobs());
    let mut child = world
        .dirs
        .weld()
        .args([
            "add",
            "--quiet",
            &format!("oci://{}/tools/text:1", proxy.addr()),
        ])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until the download has begun, then kill -9.
    // Up to 30 s: a fresh `weld add` resolves the tag and verifies its
    // signature first, slowly on a busy machine; the loop ends at the hit.
    for _ in 0..1200 {
        if proxy.hits() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(proxy.hits() > 0, "the download never started");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    child.start_kill().expect("kill");
    child.wait().await.expect("wait");

    assert_eq!(world.index(), before.0, "the index changed");
    let list = world.dirs.run(&["list"]).await;
    assert!(list.status.success(), "{}", stderr(&list));
    assert!(stdout(&list).contains("add"), "{}", stdout(&list));
    // What the kill left behind is only temporary, and gc takes it.
    weld_ok(&world.dirs, &["cache", "gc"]).await;
    assert_eq!(world.blobs(), before.1);
}

#[tokio::test]
async fn sync_installs_exactly_the_lock_and_refuses_a_changed_policy() {
    let world = World::new().await;
    let dir = tempfile::tempdir().expect("dir");
    let text = dir.path().join("text.wasm");
    std::fs::copy(component("text"), &text).expect("copy");
    std::fs::write(text.with_extension("policy.yaml"), "version: \"1.0\"\n").expect("policy");
    world
        .publish(&text, &world.oci("tools/text:1"), Some("publisher"), "both")
        .await;
    let output = world
        .add(&[&world.oci("tools/text:1"), "--accept-policy"])
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let lock = world.config_dir().join("weld.lock");
    assert!(
        std::fs::read_to_string(&lock)
            .expect("lock")
            .contains("policy = \"sha256:")
    );

    // A second machine: empty state, same config, the lock and its
    // policies copied; the tag moved meanwhile.
    world
        .publish(
            &component("add"),
            &world.oci("tools/text:1"),
            Some("publisher"),
            "both",
        )
        .await;
    let second = Dirs::new();
    let config = second.state.with_file_name("config").join("weld");
    std::fs::create_dir_all(config.join("policies")).expect("dirs");
    for file in ["weld.toml", "weld.lock", "policies/text.yaml"] {
        std::fs::copy(world.config_dir().join(file), config.join(file)).expect("copy");
    }
    weld_ok(&second, &["sync", "--quiet"]).await;
    let first_index: serde_json::Value = serde_json::from_str(&world.index()).expect("json");
    let second_index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(second.state.join("index.json")).expect("index"),
    )
    .expect("json");
    assert_eq!(
        first_index["components"]["text"]["digest"], second_index["components"]["text"]["digest"],
        "sync followed the moved tag"
    );

    // A policy changed by hand after locking is not applied.
    let third = Dirs::new();
    let config = third.state.with_file_name("config").join("weld");
    std::fs::create_dir_all(config.join("policies")).expect("dirs");
    for file in ["weld.toml", "weld.lock"] {
        std::fs::copy(world.config_dir().join(file), config.join(file)).expect("copy");
    }
    std::fs::write(
        config.join("policies/text.yaml"),
        "version: \"1.0\"\nnetwork:\n  allow:\n    - host: \"*\"\n",
    )
    .expect("policy");
    let output = third.run(&["sync", "--quiet"]).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("changed after the lock was written"),
        "{}",
        stderr(&output)
    );
}

fn openssl(args: &[&str], dir: &Path) -> std::process::Output {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (apt-get install openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        stderr(&output)
    );
    output
}

#[tokio::test]
async fn a_signature_weld_makes_verifies_with_openssl() {
    let world = World::new().await;
    let reference = world.oci("tools/text:1");
    world
        .publish(&component("text"), &reference, Some("publisher"), "simple")
        .await;
    let digest = world.registry.digest("tools/text", "1").await;
    let tag = format!("sha256-{}.sig", &digest["sha256:".len()..]);
    let (bytes, _) = world.registry.manifest("tools/text", &tag).await;
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload = world
        .registry
        .blob("tools/text", layer["digest"].as_str().expect("digest"))
        .await;
    let claimed: serde_json::Value = serde_json::from_slice(&payload).expect("payload");
    assert_eq!(
        claimed["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("payload"), &payload).expect("payload");
    let signature = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .expect("signature annotation");
    std::fs::write(dir.path().join("sig.b64"), signature).expect("sig");
    openssl(
        &["base64", "-d", "-A", "-in", "sig.b64", "-out", "sig.der"],
        dir.path(),
    );
    let public = format!("{}.pub", world.key("publisher"));
    let verified = openssl(
        &[
            "dgst",
            "-sha256",
            "-verify",
            &public,
            "-signature",
            "sig.der",
            "payload",
        ],
        dir.path(),
    );
    assert_eq!(stdout(&verified).trim(), "Verified OK");
}

#[tokio::test]
async fn a_signature_openssl_makes_over_a_cosign_payload_verifies_with_weld() {
    let world = World::new().await;
    let dir = tempfile::tempdir().expect("dir");
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "o.key",
        ],
        dir.path(),
    );
    openssl(
        &["pkey", "-in", "o.key", "-pubout", "-out", "o.pub"],
        dir.path(),
    );
    let addr = world.registry.addr().to_string();
    world.configure_key(&addr, "", &dir.path().join("o.pub").display().to_string());
    let reference = world.oci("tools/text:1");
    world
        .publish(&component("text"), &reference, None, "simple")
        .await;
    let digest = world.registry.digest("tools/text", "1").await;
    // cosign's payload, as cosign writes it, signed by openssl.
    let payload = format!(
        "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"{addr}/tools/text\"}},\
         \"image\":{{\"docker-manifest-digest\":\"{digest}\"}},\
         \"type\":\"cosign container image signature\"}},\"optional\":null}}"
    );
    std::fs::write(dir.path().join("payload"), &payload).expect("payload");
    openssl(
        &[
            "dgst", "-sha256", "-sign", "o.key", "-out", "sig.der", "payload",
        ],
        dir.path(),
    );
    let signature = openssl(&["base64", "-A", "-in", "sig.der"], dir.path());
    let signature = stdout(&signature).trim().to_string();
    let payload_digest = world
        .registry
        .push_blob("tools/text", payload.clone().into_bytes())
        .await;
    let config = b"{}".to_vec();
    let config_digest = world.registry.push_blob("tools/text", config.clone()).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
        "layers": [{
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "size": payload.len(),
            "digest": payload_digest,
            "annotations": {"dev.cosignproject.cosign/signature": signature}
        }]
    });
    world
        .registry
        .put_manifest(
            "tools/text",
            &format!("sha256-{}.sig", &digest["sha256:".len()..]),
            serde_json::to_vec(&manifest).expect("json"),
            "application/vnd.oci.image.manifest.v1+json",
        )
        .await;
    let output = world.add(&[&reference]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("signed by key sha256:"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn a_model_install_request_is_verified_then_installed_only_when_the_person_approves() {
    use crate::common::{legacy, text};
    use crate::manage::{Answer, Person, call_on, serve_with};
    let world = World::new().await;
    let reference = world.oci("tools/text:1");
    world
        .publish(&component("text"), &reference, Some("publisher"), "both")
        .await;
    let unsigned = world.oci("tools/other:1");
    world
        .publish(&component("add"), &unsigned, None, "both")
        .await;

    let declines = Person::new(Answer::SayNo);
    let client = serve_with(&world.dirs, &[], declines.clone(), legacy()).await;
    // Untrusted: refused before anyone is asked.
    let refused = call_on(
        &client,
        "weld_request_install",
        serde_json::json!({"source": unsigned}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text(&refused).contains("holds no signature"),
        "{}",
        text(&refused)
    );
    assert!(declines.shown().is_empty(), "{:?}", declines.shown());
    // Trusted, but the person says no.
    let said_no = call_on(
        &client,
        "weld_request_install",
        serde_json::json!({"source": reference}),
    )
    .await;
    assert_eq!(said_no.is_error, Some(true), "{}", text(&said_no));
    let shown = declines.shown();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0].contains("signed by: key sha256:"), "{}", shown[0]);
    assert!(
        !world.index().contains("\"text\""),
        "installed without approval"
    );
    client.cancel().await.expect("close");

    let approves = Person::new(Answer::Approve);
    let client = serve_with(&world.dirs, &[], approves.clone(), legacy()).await;
    let installed = call_on(
        &client,
        "weld_request_install",
        serde_json::json!({"source": reference}),
    )
    .await;
    assert_eq!(installed.is_error, Some(false), "{}", text(&installed));
    assert!(world.index().contains("\"text\""), "{}", world.index());
    let record = crate::common::audited(&world.dirs, "weld_request_install", "applied").await;
    assert!(
        record["change"]
            .as_str()
            .is_some_and(|c| c.contains("signed by key")),
        "{record}"
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn install_requests_beyond_two_being_fetched_are_refused_not_queued() {
    use crate::common::{legacy, text};
    use crate::manage::{Answer, Person, serve_with};
    let world = World::new().await;
    world
        .publish(
            &component("text"),
            &world.oci("tools/text:1"),
            Some("publisher"),
            "simple",
        )
        .await;
    let manifest = world.registry.digest("tools/text", "1").await;
    let layer = world
        .registry
        .layers("tools/text", &manifest)
        .await
        .remove(0);
    let proxy = Tamper::start(world.registry.addr(), Rule::Stall { path: layer }).await;
    world.configure(&proxy.addr().to_string(), "");
    let person = Person::new(Answer::Approve);
    let client = serve_with(&world.dirs, &[], person.clone(), legacy()).await;
    let source = format!("oci://{}/tools/text:1", proxy.addr());
    let params = |name: &str| {
        let mut params = CallToolRequestParams::new("weld_request_install");
        params.arguments = serde_json::json!({"source": source, "name": name})
            .as_object()
            .cloned();
        params
    };
    // Two downloads stall halfway…
    let stalled: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|name| {
            let peer = client.peer().clone();
            let params = params(name);
            tokio::spawn(async move { peer.call_tool(params).await })
        })
        .collect();
    for _ in 0..1200 {
        if proxy.hits() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(proxy.hits() >= 2, "the downloads never started");
    // …and a third request is refused at once, fetching nothing.
    let third = client.call_tool(params("three")).await.expect("tools/call");
    assert_eq!(third.is_error, Some(true));
    assert!(
        text(&third).contains("being fetched already"),
        "{}",
        text(&third)
    );
    assert_eq!(proxy.hits(), 2, "the refused request downloaded");
    assert!(person.shown().is_empty());
    for task in stalled {
        task.abort();
    }
}

#[tokio::test]
async fn update_shows_what_changed_and_installs_only_when_accepted() {
    let world = World::new().await;
    let reference = world.oci("tools/text:1");
    world
        .publish(&component("text"), &reference, Some("publisher"), "both")
        .await;
    let output = world.add(&[&reference]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let installed = world.index();
    // The tag moves to another component, signed by the same publisher.
    world
        .publish(&component("hostile"), &reference, Some("publisher"), "both")
        .await;
    let asked = world.dirs.run(&["update", "text", "--quiet"]).await;
    assert!(!asked.status.success(), "updated without being accepted");
    let shown = stdout(&asked);
    assert!(shown.contains("NEW IMPORT: wasi:"), "{shown}");
    assert!(shown.contains("not updated"), "{shown}");
    assert_eq!(world.index(), installed);

    let accepted = world
        .dirs
        .run(&["update", "text", "--quiet", "--yes"])
        .await;
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    assert_ne!(world.index(), installed);
    let again = world.dirs.run(&["update", "text", "--quiet"]).await;
    assert!(stdout(&again).contains("up to date"), "{}", stdout(&again));
}

#[tokio::test]
async fn a_locked_add_installs_the_locked_digest_even_after_the_tag_moved() {
    let world = World::new().await;
    let reference = world.oci("tools/text:1");
    world
        .publish(&component("text"), &reference, Some("publisher"), "both")
        .await;
    let output = world.add(&[&reference]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let digest = |index: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(index).expect("json")["components"]["text"]
            ["digest"]
            .clone()
    };
    let locked_digest = digest(&world.index());
    let lock = world.config_dir().join("weld.lock");
    let locked = std::fs::read_to_string(&lock).expect("lock");
    // The tag moves; the tool is removed (which rewrites the lock), and the
    // lock as it was comes back, as on another machine.
    world
        .publish(&component("add"), &reference, Some("publisher"), "both")
        .await;
    weld_ok(&world.dirs, &["remove", "text"]).await;
    std::fs::write(&lock, &locked).expect("lock");

    let output = world.add(&[&reference, "--locked"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        digest(&world.index()),
        locked_digest,
        "--locked followed the tag"
    );

    let output = world.add(&[&reference, "--force"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_ne!(
        digest(&world.index()),
        locked_digest,
        "without --locked the tag is resolved"
    );
}

#[tokio::test]
async fn an_https_tool_installs_with_a_trusted_signature_beside_it_or_the_digest_given() {
    use crate::https::HttpsServer;
    let world = World::new().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("text.wasm");
    std::fs::copy(component("text"), &file).expect("copy");
    let bytes = std::fs::read(&file).expect("read");
    let sign = |signer: &str| {
        let key = format!("{}.key", world.key(signer));
        let file = file.display().to_string();
        let dirs = &world.dirs;
        async move {
            weld_ok(dirs, &["sign", &file, "--key", &key]).await;
            std::fs::read(format!("{file}.sig")).expect("signature")
        }
    };
    let good = sign("publisher").await;
    let bad = sign("stranger").await;
    let files = std::collections::HashMap::from([
        ("good/text.wasm".to_string(), bytes.clone()),
        ("good/text.wasm.sig".to_string(), good),
        ("bad/text.wasm".to_string(), bytes.clone()),
        ("bad/text.wasm.sig".to_string(), bad),
        ("none/text.wasm".to_string(), bytes.clone()),
    ]);
    let server = HttpsServer::start(files).await;
    std::fs::write(
        world.config_dir().join("weld.toml"),
        format!(
            "[[trust]]\nscope = \"{}\"\nkeys = [\"{}.pub\"]\n",
            server.url(""),
            world.key("publisher")
        ),
    )
    .expect("weld.toml");
    let add = |args: Vec<String>| {
        let mut cmd = world.dirs.weld();
        cmd.arg("add")
            .arg("--quiet")
            .args(args)
            .env("SSL_CERT_FILE", server.ca());
        async move {
            cmd.stdin(std::process::Stdio::null())
                .output()
                .await
                .expect("weld add")
        }
    };
    let before = (world.index(), world.blobs());
    let output = add(vec![server.url("bad/text.wasm")]).await;
    refused(&world, &output, "not signed by a trusted signer", &before);
    let output = add(vec![server.url("none/text.wasm")]).await;
    refused(&world, &output, "no signature beside it", &before);
    let wrong = format!("sha256:{}", "0".repeat(64));
    let output = add(vec![server.url("none/text.wasm"), "--digest".into(), wrong]).await;
    refused(&world, &output, "expected sha256:0000", &before);

    let output = add(vec![server.url("good/text.wasm")]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("signed by key sha256:"),
        "{}",
        stdout(&output)
    );
    let digest = crate::registry::sha256(&bytes);
    let output = add(vec![
        server.url("none/text.wasm"),
        "--digest".into(),
        digest,
        "--name".into(),
        "pinned".into(),
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
}

#[tokio::test]
async fn an_artifact_another_registry_client_copied_installs_and_is_the_same_digest() {
    // skopeo (containers/image) reads weld's artifact and writes it again
    // into another repository, its own way; weld pulls what skopeo wrote.
    let world = World::new().await;
    let source = world.oci("tools/text:1");
    world
        .publish(&component("text"), &source, Some("publisher"), "simple")
        .await;
    let addr = world.registry.addr();
    let copied = tokio::process::Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--preserve-digests",
            &format!("docker://{addr}/tools/text:1"),
            &format!("docker://{addr}/tools/copied:1"),
        ])
        .output()
        .await
        .expect("skopeo (apt-get install skopeo)");
    assert!(copied.status.success(), "skopeo: {}", stderr(&copied));
    let original = world.registry.digest("tools/text", "1").await;
    assert_eq!(world.registry.digest("tools/copied", "1").await, original);
    // The signature stayed with the original repository: the copy is
    // refused until it is signed where it now is.
    let reference = world.oci("tools/copied:1");
    let before = (world.index(), world.blobs());
    refused(
        &world,
        &world.add(&[&reference]).await,
        "holds no signature",
        &before,
    );
    let key = format!("{}.key", world.key("publisher"));
    weld_ok(&world.dirs, &["sign", &reference, "--key", &key]).await;
    let output = world.add(&[&reference]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("signed by key sha256:"),
        "{}",
        stdout(&output)
    );
    // The lock names the manifest skopeo wrote: the digest weld published.
    let lock = std::fs::read_to_string(world.config_dir().join("weld.lock")).expect("lock");
    assert!(
        lock.contains(&format!("manifest = \"{original}\"")),
        "{lock}"
    );
}
