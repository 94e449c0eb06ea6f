use serde_json::{Value, json};

use super::*;
use crate::cluster::MemoryView;
use crate::policy::objects::Kind;

const ESO_OWNER_UID: &str = "0b5e1c7a-uid";
const SEALED_SECRETS: &str = "system:serviceaccount:kube-system:sealed-secrets-controller";

fn manager(name: &str) -> FieldManager {
    FieldManager {
        manager: name.into(),
        operation: "Update".into(),
        subresource: false,
    }
}

fn listed(kind: Kind, value: Value, managers: &[&str]) -> Listed {
    Listed {
        object: Object::from_value(kind, value).expect("a valid object"),
        managers: managers.iter().map(|m| manager(m)).collect(),
    }
}

/// A Secret as a metadata-only listing returns it: no `data`.
fn secret(ns: &str, name: &str, metadata: Value) -> Value {
    let mut m = json!({ "name": name, "namespace": ns });
    if let (Some(m), Value::Object(extra)) = (m.as_object_mut(), metadata) {
        m.extend(extra);
    }
    json!({ "apiVersion": "v1", "kind": "Secret", "metadata": m })
}

fn external_secret(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": { "name": name, "namespace": ns, "uid": ESO_OWNER_UID },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": { "kind": "ClusterSecretStore", "name": "vault-backend" },
            "target": { "name": name, "creationPolicy": "Owner" },
            "data": [{ "secretKey": "password",
                       "remoteRef": { "key": format!("platform-data/postgres/{ns}"), "property": "password" } }]
        }
    })
}

/// Audits `objects` over a memory view holding them, as `vaultgate audit` does over its listing.
fn run(objects: Vec<Listed>, policy: &Policy) -> Report {
    let mut view = MemoryView::from_policy(policy);
    for l in &objects {
        view.insert(&l.object, None);
    }
    audit(&objects, policy, &view, std::time::SystemTime::now())
}

fn find<'a>(report: &'a Report, kind: &str, name: &str) -> &'a Audited {
    report
        .objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not in the report"))
}

fn rules(o: &Audited) -> Vec<&str> {
    o.violations.iter().map(|v| v.rule).collect()
}

#[test]
fn a_hand_made_secret_is_unmanaged_and_its_field_manager_is_only_an_inferred_producer() {
    let report = run(
        vec![listed(
            Kind::Secret,
            secret("payments", "db-creds", json!({})),
            &["kubectl-client-side-apply"],
        )],
        &Policy::default(),
    );
    let o = find(&report, "Secret", "db-creds");
    assert_eq!(o.producer.kind, ProducerKind::Manager);
    assert_eq!(o.producer.name, "kubectl-client-side-apply");
    assert!(
        o.producer.inferred,
        "a field manager is a client-chosen hint"
    );
    assert_eq!(o.class, None);
    assert_eq!(rules(o), ["VG101"]);
    let ns = &report.namespaces[0];
    assert_eq!((ns.secrets, ns.covered), (1, 0));
    assert_eq!(ns.coverage_percent, Some(0.0));
    assert_eq!(
        ns.by_producer.get("kubectl-client-side-apply (inferred)"),
        Some(&1)
    );
    assert_eq!(ns.violations["VG101"].objects, ["Secret/db-creds"]);
}

#[test]
fn a_secret_nothing_traces_is_judged_as_an_unknown_writer() {
    let report = run(
        vec![listed(
            Kind::Secret,
            secret("payments", "x", json!({})),
            &[],
        )],
        &Policy::default(),
    );
    let o = find(&report, "Secret", "x");
    assert_eq!(o.producer.kind, ProducerKind::Unknown);
    assert!(!o.producer.inferred);
    assert_eq!(rules(o), ["VG101"]);
}

#[test]
fn a_forged_field_manager_never_earns_a_class() {
    let eso = "system:serviceaccount:external-secrets:external-secrets";
    let report = run(
        vec![listed(
            Kind::Secret,
            secret("payments", "x", json!({})),
            &[eso, "external-secrets"],
        )],
        &Policy::default(),
    );
    let o = find(&report, "Secret", "x");
    assert!(o.producer.inferred && o.class.is_none());
    assert_eq!(rules(o), ["VG101"]);
}

#[test]
fn a_reflector_copy_is_a_copy_marker_violation() {
    let report = run(
        vec![listed(
            Kind::Secret,
            secret(
                "payments",
                "db-copy",
                json!({ "annotations": { "reflector.v1.k8s.emberstack.com/reflects": "shared/db" } }),
            ),
            &["kubectl-create"],
        )],
        &Policy::default(),
    );
    let o = find(&report, "Secret", "db-copy");
    assert!(rules(o).contains(&"VG103"), "{:?}", rules(o));
}

