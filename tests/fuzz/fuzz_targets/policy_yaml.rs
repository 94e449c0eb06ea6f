//! The policy-file parser: arbitrary text never panics; an accepted policy can evaluate every
//! fixture-shaped review on both routes without panicking.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use vaultgate::{
    admission::{Route, Webhook},
    cluster::MemoryView,
    metrics::Metrics,
    policy::Policy,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::from_yaml(text) else {
        return;
    };
    let view = MemoryView::from_policy(&policy);
    let hook = Webhook::new(Arc::new(policy), Arc::new(view), Arc::new(Metrics::new()));
    for (user, owner) in [
        ("alice", json!([])),
        (
            "system:serviceaccount:external-secrets:external-secrets",
            json!([{ "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "a", "uid": "u" }]),
        ),
        (
            "system:serviceaccount:kube-system:sealed-secrets-controller",
            json!([{ "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "a", "uid": "u" }]),
        ),
    ] {
        for ns in ["payments", "vault", "kube-system"] {
            let review = json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {
                    "uid": "u", "kind": { "group": "", "version": "v1", "kind": "Secret" }, "namespace": ns,
                    "operation": "CREATE", "userInfo": { "username": user },
                    "object": { "metadata": { "name": "db", "ownerReferences": owner, "annotations": { "platform.pnats.cloud/break-glass": "T-1: reason" } }, "data": { "k": "dg==" } }
                }
            });
            let body = serde_json::to_vec(&review).expect("encode");
            for route in [Route::Validate, Route::Mutate] {
                let _ = hook.review(route, &body);
            }
        }
    }
});
