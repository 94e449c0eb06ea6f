//! Helpers shared by the bypass suite (tests/policy/bypass/, denials) and the false-positive
//! suite (tests/policy/false_positives/, allows that must hold): one [`Write`] to judge, the
//! identities, the object builders and assertions, and the HTTPS harness that judges every
//! write twice.
//!
//! Every [`Write::evaluate_in`] evaluates in-process with [`policy::evaluate`] *and* posts the
//! same write as an `admission.k8s.io/v1` AdmissionReview to `/validate` of a real vaultgate
//! HTTPS server (the in-process `server::serve` of tests/common/tls.rs, same policy, a
//! server-side view equal to the test's), and asserts both verdicts agree: `allowed`, the denied
//! and warned rule ids, and the class. The [`Decision`] is returned for the test's own
//! assertions. One CA and serving pair is minted per test binary, one multi-thread runtime
//! drives every request, and one server runs per distinct view (most tests share the default
//! view's), so the ~100 bypass cases stay fast.
//!
//! Included with `#[path]` by tests/policy/main.rs, next to tests/common (`crate::common`).
#![allow(dead_code)] // each suite uses a different subset

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use tokio::runtime::Runtime;
use vaultgate::{
    admission::{Route, Webhook},
    certs::MintedCerts,
    cluster::MemoryView,
    metrics::Metrics,
    policy::{self, Decision, Identity, Object, Operation, Policy, Review, objects::Kind},
    server::ServeOptions,
};

use crate::common::tls::{TestServer, client_builder, mint_localhost};

pub mod invariants;

pub const HUMAN: &str = "alice";
pub const CI: &str = "system:serviceaccount:tekton-pipelines:default";
pub const ESO: &str = "system:serviceaccount:external-secrets:external-secrets";
pub const SEALED: &str = "system:serviceaccount:kube-system:sealed-secrets-controller";
pub const ARGOCD: &str = "system:serviceaccount:argocd:argocd-application-controller";
pub const FLUX: &str = "system:serviceaccount:flux-system:kustomize-controller";
pub const CERT_MANAGER: &str = "system:serviceaccount:cert-manager:cert-manager";
/// The kubeadm cluster administrator (client certificate `O=system:masters`).
pub const CLUSTER_ADMIN: &str = "kubernetes-admin";
pub const CLASS: &str = "platform.pnats.cloud/secret-class";

/// One write to evaluate.
pub struct Write<'a> {
    pub kind: Kind,
    pub operation: Operation,
    pub namespace: Option<&'a str>,
    pub user: &'a str,
    pub object: Value,
    pub old: Option<Value>,
}

impl<'a> Write<'a> {
    pub fn create(kind: Kind, namespace: &'a str, user: &'a str, object: Value) -> Self {
        Self {
            kind,
            operation: Operation::Create,
            namespace: Some(namespace),
            user,
            object,
            old: None,
        }
    }

    pub fn update(
        kind: Kind,
        namespace: &'a str,
        user: &'a str,
        old: Value,
        object: Value,
    ) -> Self {
        Self {
            kind,
            operation: Operation::Update,
            namespace: Some(namespace),
            user,
            object,
            old: Some(old),
        }
    }

    /// Judges the write in-process and over HTTPS against `view`, asserts the two verdicts
    /// agree, and returns the in-process decision.
    #[track_caller]
    pub fn evaluate_in(&self, view: &MemoryView) -> Decision {
        let decision = self.evaluate_in_process(view);
        let response = https::validate(view, &self.admission_review());
        assert_same_verdict(self, &decision, &response);
        decision
    }

    /// [`evaluate_in`](Self::evaluate_in) against the default policy's view.
    #[track_caller]
    pub fn evaluate(&self) -> Decision {
        self.evaluate_in(&MemoryView::from_policy(&Policy::default()))
    }

