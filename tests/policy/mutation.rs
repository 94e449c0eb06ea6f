//! The mutating webhook: metadata only, patches by diff, idempotent, preserved on UPDATE.
//! Every test applies the returned JSON Patch to the request object and asserts the result.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::Value;
use vaultgate::{
    admission::{Route, Webhook},
    cluster::MemoryView,
    metrics::Metrics,
    policy::Policy,
};

const P: &str = "platform.pnats.cloud/";

fn webhook() -> Webhook {
    let policy = Policy::default();
    let view = MemoryView::from_policy(&policy);
    Webhook::new(Arc::new(policy), Arc::new(view), Arc::new(Metrics::new()))
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/admission/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Sends the review to /mutate; returns the decoded patch (if any) and the patched object.
fn mutate(hook: &Webhook, review: &Value) -> (Option<json_patch::Patch>, Value) {
    let out: Value = serde_json::from_slice(
        &hook
            .review(Route::Mutate, &serde_json::to_vec(review).unwrap())
            .unwrap(),
    )
    .unwrap();
    let response = &out["response"];
    assert_eq!(response["allowed"], true, "mutation never denies");
    assert_eq!(response["uid"], review["request"]["uid"]);
    let mut object = review["request"]["object"].clone();
    let Some(encoded) = response["patch"].as_str() else {
        assert!(
            response.get("patchType").is_none(),
            "no patchType without a patch"
        );
        return (None, object);
    };
    assert_eq!(response["patchType"], "JSONPatch");
    let patch: json_patch::Patch =
        serde_json::from_slice(&STANDARD.decode(encoded).expect("patch is base64")).unwrap();
    json_patch::patch(&mut object, &patch).expect("patch applies to the request object");
    (Some(patch), object)
}

fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["labels"][format!("{P}{key}")].as_str()
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["annotations"][format!("{P}{key}")].as_str()
}

fn assert_metadata_only(patch: &json_patch::Patch) {
    for op in &patch.0 {
        let path = serde_json::to_value(op).unwrap()["path"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            path.starts_with("/metadata/labels") || path.starts_with("/metadata/annotations"),
            "patch touches {path}"
        );
        assert!(!path.starts_with("/data") && !path.starts_with("/stringData"));
    }
}

#[test]
fn stamps_bootstrap_class_and_traceability_on_a_sealed_secret() {
    let hook = webhook();
    let review = fixture("secret-create-sealed-in-vault");
    let (patch, obj) = mutate(&hook, &review);
    let patch = patch.expect("a bootstrap Secret is stamped");
    assert_metadata_only(&patch);
    assert_eq!(label(&obj, "secret-class"), Some("bootstrap"));
    assert_eq!(label(&obj, "bootstrap-source"), Some("sealed-secrets"));
    assert_eq!(
        label(&obj, "handover-state"),
        Some("pending"),
        "handover-to is declared"
    );
    assert_eq!(
        annotation(&obj, "created-by"),
        Some("system:serviceaccount:kube-system:sealed-secrets-controller")
    );
    assert_eq!(
        annotation(&obj, "admission-uid"),
        review["request"]["uid"].as_str()
    );
    assert!(annotation(&obj, "first-seen").is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        obj["data"], review["request"]["object"]["data"],
        "values untouched"
    );
}

#[test]
fn re_running_mutation_on_its_own_output_yields_no_patch() {
    let hook = webhook();
    let mut review = fixture("secret-create-sealed-in-vault");
    let (_, patched) = mutate(&hook, &review);
    review["request"]["object"] = patched;
    let (again, _) = mutate(&hook, &review);
    assert!(
        again.is_none(),
        "second invocation must be empty: {again:?}"
    );
}

#[test]
fn records_the_flux_kustomization_as_git_source() {
    let (_, obj) = mutate(
        &webhook(),
        &fixture("secret-create-bootstrap-declared-by-flux"),
    );
    assert_eq!(
        annotation(&obj, "git-source"),
        Some("flux:flux-system/infra")
    );
    assert_eq!(label(&obj, "bootstrap-source"), Some("flux-sops"));
    assert_eq!(
        label(&obj, "handover-state"),
        None,
        "no handover-to declared"
    );
}

