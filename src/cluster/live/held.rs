//! ESO objects and stores kept whole for the in-cluster audit (`serve --audit-interval`), which
//! judges them with the webhook's engine as `vaultgate audit` does. The live view keeps them
//! only while that audit is on. They are kept as compact JSON, not decoded objects, without what
//! no rule reads (`status`, `resourceVersion`, `generation`, kubectl's
//! `last-applied-configuration` annotation, a second copy of the object, and the fields each
//! `managedFields` entry owns: only who and how is kept, the producer hint
//! [`crate::audit`] reads as `vaultgate audit` does). They are decoded again one at a time while
//! a pass judges them. tests/bench/README.md §5 measures what they cost.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{
    audit::{FieldManager, Listed},
    policy::{Object, objects::Kind},
};

/// kubectl's client-side apply record: the whole object again, read by no rule.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// One object as the audit will judge it. Shared, not copied, when a pass takes it out of
/// the view (a kept ExternalSecret may be near the apiserver's 1.5 MiB limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held(Arc<[u8]>);

impl Held {
    /// Keeps `value` (an object as the API serves it) without the fields no rule reads; they
    /// are removed from `value` too, which is decoded next by the caller.
    pub fn keep(value: &mut Value) -> Self {
        if let Some(o) = value.as_object_mut() {
            o.remove("status");
        }
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in ["resourceVersion", "generation", "selfLink"] {
                meta.remove(field);
            }
            if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
                for e in entries.iter_mut() {
                    let subresource = e["subresource"].as_str().is_some_and(|s| !s.is_empty());
                    *e = json!({
                        "manager": e["manager"].as_str().unwrap_or(""),
                        "operation": e["operation"].as_str().unwrap_or(""),
                        "subresource": subresource,
                    });
                }
            }
            if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                a.remove(LAST_APPLIED);
                if a.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
        Self(serde_json::to_vec(value).unwrap_or_default().into())
    }

    /// The object again, as `kind`, with its field managers (who and how); `None` if it no
    /// longer decodes (it did when kept).
    pub fn listed(&self, kind: Kind) -> Option<Listed> {
        /// Only the reduced `managedFields` entries, read straight from the bytes (the rest is
        /// skipped), so no `Value` tree is built for the object.
        #[derive(serde::Deserialize)]
        struct Managers {
            #[serde(default)]
            metadata: ManagersMeta,
        }
        #[derive(serde::Deserialize, Default)]
        struct ManagersMeta {
            #[serde(default, rename = "managedFields")]
            managed_fields: Vec<Kept>,
        }
        #[derive(serde::Deserialize)]
        struct Kept {
            #[serde(default)]
            manager: String,
            #[serde(default)]
            operation: String,
            #[serde(default)]
            subresource: bool,
        }
        let managers: Managers = serde_json::from_slice(&self.0).ok()?;
        let object =
            Object::deserialize_kind(kind, &mut serde_json::Deserializer::from_slice(&self.0))
                .ok()?;
        let managers = managers
            .metadata
            .managed_fields
            .into_iter()
            .map(|m| FieldManager {
                manager: m.manager,
                operation: m.operation,
                subresource: m.subresource,
            })
            .collect();
        Some(Listed { object, managers })
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_held_object_drops_what_no_rule_reads_and_decodes_back_the_same_spec() {
        let mut value = json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {
                "name": "db", "namespace": "payments", "uid": "u1", "resourceVersion": "7",
                "generation": 2, "labels": {"team": "payments"},
                "annotations": {LAST_APPLIED: "{\"big\":\"copy\"}"},
                "managedFields": [
                    {"manager": "argocd-controller", "operation": "Apply",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:target": {}}}},
                    {"manager": "external-secrets", "operation": "Update", "subresource": "status",
                     "fieldsV1": {"f:status": {}}},
                ],
            },
            "spec": {
                "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault-backend"},
                "target": {"name": "db-secret"},
                "data": [{"secretKey": "password", "remoteRef": {"key": "platform-data/db/payments"}}],
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        });
        let held = Held::keep(&mut value);
        let text = std::str::from_utf8(&held.0).expect("utf-8");
        for gone in [
            "fieldsV1",
            "f:spec",
            "resourceVersion",
            "last-applied",
            "generation",
        ] {
            assert!(!text.contains(gone), "{gone} kept: {text}");
        }
        assert!(!text.contains("\"status\":{"), "status kept: {text}");
        assert!(
            value.get("status").is_none(),
            "the caller decodes the same reduced value"
        );
        let Some(Listed {
            object: Object::ExternalSecret(es),
            managers,
        }) = held.listed(Kind::ExternalSecret)
        else {
            panic!("an ExternalSecret from {text}");
        };
        let who: Vec<_> = managers
            .iter()
            .map(|m| (m.manager.as_str(), m.operation.as_str(), m.subresource))
            .collect();
        assert_eq!(
            who,
            [
                ("argocd-controller", "Apply", false),
                ("external-secrets", "Update", true)
            ]
        );
        assert_eq!(es.target_name(), "db-secret");
        assert_eq!(es.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(es.metadata.labels.expect("labels")["team"], "payments");
    }

    #[test]
    fn an_audit_pass_shares_a_kept_object_instead_of_copying_it() {
        // Each pass takes the kept objects of a namespace out of the tables (`held_in`): a
        // namespace of 1 MiB ExternalSecrets must not be copied whole every pass.
        let mut value = json!({"metadata": {"name": "big"}, "spec": {"x": "y".repeat(1 << 20)}});
        let kept = Held::keep(&mut value);
        let taken = kept.clone();
        assert!(std::ptr::eq(kept.0.as_ptr(), taken.0.as_ptr()));
    }
}
