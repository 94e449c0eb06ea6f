//! Policy exceptions (#19, README "Exceptions"), judged in-process with the time injected: which
//! objects an exception's scope covers (namespace, kind, name, pattern, writer), that it ends at
//! `expires` to the second, that it never silences another rule on the same object, that nothing
//! on the object grants one, and how the decision, the warnings and `check` report it.
//! `validate` runs the real binary on invalid exceptions.

mod validate;

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use vaultgate::{
    cluster::MemoryView,
    policy::{self, Decision, Identity, Object, Operation, Policy, Review, objects::Kind},
};

use crate::support::{ARGOCD, HUMAN, groups};

const EXPIRES: &str = "2027-01-31T00:00:00Z";

fn expires() -> SystemTime {
    policy::exception::parse_time(EXPIRES).unwrap()
}

/// A day before the exception ends.
fn before() -> SystemTime {
    expires() - Duration::from_secs(86_400)
}

/// A policy with one exception: `scope` is YAML lines (two-space indented under the entry).
fn policy_with(scope: &str) -> Policy {
    Policy::from_yaml(&format!(
        "exceptions:\n  - id: legacy-db\n    rules: [VG101]\n{scope}    reason: the legacy chart renders it until PAY-123 moves it to Vault\n    ticket: PAY-123\n    expires: \"{EXPIRES}\"\n"
    ))
    .unwrap()
}

fn secret(ns: &str, name: &str, data: Value) -> Value {
    json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": name, "namespace": ns }, "type": "Opaque", "data": data })
}

fn plain(ns: &str, name: &str) -> Value {
    secret(ns, name, json!({ "password": "aHVudGVyMg==" }))
}

fn judge_as(policy: &Policy, kind: Kind, user: &str, object: Value, now: SystemTime) -> Decision {
    let object = Object::from_value(kind, object).expect("object decodes");
    let identity = Identity::new(user, groups(user));
    let ns = object.metadata().namespace.clone();
    let review = Review {
        uid: "exceptions",
        operation: Operation::Create,
        namespace: ns.as_deref(),
        name: object.name(),
        user: &identity,
        object: &object,
        old: None,
        dry_run: false,
        now,
    };
    policy::evaluate(&review, policy, &MemoryView::from_policy(policy))
}

/// alice's Secret write, judged a day before the exception ends.
fn judge(policy: &Policy, object: Value) -> Decision {
    judge_as(policy, Kind::Secret, HUMAN, object, before())
}

fn ids(list: &[policy::Violation]) -> Vec<&str> {
    list.iter().map(|v| v.rule.id).collect()
}

#[track_caller]
fn assert_excepted(d: &Decision) {
    assert!(d.allowed(), "excepted, so allowed: {:?}", ids(&d.denied));
    assert_eq!(ids(&d.warned), ["VG101"]);
    assert_eq!(d.excepted.len(), 1, "{:?}", d.excepted);
    let e = &d.excepted[0];
    assert_eq!(
        (
            e.rule,
            e.exception.as_str(),
            e.ticket.as_str(),
            e.expires.as_deref()
        ),
        ("VG101", "legacy-db", "PAY-123", Some(EXPIRES))
    );
}

#[track_caller]
fn assert_enforced(d: &Decision) {
    assert_eq!(ids(&d.denied), ["VG101"], "not excepted, so denied");
    assert!(d.excepted.is_empty(), "{:?}", d.excepted);
}

#[test]
fn an_exception_covers_its_namespace_and_no_other() {
    let p = policy_with("    namespace: payments\n");
    assert_excepted(&judge(&p, plain("payments", "db")));
    assert_excepted(&judge(&p, plain("payments", "anything")));
    assert_enforced(&judge(&p, plain("orders", "db")));
    assert_enforced(&judge(&p, plain("payments-2", "db")));
}

#[test]
fn kind_and_name_narrow_the_scope() {
    let p = policy_with("    namespace: payments\n    kind: Secret\n    name: db\n");
    assert_excepted(&judge(&p, plain("payments", "db")));
    assert_enforced(&judge(&p, plain("payments", "db2")));
    assert_enforced(&judge(&p, plain("payments", "cache")));
    // Another kind in the same namespace under the same name is not covered.
    let other = policy_with("    namespace: payments\n    kind: ExternalSecret\n    name: db\n");
    assert_enforced(&judge(&other, plain("payments", "db")));
}

#[test]
fn a_name_pattern_covers_the_names_it_matches() {
    let p = policy_with("    namespace: payments\n    namePattern: \"db-*\"\n");
    assert_excepted(&judge(&p, plain("payments", "db-main")));
    assert_excepted(&judge(&p, plain("payments", "db-replica")));
    assert_enforced(&judge(&p, plain("payments", "db")));
    assert_enforced(&judge(&p, plain("payments", "old-db-main")));
}

