//! VG111 vault-root-material: a Vault (or OpenBao) root token, unseal or recovery key shares,
//! or the whole init output in a Secret, whoever writes it and whatever its class (§7.2.1,
//! §7.5), and an ExternalSecret that would pull them. Each attack comes with its honest control.

use super::*;

/// A Secret with exactly `keys` (canary values), `meta` merged into its metadata.
fn holding(name: &str, namespace: &str, keys: &[&str], meta: Value) -> Value {
    let mut s = secret(name, namespace, meta);
    s["data"] = keys
        .iter()
        .map(|k| ((*k).to_owned(), json!("Y2FuYXJ5")))
        .collect::<serde_json::Map<_, _>>()
        .into();
    s
}

/// Every writer of every class: a human, the sealed-secrets controller (bootstrap), ESO
/// (materialized), cert-manager (derived).
fn writers<'a>(keys: &'a [&'a str]) -> Vec<(&'static str, Write<'a>)> {
    vec![
        (
            "human",
            Write::create(
                Kind::Secret,
                "payments",
                HUMAN,
                holding("db", "payments", keys, json!({})),
            ),
        ),
        (
            "bootstrap",
            Write::create(
                Kind::Secret,
                "vault",
                SEALED,
                holding("vault-init", "vault", keys, sealed_owner()),
            ),
        ),
        (
            "materialized",
            Write::create(
                Kind::Secret,
                "payments",
                ESO,
                holding("db", "payments", keys, es_owner()),
            ),
        ),
        (
            "derived",
            Write::create(
                Kind::Secret,
                "payments",
                CERT_MANAGER,
                holding("db", "payments", keys, json!({})),
            ),
        ),
    ]
}

#[test]
fn vg111_root_material_is_denied_whoever_writes_it_and_whatever_its_class() {
    for keys in [
        &["root_token"][..],
        &["unseal_keys_b64", "unseal_keys_hex"],
        &["recovery_keys_b64"],
        &["vault-root", "vault-unseal-0", "vault-unseal-1"],
        &["unsealKey1", "unsealKey2"],
        &["cluster-keys.json"],
        &["keys_base64"],
        &["VAULT_ROOT_TOKEN"],
        &["bao-root"],
    ] {
        for (who, write) in writers(keys) {
            let d = write.evaluate();
            assert_denied_by(&d, "VG111", &format!("{who} {keys:?}"));
            assert_eq!(denied(&d)[0], "VG111", "{who} {keys:?}: VG111 comes first");
        }
    }
    // Controls: ordinary credentials, from the producers allowed to write them.
    for (who, write) in writers(&["token", "VAULT_TOKEN", "root-ca.crt"]) {
        let d = write.evaluate();
        assert!(!denied(&d).contains(&"VG111"), "{who}: {:?}", denied(&d));
        if who != "human" {
            assert_allowed(&d, who);
        }
    }
}

#[test]
fn vg111_a_secret_named_for_root_material_with_generic_keys() {
    for name in [
        "vault-root-token",
        "vault-unseal-keys",
        "openbao-recovery-keys",
        "vault-init-keys",
    ] {
        let d = Write::create(
            Kind::Secret,
            "vault",
            SEALED,
            holding(name, "vault", &["token"], sealed_owner()),
        )
        .evaluate();
        assert_denied_by(&d, "VG111", name);
    }
    // Controls: a transit auto-unseal token and other Vault-named Secrets are not root material.
    for name in ["vault-unseal", "vault-token", "vault-init", "vault-tls"] {
        let d = Write::create(
            Kind::Secret,
            "vault",
            SEALED,
            holding(name, "vault", &["token"], sealed_owner()),
        )
        .evaluate();
        assert_allowed(&d, name);
    }
}

#[test]
fn vg111_string_data_and_an_update_that_adds_the_key() {
    let mut s = holding("db", "payments", &[], es_owner());
    s["stringData"] = json!({ "root_token": "canary" });
    let d = Write::create(Kind::Secret, "payments", ESO, s).evaluate();
    assert_denied_by(&d, "VG111", "stringData");
    let old = holding("db", "payments", &["password"], es_owner());
    let new = holding("db", "payments", &["password", "rootToken"], es_owner());
    let d = Write::update(Kind::Secret, "payments", ESO, old.clone(), new).evaluate();
    assert_denied_by(&d, "VG111", "UPDATE adds rootToken");
    // Control: the ESO refresh that keeps only the password.
    assert_allowed(
        &Write::update(Kind::Secret, "payments", ESO, old.clone(), old).evaluate(),
        "refresh",
    );
}

/// A Secret that predates vaultgate and holds the root token can still be cleaned up: a
/// metadata-only UPDATE (a finalizer removed) is housekeeping, and an UPDATE that drops the
/// keys is allowed; only adding or keeping the material in a content write is denied.
#[test]
fn vg111_never_wedges_the_cleanup_of_an_existing_root_secret() {
    let old = holding(
        "vault-init",
        "vault",
        &["root_token"],
        json!({ "finalizers": ["example.com/keep"] }),
    );
    let mut new = old.clone();
    new["metadata"]["finalizers"] = json!([]);
    let d = Write::update(Kind::Secret, "vault", CLUSTER_ADMIN, old, new).evaluate();
    assert!(
        !denied(&d).contains(&"VG111"),
        "housekeeping: {:?}",
        denied(&d)
    );
}

