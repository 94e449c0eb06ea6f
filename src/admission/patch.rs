//! JSON Patch by diffing: the patch is `json_patch::diff` between the object's current metadata
//! and the desired metadata, so it contains exactly the keys that change — and nothing when the
//! mutation already ran. Only `/metadata/labels` and `/metadata/annotations` are compared, so a
//! patch can never reach `/data` or `/stringData`.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Map, Value, json};

use crate::policy::{mutate::DesiredMeta, objects::SecretObject};

fn meta_doc(
    labels: Option<&BTreeMap<String, String>>,
    annotations: Option<&BTreeMap<String, String>>,
) -> Value {
    let mut meta = Map::new();
    if let Some(l) = labels {
        meta.insert("labels".into(), json!(l));
    }
    if let Some(a) = annotations {
        meta.insert("annotations".into(), json!(a));
    }
    json!({ "metadata": meta })
}

/// The JSON Patch from `secret`'s metadata to `desired`. `None` when nothing changes.
pub fn metadata_patch(secret: &SecretObject, desired: &DesiredMeta) -> Option<json_patch::Patch> {
    let (labels, annotations) = (
        secret.metadata.labels.as_ref(),
        secret.metadata.annotations.as_ref(),
    );
    let left = meta_doc(labels, annotations);
    let right = meta_doc(
        (labels.is_some() || !desired.labels.is_empty()).then_some(&desired.labels),
        (annotations.is_some() || !desired.annotations.is_empty()).then_some(&desired.annotations),
    );
    let patch = json_patch::diff(&left, &right);
    (!patch.0.is_empty()).then_some(patch)
}

/// Base64 of the patch's JSON: the `patch` field of an AdmissionResponse.
pub fn encode(patch: &json_patch::Patch) -> String {
    // Serialising a Patch (plain strings and values) cannot fail.
    STANDARD.encode(serde_json::to_vec(patch).unwrap_or_default())
}