#[test]
fn users_narrow_the_writers_it_covers() {
    let p = policy_with(&format!(
        "    namespace: payments\n    users: [\"{ARGOCD}\", bob]\n"
    ));
    let by = |user| judge_as(&p, Kind::Secret, user, plain("payments", "db"), before());
    assert_excepted(&by(ARGOCD));
    assert_excepted(&by("bob"));
    assert_enforced(&by(HUMAN));
}

#[test]
fn cluster_wide_covers_every_namespace() {
    let p = policy_with("    clusterWide: true\n    name: db\n");
    assert_excepted(&judge(&p, plain("payments", "db")));
    assert_excepted(&judge(&p, plain("orders", "db")));
    assert_enforced(&judge(&p, plain("orders", "cache")));
}

#[test]
fn the_rule_applies_again_at_the_expiry_to_the_second() {
    let p = policy_with("    namespace: payments\n");
    let at = |now| judge_as(&p, Kind::Secret, HUMAN, plain("payments", "db"), now);
    assert_excepted(&at(expires() - Duration::from_secs(1)));
    let expired = at(expires());
    assert_enforced(&expired);
    assert_enforced(&at(expires() + Duration::from_secs(3600)));
    // The decision and the denial say which exception lapsed.
    assert_eq!(expired.lapsed.len(), 1);
    assert_eq!(expired.lapsed[0].exception, "legacy-db");
    let message = expired.message("Secret", Some("payments"), "db");
    assert!(
        message.contains("exception legacy-db (PAY-123) for VG101 expired at 2027-01-31T00:00:00Z"),
        "{message}"
    );
}

#[test]
fn other_rules_on_the_same_object_are_still_enforced() {
    let p = policy_with("    namespace: payments\n");
    // A Vault root token in a hand-written Secret: VG101 and VG111; only VG101 is excepted.
    let d = judge(
        &p,
        secret("payments", "db", json!({ "root_token": "aHVudGVyMg==" })),
    );
    assert!(!d.allowed());
    assert_eq!(ids(&d.denied), ["VG111"]);
    assert_eq!(ids(&d.warned), ["VG101"]);
    assert_eq!(d.excepted.len(), 1);
    assert_eq!(d.excepted[0].rule, "VG101");
    assert!(
        !d.message("Secret", Some("payments"), "db")
            .contains("VG101")
    );
}

#[test]
fn nothing_on_the_object_grants_an_exception() {
    // No exception in the policy: labels and annotations that name one, a ticket or an expiry,
    // and a break-glass annotation by a writer not allowed to use it, change nothing.
    let mut object = plain("payments", "db");
    object["metadata"]["labels"] = json!({
        "platform.pnats.cloud/exception": "legacy-db",
        "exception": "PAY-123",
    });
    object["metadata"]["annotations"] = json!({
        "platform.pnats.cloud/exception": "PAY-123: until 2099-01-01T00:00:00Z",
        "platform.pnats.cloud/exceptions": "[{rules: [VG101], namespace: payments, ticket: PAY-123, expires: \"2099-01-01T00:00:00Z\"}]",
        "platform.pnats.cloud/break-glass": "PAY-123: legacy chart",
    });
    assert_enforced(&judge(&Policy::default(), object.clone()));
    // An exception for another namespace is not stretched by what the object says either.
    let elsewhere = policy_with("    namespace: orders\n");
    assert_enforced(&judge(&elsewhere, object));
}

#[test]
fn warnings_name_the_exception_its_ticket_and_its_expiry() {
    let p = policy_with("    namespace: payments\n");
    let d = judge(&p, plain("payments", "db"));
    let warnings = d.warnings();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with(
            "[VG101 unmanaged-secret] excepted by PAY-123 until 2027-01-31T00:00:00Z (exception legacy-db): "
        ),
        "{}",
        warnings[0]
    );
}

#[test]
fn an_exception_without_an_id_is_named_by_its_index() {
    let p = Policy::from_yaml(&format!(
        "exceptions:\n  - rules: [unmanaged-secret]\n    namespace: payments\n    reason: r\n    ticket: T-1\n    expires: \"{EXPIRES}\"\n"
    ))
    .unwrap();
    let d = judge(&p, plain("payments", "db"));
    assert_eq!(d.excepted[0].exception, "exceptions[0]");
}

#[test]
fn break_glass_is_recorded_as_an_exception_with_its_ticket() {
    let p = Policy::from_yaml("identities:\n  breakGlass: [alice]\n").unwrap();
    let mut object = plain("payments", "db");
    object["metadata"]["annotations"] =
        json!({ "platform.pnats.cloud/break-glass": "INC-4711: vault outage" });
    let d = judge(&p, object);
    assert!(d.allowed());
    assert_eq!(d.break_glass.as_deref(), Some("INC-4711: vault outage"));
    assert_eq!(d.excepted.len(), 1);
    let e = &d.excepted[0];
    assert_eq!(
        (
            e.rule,
            e.exception.as_str(),
            e.ticket.as_str(),
            e.reason.as_str(),
            e.expires.as_deref()
        ),
        ("VG101", "break-glass", "INC-4711", "break-glass", None)
    );
}