#[test]
fn a_materialized_secret_with_its_external_secret_is_clean_and_covered() {
    let owner = json!({ "ownerReferences": [{
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "name": "db", "uid": ESO_OWNER_UID, "controller": true }],
        "labels": { "reconcile.external-secrets.io/managed": "true" } });
    let report = run(
        vec![
            listed(
                Kind::ExternalSecret,
                external_secret("payments", "db"),
                &["argocd-controller"],
            ),
            listed(
                Kind::Secret,
                secret("payments", "db", owner),
                &["external-secrets"],
            ),
        ],
        &Policy::default(),
    );
    let o = find(&report, "Secret", "db");
    assert_eq!(o.producer.kind, ProducerKind::Eso);
    assert!(!o.producer.inferred, "a verified owner is a trusted signal");
    assert_eq!(o.class, Some("materialized"));
    assert!(o.violations.is_empty(), "{:?}", o.violations);
    let es = find(&report, "ExternalSecret", "db");
    assert_eq!(es.producer.kind, ProducerKind::Gitops);
    assert!(es.producer.inferred && es.violations.is_empty());
    let ns = &report.namespaces[0];
    assert_eq!((ns.secrets, ns.covered, ns.materialized), (1, 1, 1));
    assert_eq!(ns.coverage_percent, Some(100.0));
}

#[test]
fn an_external_secret_owner_that_does_not_exist_is_not_trusted() {
    let owner = json!({ "ownerReferences": [{
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "name": "gone", "uid": "u", "controller": true }] });
    let report = run(
        vec![listed(
            Kind::Secret,
            secret("payments", "gone", owner),
            &["kubectl-create"],
        )],
        &Policy::default(),
    );
    let o = find(&report, "Secret", "gone");
    assert_eq!(o.producer.kind, ProducerKind::Manager);
    assert!(rules(o).contains(&"VG101"), "{:?}", rules(o));
}

fn bootstrap_secret(name: &str, state: Option<&str>) -> Value {
    let mut labels = json!({
        "platform.pnats.cloud/secret-class": "bootstrap",
        "platform.pnats.cloud/bootstrap-source": "sealed-secrets",
    });
    if let Some(s) = state {
        labels["platform.pnats.cloud/handover-state"] = json!(s);
    }
    secret(
        "vault",
        name,
        json!({
            "labels": labels,
            "annotations": {
                "platform.pnats.cloud/handover-to": "platform-data/postgres/vault",
                "platform.pnats.cloud/created-by": SEALED_SECRETS,
                "platform.pnats.cloud/first-seen": "2026-01-01T00:00:00Z",
                "platform.pnats.cloud/admission-uid": "a-uid",
            }
        }),
    )
}

#[test]
fn a_stamped_bootstrap_secret_shows_its_decrypter_and_pending_handover() {
    let report = run(
        vec![
            listed(Kind::Secret, bootstrap_secret("pg-root", None), &[]),
            listed(
                Kind::Secret,
                bootstrap_secret("pg-old", Some("consumed")),
                &[],
            ),
        ],
        &Policy::default(),
    );
    let o = find(&report, "Secret", "pg-root");
    assert_eq!(o.producer.kind, ProducerKind::Decrypter);
    assert_eq!(o.producer.name, "sealed-secrets");
    assert_eq!(o.class, Some("bootstrap"));
    assert!(o.violations.is_empty(), "{:?}", o.violations);
    let h = o.handover.as_ref().expect("handover state");
    assert_eq!(h.state, "pending");
    assert_eq!(h.target.as_deref(), Some("platform-data/postgres/vault"));
    // The handover controller's later state is reported, not judged as the decrypter's write.
    let old = find(&report, "Secret", "pg-old");
    assert!(old.violations.is_empty(), "{:?}", old.violations);
    assert_eq!(
        old.handover.as_ref().map(|h| h.state.as_str()),
        Some("consumed")
    );
    let ns = &report.namespaces[0];
    assert_eq!(ns.bootstrap.len(), 2);
    assert_eq!(ns.by_class.get("bootstrap"), Some(&2));
}

#[test]
fn an_external_secret_applied_by_hand_is_a_gitops_writer_violation() {
    let report = run(
        vec![listed(
            Kind::ExternalSecret,
            external_secret("payments", "db"),
            &["kubectl-client-side-apply"],
        )],
        &Policy::default(),
    );
    let es = find(&report, "ExternalSecret", "db");
    assert!(es.producer.inferred);
    assert_eq!(rules(es), ["VG209"]);
}

#[test]
fn a_clean_namespace_in_warn_mode_is_ready_and_gets_its_snippet() {
    let policy = Policy::from_yaml("namespaces:\n  modes:\n    orders: warn\n    payments: warn\n")
        .expect("policy");
    let report = run(
        vec![
            listed(
                Kind::ExternalSecret,
                external_secret("orders", "db"),
                &["argocd-controller"],
            ),
            listed(Kind::Secret, secret("payments", "x", json!({})), &[]),
        ],
        &policy,
    );
    assert_eq!(report.ready, ["orders"]);
    let payments = report
        .namespaces
        .iter()
        .find(|n| n.namespace == "payments")
        .expect("payments");
    assert!(!payments.ready);
    assert_eq!(payments.mode, Mode::Warn);
    assert!(
        payments.violations.contains_key("VG101"),
        "warned findings count"
    );
    assert_eq!(
        ready_snippet(&report.ready),
        "namespaces:\n  modes:\n    orders: enforce\n"
    );
}

