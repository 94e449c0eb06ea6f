//! VG203: the `<consumer>` of `platform-data/<datasource>/<consumer>` names a service, not
//! necessarily the namespace (§5a.5; docs/rfc-digest.md open point 5). An ExternalSecret reads
//! for its namespace and for the services its app labels name (labels are set in Git and only a
//! GitOps controller writes an ExternalSecret, VG209); `vault.readScope.strict` turns the labels
//! off. Each allow comes with the read that must stay denied.

use super::*;
use vaultgate::{
    cluster::MemoryView,
    policy::{self, Identity, Object, Operation, Policy, Review},
};

fn reader(labels: Value, key: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": { "name": "db", "namespace": "payments", "labels": labels },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": APPROVED(),
            "target": { "name": "db", "creationPolicy": "Owner" },
            "data": [{ "secretKey": "password", "remoteRef": { "key": key, "property": "password" } }]
        }
    })
}

#[test]
fn external_secret_reads_the_path_of_the_service_its_labels_name() {
    for (label, service) in [
        ("app.kubernetes.io/name", "payment-api"),
        ("app.kubernetes.io/instance", "ledger"),
        ("app", "payment-worker"),
    ] {
        let key = format!("platform-data/postgres/{service}");
        let d = Write::create(
            Kind::ExternalSecret,
            "payments",
            ARGOCD,
            reader(json!({ label: service }), &key),
        )
        .evaluate();
        assert_allowed(&d, &format!("{label}={service} reads {key}"));
        // Control: another service's path, which no label names.
        let d = Write::create(
            Kind::ExternalSecret,
            "payments",
            ARGOCD,
            reader(json!({ label: service }), "platform-data/postgres/billing"),
        )
        .evaluate();
        assert_denied_by(&d, "VG203", &format!("{label}={service} reads billing"));
    }
    // Controls: a label that is not one of the consumer labels, and a value that is no path
    // segment, name nothing.
    for labels in [json!({ "team": "billing" }), json!({ "app": "Billing" })] {
        let d = Write::create(
            Kind::ExternalSecret,
            "payments",
            ARGOCD,
            reader(labels.clone(), "platform-data/postgres/billing"),
        )
        .evaluate();
        assert_denied_by(&d, "VG203", &labels.to_string());
    }
}

fn evaluate_with(policy: &Policy, object: Value) -> Decision {
    let view = MemoryView::from_policy(policy);
    let object = Object::from_value(Kind::ExternalSecret, object).unwrap();
    let user = Identity::new(ARGOCD, groups(ARGOCD));
    let review = Review {
        uid: "read-scope",
        operation: Operation::Create,
        namespace: Some("payments"),
        name: "db",
        user: &user,
        object: &object,
        old: None,
        dry_run: false,
        now: std::time::SystemTime::UNIX_EPOCH,
    };
    policy::evaluate(&review, policy, &view)
}

#[test]
fn strict_read_scope_takes_only_the_namespace_its_aliases_and_grants() {
    let strict = Policy::from_yaml(
        "namespaces:\n  aliases:\n    payments: [ledger]\nvault:\n  readScope:\n    strict: true\n",
    )
    .unwrap();
    let labelled = reader(
        json!({ "app.kubernetes.io/name": "payment-api" }),
        "platform-data/postgres/payment-api",
    );
    assert_denied_by(
        &evaluate_with(&strict, labelled.clone()),
        "VG203",
        "strict: a label names nothing",
    );
    assert_allowed(
        &evaluate_with(&Policy::default(), labelled),
        "default: the label names the service",
    );
    for key in [
        "platform-data/postgres/payments",
        "platform-data/postgres/ledger",
    ] {
        assert_allowed(&evaluate_with(&strict, reader(json!({}), key)), key);
    }
}
