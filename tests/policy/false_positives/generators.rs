//! VG202/VG206: the Generate-Push-Pull pattern the RFC's derived class describes
//! (docs/rfc-digest.md §2, "Derived"; open point 12): a Password generator behind an
//! ExternalSecret with `refreshInterval: "0"` (generate once). Generators that read elsewhere,
//! invent or call out stay denied, and `allowedGenerators: []` is the strict opt-in.

use super::*;
use vaultgate::{
    cluster::MemoryView,
    policy::{self, Identity, Object, Operation, Policy, Review},
};

fn generated(kind: &str, refresh: &str, with_remote_ref: bool) -> Value {
    let mut data_from = vec![
        json!({ "sourceRef": { "generatorRef": { "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": kind, "name": "nx-cache-token" } } }),
    ];
    if with_remote_ref {
        data_from.push(json!({ "extract": { "key": "platform-data/postgres/ci" } }));
    }
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": { "name": "nx-cache-server-token", "namespace": "ci" },
        "spec": {
            "refreshInterval": refresh,
            "target": { "name": "nx-cache-server-token", "creationPolicy": "Owner" },
            "dataFrom": data_from
        }
    })
}

#[test]
fn password_generator_generating_once_is_allowed() {
    for refresh in ["0", "0s"] {
        let d = Write::create(
            Kind::ExternalSecret,
            "ci",
            ARGOCD,
            generated("Password", refresh, false),
        )
        .evaluate();
        assert_allowed(&d, &format!("Password, refreshInterval {refresh:?}"));
    }
    // Controls: other generators, and a refresh of 0 on an ExternalSecret that also reads Vault.
    for kind in ["VaultDynamicSecret", "Fake", "Webhook"] {
        let d = Write::create(
            Kind::ExternalSecret,
            "ci",
            ARGOCD,
            generated(kind, "0", false),
        )
        .evaluate();
        assert_denied_by(&d, "VG202", kind);
    }
    let mut mixed = generated("Password", "0", true);
    mixed["spec"]["secretStoreRef"] = APPROVED();
    let d = Write::create(Kind::ExternalSecret, "ci", ARGOCD, mixed).evaluate();
    assert_denied_by(&d, "VG206", "refreshInterval 0 with a Vault read");
}

#[test]
fn an_empty_allowed_generators_list_denies_password_too() {
    let strict = Policy::from_yaml("externalSecrets:\n  allowedGenerators: []\n").unwrap();
    let view = MemoryView::from_policy(&strict);
    let object =
        Object::from_value(Kind::ExternalSecret, generated("Password", "0", false)).unwrap();
    let user = Identity::new(ARGOCD, groups(ARGOCD));
    let review = Review {
        uid: "generators",
        operation: Operation::Create,
        namespace: Some("ci"),
        name: "nx-cache-server-token",
        user: &user,
        object: &object,
        old: None,
        dry_run: false,
        now: std::time::SystemTime::UNIX_EPOCH,
    };
    assert_denied_by(
        &policy::evaluate(&review, &strict, &view),
        "VG202",
        "strict policy",
    );
}
