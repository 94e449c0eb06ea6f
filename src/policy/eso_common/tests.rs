//! VG206's refresh-policy exceptions, through the whole engine.

use serde_json::json;

use super::*;
use crate::{
    cluster::MemoryView,
    policy::{Identity, Object, Operation, evaluate, objects::Kind},
};

/// Rule ids denied for the ExternalSecret `payments/db` with `refreshPolicy`.
fn denied(policy: &Policy, refresh_policy: &str, namespace: &str) -> Vec<&'static str> {
    let object = Object::from_value(
        Kind::ExternalSecret,
        json!({
            "metadata": { "name": "db", "namespace": namespace },
            "spec": {
                "refreshPolicy": refresh_policy,
                "secretStoreRef": { "kind": "ClusterSecretStore", "name": "vault-backend" },
                "target": { "name": "db" },
                "data": [{ "secretKey": "password", "remoteRef": {
                    "key": format!("platform-data/postgres/{namespace}"), "property": "password" } }]
            }
        }),
    )
    .unwrap();
    let user = Identity::new(
        "system:serviceaccount:argocd:argocd-application-controller",
        vec![],
    );
    let review = Review {
        uid: "u",
        operation: Operation::Create,
        namespace: Some(namespace),
        name: "db",
        user: &user,
        object: &object,
        old: None,
        dry_run: false,
        now: std::time::SystemTime::UNIX_EPOCH,
    };
    let view = MemoryView::from_policy(policy);
    evaluate(&review, policy, &view)
        .denied
        .iter()
        .map(|v| v.rule.id)
        .collect()
}

#[test]
fn honours_a_refresh_policy_exception_only_for_the_listed_external_secret() {
    let policy = Policy::from_yaml(
        "externalSecrets:\n  refreshPolicyExceptions:\n    - {namespace: payments, name: db, justification: rotation job annotates force-sync}\n",
    )
    .unwrap();
    for rp in ["Manual", "OnChange"] {
        assert!(denied(&policy, rp, "payments").is_empty(), "{rp} excepted");
        assert_eq!(denied(&policy, rp, "billing"), ["VG206"], "{rp} elsewhere");
        assert_eq!(denied(&Policy::default(), rp, "payments"), ["VG206"]);
    }
}

#[test]
fn never_excepts_created_once() {
    let policy = Policy::from_yaml(
        "externalSecrets:\n  refreshPolicyExceptions:\n    - {namespace: payments, name: db, justification: x}\n",
    )
    .unwrap();
    assert_eq!(denied(&policy, "CreatedOnce", "payments"), ["VG206"]);
    assert!(denied(&policy, "Periodic", "payments").is_empty());
}
