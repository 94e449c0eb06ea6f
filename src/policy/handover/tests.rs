//! Table tests of the handover decisions: one fixture per behaviour.

use super::*;

const OURS: &str = "d1";

struct Fixture {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    keys: Vec<&'static str>,
    binary: Vec<&'static str>,
    digest: &'static str,
    deleting: bool,
}

fn bootstrap(state: Option<&str>, target: Option<&str>) -> Fixture {
    let p = Policy::default();
    let mut labels = BTreeMap::from([
        (p.key("secret-class"), "bootstrap".to_owned()),
        (p.key("bootstrap-source"), "sealed-secrets".to_owned()),
    ]);
    if let Some(s) = state {
        labels.insert(p.key("handover-state"), s.to_owned());
    }
    let mut annotations = BTreeMap::new();
    if let Some(t) = target {
        annotations.insert(p.key("handover-to"), t.to_owned());
    }
    Fixture {
        labels,
        annotations,
        keys: vec!["username", "password"],
        binary: Vec::new(),
        digest: OURS,
        deleting: false,
    }
}

impl Fixture {
    fn annotate(mut self, name: &str, value: &str) -> Self {
        self.annotations
            .insert(Policy::default().key(name), value.to_owned());
        self
    }
    fn plan(&self) -> Plan {
        self.plan_with(&Settings::default())
    }
    fn plan_with(&self, settings: &Settings) -> Plan {
        let facts = SecretFacts {
            labels: &self.labels,
            annotations: &self.annotations,
            keys: &self.keys,
            binary_keys: &self.binary,
            digest: self.digest,
            deleting: self.deleting,
        };
        plan(&facts, &Policy::default(), settings)
    }
}

const PATH: &str = "platform-data/postgres/temporal";

#[test]
fn pending_or_absent_state_with_a_valid_target_copies() {
    for state in [None, Some("pending")] {
        assert_eq!(
            bootstrap(state, Some(PATH)).plan(),
            Plan::Copy {
                path: PATH.into(),
                mode: Retire::Inert
            },
            "{state:?}"
        );
    }
}

#[test]
fn the_retire_annotation_overrides_the_default() {
    let f = bootstrap(None, Some(PATH)).annotate("handover-retire", "delete");
    assert_eq!(
        f.plan(),
        Plan::Copy {
            path: PATH.into(),
            mode: Retire::Delete
        }
    );
    let settings = Settings {
        default_retire: Retire::Retain,
        ..Settings::default()
    };
    assert_eq!(
        bootstrap(None, Some(PATH)).plan_with(&settings),
        Plan::Copy {
            path: PATH.into(),
            mode: Retire::Retain
        }
    );
    let bad = bootstrap(None, Some(PATH)).annotate("handover-retire", "shred");
    assert!(matches!(bad.plan(), Plan::InvalidSource { problem } if problem.contains("shred")));
}

#[test]
fn without_target_is_left_alone() {
    assert_eq!(bootstrap(None, None).plan(), Plan::WithoutTarget);
    assert_eq!(bootstrap(Some("pending"), None).plan(), Plan::WithoutTarget);
}

#[test]
fn not_bootstrap_is_ignored() {
    let mut f = bootstrap(None, Some(PATH));
    f.labels.clear();
    assert_eq!(f.plan(), Plan::NotBootstrap);
}

#[test]
fn a_bootstrap_label_without_the_admission_stamp_is_not_handed_over() {
    let mut f = bootstrap(None, Some(PATH));
    f.labels.remove(&Policy::default().key("bootstrap-source"));
    assert_eq!(f.plan(), Plan::NotBootstrap);
}

#[test]
fn refuses_secret_keys_handed_over_to_the_config_tree_and_unknown_property_names() {
    for (target, keys) in [
        ("platform-config/postgres/main", vec!["host", "token"]),
        ("platform-config/postgres/main", vec!["password"]),
        (PATH, vec!["username", "api-key"]),
    ] {
        let mut f = bootstrap(None, Some(target));
        f.keys = keys.clone();
        match f.plan() {
            Plan::InvalidTarget { problems, .. } => {
                assert_eq!(problems.len(), 1, "{target} {keys:?}")
            }
            other => panic!("{target} {keys:?}: {other:?}"),
        }
    }
    // Control: configuration to the config tree, secrets to the data tree.
    let mut f = bootstrap(None, Some("platform-config/postgres/main"));
    f.keys = vec!["host", "port"];
    assert!(matches!(f.plan(), Plan::Copy { .. }));
}

