//! Consumer namespaces whose names contain an environment word (`dev-portal`, `load-test`,
//! `qa-tools`) are consumers, not environments: only a whole path *segment* that is an
//! environment word names an environment (§5a.5 r5).

use super::*;

const CONSUMERS: [&str; 3] = ["dev-portal", "load-test", "qa-tools"];
/// The producer namespace whose operator Secret is published.
const PRODUCER: &str = "postgres";
const SOURCE: &str = "postgres-app";

fn reader(namespace: &str, key: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": { "name": "db", "namespace": namespace },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": { "kind": "ClusterSecretStore", "name": "vault-backend" },
            "target": { "name": "db", "creationPolicy": "Owner" },
            "data": [{ "secretKey": "password", "remoteRef": { "key": key, "property": "password" } }]
        }
    })
}

fn publisher(name: &str, remote_key: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": { "name": name, "namespace": PRODUCER },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRefs": [{ "kind": "ClusterSecretStore", "name": "vault-backend" }],
            "selector": { "secret": { "name": SOURCE } },
            "data": [{ "match": { "secretKey": "password", "remoteRef": { "remoteKey": remote_key, "property": "password" } } }]
        }
    })
}

/// The operator's Secret being published, as the cluster holds it.
fn producer_view() -> vaultgate::cluster::MemoryView {
    view_with(&[(
        Kind::Secret,
        PRODUCER,
        secret(SOURCE, PRODUCER, json!({ "labels": { CLASS: "internal" } })),
    )])
}

#[test]
fn external_secret_in_a_namespace_named_with_an_environment_word_reads_its_own_path() {
    for ns in CONSUMERS {
        let own = format!("platform-data/postgres/{ns}");
        let d = Write::create(Kind::ExternalSecret, ns, ARGOCD, reader(ns, &own)).evaluate();
        assert_allowed(&d, &format!("{ns} reads {own}"));
        // Controls: a segment that *is* an environment word.
        for key in ["platform-data/postgres/dev", "platform-data/dev/payments"] {
            let d = Write::create(Kind::ExternalSecret, ns, ARGOCD, reader(ns, key)).evaluate();
            assert_denied_by(&d, "VG203", &format!("{ns} reads {key}"));
        }
    }
}

#[test]
fn push_secret_publishes_an_operator_secret_to_a_consumer_named_with_an_environment_word() {
    let view = producer_view();
    for ns in CONSUMERS {
        let path = format!("platform-data/postgres/{ns}");
        let d = Write::create(
            Kind::PushSecret,
            PRODUCER,
            ARGOCD,
            publisher(&format!("to-{ns}"), &path),
        )
        .evaluate_in(&view);
        assert_allowed(&d, &format!("publish to {path}"));
    }
    // Controls: a segment that *is* an environment word.
    for path in ["platform-data/postgres/dev", "platform-data/dev/payments"] {
        let d = Write::create(
            Kind::PushSecret,
            PRODUCER,
            ARGOCD,
            publisher("to-env", path),
        )
        .evaluate_in(&view);
        assert_denied_by(&d, "VG303", &format!("publish to {path}"));
    }
}
