//! Configuration is not secret material (§2.4 Inv 8, §5a.4.3): a Secret holding only endpoint
//! data (host, port, url, endpoint, database, region, bucket) rendered from Git, as the RFC's
//! own internal-configuration example is (docs/rfc-digest.md §2), and a PushSecret publishing it
//! to `platform-config/`, are allowed. Each comes with the nearest write that must stay denied.

use super::*;

fn config_secret(keys: &[&str]) -> Value {
    let mut s = secret(
        "platform-postgres-config",
        "postgres",
        json!({ "labels": { "app.kubernetes.io/component": "database-config" } }),
    );
    s["data"] = keys
        .iter()
        .map(|k| ((*k).to_owned(), json!("Y2FuYXJ5")))
        .collect::<serde_json::Map<_, _>>()
        .into();
    s
}

#[test]
fn config_only_secret_rendered_from_git_is_allowed() {
    for keys in [
        &["host", "port"][..],
        &["DB_HOST", "DB_PORT", "DB_NAME"],
        &["S3_ENDPOINT", "S3_REGION", "S3_BUCKET"],
        &["url"],
    ] {
        let d = Write::create(Kind::Secret, "postgres", ARGOCD, config_secret(keys)).evaluate();
        assert_allowed(&d, &format!("{keys:?} applied by Argo CD"));
    }
    // Controls: a credential next to the settings, a URL that carries credentials, and a human.
    for keys in [
        &["host", "port", "password"][..],
        &["DATABASE_URL"],
        &["REDIS_URL"],
    ] {
        let d = Write::create(Kind::Secret, "postgres", ARGOCD, config_secret(keys)).evaluate();
        assert_denied_by(&d, "VG101", &format!("{keys:?}"));
    }
    let d = Write::create(
        Kind::Secret,
        "postgres",
        HUMAN,
        config_secret(&["host", "port"]),
    )
    .evaluate();
    assert_denied_by(
        &d,
        "VG101",
        "a human is a hidden control plane even for settings",
    );
}

fn publish(entries: &[(&str, &str, &str)]) -> Value {
    let data: Vec<Value> = entries
        .iter()
        .map(|(k, path, prop)| json!({ "match": { "secretKey": k, "remoteRef": { "remoteKey": path, "property": prop } } }))
        .collect();
    json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": { "name": "platform-postgres-config-to-vault", "namespace": "postgres" },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRefs": [APPROVED()],
            "selector": { "secret": { "name": "platform-postgres-config" } },
            "data": data
        }
    })
}

#[test]
fn push_secret_publishing_endpoint_data_to_platform_config_is_allowed() {
    let view = view_with(&[(
        Kind::Secret,
        "postgres",
        config_secret(&["host", "port", "url"]),
    )]);
    const CONFIG: &str = "platform-config/postgres/platform-postgres";
    let d = Write::create(
        Kind::PushSecret,
        "postgres",
        ARGOCD,
        publish(&[
            ("host", CONFIG, "host"),
            ("port", CONFIG, "port"),
            ("url", CONFIG, "url"),
        ]),
    )
    .evaluate_in(&view);
    assert_allowed(&d, "host, port and url to platform-config/");
    // Controls: a secret property under platform-config/, settings under platform-data/, and a
    // non-configuration property name under platform-data/.
    let d = Write::create(
        Kind::PushSecret,
        "postgres",
        ARGOCD,
        publish(&[("host", CONFIG, "host"), ("password", CONFIG, "password")]),
    )
    .evaluate_in(&view);
    assert_denied_by(&d, "VG305", "password under platform-config/");
    assert_denied_by(&d, "VG307", "a hand-made source publishing a credential");
    let data = "platform-data/postgres/payments";
    let d = Write::create(
        Kind::PushSecret,
        "postgres",
        ARGOCD,
        publish(&[("host", data, "host")]),
    )
    .evaluate_in(&view);
    assert_denied_by(
        &d,
        "VG307",
        "settings pushed to platform-data/ from an unstamped Secret",
    );
    let d = Write::create(
        Kind::PushSecret,
        "postgres",
        ARGOCD,
        publish(&[("url", data, "url")]),
    )
    .evaluate_in(&view);
    assert_denied_by(&d, "VG304", "url is a configuration property only");
}