    fn evaluate_in_process(&self, view: &MemoryView) -> Decision {
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
            now: std::time::SystemTime::now(),
        };
        policy::evaluate(&review, &policy, view)
    }

    /// The AdmissionReview the apiserver would send for this write: kind, group and version
    /// resolved from the Kind (the version from the object's apiVersion when it names the
    /// kind's group), `userInfo` with the user's groups, `oldObject` on UPDATE, and the request
    /// name empty when the object only has a `generateName` (the apiserver names it later).
    fn admission_review(&self) -> (String, Vec<u8>) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let uid = format!("https-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let (group, version) = group_version(self.kind, &self.object);
        let resource = format!("{}s", self.kind.as_str().to_ascii_lowercase());
        let name = self.object["metadata"]["name"].as_str().unwrap_or("");
        let old = match self.operation {
            Operation::Update | Operation::Delete => self.old.clone().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let body = serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": { "group": group, "version": version, "kind": self.kind.as_str() },
                "resource": { "group": group, "version": version, "resource": resource },
                "requestKind": { "group": group, "version": version, "kind": self.kind.as_str() },
                "requestResource": { "group": group, "version": version, "resource": resource },
                "name": name,
                "namespace": self.namespace,
                "operation": self.operation.as_str(),
                "userInfo": { "username": self.user, "groups": groups(self.user) },
                "object": self.object,
                "oldObject": old,
                "dryRun": false
            }
        }))
        .expect("encode the review");
        (uid, body)
    }
}

fn group_version(kind: Kind, object: &Value) -> (&'static str, String) {
    if kind == Kind::Secret {
        return ("", "v1".to_owned());
    }
    // The hidden-control-plane kinds (RBAC, workloads, Crossplane's Vault provider).
    if kind.api_group() != "external-secrets.io" {
        let version = match kind {
            Kind::VaultProviderConfig => "v1beta1",
            Kind::VaultKvSecret => "v1alpha1",
            _ => "v1",
        };
        return (kind.api_group(), version.to_owned());
    }
    let group = "external-secrets.io";
    let default = match kind {
        Kind::PushSecret | Kind::ClusterPushSecret => "v1alpha1",
        _ => "v1",
    };
    let version = object["apiVersion"]
        .as_str()
        .and_then(|a| a.strip_prefix("external-secrets.io/"))
        .filter(|v| !v.is_empty() && !v.contains('/'))
        .unwrap_or(default);
    (group, version.to_owned())
}

/// Rule ids of the `[VGxxx slug]` lines of a denial message (or warnings), in order.
fn bracketed_ids<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    lines
        .filter_map(|l| l.strip_prefix('['))
        .filter_map(|l| l.split_once(']'))
        .filter_map(|(head, _)| head.split_once(' '))
        .map(|(id, _slug)| id)
        .filter(|id| id.starts_with("VG"))
        .map(str::to_owned)
        .collect()
}

