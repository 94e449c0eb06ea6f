//! Classification + evaluation of arbitrary objects under every identity: the input is a JSON
//! AdmissionReview-like document (seeded with tests/fixtures/admission); its `request.object`
//! and `request.oldObject` are decoded with `Object::from_json` for every governed kind, then
//! evaluated as CREATE and UPDATE by each identity in `common::USERS`. Never panics; a denial
//! always names a rule and renders a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vaultgate::{
    cluster::MemoryView,
    policy::{self, Identity, Object, Operation, Policy, Review, objects::Kind},
};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let request = doc.get("request").unwrap_or(&doc);
    let object = request.get("object").unwrap_or(request).to_string();
    let old = request.get("oldObject").map(Value::to_string);
    let namespace = request.get("namespace").and_then(Value::as_str);
    let policy = Policy::default();
    let mut view = MemoryView::from_policy(&policy);
    for kind in Kind::ALL {
        let Ok(object) = Object::from_json(kind, &object) else {
            continue;
        };
        let old = old.as_deref().and_then(|o| Object::from_json(kind, o).ok());
        // The object also exists in the view for the next kind's evaluation (cross-object rules).
        view.insert(&object, namespace);
        for user in common::USERS {
            let identity = Identity::new(*user, vec!["system:authenticated".into()]);
            for (operation, old) in [
                (Operation::Create, None),
                (Operation::Update, old.as_ref().or(Some(&object))),
            ] {
                let review = Review {
                    uid: "fuzz",
                    operation,
                    namespace,
                    name: object.name(),
                    user: &identity,
                    object: &object,
                    old,
                    dry_run: false,
                    now: std::time::SystemTime::UNIX_EPOCH,
                };
                let decision = policy::evaluate(&review, &policy, &view);
                if !decision.allowed() {
                    let message = decision.message(kind.as_str(), namespace, review.name);
                    assert!(decision.denied.iter().all(|v| message.contains(v.rule.id)));
                }
                let _ = decision.rule_ids();
                for v in decision.denied.iter().chain(&decision.warned) {
                    let _ = v.warning();
                }
            }
        }
    }
});
