//! Bypass attempts, each named after the rule it attacks: the spellings, markers and request
//! shapes an attacker (or a careless chart) would try to slip a write past RFC-SECOPS-0001.
//! Every test also runs a control — the honest version of the same write — so a test that
//! "passes" because everything is denied would be caught.
//!
//! Two gaps found this way (non-Kubernetes static Vault auth, other producers rewriting a pending
//! bootstrap Secret) are fixed (VG402, VG110); their tests are marked "Was a bypass".
//!
//! One module per attacked rule family; the shared writes, helpers and constants are here.

mod bootstrap;
mod class_label;
mod copy_markers;
mod deletion;
mod forged;
mod paths;
mod stores;
mod unmanaged;
mod vault_auth;

use std::sync::Arc;

use serde_json::{Value, json};
use vaultgate::{
    admission::{Route, Webhook},
    cluster::MemoryView,
    metrics::Metrics,
    policy::{self, Class, Decision, Identity, Object, Operation, Policy, Review, objects::Kind},
};

const HUMAN: &str = "alice";
const CI: &str = "system:serviceaccount:tekton-pipelines:default";
const ESO: &str = "system:serviceaccount:external-secrets:external-secrets";
const SEALED: &str = "system:serviceaccount:kube-system:sealed-secrets-controller";
const ARGOCD: &str = "system:serviceaccount:argocd:argocd-application-controller";
const FLUX: &str = "system:serviceaccount:flux-system:kustomize-controller";
const CERT_MANAGER: &str = "system:serviceaccount:cert-manager:cert-manager";
const CLASS: &str = "platform.pnats.cloud/secret-class";

/// One write to evaluate.
struct Write<'a> {
    kind: Kind,
    operation: Operation,
    namespace: Option<&'a str>,
    user: &'a str,
    object: Value,
    old: Option<Value>,
}

impl<'a> Write<'a> {
    fn create(kind: Kind, namespace: &'a str, user: &'a str, object: Value) -> Self {
        Self {
            kind,
            operation: Operation::Create,
            namespace: Some(namespace),
            user,
            object,
            old: None,
        }
    }

    fn update(kind: Kind, namespace: &'a str, user: &'a str, old: Value, object: Value) -> Self {
        Self {
            kind,
            operation: Operation::Update,
            namespace: Some(namespace),
            user,
            object,
            old: Some(old),
        }
    }

    fn evaluate_in(&self, view: &MemoryView) -> Decision {
        let policy = Policy::default();
        let object = Object::from_value(self.kind, self.object.clone()).expect("object decodes");
        let old = self
            .old
            .clone()
            .map(|o| Object::from_value(self.kind, o).expect("old object decodes"));
        let user = Identity::new(self.user, groups(self.user));
        let review = Review {
            uid: "bypass",
            operation: self.operation,
            namespace: self.namespace,
            name: object.name(),
            user: &user,
            object: &object,
            old: old.as_ref(),
            dry_run: false,
        };
        policy::evaluate(&review, &policy, view)
    }

    fn evaluate(&self) -> Decision {
        self.evaluate_in(&MemoryView::from_policy(&Policy::default()))
    }
}

/// The groups the apiserver gives a user (service accounts get theirs).
fn groups(user: &str) -> Vec<String> {
    match user
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, _)) => vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
        None => vec!["system:authenticated".into()],
    }
}

fn denied(d: &Decision) -> Vec<&'static str> {
    d.denied.iter().map(|v| v.rule.id).collect()
}

#[track_caller]
fn assert_denied_by(d: &Decision, rule: &str, what: &str) {
    assert!(
        denied(d).contains(&rule),
        "{what}: expected {rule}, denied {:?} (class {:?})",
        denied(d),
        d.class
    );
}

#[track_caller]
fn assert_allowed(d: &Decision, what: &str) {
    assert!(
        d.allowed(),
        "{what}: control must be allowed, denied {:?}",
        d.denied.iter().map(|v| v.to_string()).collect::<Vec<_>>()
    );
}

fn secret(name: &str, namespace: &str, meta: Value) -> Value {
    let mut metadata = json!({ "name": name, "namespace": namespace });
    if let (Some(m), Some(extra)) = (metadata.as_object_mut(), meta.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    json!({ "apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "data": { "password": "cGFzcw==" } })
}

fn owner(api_version: &str, kind: &str) -> Value {
    json!({ "apiVersion": api_version, "kind": kind, "name": "db", "uid": "0b6c5f0e-1111-4222-8333-944445555666", "controller": true })
}

fn es_owner() -> Value {
    json!({ "ownerReferences": [owner("external-secrets.io/v1", "ExternalSecret")] })
}

fn sealed_owner() -> Value {
    json!({ "ownerReferences": [owner("bitnami.com/v1alpha1", "SealedSecret")] })
}

fn view_with(objects: &[(Kind, &str, Value)]) -> MemoryView {
    let mut view = MemoryView::from_policy(&Policy::default());
    for (kind, ns, object) in objects {
        view.insert(
            &Object::from_value(*kind, object.clone()).expect("object"),
            Some(ns),
        );
    }
    view
}

// ------------------------------------------------------------------------------------------------
// ESO objects for the store and path cases.

fn external_secret(store_ref: Value, key: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": { "name": "db", "namespace": "payments" },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": store_ref,
            "target": { "name": "db" },
            "data": [{ "secretKey": "password", "remoteRef": { "key": key, "property": "password" } }]
        }
    })
}

fn push_secret(store_refs: Value, remote_key: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": { "name": "db", "namespace": "temporal" },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRefs": store_refs,
            "selector": { "secret": { "name": "temporal-db" } },
            "data": [{ "match": { "secretKey": "password", "remoteRef": { "remoteKey": remote_key, "property": "password" } } }]
        }
    })
}

#[allow(non_snake_case)]
fn APPROVED() -> Value {
    json!({ "kind": "ClusterSecretStore", "name": "vault-backend" })
}

// ------------------------------------------------------------------------------------------------
// Helpers for the webhook-level cases.

fn webhook() -> Webhook {
    let policy = Policy::default();
    let view = MemoryView::from_policy(&policy);
    Webhook::new(Arc::new(policy), Arc::new(view), Arc::new(Metrics::new()))
}

fn admission_review(
    kind: (&str, &str, &str),
    operation: &str,
    namespace: &str,
    name: &str,
    user: &str,
    object: Value,
    old: Value,
) -> Vec<u8> {
    let (group, version, kind) = kind;
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "bypass-uid",
            "kind": { "group": group, "version": version, "kind": kind },
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "userInfo": { "username": user, "groups": groups(user) },
            "object": object,
            "oldObject": old,
            "dryRun": false
        }
    }))
    .expect("encode")
}

fn respond(hook: &Webhook, route: Route, body: &[u8]) -> Value {
    let out = hook
        .review(route, body)
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let v: Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(v["response"]["uid"], "bypass-uid");
    v["response"].clone()
}

/// Rule ids named in a denial message, in order.
fn rule_ids(response: &Value) -> Vec<String> {
    let msg = response["status"]["message"].as_str().unwrap_or("");
    msg.lines()
        .filter_map(|l| l.strip_prefix('['))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}