/// The HTTPS verdict is the in-process one: same `allowed`, the same denied rule ids (from the
/// `[VGxxx slug]` lines of `status.message`), the same warned ids and the same class audit
/// annotation. Only rule ids and classes are printed, never the object.
#[track_caller]
pub fn assert_same_verdict(write: &Write<'_>, d: &Decision, response: &Value) {
    let what = format!(
        "{} {} {}/{} by {:?}",
        write.operation.as_str(),
        write.kind.as_str(),
        write.namespace.unwrap_or(""),
        write.object["metadata"]["name"]
            .as_str()
            .or(write.object["metadata"]["generateName"].as_str())
            .unwrap_or(""),
        write.user
    );
    let in_process: Vec<String> = denied(d).into_iter().map(str::to_owned).collect();
    let over_https = bracketed_ids(response["status"]["message"].as_str().unwrap_or("").lines());
    assert_eq!(
        response["allowed"].as_bool(),
        Some(d.allowed()),
        "{what}: HTTPS allowed={} but in-process denied {in_process:?}; HTTPS denied {over_https:?}",
        response["allowed"]
    );
    assert_eq!(
        over_https, in_process,
        "{what}: denied rules over HTTPS vs in-process"
    );
    let warned: Vec<String> = d.warned.iter().map(|v| v.rule.id.to_owned()).collect();
    let https_warned = bracketed_ids(
        response["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str),
    );
    assert_eq!(
        https_warned, warned,
        "{what}: warned rules over HTTPS vs in-process"
    );
    assert_eq!(
        response["auditAnnotations"]["class"].as_str(),
        d.class.map(|c| c.as_str()),
        "{what}: class over HTTPS vs in-process"
    );
    assert_eq!(
        response["auditAnnotations"]["exempt"].as_str(),
        d.exempt.map(|e| e.as_str()),
        "{what}: exemption over HTTPS vs in-process"
    );
}

/// AdmissionReviews answered over HTTPS so far in this binary (the harness checks itself).
pub static HTTPS_REVIEWS: AtomicU64 = AtomicU64::new(0);

/// The HTTPS half of the harness.
/// Posts a raw AdmissionReview (whose request uid is `uid`) to the real HTTPS server holding
/// `view`, for a review [`Write`] cannot express (a user with groups of the test's choosing).
pub fn validate_over_https(view: &MemoryView, uid: &str, body: Vec<u8>) -> Value {
    https::validate(view, &(uid.to_owned(), body))
}

mod https {
    use super::*;

    /// The serving pair, minted once per test binary.
    fn pki() -> &'static MintedCerts {
        static PKI: OnceLock<MintedCerts> = OnceLock::new();
        PKI.get_or_init(|| mint_localhost("suites.vaultgate.test"))
    }

    /// One multi-thread runtime for every server and request of the binary.
    fn runtime() -> &'static Runtime {
        static RT: OnceLock<Runtime> = OnceLock::new();
        RT.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("https-harness")
                .enable_all()
                .build()
                .expect("runtime")
        })
    }

    /// A client trusting only the minted CA. Idle connections are dropped well before the
    /// servers' keep-alive timeout, so a pooled connection is never one the server is closing.
    fn client() -> &'static reqwest::Client {
        static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
        CLIENT.get_or_init(|| {
            client_builder(&[&pki().ca_cert_pem])
                .pool_idle_timeout(Duration::from_secs(5))
                .build()
                .expect("client")
        })
    }

    /// Limits loose enough for two shared cores with other builds running: a review is judged
    /// on its merits, never refused for time.
    fn options() -> ServeOptions {
        ServeOptions {
            header_read_timeout: Duration::from_secs(120),
            handshake_timeout: Duration::from_secs(60),
            review_timeout: Duration::from_secs(60),
            max_concurrent_reviews: 64,
            ..ServeOptions::default()
        }
    }

    /// The `/validate` URL of a server judging with the default policy and `view`. Servers are
    /// kept per distinct view (by its full `Debug` rendering), for the life of the binary.
    fn validate_url(view: &MemoryView) -> String {
        static SERVERS: OnceLock<Mutex<HashMap<String, TestServer>>> = OnceLock::new();
        let mut servers = SERVERS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = format!("{view:?}");
        if let Some(server) = servers.get(&key) {
            return server.url("/validate");
        }
        let view = Arc::new(view.clone());
        let server = on_runtime(TestServer::start_with_view(
            pki(),
            options(),
            Policy::default(),
            view,
        ));
        let url = server.url("/validate");
        servers.insert(key, server);
        url
    }

    /// Runs `future` to completion on the shared runtime, also from inside another runtime
    /// (a `#[tokio::test]`), where `block_on` would panic: then from a scoped thread.
    fn on_runtime<F: std::future::Future + Send>(future: F) -> F::Output
    where
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| runtime().block_on(future))
                    .join()
                    .expect("harness thread")
            })
        } else {
            runtime().block_on(future)
        }
    }

    /// Posts `(uid, body)` to `/validate` and returns `response`, checking the envelope: 200,
    /// JSON, `admission.k8s.io/v1` AdmissionReview, uid echoed.
    pub(super) fn validate(view: &MemoryView, (uid, body): &(String, Vec<u8>)) -> Value {
        let url = validate_url(view);
        let (status, text) = on_runtime(async {
            let response = client()
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("the review reaches the server");
            let status = response.status();
            (status, response.text().await.expect("a response body"))
        });
        assert_eq!(status, reqwest::StatusCode::OK, "review refused: {text}");
        let review: Value = serde_json::from_str(&text).expect("the answer is JSON");
        assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(review["kind"], "AdmissionReview");
        assert_eq!(review["response"]["uid"], uid.as_str(), "uid echoed");
        HTTPS_REVIEWS.fetch_add(1, Ordering::Relaxed);
        review["response"].clone()
    }
}

