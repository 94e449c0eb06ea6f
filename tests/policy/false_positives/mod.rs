//! False positives: writes RFC-SECOPS-0001 allows, which an over-eager rule would deny and so
//! break a working cluster (issue #13). Each allow comes with a denial control, the nearest write
//! that must still be denied, so a test that "passes" because everything is allowed is caught.
//!
//! Like the bypass suite (whose helpers this one shares, tests/support/mod.rs), every write is
//! judged in-process and over HTTPS by a real vaultgate server, and the verdicts must agree.

mod config_only;
mod consumer_names;
mod dashboards;
mod fix_texts;
mod generators;
mod hidden_control_planes;
mod housekeeping;
mod operator_certificates;
mod read_scope;

use std::sync::atomic::Ordering;

use crate::support::*;
use serde_json::{Value, json};
use vaultgate::policy::{Class, Decision, objects::Kind};

/// The harness checks itself: a judged write is also answered over HTTPS.
#[test]
fn every_judged_write_is_also_answered_by_the_https_server() {
    let before = HTTPS_REVIEWS.load(Ordering::Relaxed);
    let d = Write::create(
        Kind::Secret,
        "payments",
        ESO,
        secret("db", "payments", es_owner()),
    )
    .evaluate();
    assert_allowed(&d, "ESO with its owner");
    let d = Write::create(
        Kind::Secret,
        "payments",
        HUMAN,
        secret("db", "payments", json!({})),
    )
    .evaluate();
    assert_denied_by(&d, "VG101", "a hand-made Secret");
    assert!(
        HTTPS_REVIEWS.load(Ordering::Relaxed) >= before + 2,
        "both writes were posted to /validate"
    );
}

/// The agreement check can fail: an HTTPS verdict that differs from the in-process one in
/// `allowed`, in a denied rule, or in the class is rejected.
#[test]
fn the_https_agreement_check_rejects_a_disagreeing_verdict() {
    let write = Write::create(
        Kind::Secret,
        "payments",
        HUMAN,
        secret("db", "payments", json!({})),
    );
    let d = write.evaluate();
    assert_denied_by(&d, "VG101", "a hand-made Secret");
    let message = d.message("Secret", Some("payments"), "db");
    assert_same_verdict(
        &write,
        &d,
        &json!({ "allowed": false, "status": { "message": message } }),
    );
    let other_rule = message.replace("[VG101 unmanaged-secret]", "[VG102 ci-writer]");
    for disagreeing in [
        json!({ "allowed": true }),
        json!({ "allowed": false, "status": { "message": other_rule } }),
        json!({ "allowed": false, "status": { "message": message }, "auditAnnotations": { "class": "derived" } }),
    ] {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_same_verdict(&write, &d, &disagreeing)
        }));
        assert!(caught.is_err(), "accepted a disagreeing verdict");
    }
}

/// A TLS Secret as controllers write them (`tls.crt`, `tls.key`, `ca.crt`). `generation` picks
/// the (fake, non-secret) certificate material, so a rotation changes every value.
fn tls_secret(name: &str, namespace: &str, generation: u8) -> Value {
    use base64::Engine as _;
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": name, "namespace": namespace },
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": b64(format!("fake certificate {generation}")),
            "tls.key": b64(format!("fake key {generation}")),
            "ca.crt": b64(format!("fake CA {generation}")),
        }
    })
}

/// `object` with the class label a previous allowed write earned (the mutating webhook stamps
/// it), as the controller reads it back before its next UPDATE.
fn stamped(mut object: Value, earned: &Decision) -> Value {
    if let Some(class) = earned.class {
        object["metadata"]["labels"][CLASS] = json!(class.as_str());
    }
    object
}

fn denied_rules(d: &Decision) -> String {
    format!("{:?} (class {:?})", denied(d), d.class.map(Class::as_str))
}
