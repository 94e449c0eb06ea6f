//! `metadata` as the rules read it. Decoding k8s-openapi's `ObjectMeta` would build
//! `managedFields` into `serde_json::Value` trees on every review — most of a typical object's
//! metadata, read by no rule — so only the fields below are decoded and the rest is skipped
//! unparsed. Field names and types match `ObjectMeta`, so rules read it the same way.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde::Deserialize;

/// The decoded part of an object's `metadata`. An explicit `null` reads as absent.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub generate_name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub owner_references: Option<Vec<OwnerReference>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_managed_fields_and_reads_what_rules_need() {
        let m: Meta = serde_json::from_str(
            r#"{"name":"a","namespace":"n","labels":{"k":"v"},"annotations":null,
                "managedFields":[{"manager":"kubectl","fieldsV1":{"f:data":{"f:x":{}}}}],
                "ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"c","uid":"u"}]}"#,
        )
        .unwrap();
        assert_eq!(m.name.as_deref(), Some("a"));
        assert_eq!(m.labels.unwrap()["k"], "v");
        assert!(m.annotations.is_none());
        assert_eq!(m.owner_references.unwrap()[0].uid, "u");
    }

    #[test]
    fn a_wrongly_typed_label_map_is_still_an_error() {
        assert!(serde_json::from_str::<Meta>(r#"{"labels":["k"]}"#).is_err());
    }
}
