//! The OCI documents weld reads and writes: image manifests, image indexes
//! (referrer lists) and descriptors, and the check that a manifest is a
//! CNCF Wasm artifact.
//!
//! Only the fields weld uses are typed; unknown fields are ignored on read
//! (registries and other tools add their own), and every digest read from a
//! document is checked against the grammar before it is used in a URL.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::source::check_digest;
use crate::{POLICY_MEDIA_TYPES, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE};

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub(crate) const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// What weld asks for when fetching a manifest: the OCI types, and Docker's
/// so that a Docker image is recognised and refused by name rather than
/// answered with "not found".
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    pub(crate) media_type: String,
    pub(crate) digest: String,
    pub(crate) size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub(crate) fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: crate::sha256_digest(bytes),
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// An OCI image manifest (also the shape of cosign's `.sig` and bundle
/// manifests).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    pub(crate) schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) artifact_type: Option<String>,
    pub(crate) config: Descriptor,
    #[serde(default)]
    pub(crate) layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, String>,
}

/// An OCI image index, as the referrers API and the referrers tag return.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    pub(crate) schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) media_type: Option<String>,
    #[serde(default)]
    pub(crate) manifests: Vec<Descriptor>,
}

impl Index {
    pub(crate) fn empty() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: Vec::new(),
        }
    }
}

/// Parses a manifest and checks the digests it names.
pub(crate) fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    let manifest: Manifest =
        serde_json::from_slice(bytes).map_err(|e| format!("not an OCI image manifest: {e}"))?;
    if manifest.schema_version != 2 {
        return Err(format!(
            "schemaVersion {} (expected 2)",
            manifest.schema_version
        ));
    }
    for descriptor in std::iter::once(&manifest.config)
        .chain(&manifest.layers)
        .chain(&manifest.subject)
    {
        check_digest(&descriptor.digest)?;
    }
    Ok(manifest)
}

/// Parses an image index and checks the digests it names.
pub(crate) fn parse_index(bytes: &[u8]) -> Result<Index, String> {
    let index: Index =
        serde_json::from_slice(bytes).map_err(|e| format!("not an OCI image index: {e}"))?;
    if index.schema_version != 2 {
        return Err(format!(
            "schemaVersion {} (expected 2)",
            index.schema_version
        ));
    }
    for descriptor in &index.manifests {
        check_digest(&descriptor.digest)?;
    }
    Ok(index)
}

/// The layers of a CNCF Wasm artifact.
#[derive(Debug)]
pub(crate) struct WasmLayout {
    pub(crate) component: Descriptor,
    pub(crate) policy: Option<Descriptor>,
}

/// Checks the CNCF Wasm layout: the Wasm config media type, exactly one
/// `application/wasm` layer, at most one policy layer, nothing else. The
/// error names what is there instead.
pub(crate) fn wasm_layout(bytes: &[u8]) -> Result<WasmLayout, String> {
    let kind: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let media_type = kind.get("mediaType").and_then(|m| m.as_str());
    if matches!(media_type, Some(OCI_INDEX | DOCKER_LIST)) || kind.get("manifests").is_some() {
        return Err(
            "it is an image index (a multi-platform container image), not a Wasm artifact".into(),
        );
    }
    if let Some(other) = media_type.filter(|m| *m != OCI_MANIFEST) {
        return Err(format!(
            "its manifest media type is `{other}`, expected `{OCI_MANIFEST}`"
        ));
    }
    let manifest = parse_manifest(bytes)?;
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(format!(
            "its config media type is `{}` (expected `{WASM_CONFIG_MEDIA_TYPE}`; a container image is not a Wasm component)",
            manifest.config.media_type
        ));
    }
    let mut component = None;
    let mut policy = None;
    for layer in manifest.layers {
        if layer.media_type == WASM_LAYER_MEDIA_TYPE {
            if component.is_some() {
                return Err(format!(
                    "it has more than one `{WASM_LAYER_MEDIA_TYPE}` layer"
                ));
            }
            component = Some(layer);
        } else if POLICY_MEDIA_TYPES.contains(&layer.media_type.as_str()) {
            if policy.is_some() {
                return Err("it has more than one policy layer".into());
            }
            policy = Some(layer);
        } else {
            return Err(format!(
                "it has a layer of media type `{}`; a Wasm artifact has one `{WASM_LAYER_MEDIA_TYPE}` layer and optionally a policy layer ({})",
                layer.media_type,
                POLICY_MEDIA_TYPES.join(" or ")
            ));
        }
    }
    let component =
        component.ok_or_else(|| format!("it has no `{WASM_LAYER_MEDIA_TYPE}` layer"))?;
    Ok(WasmLayout { component, policy })
}

/// The CNCF Wasm config blob (`application/vnd.wasm.config.v0+json`).
/// `component` (its imports and exports) is optional in the spec and left
/// out: weld-dist does not parse components, and weld reads the types from
/// the component itself.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WasmConfig<'a> {
    pub(crate) created: String,
    pub(crate) architecture: &'a str,
    pub(crate) os: &'a str,
    pub(crate) layer_digests: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(config: &str, layers: &[&str]) -> Vec<u8> {
        let d = |m: &str| {
            serde_json::json!({"mediaType": m, "size": 1,
                "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000"})
        };
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": d(config), "layers": layers.iter().map(|l| d(l)).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn the_cncf_layout_is_accepted_with_or_without_a_policy_layer() {
        let plain =
            wasm_layout(&manifest(WASM_CONFIG_MEDIA_TYPE, &[WASM_LAYER_MEDIA_TYPE])).unwrap();
        assert!(plain.policy.is_none());
        for policy in POLICY_MEDIA_TYPES {
            let layout = wasm_layout(&manifest(
                WASM_CONFIG_MEDIA_TYPE,
                &[WASM_LAYER_MEDIA_TYPE, policy],
            ))
            .unwrap();
            assert_eq!(layout.policy.unwrap().media_type, policy);
        }
    }

    #[test]
    fn anything_else_is_refused_naming_what_is_there() {
        let cases = [
            (manifest(OCI_IMAGE_CONFIG, &[WASM_LAYER_MEDIA_TYPE]), OCI_IMAGE_CONFIG),
            (
                manifest(WASM_CONFIG_MEDIA_TYPE, &[WASM_LAYER_MEDIA_TYPE, "text/plain"]),
                "text/plain",
            ),
            (
                manifest(WASM_CONFIG_MEDIA_TYPE, &[WASM_LAYER_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE]),
                "more than one",
            ),
            (manifest(WASM_CONFIG_MEDIA_TYPE, &[]), "no `application/wasm`"),
            (
                br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec(),
                "image index",
            ),
            (b"[1]".to_vec(), "not an OCI image manifest"),
        ];
        for (bytes, needle) in cases {
            let err = wasm_layout(&bytes).unwrap_err();
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
    }

    #[test]
    fn digests_outside_the_grammar_are_refused() {
        let bytes = br#"{"schemaVersion":2,"config":{"mediaType":"a","size":1,"digest":"sha256:../../x"},"layers":[]}"#;
        assert!(parse_manifest(bytes).unwrap_err().contains("not a digest"));
    }
}
