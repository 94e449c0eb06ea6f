//! The invariants every review must keep, shared by the property tests
//! (tests/policy/properties.rs) and the fuzz targets (tests/fuzz/fuzz_targets/common.rs, which
//! includes this file by path): a well-formed answer to anything, and the mutation invariants.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use vaultgate::{
    admission::{BadReview, Route, Webhook},
    cluster::MemoryView,
    metrics::Metrics,
    policy::Policy,
};

/// A human, CI, every producer role of the default policy, a copier and an exempt identity:
/// the writers every generated object is reviewed as.
pub const USERS: &[&str] = &[
    "alice",
    "system:serviceaccount:tekton-pipelines:default",
    "system:serviceaccount:external-secrets:external-secrets",
    "system:serviceaccount:kube-system:sealed-secrets-controller",
    "system:serviceaccount:argocd:argocd-application-controller",
    "system:serviceaccount:flux-system:kustomize-controller",
    "system:serviceaccount:cert-manager:cert-manager",
    "system:serviceaccount:vaultgate-system:vaultgate",
    "system:serviceaccount:reflector:reflector",
    "system:serviceaccount:kube-system:replicaset-controller",
];

/// The uid of the reviews built here.
pub const UID: &str = "invariant-uid";

/// A webhook with the default policy over an empty in-memory view, built once.
pub fn webhook() -> &'static Webhook {
    static HOOK: OnceLock<Webhook> = OnceLock::new();
    HOOK.get_or_init(|| {
        let policy = Policy::default();
        let view = MemoryView::from_policy(&policy);
        Webhook::new(Arc::new(policy), Arc::new(view), Arc::new(Metrics::new()))
    })
}

/// A well-formed AdmissionReview echoing `uid` (when given), or a one-line error.
pub fn check_answer(result: &Result<Vec<u8>, BadReview>, uid: Option<&str>) -> Option<Value> {
    match result {
        Ok(out) => {
            let v: Value = serde_json::from_slice(out).expect("the answer is JSON");
            assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
            assert_eq!(v["kind"], "AdmissionReview");
            let response = &v["response"];
            assert!(response["uid"].is_string());
            if let Some(uid) = uid {
                assert_eq!(response["uid"], uid);
            }
            if !response["allowed"].as_bool().expect("allowed is a bool") {
                assert!(response["status"]["message"].is_string());
                assert!(response.get("patch").is_none(), "a denial carries no patch");
            }
            Some(response.clone())
        }
        Err(e) => {
            assert!(
                !e.message.is_empty() && !e.message.contains('\n'),
                "one-line error: {:?}",
                e.message
            );
            None
        }
    }
}

/// A Secret review of `object` (and `old`) by `user`, as the apiserver would send it.
pub fn review_of(
    operation: &str,
    namespace: &Value,
    user: &str,
    object: &Value,
    old: &Value,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": UID,
            "kind": { "group": "", "version": "v1", "kind": "Secret" },
            "namespace": namespace,
            "operation": operation,
            "userInfo": { "username": user, "groups": ["system:authenticated"] },
            "object": object,
            "oldObject": old,
        }
    }))
    .expect("encode")
}

/// vaultgate's audit stamps: computed per request, never taken from the client (CREATE
/// overwrites or removes what the manifest carried, UPDATE restores the stored value; README
/// "Mutation"), so the patch may change them.
pub const AUDIT_STAMPS: [&str; 5] = [
    "platform.pnats.cloud/bootstrap-source",
    "platform.pnats.cloud/first-seen",
    "platform.pnats.cloud/created-by",
    "platform.pnats.cloud/admission-uid",
    "platform.pnats.cloud/git-source",
];

/// Whether a JSON Pointer names an audit stamp label or annotation.
fn is_stamp_pointer(pointer: &str) -> bool {
    ["/metadata/labels/", "/metadata/annotations/"]
        .iter()
        .filter_map(|field| pointer.strip_prefix(field))
        .any(|key| AUDIT_STAMPS.contains(&key.replace("~1", "/").as_str()))
}

/// The mutation invariants for one Secret write: a patch only adds or replaces labels and
/// annotations (and rewrites or removes only the audit stamps), applies cleanly, never changes
/// `data`/`stringData`, keeps every other key's value, and the patched object needs no further
/// patch (idempotence). Returns whether a patch was produced (for coverage checks).
pub fn check_mutation(
    namespace: &Value,
    user: &str,
    operation: &str,
    object: &Value,
    old: &Value,
) -> bool {
    let hook = webhook();
    let first = hook.review(
        Route::Mutate,
        &review_of(operation, namespace, user, object, old),
    );
    let Some(response) = check_answer(&first, Some(UID)) else {
        return false;
    };
    assert_eq!(response["allowed"], true, "the mutating route never denies");
    let Some(encoded) = response["patch"].as_str() else {
        return false;
    };
    assert_eq!(response["patchType"], "JSONPatch");
    let patch: json_patch::Patch =
        serde_json::from_slice(&STANDARD.decode(encoded).expect("base64")).expect("a JSON Patch");
    assert!(!patch.0.is_empty(), "an empty patch is never sent");
    for op in &patch.0 {
        let path = match op {
            json_patch::PatchOperation::Add(o) => o.path.to_string(),
            json_patch::PatchOperation::Replace(o) => o.path.to_string(),
            // A stamp the client sent but vaultgate does not compute (a forged `git-source`).
            json_patch::PatchOperation::Remove(o) if is_stamp_pointer(&o.path.to_string()) => {
                o.path.to_string()
            }
            other => panic!(
                "vaultgate only adds or replaces, and removes only its audit stamps: {other:?}"
            ),
        };
        assert!(
            path == "/metadata/labels"
                || path == "/metadata/annotations"
                || path.starts_with("/metadata/labels/")
                || path.starts_with("/metadata/annotations/"),
            "patch touches {path}"
        );
    }
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).unwrap_or_else(|e| {
        panic!("the patch does not apply: {e}\nobject: {object}\npatch: {patch:?}")
    });
    assert_eq!(patched.get("data"), object.get("data"), "data changed");
    assert_eq!(
        patched.get("stringData"),
        object.get("stringData"),
        "stringData changed"
    );
    for field in ["labels", "annotations"] {
        if let Some(before) = object["metadata"][field].as_object() {
            for (k, v) in before {
                if !AUDIT_STAMPS.contains(&k.as_str()) {
                    assert_eq!(&patched["metadata"][field][k], v, "{field}.{k} changed");
                }
            }
        }
    }
    let again = hook.review(
        Route::Mutate,
        &review_of(operation, namespace, user, &patched, old),
    );
    let response =
        check_answer(&again, Some(UID)).expect("the patched object is still a valid review");
    // A CREATE stamps `first-seen` with the time of that call (to the second), so a re-run a
    // second later may move it; nothing else may change.
    if let Some(encoded) = response["patch"].as_str() {
        let again: json_patch::Patch =
            serde_json::from_slice(&STANDARD.decode(encoded).expect("base64"))
                .expect("a JSON Patch");
        let only_the_clock = operation == "CREATE"
            && again.0.iter().all(|op| match op {
                json_patch::PatchOperation::Replace(o) => {
                    o.path == "/metadata/annotations/platform.pnats.cloud~1first-seen"
                }
                _ => false,
            });
        assert!(
            only_the_clock,
            "re-mutation is not empty: {response}\npatched: {patched}"
        );
    }
    true
}
