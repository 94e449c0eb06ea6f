//! Unit tests of the fix texts: the suggested ExternalSecret uses the approved store, paths
//! that conform once filled in, and distinct properties; the bootstrap fix replaces the
//! re-push with the handover and never suggests a rename.

use super::*;

#[test]
fn a_datasource_is_a_named_system_or_a_placeholder_never_the_first_word() {
    assert_eq!(datasource_hint("temporal-postgres-creds"), Some("postgres"));
    assert_eq!(datasource_hint("db-creds"), None);
    assert_eq!(datasource_hint("payments-api-secrets"), None);
    assert_eq!(
        datasource_or_placeholder("payments-api-secrets"),
        "<datasource>"
    );
    assert_eq!(datasource_or_placeholder("__"), "<datasource>");
}

#[test]
fn external_secret_fix_uses_the_approved_store_and_a_conforming_path() {
    let fix = external_secret(
        "db-creds",
        "payments",
        &["username", "api-key"],
        &[],
        &Policy::default(),
    );
    assert!(fix.contains("kind: ClusterSecretStore"));
    assert!(fix.contains("name: vault-backend"));
    assert!(fix.contains("key: platform-data/<datasource>/payments"));
    assert!(fix.contains("secretKey: api-key"));
    assert!(fix.contains("property: token"));
    assert!(
        crate::policy::paths::push_path_problems(
            "platform-data/postgres/payments",
            &Policy::default()
        )
        .is_empty()
    );
}

#[test]
fn the_bootstrap_fix_deletes_the_push_and_declares_the_handover_never_a_rename() {
    let p = Policy::default();
    for to in [None, Some("platform-data/argocd/argocd")] {
        let fix = bootstrap_handover("argocd-private-repo", to, &p);
        assert!(fix.contains("delete the PushSecret"), "{fix}");
        assert!(fix.contains("platform.pnats.cloud/handover-to"), "{fix}");
        assert!(fix.contains("copy it to Vault once"), "{fix}");
        for rename in ["another name", "own target.name", "rename", "-runtime"] {
            assert!(!fix.contains(rename), "{rename:?} in {fix}");
        }
    }
}