#[test]
fn exempt_namespaces_are_counted_not_judged() {
    let report = run(
        vec![listed(
            Kind::Secret,
            secret("kube-system", "x", json!({})),
            &[],
        )],
        &Policy::default(),
    );
    assert!(report.objects.is_empty());
    assert_eq!(report.exempt, [("kube-system".to_owned(), 1)]);
    assert_eq!(report.violations(), 0);
}

/// An `expires` 30 days from now (RFC 3339), inside the default maximum lifetime.
fn in_30_days() -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(30))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time")
}

#[test]
fn an_exception_is_listed_with_what_it_covers_and_the_excepted_rule_is_reported_not_hidden() {
    let expires = in_30_days();
    let policy = Policy::from_yaml(&format!(
        "exceptions:\n  - id: legacy-db\n    rules: [VG101]\n    namespace: payments\n    name: db-creds\n    reason: migrating to ESO\n    ticket: PAY-1\n    expires: \"{expires}\"\n"
    ))
    .expect("policy");
    let report = run(
        vec![
            listed(Kind::Secret, secret("payments", "db-creds", json!({})), &[]),
            listed(Kind::Secret, secret("payments", "other", json!({})), &[]),
        ],
        &policy,
    );
    let covered = find(&report, "Secret", "db-creds");
    assert_eq!(covered.excepted.len(), 1, "{covered:?}");
    assert_eq!(covered.excepted[0].ticket, "PAY-1");
    let other = find(&report, "Secret", "other");
    assert!(other.excepted.is_empty() && rules(other).contains(&"VG101"));
    assert_eq!(report.exceptions.len(), 1);
    let e = &report.exceptions[0];
    assert_eq!((e.exception.as_str(), e.state), ("legacy-db", "active"));
    assert_eq!(e.covers, ["payments/Secret/db-creds"]);
}

#[test]
fn nothing_on_a_stored_object_makes_the_audit_report_an_exception_or_break_glass() {
    // The stored Secret names a break-glass identity in forged stamps, carries a break-glass
    // annotation and forged `excepted` entries; the only exception is for another namespace.
    let expires = in_30_days();
    let policy = Policy::from_yaml(&format!(
        "identities:\n  breakGlass: [alice]\nexceptions:\n  - id: legacy-db\n    rules: [VG101]\n    namespace: orders\n    reason: migrating\n    ticket: PAY-1\n    expires: \"{expires}\"\n"
    ))
    .expect("policy");
    let forged = secret(
        "payments",
        "db-creds",
        json!({
            "labels": { "platform.pnats.cloud/bootstrap-source": "sealed-secrets" },
            "annotations": {
                "platform.pnats.cloud/created-by": "alice",
                "platform.pnats.cloud/break-glass": "INC-1: vault outage",
                "platform.pnats.cloud/excepted": "VG101=legacy-db(PAY-1)",
                "vaultgate.io/excepted": "VG101=legacy-db(PAY-1),VG111=legacy-db(PAY-1)",
            },
        }),
    );
    let report = run(vec![listed(Kind::Secret, forged, &[])], &policy);
    let o = find(&report, "Secret", "db-creds");
    assert!(o.excepted.is_empty(), "{:?}", o.excepted);
    assert!(rules(o).contains(&"VG101"), "{:?}", rules(o));
    assert!(
        o.violations.iter().all(|v| v.mode == Mode::Enforce),
        "reported as the webhook enforces them: {:?}",
        o.violations
    );
    // The annotation is reported as a claim, and the PolicyReport says fail, never skip.
    assert_eq!(o.break_glass.as_deref(), Some("INC-1"));
    assert!(report.exceptions[0].covers.is_empty());
    let built = policy_report::build(&report, 500);
    let results = built["payments"].body["results"]
        .as_array()
        .expect("results");
    assert!(!results.is_empty());
    for r in results {
        assert_eq!(r["result"], "fail", "{r:#}");
        assert_eq!(r["properties"]["breakGlass"], "INC-1", "{r:#}");
    }
}

#[test]
fn an_expired_exception_still_matching_an_object_is_listed_as_such() {
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let past = past
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let policy = Policy::from_yaml(&format!(
        "exceptions:\n  - id: legacy-db\n    rules: [VG101]\n    namespace: payments\n    reason: migrating\n    ticket: PAY-1\n    expires: \"{past}\"\n"
    ))
    .expect("policy");
    let report = run(
        vec![listed(
            Kind::Secret,
            secret("payments", "db-creds", json!({})),
            &[],
        )],
        &policy,
    );
    let o = find(&report, "Secret", "db-creds");
    assert!(o.excepted.is_empty() && rules(o).contains(&"VG101"));
    assert_eq!(o.lapsed.len(), 1);
    let e = &report.exceptions[0];
    assert_eq!(e.state, "expired");
    assert!(e.covers.is_empty());
    assert_eq!(e.expired, ["payments/Secret/db-creds"]);
}

