//! weld-dist against a real registry (Debian's `docker-registry`, CNCF
//! distribution 2.8, which has no referrers API): push, resolve, pull, caps,
//! tampering, auth, failures, and both signature layouts.

#[path = "support/proxy.rs"]
mod proxy;
#[path = "support/registry.rs"]
mod support;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::Duration;

use proxy::{Proxy, Route};
use support::TestRegistry;
use weld_dist::{Config, DistError, FoundSignature, OciReference, Registry, sha256_digest};

fn config(registry: &TestRegistry) -> Config {
    Config {
        insecure_registries: vec![registry.addr().to_owned()],
        timeout: Duration::from_secs(10),
        ..Config::default()
    }
}

fn reference(registry: &TestRegistry, rest: &str) -> OciReference {
    OciReference::parse(&format!("oci://{}/{rest}", registry.addr())).unwrap()
}

/// Bytes standing in for a component (weld-dist moves bytes; it does not
/// look inside).
fn component(size: usize) -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.extend((0..size).map(|i| (i % 251) as u8));
    bytes
}

/// A plain reqwest client for building fixtures by hand (ring, as weld-dist
/// installs it).
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// PUTs a manifest (and blobs) directly, to build what weld would not.
async fn put_raw(
    registry: &TestRegistry,
    repo: &str,
    tag: &str,
    blobs: &[&[u8]],
    manifest: &serde_json::Value,
    media_type: &str,
) {
    let client = http();
    let base = format!("http://{}/v2/{repo}", registry.addr());
    for blob in blobs {
        let started = client
            .post(format!("{base}/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), 202);
        let location = started.headers()["location"].to_str().unwrap().to_owned();
        let mut url = url::Url::parse(&base).unwrap().join(&location).unwrap();
        url.query_pairs_mut()
            .append_pair("digest", &sha256_digest(blob));
        let done = client.put(url).body(blob.to_vec()).send().await.unwrap();
        assert_eq!(done.status(), 201, "{:?}", done.text().await);
    }
    let done = client
        .put(format!("{base}/manifests/{tag}"))
        .header("content-type", media_type)
        .body(serde_json::to_vec(manifest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 201, "{:?}", done.text().await);
}

#[tokio::test]
async fn a_pushed_component_pulls_back_identical_by_tag_and_by_digest() {
    let registry = TestRegistry::start();
    let client = Registry::new(config(&registry)).unwrap();
    let by_tag = reference(&registry, "tools/echo:1.0.0");
    let bytes = component(5000);
    let pushed = client.push(&by_tag, &bytes, None).await.unwrap();

    let resolved = client.resolve(&by_tag).await.unwrap();
    assert_eq!(resolved, pushed);
    let by_digest = reference(&registry, &format!("tools/echo@{pushed}"));
    assert_eq!(client.resolve(&by_digest).await.unwrap(), pushed);

    for reference in [&by_tag, &by_digest] {
        let dir = tempfile::tempdir().unwrap();
        let artifact = client.pull(reference, &resolved, dir.path()).await.unwrap();
        assert_eq!(artifact.manifest_digest, pushed);
        assert_eq!(sha256_digest(&artifact.manifest), pushed);
        assert_eq!(
            std::fs::read(&artifact.component.as_ref().unwrap().path).unwrap(),
            bytes
        );
        assert_eq!(
            artifact.component.as_ref().unwrap().digest,
            sha256_digest(&bytes)
        );
        assert_eq!(
            artifact.component.as_ref().unwrap().size,
            bytes.len() as u64
        );
        assert!(
            artifact
                .component
                .as_ref()
                .unwrap()
                .path
                .starts_with(dir.path())
        );
        assert!(artifact.policy.is_none());
    }
}

#[tokio::test]
async fn the_pushed_manifest_is_the_cncf_wasm_layout() {
    let registry = TestRegistry::start();
    let client = Registry::new(config(&registry)).unwrap();
    let reference = reference(&registry, "tools/echo:1");
    let digest = client.push(&reference, &component(10), None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let artifact = client.pull(&reference, &digest, dir.path()).await.unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&artifact.manifest).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(registry.blob_path(config_digest)).unwrap()).unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["layerDigests"][0], manifest["layers"][0]["digest"]);
}

#[tokio::test]
async fn a_policy_layer_round_trips_with_its_media_type() {
    let registry = TestRegistry::start();
    let client = Registry::new(config(&registry)).unwrap();
    let reference = reference(&registry, "tools/echo:with-policy");
    let policy = b"version: 1\nnetwork: {}\n";
    let digest = client
        .push(&reference, &component(100), Some(policy))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let artifact = client.pull(&reference, &digest, dir.path()).await.unwrap();
    let layer = artifact.policy.unwrap();
    assert_eq!(layer.bytes, policy);
    assert_eq!(layer.media_type, "application/vnd.wasm.policy.v1+yaml");
}

#[tokio::test]
async fn basic_auth_works_with_docker_config_credentials_and_fails_clearly_without() {
    let registry = TestRegistry::start_with_basic_auth("weld", "s3cret");
    let home = tempfile::tempdir().unwrap();
    let docker_config = home.path().join("config.json");
    // base64("weld:s3cret")
    std::fs::write(
        &docker_config,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"d2VsZDpzM2NyZXQ="}}}}}}"#,
            registry.addr()
        ),
    )
    .unwrap();
    let with = Registry::new(Config {
        docker_config: Some(docker_config),
        ..config(&registry)
    })
    .unwrap();
    let reference = reference(&registry, "private/tool:1");
    let bytes = component(64);
    let digest = with.push(&reference, &bytes, None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let artifact = with.pull(&reference, &digest, dir.path()).await.unwrap();
    assert_eq!(
        std::fs::read(&artifact.component.as_ref().unwrap().path).unwrap(),
        bytes
    );

    let empty = home.path().join("empty.json");
    std::fs::write(&empty, "{}").unwrap();
    let without = Registry::new(Config {
        docker_config: Some(empty),
        ..config(&registry)
    })
    .unwrap();
    let err = without.resolve(&reference).await.unwrap_err();
    assert!(
        matches!(err, DistError::Auth { status: 401, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(registry.addr()) && text.contains("docker login"),
        "{text}"
    );
}

#[tokio::test]
async fn plain_http_is_refused_for_a_registry_not_listed_as_insecure() {
    let registry = TestRegistry::start();
    let client = Registry::new(Config {
        timeout: Duration::from_secs(10),
        ..Config::default()
    })
    .unwrap();
    let err = client
        .push(&reference(&registry, "tools/echo:1"), &component(10), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--insecure-registry"), "{err}");
    // Nothing reached the registry as HTTP: it logged no request.
    assert!(!registry.log().contains("\"PUT /v2/"), "{}", registry.log());
}

#[tokio::test]
async fn a_layer_over_the_cap_is_refused_before_it_is_fetched() {
    let registry = TestRegistry::start();
    let client = Registry::new(config(&registry)).unwrap();
    let reference = reference(&registry, "tools/big:1");
    let bytes = component(4096);
    let digest = client.push(&reference, &bytes, None).await.unwrap();
    // Had weld asked for the layer, it would now get a 404, not "too large".
    std::fs::remove_file(registry.blob_path(&sha256_digest(&bytes))).unwrap();
    let small = Registry::new(Config {
        max_component_bytes: 1024,
        ..config(&registry)
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = small
        .pull(&reference, &digest, dir.path())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DistError::TooLarge { limit: 1024, .. }),
        "{err:?}"
    );
    let log = registry.log();
    let layer = sha256_digest(&bytes);
    assert!(
        log.contains(&format!("GET /v2/tools/big/manifests/{digest}")),
        "{log}"
    );
    assert!(
        !log.contains(&format!("GET /v2/tools/big/blobs/{layer}")),
        "{log}"
    );
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn a_corrupted_layer_is_a_digest_mismatch_and_leaves_nothing() {
    let registry = TestRegistry::start();
    let client = Registry::new(config(&registry)).unwrap();
    let reference = reference(&registry, "tools/echo:1");
    let bytes = component(3000);
    let digest = client.push(&reference, &bytes, None).await.unwrap();
    let mut corrupted = bytes.clone();
    corrupted[100] ^= 0xff;
    std::fs::write(registry.blob_path(&sha256_digest(&bytes)), &corrupted).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let err = client
        .pull(&reference, &digest, dir.path())
        .await
        .unwrap_err();
    assert!(matches!(err, DistError::DigestMismatch { .. }), "{err:?}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[tokio::test]
async fn a_layer_longer_than_its_manifest_says_is_refused_and_leaves_nothing() {
    let registry = TestRegistry::start();
    let client = Registry::new(config(&registry)).unwrap();
    let reference = reference(&registry, "tools/echo:1");
    let bytes = component(3000);
    let digest = client.push(&reference, &bytes, None).await.unwrap();
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 500]);
    std::fs::write(registry.blob_path(&sha256_digest(&bytes)), &longer).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let err = client
        .pull(&reference, &digest, dir.path())
        .await
        .unwrap_err();
    assert!(matches!(err, DistError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("3008"), "{err}");
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn a_manifest_that_does_not_hash_to_its_digest_is_refused() {
    let registry = TestRegistry::start();
    let client = Registry::new(config(&registry)).unwrap();
    let reference = reference(&registry, "tools/echo:1");
    let digest = client.push(&reference, &component(10), None).await.unwrap();
    // Change one digit of the creation time: still a valid manifest, no
    // longer the one its digest names.
    let path = registry.blob_path(&digest);
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text
        .find("\"org.opencontainers.image.created\":\"")
        .unwrap()
        + 36;
    let mut tampered = text.into_bytes();
    tampered[at] = if tampered[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&path, tampered).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let err = client
        .pull(&reference, &digest, dir.path())
        .await
        .unwrap_err();
    assert!(matches!(err, DistError::DigestMismatch { .. }), "{err:?}");
    let err = client.resolve(&reference).await.unwrap_err();
    assert!(matches!(err, DistError::DigestMismatch { .. }), "{err:?}");
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn a_registry_that_is_down_is_unreachable() {
    let addr = format!("127.0.0.1:{}", support::free_port());
    let client = Registry::new(Config {
        insecure_registries: vec![addr.clone()],
        ..Config::default()
    })
    .unwrap();
    let reference = OciReference::parse(&format!("oci://{addr}/tools/echo:1")).unwrap();
    let err = client.resolve(&reference).await.unwrap_err();
    assert!(matches!(err, DistError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr), "{err}");
}

#[tokio::test]
async fn a_registry_answering_garbage_is_a_malformed_response() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            // The whole head is read: closing with bytes unread would be a
            // reset, which the client reports as unreachable instead.
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            let _ = stream.write_all(b"\x00\x01garbage, not HTTP\r\n\r\n\xff\xfe");
        }
    });
    let client = Registry::new(Config {
        insecure_registries: vec![addr.clone()],
        timeout: Duration::from_secs(5),
        ..Config::default()
    })
    .unwrap();
    let reference = OciReference::parse(&format!("oci://{addr}/tools/echo:1")).unwrap();
    let err = client.resolve(&reference).await.unwrap_err();
    assert!(matches!(err, DistError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr), "{err}");
}

#[tokio::test]
async fn a_container_image_is_refused_as_not_a_wasm_artifact() {
    let registry = TestRegistry::start();
    let config_blob =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = b"not a tarball, but a layer";
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256_digest(config_blob), "size": config_blob.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256_digest(layer), "size": layer.len()}],
    });
    put_raw(
        &registry,
        "library/alpine",
        "3",
        &[config_blob, layer],
        &manifest,
        "application/vnd.oci.image.manifest.v1+json",
    )
    .await;
    let client = Registry::new(config(&registry)).unwrap();
    let reference = reference(&registry, "library/alpine:3");
    let digest = client.resolve(&reference).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = client
        .pull(&reference, &digest, dir.path())
        .await
        .unwrap_err();
    assert!(matches!(err, DistError::NotWasm { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("application/vnd.oci.image.config.v1+json"),
        "{err}"
    );
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn signatures_weld_pushes_are_found_in_both_layouts() {
    let registry = TestRegistry::start();
    let client = Registry::new(config(&registry)).unwrap();
    let reference = reference(&registry, "tools/echo:1");
    let digest = client.push(&reference, &component(10), None).await.unwrap();
    assert_eq!(
        client.signatures(&reference, &digest).await.unwrap(),
        vec![]
    );

    client
        .push_simple_signature(&reference, &digest, b"payload-1", "c2lnMQ==")
        .await
        .unwrap();
    client
        .push_simple_signature(&reference, &digest, b"payload-2", "c2lnMg==")
        .await
        .unwrap();
    // The same signature again is not added twice.
    client
        .push_simple_signature(&reference, &digest, b"payload-1", "c2lnMQ==")
        .await
        .unwrap();
    let bundle =
        br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{}}"#;
    client
        .push_bundle(&reference, &digest, bundle)
        .await
        .unwrap();

    let found = client.signatures(&reference, &digest).await.unwrap();
    let simple = |payload: &[u8], signature: &str| FoundSignature::SimpleSigning {
        payload: payload.to_vec(),
        signature_b64: signature.into(),
        certificate_pem: None,
        chain_pem: None,
        rekor_bundle_json: None,
    };
    assert_eq!(
        found,
        vec![
            simple(b"payload-1", "c2lnMQ=="),
            simple(b"payload-2", "c2lnMg=="),
            FoundSignature::Bundle(bundle.to_vec()),
        ]
    );
    // This registry has no referrers API: the bundle was found through the
    // referrers tag weld maintained.
    let log = registry.log();
    let tag = digest.replace(':', "-");
    assert!(
        log.contains(&format!("GET /v2/tools/echo/referrers/{digest}")),
        "{log}"
    );
    assert!(
        log.contains(&format!("PUT /v2/tools/echo/manifests/{tag} ")),
        "{log}"
    );
    // Signatures of another digest are not these.
    let other = client.push(&reference, &component(11), None).await.unwrap();
    assert_eq!(client.signatures(&reference, &other).await.unwrap(), vec![]);
}

#[tokio::test]
async fn the_bundle_referrer_has_cosigns_shape() {
    let registry = TestRegistry::start();
    let client = Registry::new(config(&registry)).unwrap();
    let reference = reference(&registry, "tools/echo:1");
    let digest = client.push(&reference, &component(10), None).await.unwrap();
    let bundle =
        br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{}}"#;
    client
        .push_bundle(&reference, &digest, bundle)
        .await
        .unwrap();

    let http = http();
    let base = format!("http://{}/v2/tools/echo", registry.addr());
    let index: serde_json::Value = http
        .get(format!("{base}/manifests/{}", digest.replace(':', "-")))
        .header("accept", "application/vnd.oci.image.index.v1+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(
        entry["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(
        entry["annotations"]["dev.sigstore.bundle.content"],
        "dsse-envelope"
    );
    let referrer: serde_json::Value = http
        .get(format!(
            "{base}/manifests/{}",
            entry["digest"].as_str().unwrap()
        ))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        referrer["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(
        referrer["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(referrer["config"]["size"], 2);
    assert_eq!(
        referrer["layers"][0]["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(referrer["subject"]["digest"], digest.as_str());
    assert_eq!(
        referrer["subject"]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
}

#[tokio::test]
async fn a_referrer_listed_for_another_subject_is_ignored() {
    let registry = TestRegistry::start();
    let client = Registry::new(config(&registry)).unwrap();
    let reference = reference(&registry, "tools/echo:1");
    let signed = client.push(&reference, &component(10), None).await.unwrap();
    let unsigned = client.push(&reference, &component(20), None).await.unwrap();
    let bundle = br#"{"messageSignature":{}}"#;
    client
        .push_bundle(&reference, &signed, bundle)
        .await
        .unwrap();
    assert_eq!(
        client.signatures(&reference, &signed).await.unwrap().len(),
        1
    );

    // Someone copies the signed digest's referrers index to the unsigned
    // digest's referrers tag: the listed bundle names another subject.
    let base = format!("http://{}/v2/tools/echo/manifests", registry.addr());
    let index = http()
        .get(format!("{base}/{}", signed.replace(':', "-")))
        .header("accept", "application/vnd.oci.image.index.v1+json")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let put = http()
        .put(format!("{base}/{}", unsigned.replace(':', "-")))
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .body(index)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    assert_eq!(
        client.signatures(&reference, &unsigned).await.unwrap(),
        vec![]
    );
}

fn through(proxy: &Proxy) -> Config {
    Config {
        insecure_registries: vec![proxy.addr().to_owned()],
        timeout: Duration::from_secs(10),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_registry_with_the_referrers_api_is_asked_first_and_its_answer_used() {
    let registry = TestRegistry::start();
    let direct = Registry::new(config(&registry)).unwrap();
    let digest = direct
        .push(&reference(&registry, "tools/echo:1"), &component(10), None)
        .await
        .unwrap();
    let bundle = br#"{"messageSignature":{}}"#;
    direct
        .push_bundle(&reference(&registry, "tools/echo:1"), &digest, bundle)
        .await
        .unwrap();
    // The index weld wrote under the referrers tag, served instead as the
    // referrers API's answer; the tag itself now answers 404.
    let tag = digest.replace(':', "-");
    let index = http()
        .get(format!(
            "http://{}/v2/tools/echo/manifests/{tag}",
            registry.addr()
        ))
        .header("accept", "application/vnd.oci.image.index.v1+json")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let referrers_path = format!("/v2/tools/echo/referrers/{digest}");
    let tag_path = format!("/v2/tools/echo/manifests/{tag}");
    let proxy = Proxy::start(registry.addr(), move |_, path| {
        if path.starts_with(&referrers_path) {
            Route::Answer(proxy::answer(
                "200 OK",
                "application/vnd.oci.image.index.v1+json",
                &index,
            ))
        } else if path == tag_path {
            Route::Answer(proxy::answer("404 Not Found", "application/json", b"{}"))
        } else {
            Route::Forward
        }
    });
    let client = Registry::new(through(&proxy)).unwrap();
    let via_proxy = OciReference::parse(&format!("oci://{}/tools/echo:1", proxy.addr())).unwrap();
    let found = client.signatures(&via_proxy, &digest).await.unwrap();
    assert_eq!(found, vec![FoundSignature::Bundle(bundle.to_vec())]);
}

#[tokio::test]
async fn push_bundle_leaves_the_referrers_tag_alone_when_the_registry_has_the_api() {
    let registry = TestRegistry::start();
    let proxy = Proxy::start(registry.addr(), |method, path| {
        if method == "GET" && path.contains("/referrers/") {
            let empty = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
            Route::Answer(proxy::answer(
                "200 OK",
                "application/vnd.oci.image.index.v1+json",
                empty,
            ))
        } else {
            Route::Forward
        }
    });
    let client = Registry::new(through(&proxy)).unwrap();
    let reference = OciReference::parse(&format!("oci://{}/tools/echo:1", proxy.addr())).unwrap();
    let digest = client.push(&reference, &component(10), None).await.unwrap();
    client
        .push_bundle(&reference, &digest, br#"{"messageSignature":{}}"#)
        .await
        .unwrap();
    let requests = proxy.requests();
    let tag = format!("/v2/tools/echo/manifests/{}", digest.replace(':', "-"));
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /v2/tools/echo/referrers/")),
        "{requests:?}"
    );
    assert!(!requests.iter().any(|r| r.ends_with(&tag)), "{requests:?}");
}

#[tokio::test]
async fn a_policy_layer_changed_in_transit_is_a_digest_mismatch_and_leaves_nothing() {
    let registry = TestRegistry::start();
    let direct = Registry::new(config(&registry)).unwrap();
    let policy = b"version: 1\n";
    let digest = direct
        .push(
            &reference(&registry, "tools/echo:1"),
            &component(10),
            Some(policy),
        )
        .await
        .unwrap();
    let policy_path = format!("/v2/tools/echo/blobs/{}", sha256_digest(policy));
    let proxy = Proxy::start(registry.addr(), move |_, path| {
        if path == policy_path {
            Route::Rewrite(Box::new(|mut body| {
                body[0] ^= 1;
                body
            }))
        } else {
            Route::Forward
        }
    });
    let client = Registry::new(through(&proxy)).unwrap();
    let via_proxy = OciReference::parse(&format!("oci://{}/tools/echo:1", proxy.addr())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = client
        .pull(&via_proxy, &digest, dir.path())
        .await
        .unwrap_err();
    assert!(matches!(err, DistError::DigestMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("policy"), "{err}");
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn every_operation_is_send_so_the_binary_can_spawn_it() {
    fn send<T: Send + Sync>(_: &T) {}
    let home = tempfile::tempdir().unwrap();
    let empty = home.path().join("config.json");
    std::fs::write(&empty, "{}").unwrap();
    let client = Registry::new(Config {
        docker_config: Some(empty),
        ..Config::default()
    })
    .unwrap();
    send(&client);
    let reference = OciReference::parse("oci://r.io/x:1").unwrap();
    let url = url::Url::parse("https://r.io/x.wasm").unwrap();
    let config = Config::default();
    send(&client.resolve(&reference));
    send(&client.pull(&reference, "sha256:00", home.path()));
    send(&client.signatures(&reference, "sha256:00"));
    send(&client.push(&reference, b"x", None));
    send(&client.push_simple_signature(&reference, "sha256:00", b"p", "s"));
    send(&client.push_bundle(&reference, "sha256:00", b"{}"));
    send(&weld_dist::fetch_https(&url, &config, home.path()));
    send(&weld_dist::fetch_https_small(&url, &config, 10));
}
