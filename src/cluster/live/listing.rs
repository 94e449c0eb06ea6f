//! The live view read back for the in-cluster audit (`serve --audit-interval`), a namespace at a
//! time ([`Source`]): the Secrets the watches hold, rebuilt as objects from their reduced
//! metadata, then the ExternalSecrets, PushSecrets and SecretStores kept whole for the audit
//! ([`Held`](super::Held)); the cluster-scoped ones (ClusterSecretStores,
//! ClusterExternalSecrets, ClusterPushSecrets) come under the namespace `""`, the
//! ClusterPolicyReport. Those are judged with their field managers kept (who and how), the hint
//! `vaultgate audit` reads too. `secrets_listing` rebuilds the Secrets all at once, which only the
//! benchmark's baseline still does. No API call.
//!
//! What the watch keeps of a Secret is what the rules read (vaultgate's and ESO's keys, the copy
//! tools' markers, owners with their uids), so the audit judges these Secrets as
//! `vaultgate audit` would. A Secret is a service-account token only if the type-selected watch
//! lists it ([`LiveView::token`]), never because of its annotation. `metadata.managedFields` is
//! not held: a producer comes from trusted signals only (a verified owner, vaultgate's stamps,
//! the class label), never from a field manager, and a Secret none of them names is reported
//! with the `unknown` producer. SealedSecrets are held as uids only: no rule judges a
//! SealedSecret itself (the webhook is not called for them); the Secrets they decrypt to are
//! judged, their owner verified against that uid.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::{Held, LiveView, SA_TOKEN};
use crate::{
    audit::{Listed, stream::Source},
    cluster::{SecretMeta, intern},
    policy::{
        Object,
        meta::Meta,
        objects::{Kind, SecretObject},
    },
};

/// The annotation naming a token Secret's service account.
const SA_NAME: &str = "kubernetes.io/service-account.name";

fn pairs(p: &crate::cluster::Pairs) -> Option<BTreeMap<String, String>> {
    (!p.is_empty()).then(|| {
        p.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    })
}

/// A Secret as the engine reads it, from what the watch kept of it; `token` is its account's name
/// if the API lists it as a service-account token ([`LiveView::token`]). Its type is that, or
/// none: the type the view derives from the token annotation is not trusted here. Built
/// directly, not through JSON: every pass rebuilds every Secret.
pub fn secret_of(ns: &str, name: &str, m: &SecretMeta, token: Option<&str>) -> Option<Object> {
    let mut annotations = pairs(&m.annotations);
    if let Some(account) = token {
        annotations
            .get_or_insert_default()
            .insert(SA_NAME.to_owned(), account.to_owned());
    }
    let owner_references = (!m.owners.is_empty()).then(|| {
        m.owners
            .iter()
            .map(|o| OwnerReference {
                api_version: o.api_version.to_string(),
                kind: o.kind.to_string(),
                name: o.name.to_string(),
                uid: o.uid.to_string(),
                controller: Some(o.controller),
                block_owner_deletion: None,
            })
            .collect()
    });
    Some(Object::Secret(SecretObject {
        metadata: Meta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            labels: pairs(&m.labels),
            annotations,
            owner_references,
            ..Meta::default()
        },
        type_: token.map(|_| SA_TOKEN.to_owned()),
        ..SecretObject::default()
    }))
}

fn emit_held(namespace: &str, items: Vec<(Kind, Box<str>, Held)>, f: &mut dyn FnMut(Listed)) {
    for (kind, name, held) in items {
        match held.listed(kind) {
            Some(l) => f(l),
            // It decoded when the watch kept it: only a bug makes this happen.
            None => tracing::warn!(
                namespace,
                name = %name,
                kind = kind.as_str(),
                "a kept object no longer decodes; not audited"
            ),
        }
    }
}