#[test]
fn invalid_targets_are_refused_with_the_problems() {
    for bad in [
        "platform-data/postgres",
        "Platform-Data/x/y",
        "platform-data/../x",
        "applications/x/y",
        "platform-data/postgres/prod",
    ] {
        match bootstrap(None, Some(bad)).plan() {
            Plan::InvalidTarget { path, problems } => {
                assert_eq!(path, bad);
                assert!(!problems.is_empty());
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn extra_prefixes_widen_the_allowed_targets() {
    let settings = Settings {
        extra_prefixes: vec!["bootstrap".into()],
        ..Settings::default()
    };
    let f = bootstrap(None, Some("bootstrap/argocd/admin"));
    assert!(matches!(f.plan(), Plan::InvalidTarget { .. }));
    assert!(matches!(f.plan_with(&settings), Plan::Copy { .. }));
}

#[test]
fn empty_or_binary_sources_are_refused() {
    let mut f = bootstrap(None, Some(PATH));
    f.keys.clear();
    assert!(matches!(f.plan(), Plan::InvalidSource { problem } if problem.contains("no data")));
    let mut f = bootstrap(None, Some(PATH));
    f.binary = vec!["ca.der"];
    assert!(matches!(f.plan(), Plan::InvalidSource { problem } if problem.contains("ca.der")));
}

#[test]
fn unknown_state_is_refused() {
    assert!(matches!(
        bootstrap(Some("moved"), Some(PATH)).plan(),
        Plan::InvalidSource { .. }
    ));
}

#[test]
fn copied_with_the_recorded_digest_retires_to_consumed() {
    let f = bootstrap(Some("copied"), Some(PATH)).annotate("content-digest", OURS);
    assert_eq!(
        f.plan(),
        Plan::Retire(Retirement {
            from: State::Copied,
            to: State::Consumed,
            mode: Retire::Inert
        })
    );
}

#[test]
fn copied_with_changed_data_is_verified_against_vault() {
    let f = bootstrap(Some("copied"), Some(PATH)).annotate("content-digest", "other");
    assert_eq!(
        f.plan(),
        Plan::Verify {
            path: PATH.into(),
            mode: Retire::Inert
        }
    );
}

#[test]
fn copied_with_emptied_data_finishes_the_interrupted_retirement() {
    let mut f = bootstrap(Some("copied"), Some(PATH)).annotate("content-digest", OURS);
    f.keys.clear();
    f.digest = "digest-of-nothing";
    assert!(matches!(
        f.plan(),
        Plan::Retire(Retirement {
            to: State::Consumed,
            ..
        })
    ));
}

#[test]
fn terminal_states_finish_retirement_then_are_done() {
    for state in [State::Consumed, State::Superseded] {
        // inert: data still there (crash between the label and the emptying is impossible,
        // they are one patch — but a decrypter may have re-populated it) → empty it again.
        let f = bootstrap(Some(state.as_str()), Some(PATH));
        assert_eq!(
            f.plan(),
            Plan::Retire(Retirement {
                from: state,
                to: state,
                mode: Retire::Inert
            })
        );
        let mut f = bootstrap(Some(state.as_str()), Some(PATH));
        f.keys.clear();
        assert_eq!(f.plan(), Plan::Done { state });
        // delete: the object still exists → delete it; once deleting → done.
        let mut f =
            bootstrap(Some(state.as_str()), Some(PATH)).annotate("handover-retire", "delete");
        assert_eq!(
            f.plan(),
            Plan::Retire(Retirement {
                from: state,
                to: state,
                mode: Retire::Delete
            })
        );
        f.deleting = true;
        assert_eq!(f.plan(), Plan::Done { state });
        // retain: nothing to do.
        let f = bootstrap(Some(state.as_str()), Some(PATH)).annotate("handover-retire", "retain");
        assert_eq!(f.plan(), Plan::Done { state });
    }
}

#[test]
fn a_sealed_or_uninitialized_vault_blocks_the_write() {
    assert_eq!(
        gate(Health {
            initialized: true,
            sealed: false
        }),
        Ok(())
    );
    assert_eq!(
        gate(Health {
            initialized: true,
            sealed: true
        }),
        Err(Blocked::Sealed)
    );
    assert_eq!(
        gate(Health {
            initialized: false,
            sealed: true
        }),
        Err(Blocked::Uninitialized)
    );
}

fn value(version: u64, digest: &str) -> Held {
    Held::Value {
        version,
        digest: digest.into(),
    }
}

#[test]
fn a_created_write_read_back_equal_is_copied() {
    let v = verdict(OURS, Some(Written::Created { version: 1 }), &value(1, OURS));
    assert_eq!(
        v,
        Verdict::Copied {
            version: 1,
            wrote: true
        }
    );
    assert_eq!(next_state(&v, State::Pending), State::Copied);
}

#[test]
fn the_same_value_already_in_vault_is_copied_idempotently() {
    // Crash after the Vault write, before the Secret patch: the retry's cas=0 write is refused.
    let v = verdict(OURS, Some(Written::AlreadyExists), &value(1, OURS));
    assert_eq!(
        v,
        Verdict::Copied {
            version: 1,
            wrote: false
        }
    );
    assert_eq!(next_state(&v, State::Pending), State::Copied);
}

#[test]
fn a_different_value_in_vault_supersedes_and_is_never_overwritten() {
    let v = verdict(OURS, Some(Written::AlreadyExists), &value(4, "theirs"));
    assert_eq!(v, Verdict::Superseded { version: 4 });
    assert_eq!(next_state(&v, State::Pending), State::Superseded);
    // A writer racing in right after our create: Vault's latest version wins as well.
    let v = verdict(
        OURS,
        Some(Written::Created { version: 1 }),
        &value(2, "theirs"),
    );
    assert_eq!(v, Verdict::Superseded { version: 2 });
}

#[test]
fn verifying_a_copied_secret_consumes_or_supersedes() {
    let same = verdict(OURS, None, &value(3, OURS));
    assert_eq!(
        same,
        Verdict::Copied {
            version: 3,
            wrote: false
        }
    );
    assert_eq!(next_state(&same, State::Copied), State::Consumed);
    let other = verdict(OURS, None, &value(3, "theirs"));
    assert_eq!(next_state(&other, State::Copied), State::Superseded);
}

#[test]
fn failures_never_advance_the_state() {
    for held in [Held::Nothing, Held::Deleted { version: 2 }] {
        let v = verdict(OURS, Some(Written::AlreadyExists), &held);
        assert!(matches!(v, Verdict::Blocked(_)), "{held:?}");
        for from in State::ALL {
            assert_eq!(next_state(&v, from), from);
        }
    }
    let blocked = Verdict::Blocked(Blocked::Sealed);
    assert_eq!(next_state(&blocked, State::Pending), State::Pending);
}

#[test]
fn transitions_stamp_provenance_on_the_owned_keys_only() {
    let p = Policy::default();
    let stamp = Stamp {
        at: "2026-01-08T10:00:00Z",
        vault_version: 3,
        digest: OURS,
    };
    let (labels, annotations) = transition_metadata(&p, State::Copied, Some(&stamp));
    assert_eq!(
        labels
            .get("platform.pnats.cloud/handover-state")
            .map(String::as_str),
        Some("copied")
    );
    assert_eq!(
        annotations
            .get("platform.pnats.cloud/vault-version")
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(
        annotations
            .get("platform.pnats.cloud/handover-at")
            .map(String::as_str),
        Some(stamp.at)
    );
    assert_eq!(
        annotations
            .get("platform.pnats.cloud/content-digest")
            .map(String::as_str),
        Some(OURS)
    );
    // Every key written is one the webhook reserves for the handover controller.
    let owned: Vec<String> = crate::policy::secret::HANDOVER_OWNED
        .iter()
        .map(|k| p.key(k))
        .collect();
    assert!(
        labels
            .keys()
            .chain(annotations.keys())
            .all(|k| owned.contains(k)),
        "{labels:?} {annotations:?}"
    );
    let (_, none) = transition_metadata(&p, State::Consumed, None);
    assert!(none.is_empty());
}

#[test]
fn gauge_states() {
    let p = Policy::default();
    let f = bootstrap(None, None);
    assert_eq!(
        gauge_state(&f.labels, &f.annotations, &p),
        "pending-without-target"
    );
    let f = bootstrap(None, Some(PATH));
    assert_eq!(gauge_state(&f.labels, &f.annotations, &p), "pending");
    let f = bootstrap(Some("superseded"), Some(PATH));
    assert_eq!(gauge_state(&f.labels, &f.annotations, &p), "superseded");
    let f = bootstrap(Some("??"), Some(PATH));
    assert_eq!(gauge_state(&f.labels, &f.annotations, &p), "invalid");
}

/// The webhook (same policy, same engine) must accept exactly the controller's own writes:
/// identities and states line up.
mod webhook_alignment {
    use serde_json::{Value, json};

    use super::*;
    use crate::{
        cluster::MemoryView,
        policy::{
            Decision, Identity, Operation, Review, evaluate,
            objects::{Kind, Object},
        },
    };

    const CONTROLLER: &str = "system:serviceaccount:vaultgate-system:vaultgate";
    const ARGOCD: &str = "system:serviceaccount:argocd:argocd-application-controller";

    fn secret(state: &str, data: bool) -> Value {
        let mut s = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {
                "name": "db-root", "namespace": "vault", "uid": "u-1", "resourceVersion": "7",
                "labels": {
                    "platform.pnats.cloud/secret-class": "bootstrap",
                    "platform.pnats.cloud/bootstrap-source": "argocd",
                    "platform.pnats.cloud/handover-state": state,
                },
                "annotations": { "platform.pnats.cloud/handover-to": PATH },
            },
        });
        if data {
            s["data"] = json!({ "password": "aHVudGVyMg==" });
        }
        s
    }

    /// The merge patch the controller sends for a transition, applied to `old`.
    fn transitioned(old: &Value, to: State, inert: bool) -> Value {
        let p = Policy::default();
        let stamp = Stamp {
            at: "2026-01-08T10:00:00Z",
            vault_version: 1,
            digest: "ab",
        };
        let (labels, annotations) =
            transition_metadata(&p, to, (to != State::Consumed).then_some(&stamp));
        let mut patch = json!({ "metadata": { "resourceVersion": "7", "labels": labels, "annotations": annotations } });
        if inert {
            patch["data"] = Value::Null;
        }
        let mut new = old.clone();
        json_patch::merge(&mut new, &patch);
        new
    }

    fn update(user: &str, new: &Value, old: &Value) -> Decision {
        let policy = Policy::default();
        let (new, old) = (
            Object::from_value(Kind::Secret, new.clone()).unwrap(),
            Object::from_value(Kind::Secret, old.clone()).unwrap(),
        );
        let identity = Identity::new(user, vec!["system:serviceaccounts".into()]);
        let review = Review {
            uid: "r",
            operation: Operation::Update,
            namespace: Some("vault"),
            name: "db-root",
            user: &identity,
            object: &new,
            old: Some(&old),
            dry_run: false,
            now: std::time::SystemTime::UNIX_EPOCH,
        };
        evaluate(&review, &policy, &MemoryView::from_policy(&policy))
    }

    #[test]
    fn the_webhook_accepts_every_controller_transition() {
        let pending = secret("pending", true);
        let copied = transitioned(&pending, State::Copied, false);
        for (name, old, new) in [
            ("pending→copied", &pending, copied.clone()),
            (
                "copied→consumed (inert)",
                &copied,
                transitioned(&copied, State::Consumed, true),
            ),
            (
                "copied→consumed (retain)",
                &copied,
                transitioned(&copied, State::Consumed, false),
            ),
            (
                "pending→superseded (inert)",
                &pending,
                transitioned(&pending, State::Superseded, true),
            ),
        ] {
            let d = update(CONTROLLER, &new, old);
            assert!(
                d.allowed(),
                "{name}: {}",
                d.message("Secret", Some("vault"), "db-root")
            );
        }
    }

    #[test]
    fn nobody_else_may_move_the_state() {
        let pending = secret("pending", true);
        let d = update(
            ARGOCD,
            &transitioned(&pending, State::Copied, false),
            &pending,
        );
        assert!(!d.allowed());
        assert!(d.rule_ids().contains("VG104"), "{}", d.rule_ids());
    }

    #[test]
    fn after_consumed_or_superseded_re_population_is_denied() {
        for state in ["consumed", "superseded"] {
            let tombstone = secret(state, false);
            let d = update(ARGOCD, &secret(state, true), &tombstone);
            assert!(d.rule_ids().contains("VG107"), "{state}: {}", d.rule_ids());
            assert!(!d.allowed());
        }
    }
}

#[test]
fn modes_and_states_round_trip() {
    for s in State::ALL {
        assert_eq!(State::parse(Some(s.as_str())), Ok(s));
    }
    for m in [Retire::Inert, Retire::Delete, Retire::Retain] {
        assert_eq!(m.as_str().parse::<Retire>(), Ok(m));
    }
}