mod policy_reports {
    use super::*;
    use crate::policy::exception::Excepted;
    use policy_report::{CAP_ANNOTATION, OMITTED_ANNOTATION, build, content_digest, empty};

    fn cluster(hand_made: usize) -> Report {
        let mut objects: Vec<Listed> = (0..hand_made)
            .map(|i| {
                listed(
                    Kind::Secret,
                    secret("payments", &format!("hand-{i:03}"), json!({})),
                    &["kubectl-client-side-apply"],
                )
            })
            .collect();
        objects.push(listed(
            Kind::ExternalSecret,
            external_secret("payments", "db"),
            &["argocd-controller"],
        ));
        objects.push(listed(
            Kind::Secret,
            secret(
                "payments",
                "db",
                json!({"ownerReferences": [{"apiVersion": "external-secrets.io/v1",
                    "kind": "ExternalSecret", "name": "db", "uid": ESO_OWNER_UID,
                    "controller": true}],
                    "labels": {"reconcile.external-secrets.io/managed": "true"}}),
            ),
            &["external-secrets"],
        ));
        run(objects, &Policy::default())
    }

    #[test]
    fn violations_become_fail_results_and_allowed_objects_none() {
        let reports = build(&cluster(1), 500);
        let r = &reports["payments"];
        assert_eq!(r.kind(), "PolicyReport");
        let b = &r.body;
        assert_eq!(b["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        assert_eq!(b["metadata"]["name"], "vaultgate");
        assert_eq!(b["metadata"]["namespace"], "payments");
        let results = b["results"].as_array().expect("results");
        assert_eq!(results.len(), 1, "only the hand-made Secret's VG101: {b:#}");
        let res = &results[0];
        assert_eq!(res["policy"], "vaultgate");
        assert_eq!(res["rule"], "VG101");
        assert_eq!(res["result"], "fail");
        assert_eq!(res["severity"], "high");
        assert!(
            res["category"]
                .as_str()
                .expect("category")
                .starts_with("RFC-SECOPS-0001")
        );
        assert_eq!(
            res["resources"],
            json!([{"apiVersion": "v1", "kind": "Secret", "name": "hand-000", "namespace": "payments"}])
        );
        assert_eq!(res["properties"]["producer"], "inferred");
        assert_eq!(res["properties"]["inferred"], "true");
        assert_eq!(b["summary"]["fail"], 1);
        assert_eq!(b["summary"]["warn"], 0);
        assert_eq!(b["metadata"]["annotations"][OMITTED_ANNOTATION], "0");
    }

    #[test]
    fn the_cap_lists_the_first_results_and_states_how_many_were_left_out() {
        let reports = build(&cluster(7), 5);
        let b = &reports["payments"].body;
        assert_eq!(b["results"].as_array().map(Vec::len), Some(5));
        assert_eq!(b["summary"]["fail"], 7, "the summary counts every result");
        assert_eq!(b["metadata"]["annotations"][CAP_ANNOTATION], "5");
        assert_eq!(b["metadata"]["annotations"][OMITTED_ANNOTATION], "2");
    }

    #[test]
    fn an_unchanged_audit_has_the_same_digest_and_a_fix_changes_it() {
        let a = build(&cluster(2), 500);
        let b = build(&cluster(2), 500);
        assert_eq!(
            content_digest(&a["payments"]),
            content_digest(&b["payments"]),
            "no timestamp or other churn in the content"
        );
        let fixed = build(&cluster(1), 500);
        assert_ne!(
            content_digest(&a["payments"]),
            content_digest(&fixed["payments"])
        );
        let gone = empty("payments", 500);
        assert_eq!(gone.body["results"], json!([]));
        assert_eq!(gone.body["summary"]["fail"], 0);
    }

    #[test]
    fn an_excepted_rule_is_a_skip_with_the_exceptions_ticket_and_not_a_warn() {
        let mut report = cluster(1);
        let o = report
            .objects
            .iter_mut()
            .find(|o| o.name == "hand-000")
            .expect("hand-made");
        o.violations[0].mode = Mode::Warn;
        o.excepted.push(Excepted {
            rule: "VG101",
            exception: "legacy-db".into(),
            ticket: "SEC-42".into(),
            reason: "migrating to ESO".into(),
            expires: Some("2027-01-31".into()),
            expires_at: None,
        });
        let reports = build(&report, 500);
        let results = reports["payments"].body["results"]
            .as_array()
            .expect("results")
            .clone();
        assert_eq!(results.len(), 1, "{results:#?}");
        let r = &results[0];
        assert_eq!(r["result"], "skip");
        assert_eq!(r["rule"], "VG101");
        assert_eq!(r["properties"]["exception"], "legacy-db");
        assert_eq!(r["properties"]["ticket"], "SEC-42");
        assert_eq!(r["properties"]["reason"], "migrating to ESO");
        assert_eq!(r["properties"]["expires"], "2027-01-31");
    }
}

mod exception_events {
    use super::*;
    use crate::audit::exception_events::{Due, MAX_OBJECTS, Matches, Sent, due};
    use crate::policy::exception::{EXPIRING_WITHIN, State, parse_time};
    use std::time::Duration;

    const DAY: Duration = Duration::from_secs(86_400);

    /// The Events due after an audit of `objects` at `now`, its matches folded as the streamed
    /// in-cluster pass folds them.
    fn due_after_audit(objects: &[Listed], now: SystemTime, sent: &Sent) -> (Vec<Due>, Sent) {
        let policy = Policy::from_yaml(
            "exceptions:\n  - id: legacy-db\n    rules: [VG101]\n    namespace: payments\n    namePattern: \"db*\"\n    reason: migrating\n    ticket: PAY-1\n    expires: \"2027-01-31T00:00:00Z\"\n",
        )
        .expect("policy");
        let mut view = MemoryView::from_policy(&policy);
        for l in objects {
            view.insert(&l.object, None);
        }
        let report = audit(objects, &policy, &view, now);
        due(&policy, now, &Matches::of(&report.objects), sent)
    }

    #[test]
    fn an_event_is_due_once_when_a_matching_exception_turns_expiring_and_once_when_it_expires() {
        let expires = parse_time("2027-01-31T00:00:00Z").unwrap();
        let objects = vec![
            listed(Kind::Secret, secret("payments", "db", json!({})), &[]),
            listed(Kind::Secret, secret("payments", "cache", json!({})), &[]),
        ];
        let run = |now, sent: &Sent| due_after_audit(&objects, now, sent);

        let (events, sent) = run(expires - EXPIRING_WITHIN - DAY, &Sent::new());
        assert!(events.is_empty(), "active: nothing to say {events:?}");
        assert!(sent.is_empty());

        let (events, sent) = run(expires - EXPIRING_WITHIN, &sent);
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        assert_eq!(
            (e.exception.as_str(), e.state, e.reason),
            ("legacy-db", State::Expiring, "ExceptionExpiring")
        );
        assert_eq!(e.matched, 1);
        assert_eq!(
            (
                e.objects[0].kind,
                e.objects[0].name.as_str(),
                e.objects[0].api_version
            ),
            ("Secret", "db", "v1")
        );
        assert_eq!(e.objects[0].namespace.as_deref(), Some("payments"));
        assert!(
            e.note.starts_with("policy exception legacy-db (ticket PAY-1) for VG101 expires at 2027-01-31T00:00:00Z and matches 1 object:"),
            "{}",
            e.note
        );

        // Later audits in the same state, as many as they are: no new Event.
        let (again, sent) = run(expires - DAY, &sent);
        assert!(again.is_empty(), "{again:?}");

        let (expired, sent) = run(expires, &sent);
        assert_eq!(expired.len(), 1, "{expired:?}");
        assert_eq!(
            (expired[0].state, expired[0].reason),
            (State::Expired, "ExceptionExpired")
        );
        assert!(expired[0].note.contains("expired at 2027-01-31T00:00:00Z"));
        let (again, _) = run(expires + DAY, &sent);
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn no_event_is_due_for_an_exception_that_matches_nothing() {
        let expires = parse_time("2027-01-31T00:00:00Z").unwrap();
        let objects = vec![listed(
            Kind::Secret,
            secret("payments", "cache", json!({})),
            &[],
        )];
        for now in [expires - DAY, expires + DAY] {
            let (events, sent) = due_after_audit(&objects, now, &Sent::new());
            assert!(events.is_empty() && sent.is_empty(), "{events:?}");
        }
    }

    #[test]
    fn a_wide_exception_counts_every_object_but_names_at_most_the_cap() {
        let expires = parse_time("2027-01-31T00:00:00Z").unwrap();
        let objects: Vec<Listed> = (0..MAX_OBJECTS + 5)
            .map(|i| {
                listed(
                    Kind::Secret,
                    secret("payments", &format!("db-{i:02}"), json!({})),
                    &[],
                )
            })
            .collect();
        let (events, _) = due_after_audit(&objects, expires - DAY, &Sent::new());
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].matched, MAX_OBJECTS + 5);
        assert_eq!(events[0].objects.len(), MAX_OBJECTS);
        assert!(
            events[0]
                .note
                .contains(&format!("matches {} objects", MAX_OBJECTS + 5))
        );
    }
}

mod streamed {
    use std::sync::Arc;