#[test]
fn vg111_external_secret_pulling_root_material() {
    let es = |data: Value, target: &str| {
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": { "name": "vault-admin", "namespace": "payments" },
            "spec": {
                "refreshInterval": "1h",
                "secretStoreRef": APPROVED(),
                "target": { "name": target, "creationPolicy": "Owner" },
                "data": data
            }
        })
    };
    let entry = |secret_key: &str, key: &str, property: &str| json!([{ "secretKey": secret_key, "remoteRef": { "key": key, "property": property } }]);
    for (what, object) in [
        (
            "secretKey",
            es(
                entry("root_token", "platform-data/vault/payments", "token"),
                "vault-admin",
            ),
        ),
        (
            "property",
            es(
                entry("token", "platform-data/vault/payments", "root_token"),
                "vault-admin",
            ),
        ),
        (
            "path",
            es(
                entry("token", "platform-data/vault-init-keys/payments", "token"),
                "vault-admin",
            ),
        ),
        (
            "target name",
            es(
                entry("token", "platform-data/vault/payments", "token"),
                "vault-root-token",
            ),
        ),
    ] {
        let d = Write::create(Kind::ExternalSecret, "payments", ARGOCD, object).evaluate();
        assert_denied_by(&d, "VG111", what);
        for v in &d.denied {
            for shape in [
                "kind: ExternalSecret",
                "PushSecret",
                "remoteRef.key",
                "readGrants",
            ] {
                assert!(
                    !v.fix.contains(shape),
                    "{what}: {} fix offers {shape:?}: {}",
                    v.rule.id,
                    v.fix
                );
            }
        }
    }
    // Control: a service's own token, read from its own path.
    let d = Write::create(
        Kind::ExternalSecret,
        "payments",
        ARGOCD,
        es(
            entry("VAULT_TOKEN", "platform-data/vault/payments", "token"),
            "vault-admin",
        ),
    )
    .evaluate();
    assert_allowed(&d, "VAULT_TOKEN");
}

/// No fix in a denial that names VG111 offers the root material a way into Vault or another
/// namespace: not the VG101 ExternalSecret, not the VG103 PushSecret route, not a handover.
#[test]
fn vg111_no_fix_distributes_the_root_token() {
    let copy = json!({ "annotations": { "reflector.v1.k8s.emberstack.com/reflects": "vault/vault-init" } });
    let handover = json!({ "annotations": { "platform.pnats.cloud/handover-to": "platform-data/vault/root" }, "labels": { CLASS: "bootstrap" } });
    for (what, write) in [
        (
            "human",
            Write::create(
                Kind::Secret,
                "payments",
                HUMAN,
                holding(
                    "vault-init",
                    "payments",
                    &["root_token", "unseal_keys_b64"],
                    json!({}),
                ),
            ),
        ),
        (
            "copy",
            Write::create(
                Kind::Secret,
                "crossplane-system",
                HUMAN,
                holding(
                    "vault-admin-token",
                    "crossplane-system",
                    &["root_token"],
                    copy,
                ),
            ),
        ),
        (
            "handover",
            Write::create(
                Kind::Secret,
                "vault",
                ARGOCD,
                holding("vault-init", "vault", &["root_token"], handover),
            ),
        ),
        (
            "bootstrap outside its namespace",
            Write::create(
                Kind::Secret,
                "payments",
                SEALED,
                holding("vault-init", "payments", &["root_token"], sealed_owner()),
            ),
        ),
    ] {
        let d = write.evaluate();
        assert_denied_by(&d, "VG111", what);
        for v in &d.denied {
            for shape in [
                "kind: ExternalSecret",
                "PushSecret",
                "platform-data/",
                "remoteKey",
                "kv put",
            ] {
                assert!(
                    !v.fix.contains(shape),
                    "{what}: {} fix offers {shape:?}: {}",
                    v.rule.id,
                    v.fix
                );
            }
        }
        let vg111 = d.denied.iter().find(|v| v.rule.id == "VG111").unwrap();
        assert!(
            vg111.fix.contains("token revoke") && vg111.fix.contains("auth/kubernetes/role"),
            "{}",
            vg111.fix
        );
    }
    // A mixed Secret: the VG101 ExternalSecret names the password, never the root token.
    let d = Write::create(
        Kind::Secret,
        "payments",
        HUMAN,
        holding("db", "payments", &["root_token", "password"], json!({})),
    )
    .evaluate();
    assert_eq!(denied(&d), ["VG111", "VG101"]);
    let vg101 = &d.denied[1].fix;
    assert!(
        vg101.contains("secretKey: password") && !vg101.contains("root_token"),
        "{vg101}"
    );
}

/// A PushSecret that publishes root material by key or property name is VG111 too: a root
/// token that predates vaultgate must not reach Vault KV from a Secret either.
#[test]
fn vg111_push_secret_publishing_root_material() {
    let push = |secret_key: &str, property: &str| {
        let mut p = push_secret(json!([APPROVED()]), "platform-data/vault/temporal");
        p["spec"]["data"][0]["match"]["secretKey"] = json!(secret_key);
        p["spec"]["data"][0]["match"]["remoteRef"]["property"] = json!(property);
        p
    };
    for (what, object) in [
        ("secretKey", push("root_token", "token")),
        ("property", push("token", "unseal_keys_b64")),
    ] {
        let d = Write::create(Kind::PushSecret, "temporal", ARGOCD, object).evaluate();
        assert_denied_by(&d, "VG111", what);
        let v = d
            .denied
            .iter()
            .find(|v| v.rule.id == "VG111")
            .expect("VG111");
        assert!(
            !v.fix.contains("platform-data/") && v.fix.contains("delete this object"),
            "{what}: the fix removes, never re-homes: {}",
            v.fix
        );
    }
    // Control: an ordinary token published under its own name is not root material.
    let d = Write::create(Kind::PushSecret, "temporal", ARGOCD, push("token", "token")).evaluate();
    assert!(
        d.denied.iter().all(|v| v.rule.id != "VG111"),
        "{:?}",
        d.denied
    );
}
