//! The provenance classifier: which class a Secret belongs to, from trusted signals only —
//! the writer's identity first, then owner references, and labels only as Git-declared intent
//! confirmed by an identity allowed to declare it (docs/ARCHITECTURE.md §1).

use serde::{Deserialize, Serialize};

use super::{Operation, Policy, Review, identity::Writer, objects::SecretObject};
use crate::policy::view::ClusterView;

/// Secret classes (label `<prefix>secret-class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    Materialized,
    Bootstrap,
    Derived,
    Internal,
    InternalConfig,
    System,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Materialized => "materialized",
            Self::Bootstrap => "bootstrap",
            Self::Derived => "derived",
            Self::Internal => "internal",
            Self::InternalConfig => "internal-config",
            Self::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "materialized" => Self::Materialized,
            "bootstrap" => Self::Bootstrap,
            "derived" => Self::Derived,
            "internal" => Self::Internal,
            "internal-config" => Self::InternalConfig,
            "system" => Self::System,
            _ => return None,
        })
    }

    /// Classes an in-cluster operator produces (and may publish to Vault).
    pub fn is_operator_class(self) -> bool {
        matches!(self, Self::Derived | Self::Internal | Self::InternalConfig)
    }
}

/// The classifier's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provenance<'a> {
    /// `None`: unclassified, i.e. not from any approved producer.
    pub class: Option<Class>,
    /// For bootstrap Secrets: the decrypter's name (the `bootstrap-source` label).
    pub source: Option<&'a str>,
}

const SA_TOKEN: &str = "kubernetes.io/service-account-token";
const BOOTSTRAP_TOKEN: &str = "bootstrap.kubernetes.io/token";
const HELM_RELEASE: &str = "helm.sh/release.v1";

/// Secret types Kubernetes (or Helm's release storage) writes. A `type` is a claim anyone can
/// make, so the `system` class is granted only when the object is what its type says and is
/// written by whom that type is written by ([`system_earned`]).
pub const SYSTEM_TYPES: [&str; 3] = [SA_TOKEN, BOOTSTRAP_TOKEN, HELM_RELEASE];

/// The keys the token controller writes into a service-account token Secret.
const SA_TOKEN_KEYS: [&str; 3] = ["token", "ca.crt", "namespace"];

/// Whether a Secret is Helm's release storage record as Helm's storage driver writes it: named
/// `sh.helm.release.v1.<release>.v<N>`, labelled `owner=helm`, `name=<release>`,
/// `version=<N>` and a `status`, with no owner, no annotations (Helm's storage driver writes
/// none; a chart hook carries `helm.sh/hook`) and none of the labels Flux puts on the objects it
/// renders from a chart (so a chart template or hook shaped like a record is not one).
fn is_helm_release_record(secret: &SecretObject, name: &str) -> bool {
    let Some((release, version)) = name
        .strip_prefix("sh.helm.release.v1.")
        .and_then(|rest| rest.rsplit_once(".v"))
    else {
        return false;
    };
    let rendered_by_flux = secret
        .metadata
        .labels
        .iter()
        .flatten()
        .any(|(k, _)| k.starts_with("helm.toolkit.fluxcd.io/"));
    if secret.label("owner") != Some("helm")
        || secret.label("name") != Some(release)
        || secret.label("version") != Some(version)
        || secret.label("status").is_none_or(str::is_empty)
        || secret
            .metadata
            .owner_references
            .iter()
            .flatten()
            .next()
            .is_some()
        || secret
            .metadata
            .annotations
            .iter()
            .flatten()
            .next()
            .is_some()
        || rendered_by_flux
    {
        return false;
    }
    let release_ok = !release.is_empty()
        && release
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let version_ok = !version.is_empty()
        && !version.starts_with('0')
        && version.bytes().all(|b| b.is_ascii_digit());
    release_ok && version_ok
}