    use super::*;
    use policy_report::build;
    use stream::{Source, Totals, fold};

    /// A listing read a namespace at a time, objects ordered by kind then name (as the full
    /// audit sorts them).
    struct Listing(Vec<Listed>);

    impl Source for Listing {
        fn namespaces(&self) -> Vec<Arc<str>> {
            let mut out: Vec<Arc<str>> = self
                .0
                .iter()
                .map(|l| Arc::from(l.object.metadata().namespace.as_deref().unwrap_or("")))
                .collect();
            out.sort();
            out.dedup();
            out.reverse(); // any order: the fold sorts
            out
        }

        fn each_in(&self, namespace: &str, f: &mut dyn FnMut(Listed)) {
            let mut here: Vec<&Listed> = self
                .0
                .iter()
                .filter(|l| l.object.metadata().namespace.as_deref() == Some(namespace))
                .collect();
            here.sort_by_key(|l| (l.object.kind().as_str(), l.object.name().to_owned()));
            here.into_iter().for_each(|l| f(l.clone()));
        }
    }

    fn cluster() -> Vec<Listed> {
        let mut objects = Vec::new();
        for ns in ["payments", "orders", "kube-system"] {
            for i in 0..4 {
                objects.push(listed(
                    Kind::Secret,
                    secret(ns, &format!("hand-{i}"), json!({})),
                    &["kubectl-client-side-apply"],
                ));
            }
            objects.push(listed(
                Kind::ExternalSecret,
                external_secret(ns, "db"),
                &["argocd-controller"],
            ));
            objects.push(listed(
                Kind::Secret,
                secret(
                    ns,
                    "db",
                    json!({"ownerReferences": [{"apiVersion": "external-secrets.io/v1",
                        "kind": "ExternalSecret", "name": "db", "uid": ESO_OWNER_UID,
                        "controller": true}],
                        "labels": {"reconcile.external-secrets.io/managed": "true"}}),
                ),
                &["external-secrets"],
            ));
        }
        objects
    }