/// The objects kept whole for the audit in `namespace`, as `(kind, name, held)`, by kind then
/// name; `""` holds the cluster-scoped ones.
fn held_in(view: &LiveView, namespace: &str) -> Vec<(Kind, Box<str>, Held)> {
    fn add<V>(
        out: &mut Vec<(Kind, Box<str>, Held)>,
        kind: Kind,
        entries: Vec<(Box<str>, Arc<V>)>,
        held: impl Fn(&V) -> Option<&Held>,
    ) {
        for (name, v) in entries {
            if let Some(h) = held(&v) {
                out.push((kind, name, h.clone()));
            }
        }
    }
    let mut out = Vec::new();
    // By kind, then name (each table lists its own by name).
    if namespace.is_empty() {
        let ces = view.cluster_externals.entries_in("");
        add(&mut out, Kind::ClusterExternalSecret, ces, |h| Some(h));
        let cps = view.cluster_pushes.entries_in("");
        add(&mut out, Kind::ClusterPushSecret, cps, |h| Some(h));
        let css = view.cluster_stores.entries_in("");
        add(&mut out, Kind::ClusterSecretStore, css, |e| e.held.as_ref());
    } else {
        let es = view.externals.entries_in(namespace);
        add(&mut out, Kind::ExternalSecret, es, |e| e.held.as_ref());
        let ps = view.pushes.entries_in(namespace);
        add(&mut out, Kind::PushSecret, ps, |e| e.held.as_ref());
        let st = view.stores.entries_in(namespace);
        add(&mut out, Kind::SecretStore, st, |e| e.held.as_ref());
    }
    out
}

/// The streamed in-cluster audit ([`crate::audit::stream`]) reads the view a namespace at a
/// time: the namespace's records are reference counts, and each Secret is rebuilt as an object
/// only while it is judged.
impl Source for LiveView {
    fn namespaces(&self) -> Vec<Arc<str>> {
        let mut all = self.secrets.namespaces();
        if self.hold {
            for more in [
                self.externals.namespaces(),
                self.pushes.namespaces(),
                self.stores.namespaces(),
            ] {
                all.extend(more);
            }
            let cluster_scoped = [
                self.cluster_stores.len(),
                self.cluster_externals.len(),
                self.cluster_pushes.len(),
            ];
            if cluster_scoped.iter().any(|&n| n > 0) {
                all.push(intern(""));
            }
        }
        all.sort_unstable();
        all.dedup();
        all
    }

    /// By kind then name, as the full audit orders its objects: the kept ESO objects and
    /// stores whose kind sorts before `Secret`, the Secrets, then the rest.
    fn each_in(&self, namespace: &str, f: &mut dyn FnMut(Listed)) {
        let held = held_in(self, namespace);
        let (before, after): (Vec<_>, Vec<_>) = held
            .into_iter()
            .partition(|(kind, _, _)| kind.as_str() < Kind::Secret.as_str());
        emit_held(namespace, before, f);
        for (name, m) in self.secrets.entries_in(namespace) {
            let token = self.token(namespace, &name);
            if let Some(object) = secret_of(namespace, &name, &m, token.as_deref()) {
                f(Listed {
                    object,
                    managers: Vec::new(),
                });
            }
        }
        emit_held(namespace, after, f);
    }
}

impl LiveView {
    /// Every Secret the view holds, as the audit lists it (no field managers).
    pub fn secrets_listing(&self) -> Vec<Listed> {
        let mut out = Vec::with_capacity(self.secrets.len());
        self.secrets.for_each(|ns, name, m| {
            if let Some(object) = secret_of(ns, name, m, self.token(ns, name).as_deref()) {
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
        let object = secret_of("payments", "db-creds", &m, None).expect("a Secret");
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
    fn a_watched_secret_reads_back_with_its_owner_uid_and_kept_keys_and_no_type_but_a_tokens() {
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
        let Some(Object::Secret(s)) = secret_of("payments", "db", &meta, None) else {
            panic!("a Secret");
        };
        assert_eq!(s.metadata.namespace.as_deref(), Some("payments"));
        assert_eq!(
            s.label("reconcile.external-secrets.io/managed"),
            Some("true")
        );
        assert_eq!(s.type_, None, "only the token watch gives a type");
        let Some(Object::Secret(token)) = secret_of("payments", "db", &meta, Some("builder"))
        else {
            panic!("a Secret");
        };
        assert_eq!(
            token.type_.as_deref(),
            Some("kubernetes.io/service-account-token")
        );
        assert_eq!(
            token.annotation("kubernetes.io/service-account.name"),
            Some("builder")
        );
        let owner = &s.metadata.owner_references.as_ref().expect("owners")[0];
        assert_eq!((owner.name.as_str(), owner.uid.as_str()), ("db", "es-uid"));
        assert_eq!(owner.controller, Some(true));
    }
}
