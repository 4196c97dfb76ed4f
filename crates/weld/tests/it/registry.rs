//! The test registry (weld-dist's fixture: Debian's docker-registry on
//! loopback) and what the tests do to it behind weld's back, through the
//! OCI distribution API: read manifests and blobs, re-tag, push by hand.

#[path = "../../../weld-dist/tests/support/registry.rs"]
mod support;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

pub use support::TestRegistry;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
                              application/vnd.oci.image.index.v1+json, \
                              application/vnd.docker.distribution.manifest.v2+json";

fn client() -> reqwest::Client {
    crate::common::reqwest_client()
}

impl TestRegistry {
    fn url(&self, path: &str) -> String {
        format!("http://{}/v2/{path}", self.addr())
    }

    /// The manifest `reference` (a tag or digest) of `repo`: its bytes and
    /// media type.
    pub async fn manifest(&self, repo: &str, reference: &str) -> (Vec<u8>, String) {
        let response = client()
            .get(self.url(&format!("{repo}/manifests/{reference}")))
            .header("accept", MANIFEST_TYPES)
            .send()
            .await
            .expect("GET manifest");
        assert!(
            response.status().is_success(),
            "{repo}:{reference}: {}",
            response.status()
        );
        let media_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (response.bytes().await.expect("body").to_vec(), media_type)
    }

    /// The digest of `repo:tag`, computed from the manifest's bytes.
    pub async fn digest(&self, repo: &str, tag: &str) -> String {
        let (bytes, _) = self.manifest(repo, tag).await;
        sha256(&bytes)
    }

    /// The layer digests of a manifest, in order.
    pub async fn layers(&self, repo: &str, reference: &str) -> Vec<String> {
        let (bytes, _) = self.manifest(repo, reference).await;
        let manifest: Value = serde_json::from_slice(&bytes).expect("manifest JSON");
        manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["digest"].as_str().expect("digest").to_string())
            .collect()
    }

    /// A blob's bytes.
    pub async fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let response = client()
            .get(self.url(&format!("{repo}/blobs/{digest}")))
            .send()
            .await
            .expect("GET blob");
        assert!(
            response.status().is_success(),
            "{digest}: {}",
            response.status()
        );
        response.bytes().await.expect("body").to_vec()
    }

    /// Tags the manifest tagged `from` as `to` too.
    pub async fn copy_manifest(&self, repo: &str, from: &str, to: &str) {
        let (bytes, media_type) = self.manifest(repo, from).await;
        self.put_manifest(repo, to, bytes, &media_type).await;
    }

    /// Puts a manifest under `reference`.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: Vec<u8>,
        media_type: &str,
    ) {
        let response = client()
            .put(self.url(&format!("{repo}/manifests/{reference}")))
            .header("content-type", media_type)
            .body(bytes)
            .send()
            .await
            .expect("PUT manifest");
        assert!(
            response.status().is_success(),
            "PUT {repo}:{reference}: {}",
            response.status()
        );
    }

    /// Uploads a blob (monolithic POST then PUT); returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: Vec<u8>) -> String {
        let digest = sha256(&bytes);
        let started = client()
            .post(self.url(&format!("{repo}/blobs/uploads/")))
            .send()
            .await
            .expect("POST upload");
        assert!(
            started.status().is_success(),
            "upload: {}",
            started.status()
        );
        let location = started
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("location")
            .to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", self.addr())
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let done = client()
            .put(format!("{location}{separator}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("PUT blob");
        assert!(done.status().is_success(), "PUT blob: {}", done.status());
        digest
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
