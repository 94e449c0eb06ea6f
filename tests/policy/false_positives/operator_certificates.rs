//! Operators that keep their own webhook certificates in Secrets: ESO's cert-controller and
//! cert-manager's webhook and cainjector. These Secrets are generated in-cluster, never copies of
//! a Vault value, and written only where the operator runs.

use super::*;

const ESO_CERT_CONTROLLER: &str =
    "system:serviceaccount:external-secrets:external-secrets-cert-controller";
const CERT_MANAGER_WEBHOOK: &str = "system:serviceaccount:cert-manager:cert-manager-webhook";
const CERT_MANAGER_CAINJECTOR: &str = "system:serviceaccount:cert-manager:cert-manager-cainjector";

#[test]
fn eso_cert_controller_creates_and_rotates_the_eso_webhook_certificate() {
    let (ns, name) = ("external-secrets", "external-secrets-webhook");
    let created = Write::create(
        Kind::Secret,
        ns,
        ESO_CERT_CONTROLLER,
        tls_secret(name, ns, 1),
    )
    .evaluate();
    assert_allowed(
        &created,
        "the cert-controller creates its webhook certificate",
    );
    // Rotation: every value changes, keys and type stay. Both as first written and as read
    // back with the class label the CREATE earned.
    for (old, new) in [
        (tls_secret(name, ns, 1), tls_secret(name, ns, 2)),
        (
            stamped(tls_secret(name, ns, 1), &created),
            stamped(tls_secret(name, ns, 2), &created),
        ),
    ] {
        let rotated = Write::update(Kind::Secret, ns, ESO_CERT_CONTROLLER, old, new).evaluate();
        assert_allowed(
            &rotated,
            "the cert-controller rotates its webhook certificate",
        );
    }

    // Control: the same Secret written by a person.
    let d = Write::create(Kind::Secret, ns, HUMAN, tls_secret(name, ns, 1)).evaluate();
    assert_denied_by(&d, "VG101", "alice writes the ESO webhook certificate");
    let d = Write::update(
        Kind::Secret,
        ns,
        HUMAN,
        tls_secret(name, ns, 1),
        tls_secret(name, ns, 2),
    )
    .evaluate();
    assert_denied_by(&d, "VG101", "alice rotates the ESO webhook certificate");
}

#[test]
fn cert_manager_webhook_and_cainjector_create_their_ca_secrets_in_cert_manager() {
    let ns = "cert-manager";
    for (user, name) in [
        (CERT_MANAGER_WEBHOOK, "cert-manager-webhook-ca"),
        (CERT_MANAGER_CAINJECTOR, "cert-manager-cainjector-ca"),
    ] {
        let d = Write::create(Kind::Secret, ns, user, tls_secret(name, ns, 1)).evaluate();
        assert_allowed(&d, &format!("{user} creates {ns}/{name}"));
        let rotated = Write::update(
            Kind::Secret,
            ns,
            user,
            stamped(tls_secret(name, ns, 1), &d),
            stamped(tls_secret(name, ns, 2), &d),
        )
        .evaluate();
        assert_allowed(&rotated, &format!("{user} rotates {ns}/{name}"));

        // Controls: the same identity outside its namespace, and a person in it.
        let d = Write::create(
            Kind::Secret,
            "payments",
            user,
            tls_secret(name, "payments", 1),
        )
        .evaluate();
        assert_denied_by(&d, "VG101", &format!("{user} writes into payments"));
        let d = Write::create(Kind::Secret, ns, HUMAN, tls_secret(name, ns, 1)).evaluate();
        assert_denied_by(&d, "VG101", &format!("alice writes {ns}/{name}"));
    }
}
