//! Context a rule needed that the view does not hold. A live view answers "does not exist" and
//! the rule judges that; a view without a cluster (`vaultgate check`) only knows the objects it
//! was given, so the rule records what it could not see, and [`crate::policy::evaluate`] returns
//! it in [`Decision::missing`](crate::policy::Decision::missing) instead of assuming it fine.

use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use super::{
    BindingInfo, ClusterView, ExternalSecretInfo, PushSecretInfo, RoleInfo, SecretMeta, StoreInfo,
};

/// One object a rule needed and the view did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// Its kind: `Secret`, `ClusterSecretStore`, ...
    pub kind: String,
    /// Its namespace (None: cluster-scoped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// The field of the object under review that refers to it, when the rule knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What could not be judged without it.
    pub needed_for: String,
}

impl Missing {
    /// `Secret "payments/db"` or `ClusterSecretStore "vault-backend"`.
    pub fn target(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} \"{ns}/{}\"", self.kind, self.name),
            None => format!("{} {:?}", self.kind, self.name),
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.target())?;
        if let Some(field) = &self.field {
            write!(f, " ({field})")?;
        }
        write!(f, ", needed for {}", self.needed_for)
    }
}

/// A view that delegates every lookup and collects what rules report missing. Used only over
/// a view that is not live, for the duration of one evaluation. Every method of
/// [`ClusterView`] must be delegated here: one left to its default would silently answer
/// "nothing" during `check` (`tests/policy/check_cli` judges RBAC sets through it).
///
/// It can also hide one Secret ([`Recorder::hiding`]): the audit judges an existing object "as
/// written now", against the view as it was before that write, so the object must not see
/// itself (a handed-over bootstrap Secret would read as its own re-population). One wrapper
/// for both, so no second delegation of every method can fall behind the port.
pub(crate) struct Recorder<'a> {
    inner: &'a dyn ClusterView,
    missing: Mutex<Vec<Missing>>,
    hidden: Option<(&'a str, &'a str)>,
}

impl<'a> Recorder<'a> {
    pub(crate) fn new(inner: &'a dyn ClusterView) -> Self {
        Self {
            inner,
            missing: Mutex::new(Vec::new()),
            hidden: None,
        }
    }

    /// The same view without the Secret `namespace/name`.
    pub(crate) fn hiding(mut self, namespace: &'a str, name: &'a str) -> Self {
        self.hidden = Some((namespace, name));
        self
    }

    /// What was recorded, each object once.
    pub(crate) fn into_missing(self) -> Vec<Missing> {
        let mut missing = self
            .missing
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let mut seen = Vec::with_capacity(missing.len());
        missing.retain(|m| {
            let key = (m.kind.clone(), m.namespace.clone(), m.name.clone());
            let new = !seen.contains(&key);
            seen.push(key);
            new
        });
        missing
    }
}

