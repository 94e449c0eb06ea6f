//! The live view read back for the in-cluster audit (`serve --audit-interval`): the Secrets
//! the watches hold, rebuilt as objects from their reduced metadata a namespace at a time
//! ([`Source`]; `secrets_listing` rebuilds them all at once, which only the benchmark's baseline
//! still does). No API call.
//!
//! What the watch keeps is what the rules read (vaultgate's and ESO's keys, the copy tools'
//! markers, owners with their uids, the type), so the audit judges these Secrets as
//! `vaultgate audit` would, except that
//! `metadata.managedFields` is not held: a producer comes from trusted signals only (a verified
//! owner, vaultgate's stamps, the class label), never from a field manager, and a Secret none of
//! them names is reported with the `unknown` producer. ESO objects and stores are held as the
//! few fields lookups need, not whole, so they are not judged here (`vaultgate audit` does).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::LiveView;
use crate::{
    audit::{Listed, stream::Source},
    cluster::SecretMeta,
    policy::{Object, objects::Kind},
};

fn pairs(p: &crate::cluster::Pairs) -> Value {
    Value::Object(
        p.iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect::<Map<_, _>>(),
    )
}

/// A Secret as the engine reads it, from what the watch kept of it.
pub fn secret_of(ns: &str, name: &str, m: &SecretMeta) -> Option<Object> {
    let owners: Vec<Value> = m
        .owners
        .iter()
        .map(|o| {
            json!({
                "apiVersion": &*o.api_version, "kind": &*o.kind, "name": &*o.name,
                "uid": &*o.uid, "controller": o.controller,
            })
        })
        .collect();
    let mut meta = json!({"name": name, "namespace": ns});
    if !m.labels.is_empty() {
        meta["labels"] = pairs(&m.labels);
    }
    if !m.annotations.is_empty() {
        meta["annotations"] = pairs(&m.annotations);
    }
    if !owners.is_empty() {
        meta["ownerReferences"] = Value::Array(owners);
    }
    let mut value = json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta});
    if let Some(t) = &m.type_ {
        value["type"] = json!(&**t);
    }
    Object::from_value(Kind::Secret, value).ok()
}

/// The streamed in-cluster audit ([`crate::audit::stream`]) reads the view a namespace at a
/// time: the namespace's records are reference counts, and each Secret is rebuilt as an object
/// only while it is judged.
impl Source for LiveView {
    fn namespaces(&self) -> Vec<Arc<str>> {
        self.secrets.namespaces()
    }

    fn each_in(&self, namespace: &str, f: &mut dyn FnMut(Listed)) {
        for (name, m) in self.secrets.entries_in(namespace) {
            if let Some(object) = secret_of(namespace, &name, &m) {
                f(Listed {
                    object,
                    managers: Vec::new(),
                });
            }
        }
    }
}

impl LiveView {
    /// Every Secret the view holds, as the audit lists it (no field managers).
    pub fn secrets_listing(&self) -> Vec<Listed> {
        let mut out = Vec::with_capacity(self.secrets.len());
        self.secrets.for_each(|ns, name, m| {
            if let Some(object) = secret_of(ns, name, m) {
                out.push(Listed {
                    object,
                    managers: Vec::new(),
                });
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{OwnerRef, intern};

    /// The `kubernetes.io/service-account.name` annotation (any writer may set it on an Opaque
    /// Secret) is not kept by the view, so it earns no `system` class here: the Secret is still
    /// judged (VG101), whatever type the annotation made the view assume.
    #[test]
    fn an_opaque_secret_with_the_service_account_annotation_is_still_judged_by_the_audit() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let policy = crate::policy::Policy::default();
        let meta = ObjectMeta {
            name: Some("db-creds".into()),
            namespace: Some("payments".into()),
            annotations: Some(
                [(
                    "kubernetes.io/service-account.name".to_owned(),
                    "default".to_owned(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        };
        let m = crate::cluster::compact_meta(&meta, &policy.prefix);
        let object = secret_of("payments", "db-creds", &m).expect("a Secret");
        let mut view = crate::cluster::MemoryView::from_policy(&policy);
        view.insert(&object, None);
        let listed = vec![Listed {
            object,
            managers: Vec::new(),
        }];
        let report = crate::audit::audit(&listed, &policy, &view, std::time::SystemTime::now());
        let o = &report.objects[0];
        assert!(
            o.violations.iter().any(|v| v.rule == "VG101"),
            "class {:?}, producer {:?}, violations {:?}",
            o.class,
            o.producer.name,
            o.violations
        );
    }

    #[test]
    fn a_watched_secret_reads_back_with_its_owner_uid_kept_keys_and_type() {
        let meta = SecretMeta {
            labels: [("reconcile.external-secrets.io/managed", "true")]
                .into_iter()
                .collect(),
            owners: vec![OwnerRef {
                api_version: intern("external-secrets.io/v1"),
                kind: intern("ExternalSecret"),
                name: "db".into(),
                controller: true,
                uid: "es-uid".into(),
            }]
            .into(),
            type_: Some(intern("Opaque")),
            ..SecretMeta::default()
        };
        let Some(Object::Secret(s)) = secret_of("payments", "db", &meta) else {
            panic!("a Secret");
        };
        assert_eq!(s.metadata.namespace.as_deref(), Some("payments"));
        assert_eq!(
            s.label("reconcile.external-secrets.io/managed"),
            Some("true")
        );
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        let owner = &s.metadata.owner_references.as_ref().expect("owners")[0];
        assert_eq!((owner.name.as_str(), owner.uid.as_str()), ("db", "es-uid"));
        assert_eq!(owner.controller, Some(true));
    }
}
