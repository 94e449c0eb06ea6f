//! Which field each rule points at: the helpers, and representative rules through the whole
//! engine.

use serde_json::{Value, json};

use super::*;
use crate::{
    cluster::MemoryView,
    policy::{
        Identity, Object, Operation, Policy, Review, evaluate, objects::Kind, rules,
        view::ClusterView,
    },
};

const ARGOCD: &str = "system:serviceaccount:argocd:argocd-application-controller";

/// (rule id, field) of every finding, denied and warned, for `user` creating `object`.
fn fields(kind: Kind, object: Value, user: &str) -> Vec<(&'static str, Option<String>)> {
    let object = Object::from_value(kind, object).unwrap();
    let namespace = object.metadata().namespace.clone();
    let user = Identity::new(user, vec![]);
    let review = Review {
        uid: "u",
        operation: Operation::Create,
        namespace: namespace.as_deref(),
        name: object.name(),
        user: &user,
        object: &object,
        old: None,
        dry_run: false,
        now: std::time::SystemTime::UNIX_EPOCH,
    };
    let policy = Policy::default();
    let view = MemoryView::from_policy(&policy);
    assert!(!view.is_live());
    let decision = evaluate(&review, &policy, &view);
    decision
        .denied
        .into_iter()
        .chain(decision.warned)
        .map(|v| (v.rule.id, v.field))
        .collect()
}

/// The field of the one finding of `rule`.
fn field_of(found: &[(&str, Option<String>)], rule: &str) -> Option<String> {
    let of: Vec<_> = found.iter().filter(|(id, _)| *id == rule).collect();
    assert_eq!(of.len(), 1, "{rule} in {found:?}");
    of[0].1.clone()
}

fn external_secret(kind: &str, namespace: Option<&str>, spec: Value) -> Value {
    let mut metadata = json!({ "name": "db" });
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({ "apiVersion": "external-secrets.io/v1", "kind": kind, "metadata": metadata, "spec": spec })
}

fn es_spec(key: &str, template: Value) -> Value {
    json!({
        "refreshInterval": "1h",
        "secretStoreRef": { "kind": "ClusterSecretStore", "name": "vault-backend" },
        "target": { "name": "db", "template": template },
        "data": [
            { "secretKey": "password", "remoteRef": { "key": key, "property": "password" } }
        ]
    })
}

