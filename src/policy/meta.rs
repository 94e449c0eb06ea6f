//! `metadata` as the rules read it. Decoding k8s-openapi's `ObjectMeta` would build
//! `managedFields` into `serde_json::Value` trees on every review — most of a typical object's
//! metadata, read by no rule — so only the fields below are decoded and the rest is skipped
//! unparsed. Field names and types match `ObjectMeta`, so rules read it the same way.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use std::fmt;

use serde::{
    Deserialize, Deserializer,
    de::{MapAccess, Visitor, value::MapAccessDeserializer},
};

/// The decoded part of an object's `metadata`. An explicit `null` reads as absent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Meta {
    pub name: Option<String>,
    pub generate_name: Option<String>,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub owner_references: Option<Vec<OwnerReference>>,
}

/// What serde derives for the fields. Kept private: a derived struct also accepts a JSON array
/// (fields by position), and `metadata` must be an object, as `ObjectMeta` requires.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    generate_name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    owner_references: Option<Vec<OwnerReference>>,
}

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapOnly;
        impl<'de> Visitor<'de> for MapOnly {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object (metadata)")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Fields, A::Error> {
                Fields::deserialize(MapAccessDeserializer::new(map))
            }
        }
        let f = d.deserialize_map(MapOnly)?;
        Ok(Self {
            name: f.name,
            generate_name: f.generate_name,
            namespace: f.namespace,
            uid: f.uid,
            labels: f.labels,
            annotations: f.annotations,
            owner_references: f.owner_references,
        })
    }
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

    #[test]
    fn metadata_must_be_an_object_not_an_array() {
        assert!(serde_json::from_str::<Meta>("[]").is_err());
        assert!(serde_json::from_str::<Meta>(r#"["a"]"#).is_err());
        assert!(serde_json::from_str::<Meta>(r#""x""#).is_err());
    }

    #[test]
    fn deep_nesting_inside_managed_fields_is_skipped_without_recursion() {
        let depth = 100_000;
        let json = format!(
            r#"{{"managedFields":{}1{},"name":"a"}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let m: Meta = serde_json::from_str(&json).unwrap();
        assert_eq!(m.name.as_deref(), Some("a"));
    }
}