#[test]
fn preserves_stamps_a_decrypter_drops_on_update() {
    let review = fixture("secret-update-sealed-controller-drops-stamps");
    let (patch, obj) = mutate(&webhook(), &review);
    assert_metadata_only(&patch.expect("dropped keys are re-added"));
    assert_eq!(label(&obj, "secret-class"), Some("bootstrap"));
    assert_eq!(label(&obj, "bootstrap-source"), Some("sealed-secrets"));
    let old = &review["request"]["oldObject"];
    assert_eq!(
        annotation(&obj, "first-seen"),
        annotation(old, "first-seen"),
        "first-seen is kept, not renewed"
    );
}

#[test]
fn labels_materialized_and_operator_secrets_with_their_class() {
    let (_, obj) = mutate(&webhook(), &fixture("secret-create-by-eso-with-owner"));
    assert_eq!(label(&obj, "secret-class"), Some("materialized"));
    assert_eq!(
        annotation(&obj, "first-seen"),
        None,
        "traceability stamps are for bootstrap Secrets"
    );
    let (_, obj) = mutate(&webhook(), &fixture("secret-create-cert-manager"));
    assert_eq!(label(&obj, "secret-class"), Some("derived"));
}

#[test]
fn leaves_unclassified_exempt_and_non_secret_objects_alone() {
    let hook = webhook();
    for name in [
        "secret-create-by-human",
        "secret-create-in-kube-system",
        "secret-create-service-account-token",
        "externalsecret-create-valid",
        "secret-delete-by-human",
    ] {
        let (patch, _) = mutate(&hook, &fixture(name));
        assert!(patch.is_none(), "{name} must not be patched");
    }
}

#[test]
fn dry_run_mutates_identically() {
    let hook = webhook();
    let mut review = fixture("secret-create-sealed-in-vault");
    review["request"]["dryRun"] = Value::Bool(true);
    let (patch, obj) = mutate(&hook, &review);
    assert!(patch.is_some());
    assert_eq!(label(&obj, "secret-class"), Some("bootstrap"));
}

/// Sends the review to /validate and returns the response.
fn validate(hook: &Webhook, review: &Value) -> Value {
    let out: Value = serde_json::from_slice(
        &hook
            .review(Route::Validate, &serde_json::to_vec(review).unwrap())
            .unwrap(),
    )
    .unwrap();
    out["response"].clone()
}

/// As the apiserver runs a request: the mutating call, its patch applied, then the validating
/// call under a uid of its own (every webhook call of one request gets a fresh uid).
#[test]
fn forged_stamps_are_overwritten_and_the_result_validates_under_the_next_calls_uid() {
    let hook = webhook();
    let mut review = fixture("secret-create-sealed-in-vault");
    let object = &mut review["request"]["object"]["metadata"];
    object["annotations"][format!("{P}created-by")] = "alice".into();
    object["annotations"][format!("{P}first-seen")] = "2001-01-01T00:00:00Z".into();
    object["annotations"][format!("{P}git-source")] = "argocd:forged".into();
    object["labels"][format!("{P}bootstrap-source")] = "flux-sops".into();
    // Without the mutating call the validating webhook refuses the forged values itself.
    let unmutated = validate(&hook, &review);
    assert_eq!(unmutated["allowed"], false, "{unmutated}");
    let message = unmutated["status"]["message"].as_str().unwrap();
    assert!(message.contains("VG104"), "{message}");
    assert!(message.contains("created-by") && message.contains("bootstrap-source"));

    let (patch, obj) = mutate(&hook, &review);
    assert_metadata_only(&patch.expect("forged stamps are replaced"));
    assert_eq!(
        annotation(&obj, "created-by"),
        Some("system:serviceaccount:kube-system:sealed-secrets-controller")
    );
    assert_eq!(label(&obj, "bootstrap-source"), Some("sealed-secrets"));
    assert_ne!(annotation(&obj, "first-seen"), Some("2001-01-01T00:00:00Z"));
    assert_eq!(
        annotation(&obj, "git-source"),
        None,
        "no tracking marker: no git-source"
    );
    review["request"]["object"] = obj;
    review["request"]["uid"] = "the-validating-calls-own-uid".into();
    let validated = validate(&hook, &review);
    assert_eq!(validated["allowed"], true, "{validated}");
}