    fn view_of(objects: &[Listed], policy: &Policy) -> MemoryView {
        let mut view = MemoryView::from_policy(policy);
        for l in objects {
            view.insert(&l.object, None);
        }
        view
    }

    #[test]
    fn the_streamed_fold_writes_the_reports_and_sums_the_full_audit_does_within_the_cap() {
        let policy = Policy::default();
        let objects = cluster();
        let view = view_of(&objects, &policy);
        let now = std::time::SystemTime::now();
        let full = audit(&objects, &policy, &view, now);
        for cap in [500, 3] {
            let mut streamed = Vec::new();
            let totals = fold(
                &Listing(objects.clone()),
                &view,
                &Judge::new(&policy, now),
                cap,
                |b| {
                    streamed.push(b);
                    true
                },
            );
            let expected: Vec<_> = build(&full, cap).into_values().collect();
            assert_eq!(streamed, expected, "cap {cap}");
            let mut sums = Totals::default();
            full.objects.iter().for_each(|o| sums.add(o));
            assert_eq!(totals, sums);
        }
        // What the sums hold, from the full report's own figures.
        let mut sums = Totals::default();
        full.objects.iter().for_each(|o| sums.add(o));
        assert_eq!(sums.objects, full.objects.len());
        assert_eq!(sums.violation_count(), full.violations());
        let secrets: usize = full.namespaces.iter().map(|n| n.secrets).sum();
        let covered: usize = full.namespaces.iter().map(|n| n.covered).sum();
        assert_eq!((sums.secrets, sums.covered), (secrets, covered));
        assert_eq!(
            sums.inventory[&("materialized", "eso")],
            2,
            "kube-system is exempt"
        );
        assert_eq!(sums.inventory[&("unclassified", "inferred")], 8);
    }

    #[test]
    fn the_streamed_fold_skips_exempt_namespaces_and_caps_each_report() {
        let policy = Policy::default();
        let objects = cluster();
        let view = view_of(&objects, &policy);
        let mut reports = Vec::new();
        fold(
            &Listing(objects),
            &view,
            &Judge::new(&policy, std::time::SystemTime::now()),
            3,
            |b| {
                reports.push(b);
                true
            },
        );
        let namespaces: Vec<_> = reports.iter().map(|b| b.namespace.clone()).collect();
        assert_eq!(
            namespaces,
            [Some("orders".to_owned()), Some("payments".to_owned())],
            "sorted, kube-system exempt"
        );
        let b = &reports[0].body;
        assert_eq!(b["results"].as_array().map(Vec::len), Some(3));
        assert_eq!(b["summary"]["fail"], 4);
        assert_eq!(
            b["metadata"]["annotations"][policy_report::OMITTED_ANNOTATION],
            "1"
        );
    }

    #[test]
    fn the_streamed_fold_stops_when_its_consumer_is_gone() {
        let policy = Policy::default();
        let objects = cluster();
        let view = view_of(&objects, &policy);
        let mut emitted = 0;
        let totals = fold(
            &Listing(objects),
            &view,
            &Judge::new(&policy, std::time::SystemTime::now()),
            500,
            |_| {
                emitted += 1;
                false
            },
        );
        assert_eq!(emitted, 1);
        assert_eq!(totals.objects, 6, "one namespace judged: {totals:?}");
    }
}

/// The in-cluster audit's source, the live view (`serve --audit-interval`), against
/// `vaultgate audit`'s listing of the same cluster: the same reports, ESO objects and stores
/// included, and a service-account token only by the API's type.
mod in_cluster {
    use std::collections::BTreeMap;