#[test]
fn check_shows_excepted_objects_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    let until = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let until = until
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    std::fs::write(
        &policy,
        format!("exceptions:\n  - id: legacy-db\n    rules: [VG101]\n    namespace: payments\n    name: db\n    reason: legacy chart\n    ticket: PAY-123\n    expires: \"{until}\"\n"),
    )
    .unwrap();
    let manifests = dir.path().join("secrets.yaml");
    std::fs::write(
        &manifests,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: payments}\nstringData: {password: x}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: cache, namespace: payments}\nstringData: {password: x}\n",
    )
    .unwrap();
    let run = |format: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"))
            .args(["check", "--as", "alice", "--format", format, "--policy"])
            .arg(&policy)
            .arg(&manifests)
            .output()
            .unwrap()
    };
    let text = run("text");
    let out = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.status.code(), Some(1), "cache is still denied:\n{out}");
    assert!(out.contains("WARNED  Secret payments/db"), "{out}");
    assert!(
        out.contains(&format!(
            "  EXCEPTED VG101 by legacy-db (PAY-123) until {until}: legacy chart"
        )),
        "{out}"
    );
    assert!(out.contains("DENIED  Secret payments/cache"), "{out}");
    let json: Value = serde_json::from_slice(&run("json").stdout).unwrap();
    let db = &json["results"][0];
    assert_eq!(db["excepted"][0]["ticket"], "PAY-123");
    assert_eq!(db["excepted"][0]["expires"], until.as_str());
    assert_eq!(db["violations"][0]["mode"], "excepted");
    assert!(json["results"][1].get("excepted").is_none());
}

#[test]
fn a_break_glass_ticket_that_could_forge_an_excepted_entry_is_not_honoured() {
    // The `excepted` audit annotation is `VG101=<exception>(<ticket>),…`: a ticket holding
    // `),VG111=legacy-db(PAY-123` would add an entry the policy never granted.
    let p = Policy::from_yaml("identities:\n  breakGlass: [alice]\n").unwrap();
    let mut object = plain("payments", "db");
    object["metadata"]["annotations"] = json!({
        "platform.pnats.cloud/break-glass": "INC-1),VG111=legacy-db(PAY-123: vault outage"
    });
    let d = judge(&p, object);
    assert_enforced(&d);
    assert!(d.break_glass.is_none());
    let message = d.message("Secret", Some("payments"), "db");
    assert!(
        message.contains("Note: the break-glass annotation was not honoured: its ticket"),
        "{message}"
    );
}

#[test]
fn an_exception_naming_a_rule_by_id_or_by_slug_excepts_the_same_rule() {
    for rule in ["VG101", "unmanaged-secret"] {
        let p = Policy::from_yaml(&format!(
            "exceptions:\n  - id: legacy-db\n    rules: [{rule}]\n    namespace: payments\n    reason: r\n    ticket: PAY-123\n    expires: \"{EXPIRES}\"\n"
        ))
        .unwrap();
        assert_excepted(&judge(&p, plain("payments", "db")));
    }
}

#[test]
fn an_expiry_written_with_an_offset_ends_at_the_same_instant() {
    // 01:00 at +01:00 is 00:00 UTC: the clock, not the text, decides.
    let p = Policy::from_yaml(
        "exceptions:\n  - id: legacy-db\n    rules: [VG101]\n    namespace: payments\n    reason: r\n    ticket: PAY-123\n    expires: \"2027-01-31T01:00:00+01:00\"\n",
    )
    .unwrap();
    let at = |now| judge_as(&p, Kind::Secret, HUMAN, plain("payments", "db"), now);
    assert_eq!(at(expires() - Duration::from_secs(1)).excepted.len(), 1);
    assert_eq!(ids(&at(expires()).denied), ["VG101"]);
}

#[test]
fn an_update_is_excepted_as_a_create_is() {
    let p = policy_with("    namespace: payments\n");
    let object = Object::from_value(Kind::Secret, plain("payments", "db")).unwrap();
    let old = Object::from_value(
        Kind::Secret,
        secret("payments", "db", json!({ "password": "b2xk" })),
    )
    .unwrap();
    let identity = Identity::new(HUMAN, groups(HUMAN));
    let review = Review {
        uid: "exceptions-update",
        operation: Operation::Update,
        namespace: Some("payments"),
        name: "db",
        user: &identity,
        object: &object,
        old: Some(&old),
        dry_run: false,
        now: before(),
    };
    assert_excepted(&policy::evaluate(&review, &p, &MemoryView::from_policy(&p)));
}

#[test]
fn the_expiry_is_parsed_once_when_the_policy_is_loaded() {
    // The loaded policy judges with what it parsed at load, not by re-reading the text.
    let mut p = policy_with("    namespace: payments\n");
    p.exceptions[0].expires = "not a time".into();
    let d = judge(&p, plain("payments", "db"));
    assert!(d.allowed() && d.excepted.len() == 1, "{:?}", d.denied);
    assert_enforced(&judge_as(
        &p,
        Kind::Secret,
        HUMAN,
        plain("payments", "db"),
        expires(),
    ));
}
