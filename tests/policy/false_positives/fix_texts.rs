//! The fixes a denial suggests are themselves allowed (issue #14 part 6): the ExternalSecret
//! VG101 proposes for a hand-made Secret, pasted with its placeholders filled in, passes the same
//! evaluation `check` runs; its keys read distinct properties; and the fix for a bootstrap
//! authority loop deletes the re-push and declares the handover instead of renaming the target.

use super::*;

/// The ready-to-paste ExternalSecret in a fix, as a value, placeholders filled in.
fn pasted(fix: &str) -> Value {
    let yaml = fix
        .split_once("instead of the Secret:\n")
        .map(|(_, y)| y)
        .unwrap_or_else(|| panic!("no snippet in {fix}"));
    let mut yaml: String = yaml
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("<datasource>", "postgres")
        .replace("<instance>", "platform-postgres");
    for n in 2..=16 {
        yaml = yaml.replace(&format!("<datasource-{n}>"), &format!("source-{n}"));
    }
    serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{e}: {yaml}"))
}

fn hand_made(name: &str, keys: &[&str], labels: Value) -> Value {
    let mut s = secret(name, "payments", json!({ "labels": labels }));
    s["data"] = keys
        .iter()
        .map(|k| ((*k).to_owned(), json!("Y2FuYXJ5")))
        .collect::<serde_json::Map<_, _>>()
        .into();
    s
}

#[test]
fn every_suggested_external_secret_is_allowed_and_reads_distinct_properties() {
    for (name, keys, labels) in [
        (
            "payments-api-secrets",
            &["STRIPE_API_KEY", "DATABASE_URL"][..],
            json!({}),
        ),
        (
            "temporal-postgres-creds",
            &["username", "password"],
            json!({}),
        ),
        (
            "db-creds",
            &["password", "DB_PASSWORD", "ADMIN_PASSWORD", "api-token"],
            json!({}),
        ),
        ("db-endpoint", &["host", "port", "url"], json!({})),
        (
            "private-repo",
            &["url", "username", "password"],
            json!({ "argocd.argoproj.io/secret-type": "repository" }),
        ),
        ("many", &["a", "b", "c", "d", "e"], json!({})),
    ] {
        let d = Write::create(
            Kind::Secret,
            "payments",
            HUMAN,
            hand_made(name, keys, labels),
        )
        .evaluate();
        assert_eq!(denied(&d), ["VG101"], "{name}");
        let fix = &d.denied[0].fix;
        assert_eq!(
            fix.matches("kind: ExternalSecret").count(),
            1,
            "one snippet: {fix}"
        );
        let es = pasted(fix);
        let mut pairs: Vec<(String, String)> = es["spec"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["remoteRef"]["key"].as_str().unwrap().to_owned(),
                    e["remoteRef"]["property"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(pairs.len(), keys.len(), "{name}: one entry per key");
        pairs.sort();
        pairs.dedup();
        assert_eq!(
            pairs.len(),
            keys.len(),
            "{name}: two keys read one property: {fix}"
        );
        let d = Write::create(Kind::ExternalSecret, "payments", ARGOCD, es).evaluate();
        assert_allowed(&d, &format!("{name}: the pasted fix"));
    }
}

/// The OBS `argocd-private-repo` loop: a SealedSecret's output published by a PushSecret and
/// merged back by an ExternalSecret. Renaming the ExternalSecret's target would keep the
/// PushSecret overwriting Vault every hour; the fix is the handover.
#[test]
fn a_bootstrap_loop_fix_deletes_the_push_and_declares_the_handover() {
    let mut boot = secret("argocd-private-repo", "argocd", sealed_owner());
    boot["metadata"]["labels"] = json!({ CLASS: "bootstrap" });
    let push = json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": { "name": "argocd-private-repo-push", "namespace": "argocd" },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRefs": [APPROVED()],
            "selector": { "secret": { "name": "argocd-private-repo" } },
            "data": [{ "match": { "secretKey": "password", "remoteRef": { "remoteKey": "platform-data/github/argocd", "property": "password" } } }]
        }
    });
    let view = view_with(&[
        (Kind::Secret, "argocd", boot),
        (Kind::PushSecret, "argocd", push.clone()),
    ]);
    let es = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": { "name": "argocd-private-repo", "namespace": "argocd" },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": APPROVED(),
            "target": { "name": "argocd-private-repo", "creationPolicy": "Merge" },
            "data": [{ "secretKey": "password", "remoteRef": { "key": "platform-data/github/argocd", "property": "password" } }]
        }
    });
    let d = Write::create(Kind::ExternalSecret, "argocd", ARGOCD, es).evaluate_in(&view);
    assert_denied_by(&d, "VG208", "the loop");
    let p = Write::create(Kind::PushSecret, "argocd", ARGOCD, push).evaluate_in(&view);
    assert_denied_by(&p, "VG307", "the bootstrap re-push");
    for v in d
        .denied
        .iter()
        .chain(&p.denied)
        .filter(|v| ["VG205", "VG207", "VG208", "VG307"].contains(&v.rule.id))
    {
        assert!(
            v.fix.contains("delete the PushSecret"),
            "{}: {}",
            v.rule.id,
            v.fix
        );
        assert!(
            v.fix.contains("platform.pnats.cloud/handover-to"),
            "{}: {}",
            v.rule.id,
            v.fix
        );
        for rename in ["another name", "own target.name", "-runtime"] {
            assert!(
                !v.fix.contains(rename),
                "{}: suggests a rename: {}",
                v.rule.id,
                v.fix
            );
        }
    }
}