    use super::*;
    use crate::cluster::{LiveView, compact_meta, live::Held};
    use policy_report::{Built, build};
    use stream::fold;

    const SA_NAME: &str = "kubernetes.io/service-account.name";

    fn store(kind: Kind, ns: Option<&str>, name: &str, provider: Value) -> Value {
        let mut meta = json!({ "name": name });
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": kind.as_str(), "metadata": meta,
            "spec": { "provider": provider }
        })
    }

    /// What both audits read: (kind, the object as the API serves it, field managers).
    fn cluster() -> Vec<(Kind, Value, Vec<&'static str>)> {
        let sa_token = {
            let mut s = secret(
                "payments",
                "default-token",
                json!({"annotations": {SA_NAME: "default"}}),
            );
            s["type"] = json!("kubernetes.io/service-account-token");
            s
        };
        let mut by_hand = external_secret("payments", "by-hand");
        by_hand["metadata"]["uid"] = json!("hand-uid");
        let k8s = json!({"kubernetes": {"remoteNamespace": "other", "server": {}}});
        let vault = json!({"vault": {"server": "https://vault.example", "path": "secret"}});
        vec![
            (
                Kind::Secret,
                secret("payments", "hand-made", json!({})),
                vec![],
            ),
            (Kind::Secret, sa_token, vec![]),
            // Opaque, with the token's annotation any writer may set.
            (
                Kind::Secret,
                secret(
                    "payments",
                    "forged-token",
                    json!({"annotations": {SA_NAME: "default"}}),
                ),
                vec![],
            ),
            (
                Kind::Secret,
                secret(
                    "payments",
                    "db",
                    json!({"ownerReferences": [{"apiVersion": "external-secrets.io/v1",
                "kind": "ExternalSecret", "name": "db", "uid": ESO_OWNER_UID, "controller": true}],
                "labels": {"reconcile.external-secrets.io/managed": "true"}}),
                ),
                vec![],
            ),
            (
                Kind::ExternalSecret,
                external_secret("payments", "db"),
                vec!["argocd-controller"],
            ),
            (
                Kind::ExternalSecret,
                by_hand,
                vec!["kubectl-client-side-apply"],
            ),
            (
                Kind::SecretStore,
                store(Kind::SecretStore, Some("payments"), "local", k8s.clone()),
                vec!["argocd-controller"],
            ),
            (
                Kind::ClusterSecretStore,
                store(Kind::ClusterSecretStore, None, "kube", k8s),
                vec!["argocd-controller"],
            ),
            (
                Kind::ClusterSecretStore,
                store(Kind::ClusterSecretStore, None, "vault-backend", vault),
                vec!["argocd-controller"],
            ),
        ]
    }

    fn with_managers(mut value: Value, managers: &[&str]) -> Value {
        value["metadata"]["managedFields"] = managers
            .iter()
            .map(|m| json!({"manager": m, "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}))
            .collect();
        value
    }

    /// `vaultgate audit`'s reports: the whole listing judged, token type as listed.
    fn cli_reports(policy: &Policy, now: SystemTime) -> BTreeMap<String, Built> {
        cli_reports_of(cluster(), policy, now)
    }

    fn cli_reports_of(
        items: Vec<(Kind, Value, Vec<&'static str>)>,
        policy: &Policy,
        now: SystemTime,
    ) -> BTreeMap<String, Built> {
        let objects: Vec<Listed> = items
            .into_iter()
            .map(|(kind, value, managers)| listed(kind, value, &managers))
            .collect();
        let view = LiveView::from_listing(policy, objects.iter().map(|l| (&l.object, None)), &[]);
        build(&audit(&objects, policy, &view, now), 500)
    }

    /// The live view as `serve`'s watches fill it with the audit on: Secrets reduced by the
    /// metadata watch (which takes the token annotation for the type), token Secrets from the
    /// type-selected watch, the rest kept whole.
    fn live_view(policy: &Policy) -> LiveView {
        live_view_of(cluster(), policy)
    }

    fn live_view_of(items: Vec<(Kind, Value, Vec<&'static str>)>, policy: &Policy) -> LiveView {
        let listing: Vec<(Object, Option<Held>)> = items
            .clone()
            .into_iter()
            .map(|(kind, value, managers)| {
                let served = with_managers(value, &managers);
                let held = (kind != Kind::Secret).then(|| Held::keep(&mut served.clone()));
                (Object::from_value(kind, served).expect("an object"), held)
            })
            .collect();
        let view = LiveView::from_listing(policy, listing.iter().map(|(o, h)| (o, h.clone())), &[]);
        for (kind, value, _) in items {
            if kind == Kind::Secret {
                let meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
                    serde_json::from_value(value["metadata"].clone()).expect("metadata");
                let name = meta.name.clone().unwrap_or_default();
                let ns = meta.namespace.clone().unwrap_or_default();
                view.tables()
                    .0
                    .apply(&ns, &name, compact_meta(&meta, &policy.prefix));
            }
        }
        view
    }

    fn streamed(view: &LiveView, policy: &Policy, now: SystemTime) -> BTreeMap<String, Built> {
        let mut out = BTreeMap::new();
        fold(view, view, &Judge::new(policy, now), 500, |b| {
            out.insert(b.namespace.clone().unwrap_or_default(), b);
            true
        });
        out
    }

    fn failing(b: &Built) -> Vec<(String, String)> {
        b.body["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let res = &r["resources"][0];
                (
                    format!(
                        "{}/{}",
                        res["kind"].as_str().unwrap_or(""),
                        res["name"].as_str().unwrap_or("")
                    ),
                    r["rule"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn the_in_cluster_audit_reports_eso_objects_and_stores_as_vaultgate_audit_does() {
        let policy = Policy::default();
        let now = SystemTime::now();
        let live = streamed(&live_view(&policy), &policy, now);
        assert_eq!(live, cli_reports(&policy, now), "the two audits disagree");
        let payments = failing(&live["payments"]);
        for expected in [
            ("Secret/hand-made", "VG101"),
            ("ExternalSecret/by-hand", "VG209"),
            ("SecretStore/local", "VG401"),
        ] {
            assert!(
                payments
                    .iter()
                    .any(|(o, r)| (o.as_str(), r.as_str()) == expected),
                "{expected:?} not in {payments:?}"
            );
        }
        assert!(
            !payments
                .iter()
                .any(|(o, _)| o == "ExternalSecret/db" || o == "Secret/db"),
            "the materialized Secret and Argo's ExternalSecret are clean: {payments:?}"
        );
        let cluster = &live[""];
        assert_eq!(cluster.kind(), "ClusterPolicyReport");
        assert!(
            failing(cluster).contains(&("ClusterSecretStore/kube".to_owned(), "VG401".to_owned())),
            "{:?}",
            failing(cluster)
        );
    }

    #[test]
    fn a_service_account_token_is_one_only_if_the_api_lists_it_by_type() {
        let policy = Policy::default();
        let live = streamed(&live_view(&policy), &policy, SystemTime::now());
        let payments = failing(&live["payments"]);
        assert!(
            !payments.iter().any(|(o, _)| o == "Secret/default-token"),
            "the control plane's token is no violation: {payments:?}"
        );
        assert!(
            payments.contains(&("Secret/forged-token".to_owned(), "VG101".to_owned())),
            "an Opaque Secret with the token's annotation is judged: {payments:?}"
        );
    }

    /// A PushSecret publishing configuration keys to `platform-config/` from `source`.
    fn config_push(name: &str, source: &str) -> Value {
        json!({
            "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
            "metadata": { "name": name, "namespace": "payments" },
            "spec": {
                "secretStoreRefs": [{ "kind": "ClusterSecretStore", "name": "vault-backend" }],
                "selector": { "secret": { "name": source } },
                "data": [{ "match": { "secretKey": "host",
                    "remoteRef": { "remoteKey": "platform-config/payments/db", "property": "host" } } }]
            }
        })
    }

    #[test]
    fn a_push_secrets_source_is_a_token_only_if_the_api_lists_it_by_type() {
        let policy = Policy::default();
        let now = SystemTime::now();
        let items = || {
            let mut items: Vec<_> = cluster()
                .into_iter()
                .filter(|(kind, _, _)| *kind == Kind::Secret)
                .collect();
            for (name, source) in [("forged", "forged-token"), ("token", "default-token")] {
                items.push((
                    Kind::PushSecret,
                    config_push(name, source),
                    vec!["argocd-controller"],
                ));
            }
            items
        };
        let live = streamed(&live_view_of(items(), &policy), &policy, now);
        let cli = cli_reports_of(items(), &policy, now);
        let payments = failing(&live["payments"]);
        assert!(
            payments.contains(&("PushSecret/token".to_owned(), "VG307".to_owned())),
            "pushing the control plane's token is VG307: {payments:?}"
        );
        assert!(
            !payments.contains(&("PushSecret/forged".to_owned(), "VG307".to_owned())),
            "an Opaque Secret's configuration keys may be pushed, whatever it is annotated: {payments:?}"
        );
        assert_eq!(live, cli, "the two audits disagree");
    }

    #[test]
    fn without_the_audit_nothing_but_secrets_is_read_back() {
        let policy = Policy::default();
        let objects: Vec<Listed> = cluster()
            .into_iter()
            .map(|(kind, value, _)| listed(kind, value, &[]))
            .collect();
        let view = LiveView::from_listing(&policy, objects.iter().map(|l| (&l.object, None)), &[]);
        let live = streamed(&view, &policy, SystemTime::now());
        assert!(
            !live.contains_key(""),
            "no cluster report without kept stores"
        );
        assert!(
            failing(&live["payments"])
                .iter()
                .all(|(o, _)| o.starts_with("Secret/")),
            "{:?}",
            failing(&live["payments"])
        );
    }
}