#[test]
fn quotes_map_keys_and_keeps_the_first_field() {
    assert_eq!(
        label("platform.pnats.cloud/secret-class"),
        r#"metadata.labels["platform.pnats.cloud/secret-class"]"#
    );
    assert_eq!(annotation("a"), r#"metadata.annotations["a"]"#);
    let mut p = Problems::default();
    assert!(p.is_empty());
    p.push("spec.data[1]", "one".into());
    p.push("spec.data[2]", "two".into());
    assert_eq!(p.join("; "), "one; two");
    assert_eq!(p.field.as_deref(), Some("spec.data[1]"));
}

#[test]
fn nests_only_spec_fields() {
    let mut found = vec![
        Violation::new(&rules::READ_SCOPE, "w", "f").at("spec.data[0].remoteRef.key"),
        Violation::new(&rules::GITOPS_WRITER, "w", "f"),
        Violation::new(&rules::READ_SCOPE, "w", "f").at("metadata.name"),
    ];
    nest(&mut found, "externalSecretSpec");
    let fields: Vec<Option<&str>> = found.iter().map(|v| v.field.as_deref()).collect();
    assert_eq!(
        fields,
        [
            Some("spec.externalSecretSpec.data[0].remoteRef.key"),
            None,
            Some("metadata.name")
        ]
    );
}

#[test]
fn external_secret_rules_point_at_the_offending_entry() {
    let es = |key: &str, template: Value| {
        external_secret("ExternalSecret", Some("payments"), es_spec(key, template))
    };
    let allowed = fields(
        Kind::ExternalSecret,
        es("platform-data/postgres/payments", Value::Null),
        ARGOCD,
    );
    assert!(allowed.is_empty(), "{allowed:?}");

    let read = fields(
        Kind::ExternalSecret,
        es("platform-data/postgres/billing", Value::Null),
        ARGOCD,
    );
    assert_eq!(
        field_of(&read, "VG203").as_deref(),
        Some("spec.data[0].remoteRef.key")
    );

    let template = fields(
        Kind::ExternalSecret,
        es(
            "platform-data/postgres/payments",
            json!({ "data": { "password": "{{ .password }}", "dsn": "hunter2" } }),
        ),
        ARGOCD,
    );
    assert_eq!(
        field_of(&template, "VG210").as_deref(),
        Some(r#"spec.target.template.data["dsn"]"#)
    );

    // A writer rule is about the whole object.
    let writer = fields(
        Kind::ExternalSecret,
        es("platform-data/postgres/payments", Value::Null),
        "alice",
    );
    assert_eq!(field_of(&writer, "VG209"), None);
}

#[test]
fn cluster_kinds_point_into_the_wrapped_spec() {
    let ces = external_secret(
        "ClusterExternalSecret",
        None,
        json!({ "externalSecretSpec": es_spec("platform-data/postgres/payments", Value::Null) }),
    );
    let found = fields(Kind::ClusterExternalSecret, ces, ARGOCD);
    assert_eq!(
        field_of(&found, "VG203").as_deref(),
        Some("spec.externalSecretSpec.data[0].remoteRef.key")
    );
}

#[test]
fn push_secret_rules_point_at_the_offending_entry() {
    let push = |remote_key: &str| {
        json!({
            "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
            "metadata": { "name": "db", "namespace": "temporal" },
            "spec": {
                "refreshInterval": "1h",
                "secretStoreRefs": [{ "kind": "ClusterSecretStore", "name": "vault-backend" }],
                "selector": { "secret": { "name": "temporal-db" } },
                "data": [
                    { "match": { "secretKey": "password", "remoteRef": {
                        "remoteKey": "platform-data/postgres/temporal", "property": "password" } } },
                    { "match": { "secretKey": "password", "remoteRef": {
                        "remoteKey": remote_key, "property": "password" } } }
                ]
            }
        })
    };
    let found = fields(Kind::PushSecret, push("secret/temporal/db"), ARGOCD);
    assert_eq!(
        field_of(&found, "VG303").as_deref(),
        Some("spec.data[1].match.remoteRef.remoteKey")
    );
}

#[test]
fn secret_rules_point_at_the_forged_marker() {
    let secret = |metadata: Value| {
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": metadata,
            "stringData": { "password": "hunter2" }
        })
    };
    let label = fields(
        Kind::Secret,
        secret(json!({ "name": "db", "namespace": "payments",
            "labels": { "platform.pnats.cloud/secret-class": "materialized" } })),
        "alice",
    );
    assert_eq!(
        field_of(&label, "VG104").as_deref(),
        Some(r#"metadata.labels["platform.pnats.cloud/secret-class"]"#)
    );
    assert_eq!(field_of(&label, "VG101"), None, "a writer rule");

    let owner = fields(
        Kind::Secret,
        secret(
            json!({ "name": "db", "namespace": "payments", "ownerReferences": [
            { "apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": "1" },
            { "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "db", "uid": "2" }
        ] }),
        ),
        "alice",
    );
    assert_eq!(
        field_of(&owner, "VG104").as_deref(),
        Some("metadata.ownerReferences[1]")
    );

    let copy = fields(
        Kind::Secret,
        secret(
            json!({ "name": "db", "namespace": "payments", "annotations": {
            "replicator.v1.mittwald.de/replicate-from": "billing/db" } }),
        ),
        ARGOCD,
    );
    assert_eq!(
        field_of(&copy, "VG103").as_deref(),
        Some(r#"metadata.annotations["replicator.v1.mittwald.de/replicate-from"]"#)
    );
}