/// Whether a Secret of a system type really is one, written by its real writer:
/// - Helm release storage: the `sh.helm.release.v1.<release>.v<N>` name, label `owner=helm`,
///   `name`/`version`/`status` labels, no owner and no Flux render labels, the single key
///   `release`, written by Helm's identity (`identities.helm`, Flux's
///   helm-controller): a GitOps controller applying such a manifest would be Git putting a
///   plain value into the namespace;
/// - a service-account token: only `token`/`ca.crt`/`namespace`, the
///   `kubernetes.io/service-account.name` annotation, and values only from the control plane
///   (anyone else may create the empty shell the token controller fills);
/// - a bootstrap token: only in kube-system.
pub fn system_earned(secret: &SecretObject, review: &Review<'_>, writer: &Writer<'_>) -> bool {
    match secret.type_.as_deref() {
        Some(HELM_RELEASE) => {
            writer.helm
                && is_helm_release_record(secret, review.name)
                && secret.keys().eq(["release"])
        }
        Some(SA_TOKEN) => {
            secret
                .annotation("kubernetes.io/service-account.name")
                .is_some_and(|n| !n.is_empty())
                && secret.keys().all(|k| SA_TOKEN_KEYS.contains(&k))
                && (writer.kubernetes || secret.is_empty())
        }
        Some(BOOTSTRAP_TOKEN) => review.namespace == Some("kube-system"),
        _ => false,
    }
}

