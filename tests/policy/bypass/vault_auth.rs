//! VG402 vault-root-token: static Vault credentials other than a token.

use super::*;

/// Was a bypass (fixed): VG402's invariant is "the Vault store authenticates with Kubernetes auth and a scoped
/// role, never a token", but only `auth.tokenSecretRef` is refused: a Vault store whose
/// credential is an AppRole secret-id, a userpass/LDAP password or a JWT kept in a Kubernetes
/// Secret is allowed — a long-lived Vault credential in a Kubernetes Secret all the same.
#[test]
fn vg402_vault_store_with_static_credentials_other_than_a_token() {
    let store = |auth: Value| {
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": { "name": "vault-backend" },
            "spec": { "provider": { "vault": { "server": "https://vault:8200", "path": "secret", "version": "v2", "auth": auth } } }
        })
    };
    let cluster = |auth: Value| Write {
        kind: Kind::ClusterSecretStore,
        operation: Operation::Create,
        namespace: None,
        user: ARGOCD,
        object: store(auth),
        old: None,
    };
    let kubernetes = json!({ "kubernetes": { "mountPath": "kubernetes", "role": "external-secrets", "serviceAccountRef": { "name": "external-secrets", "namespace": "external-secrets" } } });
    assert_allowed(&cluster(kubernetes).evaluate(), "kubernetes auth");
    assert_denied_by(
        &cluster(json!({ "tokenSecretRef": { "name": "vault-token", "key": "token" } })).evaluate(),
        "VG402",
        "token",
    );
    for auth in [
        json!({ "appRole": { "path": "approle", "roleId": "r", "secretRef": { "name": "approle", "key": "secret-id" } } }),
        json!({ "userPass": { "path": "userpass", "username": "eso", "secretRef": { "name": "vault-pass", "key": "password" } } }),
        json!({ "ldap": { "path": "ldap", "username": "eso", "secretRef": { "name": "ldap-pass", "key": "password" } } }),
        json!({ "jwt": { "path": "jwt", "role": "eso", "secretRef": { "name": "jwt", "key": "token" } } }),
        json!({ "cert": { "clientCert": { "name": "vault-cert", "key": "tls.crt" }, "secretRef": { "name": "vault-cert", "key": "tls.key" } } }),
    ] {
        assert_denied_by(
            &cluster(auth.clone()).evaluate(),
            "VG402",
            &auth.to_string(),
        );
    }
}
