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
    // A map that does not change is left out of both documents: its diff is empty anyway, and
    // building and walking its `Value` trees was most of a mutation's cost.
    let changes = |current: Option<&BTreeMap<String, String>>, want: &BTreeMap<String, String>| {
        !current.map_or(want.is_empty(), |c| c == want)
    };
    let (labels_change, annotations_change) = (
        changes(labels, &desired.labels),
        changes(annotations, &desired.annotations),
    );
    if !labels_change && !annotations_change {
        return None;
    }
    let left = meta_doc(
        labels.filter(|_| labels_change),
        annotations.filter(|_| annotations_change),
    );
    let right = meta_doc(
        labels_change.then_some(&desired.labels),
        annotations_change.then_some(&desired.annotations),
    );
    let patch = json_patch::diff(&left, &right);
    (!patch.0.is_empty()).then_some(patch)
}

/// Base64 of the patch's JSON: the `patch` field of an AdmissionResponse.
pub fn encode(patch: &json_patch::Patch) -> String {
    // Serialising a Patch (plain strings and values) cannot fail.
    STANDARD.encode(serde_json::to_vec(patch).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use proptest::{collection::btree_map, option, prelude::*};

    use super::*;

    fn map() -> impl Strategy<Value = BTreeMap<String, String>> {
        btree_map("[ab]{1,2}", "[xy]{0,1}", 0..4)
    }

    /// What the metadata says once `patch` is applied: absent and empty maps read alike.
    fn applied(
        secret: &SecretObject,
        patch: Option<json_patch::Patch>,
    ) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let mut doc = meta_doc(
            secret.metadata.labels.as_ref(),
            secret.metadata.annotations.as_ref(),
        );
        if let Some(p) = patch {
            json_patch::patch(&mut doc, &p).expect("the patch applies");
        }
        let read = |field: &str| {
            serde_json::from_value(doc["metadata"][field].clone()).unwrap_or_default()
        };
        (read("labels"), read("annotations"))
    }

    proptest! {
        /// Applying the patch gives exactly the desired maps, and a second run patches nothing.
        #[test]
        fn patch_turns_current_metadata_into_the_desired(
            labels in option::of(map()),
            annotations in option::of(map()),
            want_labels in map(),
            want_annotations in map(),
        ) {
            let mut secret = SecretObject::default();
            secret.metadata.labels = labels;
            secret.metadata.annotations = annotations;
            let desired = DesiredMeta { labels: want_labels, annotations: want_annotations };
            let patch = metadata_patch(&secret, &desired);
            prop_assert_eq!(
                applied(&secret, patch),
                (desired.labels.clone(), desired.annotations.clone())
            );
            secret.metadata.labels = Some(desired.labels.clone());
            secret.metadata.annotations = Some(desired.annotations.clone());
            prop_assert!(metadata_patch(&secret, &desired).is_none());
        }
    }
}