/// Classifies a Secret write.
pub fn classify<'a>(
    secret: &SecretObject,
    review: &Review<'_>,
    writer: &Writer<'a>,
    policy: &Policy,
    view: &dyn ClusterView,
) -> Provenance<'a> {
    let none = Provenance {
        class: None,
        source: None,
    };
    if system_earned(secret, review, writer) {
        return Provenance {
            class: Some(Class::System),
            source: None,
        };
    }
    let declared = secret
        .label(&policy.reserved_key("secret-class"))
        .and_then(Class::parse);

    if writer.eso && secret.is_materialized() {
        return Provenance {
            class: Some(Class::Materialized),
            source: None,
        };
    }
    if let Some(source) = writer.decrypter
        && (secret.is_sealed() || declared == Some(Class::Bootstrap))
    {
        return Provenance {
            class: Some(Class::Bootstrap),
            source: Some(source),
        };
    }
    if writer.handover && review.operation == Operation::Update {
        // The handover controller only advances bootstrap Secrets it already watches.
        let old_class = review.old.and_then(|o| {
            o.metadata()
                .labels
                .as_ref()?
                .get(&*policy.reserved_key("secret-class"))
                .cloned()
        });
        if old_class.as_deref() == Some("bootstrap") {
            return Provenance {
                class: Some(Class::Bootstrap),
                source: None,
            };
        }
    }
    if let Some(op) = writer.operator {
        let in_scope = (op.namespaces.is_empty()
            || review
                .namespace
                .is_some_and(|ns| op.namespaces.iter().any(|n| n == ns)))
            && (op.names.is_empty() || op.names.iter().any(|n| n == review.name));
        if in_scope {
            let class = declared
                .filter(|c| c.is_operator_class())
                .unwrap_or(op.class);
            return Provenance {
                class: Some(class),
                source: None,
            };
        }
    }
    let _ = view;
    none
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        cluster::MemoryView,
        policy::{Identity, objects::Object},
    };

    fn classify_as(
        user: &str,
        ns: &str,
        secret: serde_json::Value,
        policy: &Policy,
    ) -> Option<Class> {
        classify_in(user, ns, "s", secret, policy)
    }

    fn classify_in(
        user: &str,
        ns: &str,
        name: &str,
        secret: serde_json::Value,
        policy: &Policy,
    ) -> Option<Class> {
        let object = Object::from_value(crate::policy::objects::Kind::Secret, secret).unwrap();
        let Object::Secret(s) = &object else {
            unreachable!()
        };
        let identity = Identity::new(user, vec![]);
        let review = Review {
            uid: "u",
            operation: Operation::Create,
            namespace: Some(ns),
            name,
            user: &identity,
            object: &object,
            old: None,
            dry_run: false,
            now: std::time::SystemTime::UNIX_EPOCH,
        };
        let writer = Writer::of(&identity, policy);
        classify(s, &review, &writer, policy, &MemoryView::default()).class
    }

    fn secret(
        labels: serde_json::Value,
        owners: serde_json::Value,
        type_: &str,
    ) -> serde_json::Value {
        serde_json::json!({"metadata": {"name": "s", "labels": labels, "ownerReferences": owners}, "type": type_})
    }

    const POSTGRES_OPERATOR: &str = "system:serviceaccount:postgres-operator:postgres-operator";

    fn with_operator() -> Policy {
        Policy::from_yaml(&format!(
            "identities:\n  operators:\n    - name: zalando\n      users: [\"{POSTGRES_OPERATOR}\"]\n      class: internal\n      namespaces: [postgres]\n"
        ))
        .unwrap()
    }

    #[test]
    fn operator_secrets_take_the_operator_class_or_its_declared_operator_class() {
        let p = with_operator();
        let empty = serde_json::json!({});
        assert_eq!(
            classify_as(
                POSTGRES_OPERATOR,
                "postgres",
                secret(empty.clone(), serde_json::json!([]), "Opaque"),
                &p
            ),
            Some(Class::Internal)
        );
        let config = serde_json::json!({"platform.pnats.cloud/secret-class": "internal-config"});
        assert_eq!(
            classify_as(
                POSTGRES_OPERATOR,
                "postgres",
                secret(config, serde_json::json!([]), "Opaque"),
                &p
            ),
            Some(Class::InternalConfig)
        );
        let claims_bootstrap =
            serde_json::json!({"platform.pnats.cloud/secret-class": "bootstrap"});
        assert_eq!(
            classify_as(
                POSTGRES_OPERATOR,
                "postgres",
                secret(claims_bootstrap, serde_json::json!([]), "Opaque"),
                &p
            ),
            Some(Class::Internal)
        );
    }

    #[test]
    fn operator_outside_its_namespaces_is_unclassified() {
        let p = with_operator();
        assert_eq!(
            classify_as(
                POSTGRES_OPERATOR,
                "payments",
                secret(serde_json::json!({}), serde_json::json!([]), "Opaque"),
                &p
            ),
            None
        );
    }

    #[test]
    fn eso_without_an_external_secret_owner_or_managed_label_is_unclassified() {
        let p = Policy::default();
        let eso = "system:serviceaccount:external-secrets:external-secrets";
        assert_eq!(
            classify_as(
                eso,
                "payments",
                secret(serde_json::json!({}), serde_json::json!([]), "Opaque"),
                &p
            ),
            None
        );
        let owner = serde_json::json!([{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "x", "uid": "1"}]);
        assert_eq!(
            classify_as(
                eso,
                "payments",
                secret(serde_json::json!({}), owner, "Opaque"),
                &p
            ),
            Some(Class::Materialized)
        );
    }

    #[test]
    fn a_decrypter_needs_a_sealed_owner_or_the_declared_bootstrap_label() {
        let p = Policy::default();
        let argo = "system:serviceaccount:argocd:argocd-application-controller";
        assert_eq!(
            classify_as(
                argo,
                "argocd",
                secret(serde_json::json!({}), serde_json::json!([]), "Opaque"),
                &p
            ),
            None
        );
        let declared = serde_json::json!({"platform.pnats.cloud/secret-class": "bootstrap"});
        assert_eq!(
            classify_as(
                argo,
                "argocd",
                secret(declared, serde_json::json!([]), "Opaque"),
                &p
            ),
            Some(Class::Bootstrap)
        );
    }

    fn classify_named(
        user: &str,
        ns: &str,
        name: &str,
        secret: serde_json::Value,
    ) -> Option<Class> {
        classify_in(user, ns, name, secret, &Policy::default())
    }

    const HELM: &str = "system:serviceaccount:flux-system:helm-controller";
    const RELEASE: &str = "sh.helm.release.v1.payments-api.v3";

    fn helm_release(labels: serde_json::Value, data: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"metadata": {"name": RELEASE, "labels": labels}, "type": "helm.sh/release.v1", "data": data})
    }

    #[test]
    fn a_system_type_alone_does_not_earn_the_system_class() {
        for t in SYSTEM_TYPES {
            let secret = serde_json::json!({"metadata": {"name": "s"}, "type": t, "data": {"password": "cA=="}});
            assert_eq!(
                classify_named("alice", "payments", "s", secret.clone()),
                None,
                "{t}"
            );
            assert_eq!(
                classify_named(HELM, "payments", "s", secret),
                None,
                "{t} by helm"
            );
        }
    }

    #[test]
    fn helm_release_storage_is_system_only_as_helm_writes_it() {
        let owner = serde_json::json!({"owner": "helm", "name": "payments-api", "version": "3", "status": "deployed"});
        let release = serde_json::json!({"release": "SDRzSQ=="});
        assert_eq!(
            classify_named(
                HELM,
                "payments",
                RELEASE,
                helm_release(owner.clone(), release.clone())
            ),
            Some(Class::System)
        );
        // Argo CD applying it from Git is Git putting a plain value into the namespace.
        assert_eq!(
            classify_named(
                "system:serviceaccount:argocd:argocd-application-controller",
                "payments",
                RELEASE,
                helm_release(owner.clone(), release.clone())
            ),
            None
        );
        // A human running `helm install`, a second key, no owner label, a non-Helm name.
        assert_eq!(
            classify_named(
                "alice",
                "payments",
                RELEASE,
                helm_release(owner.clone(), release.clone())
            ),
            None
        );
        let two_keys = serde_json::json!({"release": "SDRzSQ==", "password": "cA=="});
        assert_eq!(
            classify_named(
                HELM,
                "payments",
                RELEASE,
                helm_release(owner.clone(), two_keys)
            ),
            None
        );
        assert_eq!(
            classify_named(
                HELM,
                "payments",
                RELEASE,
                helm_release(serde_json::json!({}), release.clone())
            ),
            None
        );
        for name in [
            "db",
            "sh.helm.release.v1.app.v0",
            "sh.helm.release.v1..v1",
            "sh.helm.release.v1.App.v1",
            "sh.helm.release.v1.app.vx",
        ] {
            assert_eq!(
                classify_named(
                    HELM,
                    "payments",
                    name,
                    helm_release(owner.clone(), release.clone())
                ),
                None,
                "{name}"
            );
        }
    }

    #[test]
    fn a_chart_template_shaped_like_a_release_record_is_not_one() {
        let labels = |extra: &[(&str, &str)]| {
            let mut l = serde_json::json!({"owner": "helm", "name": "payments-api", "version": "3", "status": "deployed"});
            for (k, v) in extra {
                l[*k] = serde_json::json!(v);
            }
            l
        };
        let release = serde_json::json!({"release": "SDRzSQ=="});
        let flux = labels(&[("helm.toolkit.fluxcd.io/name", "payments-api")]);
        let other_version = labels(&[("version", "4")]);
        let other_release = labels(&[("name", "evil")]);
        for l in [flux, other_version, other_release] {
            assert_eq!(
                classify_named(
                    HELM,
                    "payments",
                    RELEASE,
                    helm_release(l.clone(), release.clone())
                ),
                None,
                "{l}"
            );
        }
        let mut hook = helm_release(labels(&[]), release.clone());
        hook["metadata"]["annotations"] = serde_json::json!({"helm.sh/hook": "post-install"});
        assert_eq!(
            classify_named(HELM, "payments", RELEASE, hook),
            None,
            "chart hook"
        );
        let mut owned = helm_release(labels(&[]), release);
        owned["metadata"]["ownerReferences"] = serde_json::json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1", "controller": true}]);
        assert_eq!(classify_named(HELM, "payments", RELEASE, owned), None);
    }

    #[test]
    fn a_service_account_token_is_system_only_as_an_empty_shell_or_from_the_control_plane() {
        let token = |data: serde_json::Value, annotations: serde_json::Value| serde_json::json!({"metadata": {"name": "t", "annotations": annotations}, "type": "kubernetes.io/service-account-token", "data": data});
        let sa = serde_json::json!({"kubernetes.io/service-account.name": "builder"});
        let filled = serde_json::json!({"token": "dA==", "ca.crt": "Yw==", "namespace": "cA=="});
        assert_eq!(
            classify_named(
                "alice",
                "payments",
                "t",
                token(serde_json::json!({}), sa.clone())
            ),
            Some(Class::System)
        );
        assert_eq!(
            classify_named(
                "system:kube-controller-manager",
                "payments",
                "t",
                token(filled.clone(), sa.clone())
            ),
            Some(Class::System)
        );
        // A human bringing the token value (a copy of another token), other keys, no annotation.
        assert_eq!(
            classify_named("alice", "payments", "t", token(filled, sa.clone())),
            None
        );
        let other = serde_json::json!({"password": "cA=="});
        assert_eq!(
            classify_named(
                "system:kube-controller-manager",
                "payments",
                "t",
                token(other, sa)
            ),
            None
        );
        assert_eq!(
            classify_named(
                "alice",
                "payments",
                "t",
                token(serde_json::json!({}), serde_json::json!({}))
            ),
            None
        );
    }

    #[test]
    fn a_bootstrap_token_is_system_only_in_kube_system() {
        let secret = serde_json::json!({"metadata": {"name": "bootstrap-token-abcdef"}, "type": "bootstrap.kubernetes.io/token", "data": {"token-id": "YQ=="}});
        assert_eq!(
            classify_named(
                "alice",
                "payments",
                "bootstrap-token-abcdef",
                secret.clone()
            ),
            None
        );
        assert_eq!(
            classify_named("alice", "kube-system", "bootstrap-token-abcdef", secret),
            Some(Class::System)
        );
    }
}