/// One fix per problem: several unscoped finds are one VG204 denial, not one per entry.
#[test]
fn unscoped_finds_are_one_denial_with_one_fix() {
    let es = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": { "name": "all", "namespace": "payments" },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": APPROVED(),
            "target": { "name": "all", "creationPolicy": "Owner" },
            "dataFrom": [{ "find": { "name": { "regexp": ".*" } } }, { "find": { "path": "platform-data/postgres" } }]
        }
    });
    let d = Write::create(Kind::ExternalSecret, "payments", ARGOCD, es).evaluate();
    assert_eq!(denied(&d), ["VG204"]);
    assert!(d.denied[0].what.contains("dataFrom[0]") && d.denied[0].what.contains("dataFrom[1]"));
}

/// One fix per problem on the publishing side too: a PushSecret with several entries off the
/// property convention is one VG304 denial naming each entry, and secret properties under
/// platform-config/ are one VG305 denial with one target path per Vault path.
#[test]
fn push_entries_off_convention_are_one_denial_per_rule() {
    let mut p = push_secret(json!([APPROVED()]), "platform-data/postgres/temporal");
    p["spec"]["data"] = json!([
        { "match": { "secretKey": "a", "remoteRef": { "remoteKey": "platform-data/postgres/temporal", "property": "pass" } } },
        { "match": { "secretKey": "b", "remoteRef": { "remoteKey": "platform-data/postgres/temporal", "property": "user" } } },
        { "match": { "secretKey": "c", "remoteRef": { "remoteKey": "platform-config/postgres/temporal", "property": "password" } } },
        { "match": { "secretKey": "d", "remoteRef": { "remoteKey": "platform-config/postgres/temporal", "property": "token" } } }
    ]);
    let d = Write::create(Kind::PushSecret, "temporal", ARGOCD, p).evaluate();
    let vg304: Vec<_> = d.denied.iter().filter(|v| v.rule.id == "VG304").collect();
    assert_eq!(vg304.len(), 1, "{:?}", d.denied);
    assert!(vg304[0].what.contains("spec.data[0]") && vg304[0].what.contains("spec.data[1]"));
    let vg305: Vec<_> = d.denied.iter().filter(|v| v.rule.id == "VG305").collect();
    assert_eq!(vg305.len(), 1, "{:?}", d.denied);
    assert_eq!(
        vg305[0]
            .fix
            .matches("platform-data/postgres/temporal")
            .count(),
        1,
        "one target path, not one line per entry: {}",
        vg305[0].fix
    );
}