impl ClusterView for Recorder<'_> {
    fn synced(&self) -> bool {
        self.inner.synced()
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    fn note_missing(&self, missing: Missing) {
        self.missing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(missing);
    }

    fn store(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<StoreInfo> {
        self.inner.store(kind, namespace, name)
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<SecretMeta>> {
        if self.hidden == Some((namespace, name)) {
            return None;
        }
        self.inner.secret(namespace, name)
    }

    fn external_secrets_targeting(
        &self,
        namespace: &str,
        secret: &str,
    ) -> Vec<Arc<ExternalSecretInfo>> {
        self.inner.external_secrets_targeting(namespace, secret)
    }

    fn push_secrets_from(&self, namespace: &str, secret: &str) -> Vec<Arc<PushSecretInfo>> {
        self.inner.push_secrets_from(namespace, secret)
    }

    fn path_publishers(&self, path: &str) -> Vec<Arc<PushSecretInfo>> {
        self.inner.path_publishers(path)
    }

    fn external_secret(&self, namespace: &str, name: &str) -> Option<Arc<ExternalSecretInfo>> {
        self.inner.external_secret(namespace, name)
    }

    fn digest_value(&self, value: &[u8]) -> Option<String> {
        self.inner.digest_value(value)
    }

    fn value_holders(&self, digest: &str) -> Vec<(String, String, Arc<SecretMeta>)> {
        self.inner.value_holders(digest)
    }

    fn owner_exists(&self, namespace: &str, kind: &str, name: &str, uid: &str) -> Option<bool> {
        self.inner.owner_exists(namespace, kind, name, uid)
    }

    fn knows_rbac(&self) -> bool {
        self.inner.knows_rbac()
    }

    fn role(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Arc<RoleInfo>> {
        self.inner.role(kind, namespace, name)
    }

    fn cluster_roles(&self) -> Vec<Arc<RoleInfo>> {
        self.inner.cluster_roles()
    }

    fn bindings_to(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Vec<Arc<BindingInfo>> {
        self.inner.bindings_to(kind, namespace, name)
    }

    fn bindings_of_service_account(&self, namespace: &str, name: &str) -> Vec<Arc<BindingInfo>> {
        self.inner.bindings_of_service_account(namespace, name)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        cluster::MemoryView,
        policy::{
            self, Identity, Operation, Policy, Review,
            objects::{Kind, Object},
        },
    };

    /// The same in-memory contents, declared live: absence now means "does not exist".
    struct Live(MemoryView);

    impl ClusterView for Live {
        fn is_live(&self) -> bool {
            true
        }
        fn store(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<StoreInfo> {
            self.0.store(kind, namespace, name)
        }
        fn secret(&self, namespace: &str, name: &str) -> Option<Arc<SecretMeta>> {
            self.0.secret(namespace, name)
        }
        fn external_secrets_targeting(&self, ns: &str, s: &str) -> Vec<Arc<ExternalSecretInfo>> {
            self.0.external_secrets_targeting(ns, s)
        }
        fn push_secrets_from(&self, ns: &str, s: &str) -> Vec<Arc<PushSecretInfo>> {
            self.0.push_secrets_from(ns, s)
        }
        fn path_publishers(&self, path: &str) -> Vec<Arc<PushSecretInfo>> {
            self.0.path_publishers(path)
        }
    }

    fn push_without_source(view: &dyn ClusterView) -> policy::Decision {
        let object = Object::from_value(
            Kind::PushSecret,
            json!({
                "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
                "metadata": {"name": "publish", "namespace": "postgres"},
                "spec": {
                    "refreshInterval": "1h",
                    "secretStoreRefs": [{"kind": "ClusterSecretStore", "name": "vault-backend"}],
                    "selector": {"secret": {"name": "generated-creds"}},
                    "data": [{"match": {"secretKey": "password",
                        "remoteRef": {"remoteKey": "platform-data/postgres/billing", "property": "password"}}}]
                }
            }),
        )
        .expect("PushSecret decodes");
        let user = Identity::new(
            "system:serviceaccount:argocd:argocd-application-controller",
            vec!["system:serviceaccounts:argocd".into()],
        );
        let review = Review {
            uid: "t",
            operation: Operation::Create,
            namespace: Some("postgres"),
            name: object.name(),
            user: &user,
            object: &object,
            old: None,
            dry_run: false,
            now: std::time::SystemTime::UNIX_EPOCH,
        };
        policy::evaluate(&review, &Policy::default(), view)
    }

    #[test]
    fn a_live_view_denies_a_missing_push_source_and_never_reports_missing_context() {
        let live = Live(MemoryView::from_policy(&Policy::default()));
        let decision = push_without_source(&live);
        assert!(decision.missing.is_empty(), "{:?}", decision.missing);
        assert_eq!(decision.rule_ids(), "VG307", "{decision:?}");
        assert!(decision.denied[0].what.contains("does not exist"));
    }

    #[test]
    fn a_view_without_a_cluster_says_the_push_source_is_missing_instead_of_allowing() {
        let view = MemoryView::from_policy(&Policy::default());
        let decision = push_without_source(&view);
        assert!(decision.allowed(), "{decision:?}");
        assert!(!decision.evaluated());
        assert_eq!(
            decision.missing,
            vec![Missing {
                kind: "Secret".into(),
                namespace: Some("postgres".into()),
                name: "generated-creds".into(),
                field: Some("spec.selector.secret.name".into()),
                needed_for: "VG307 push-source (what the PushSecret publishes)".into(),
            }]
        );
    }

    #[test]
    fn an_unknown_store_is_missing_context_only_without_a_cluster() {
        let mut policy = Policy::default();
        policy.stores.approved[0].kind = "SecretStore".into();
        let object = Object::from_value(
            Kind::ExternalSecret,
            json!({
                "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": "db", "namespace": "payments"},
                "spec": {
                    "refreshInterval": "1h",
                    "secretStoreRef": {"kind": "SecretStore", "name": "vault-backend"},
                    "target": {"name": "db"},
                    "data": [{"secretKey": "password", "remoteRef": {
                        "key": "platform-data/postgres/payments", "property": "password"}}]
                }
            }),
        )
        .expect("ExternalSecret decodes");
        let user = Identity::new(
            "system:serviceaccount:argocd:argocd-application-controller",
            vec![],
        );
        let review = Review {
            uid: "t",
            operation: Operation::Create,
            namespace: Some("payments"),
            name: "db",
            user: &user,
            object: &object,
            old: None,
            dry_run: false,
            now: std::time::SystemTime::UNIX_EPOCH,
        };
        let offline = policy::evaluate(&review, &policy, &MemoryView::from_policy(&policy));
        assert_eq!(offline.missing.len(), 1, "{offline:?}");
        assert_eq!(
            offline.missing[0].target(),
            "SecretStore \"payments/vault-backend\""
        );
        let live = policy::evaluate(&review, &policy, &Live(MemoryView::from_policy(&policy)));
        assert!(live.missing.is_empty());
        assert!(
            !live.allowed(),
            "a store that does not exist is denied live"
        );
    }
}