/// The groups the apiserver gives a user: service accounts get theirs, the kubeadm admin its
/// certificate's `system:masters`.
pub fn groups(user: &str) -> Vec<String> {
    if user == CLUSTER_ADMIN {
        return vec!["system:masters".into(), "system:authenticated".into()];
    }
    vaultgate::cli::check::default_groups(user)
}

pub fn denied(d: &Decision) -> Vec<&'static str> {
    d.denied.iter().map(|v| v.rule.id).collect()
}

#[track_caller]
pub fn assert_denied_by(d: &Decision, rule: &str, what: &str) {
    assert!(
        denied(d).contains(&rule),
        "{what}: expected {rule}, denied {:?} (class {:?})",
        denied(d),
        d.class
    );
}

#[track_caller]
pub fn assert_allowed(d: &Decision, what: &str) {
    assert!(
        d.allowed(),
        "{what}: control must be allowed, denied {:?}",
        d.denied.iter().map(|v| v.to_string()).collect::<Vec<_>>()
    );
}

pub fn secret(name: &str, namespace: &str, meta: Value) -> Value {
    let mut metadata = json!({ "name": name, "namespace": namespace });
    if let (Some(m), Some(extra)) = (metadata.as_object_mut(), meta.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    json!({ "apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "data": { "password": "cGFzcw==" } })
}

pub fn owner(api_version: &str, kind: &str) -> Value {
    json!({ "apiVersion": api_version, "kind": kind, "name": "db", "uid": "0b6c5f0e-1111-4222-8333-944445555666", "controller": true })
}

pub fn es_owner() -> Value {
    json!({ "ownerReferences": [owner("external-secrets.io/v1", "ExternalSecret")] })
}

pub fn sealed_owner() -> Value {
    json!({ "ownerReferences": [owner("bitnami.com/v1alpha1", "SealedSecret")] })
}

pub fn view_with(objects: &[(Kind, &str, Value)]) -> MemoryView {
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

pub fn external_secret(store_ref: Value, key: &str) -> Value {
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

pub fn push_secret(store_refs: Value, remote_key: &str) -> Value {
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
pub fn APPROVED() -> Value {
    json!({ "kind": "ClusterSecretStore", "name": "vault-backend" })
}

// ------------------------------------------------------------------------------------------------
// Helpers for the webhook-level cases (in-process `Webhook::review`, both routes).

pub fn webhook() -> Webhook {
    let policy = Policy::default();
    let view = MemoryView::from_policy(&policy);
    Webhook::new(Arc::new(policy), Arc::new(view), Arc::new(Metrics::new()))
}

pub fn admission_review(
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

pub fn respond(hook: &Webhook, route: Route, body: &[u8]) -> Value {
    let out = hook
        .review(route, body)
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let v: Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(v["response"]["uid"], "bypass-uid");
    v["response"].clone()
}

/// Rule ids named in a denial message, in order.
pub fn rule_ids(response: &Value) -> Vec<String> {
    let msg = response["status"]["message"].as_str().unwrap_or("");
    msg.lines()
        .filter_map(|l| l.strip_prefix('['))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}
