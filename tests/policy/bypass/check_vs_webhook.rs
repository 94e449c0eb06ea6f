//! `check` and the webhook judge the same object the same way: each row is fed to the check
//! library (`check::evaluate_text`, as `vaultgate check` reads a file) and to the admission
//! engine (`Webhook::review`, as the apiserver sends a CREATE), with the same writer, and the
//! two verdicts must agree on `allowed` and on the denied rule ids. The rows are the spellings
//! an attacker tries on one side only: type claims, `stringData` vs `data`, `immutable`,
//! `generateName`, `/v1`, and the correct objects of RFC-SECOPS-0001's own producers (which
//! must stay allowed on both sides). List wrappers, which only `check` sees, are below.

use super::*;
use vaultgate::cli::check;

const HELM: &str = "system:serviceaccount:flux-system:helm-controller";

/// The check verdict for one object as a file: (allowed, denied rule ids).
fn check_verdict(object: &Value, user: &str) -> (bool, Vec<String>) {
    let text = serde_json::to_string(object).expect("encode");
    let identity = Identity::new(user, groups(user));
    let report = check::evaluate_text("row.json", &text, &identity, &Policy::default())
        .unwrap_or_else(|e| panic!("check cannot read the row: {e:?}"));
    assert_eq!(report.results.len(), 1, "one object judged");
    let r = &report.results[0];
    let denied = r
        .violations
        .iter()
        .filter(|f| f.mode == "enforce")
        .map(|f| f.rule.to_owned())
        .collect();
    (r.allowed, denied)
}

/// The webhook verdict for the same object as a CREATE in its namespace.
fn webhook_verdict(object: &Value, user: &str) -> (bool, Vec<String>) {
    let ns = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    let body = admission_review(
        ("", "v1", "Secret"),
        "CREATE",
        ns,
        name,
        user,
        object.clone(),
        Value::Null,
    );
    let response = respond(&webhook(), Route::Validate, &body);
    let allowed = response["allowed"].as_bool().expect("allowed");
    (allowed, rule_ids(&response))
}

fn with(mut object: Value, field: &str, value: Value) -> Value {
    object[field] = value;
    object
}

fn rows() -> Vec<(&'static str, &'static str, Value, bool)> {
    let plain = secret("db", "payments", json!({}));
    let mut string_data = plain.clone();
    string_data.as_object_mut().expect("object").remove("data");
    string_data["stringData"] = json!({ "root_token": "CANARY" });
    let mut generate = plain.clone();
    generate["metadata"] = json!({ "generateName": "db-", "namespace": "payments" });
    let tls = with(
        secret(
            "web-tls",
            "payments",
            json!({ "annotations": { "cert-manager.io/certificate-name": "web" } }),
        ),
        "type",
        json!("kubernetes.io/tls"),
    );
    let tls = with(
        tls,
        "data",
        json!({ "tls.crt": "Y2VydA==", "tls.key": "a2V5" }),
    );
    let helm = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": { "name": "sh.helm.release.v1.web.v3", "namespace": "payments",
            "labels": { "owner": "helm", "name": "web", "version": "3", "status": "deployed" } },
        "data": { "release": "SDRzSQ==" }
    });
    let sa_shell = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": { "name": "build-token", "namespace": "payments",
            "annotations": { "kubernetes.io/service-account.name": "build" } }
    });
    let eso_owned = secret("db", "payments", es_owner());
    vec![
        ("a plain Secret by a human", HUMAN, plain.clone(), false),
        (
            "the same with apiVersion /v1",
            HUMAN,
            with(plain.clone(), "apiVersion", json!("/v1")),
            false,
        ),
        (
            "immutable",
            HUMAN,
            with(plain.clone(), "immutable", json!(true)),
            false,
        ),
        (
            "stringData holding a root token",
            HUMAN,
            string_data.clone(),
            false,
        ),
        (
            "stringData holding a root token, by ESO",
            ESO,
            string_data,
            false,
        ),
        ("generateName only", HUMAN, generate, false),
        (
            "an empty service-account token shell",
            HUMAN,
            sa_shell,
            true,
        ),
        ("a cert-manager TLS Secret", CERT_MANAGER, tls.clone(), true),
        ("a cert-manager TLS Secret by a human", HUMAN, tls, false),
        (
            "a Helm release record by helm-controller",
            HELM,
            helm.clone(),
            true,
        ),
        ("a Helm release record by a human", HUMAN, helm, false),
        ("an ESO-owned Secret by ESO", ESO, eso_owned.clone(), true),
        ("an ESO-owned Secret by a human", HUMAN, eso_owned, false),
        (
            "a plain Secret claiming a TLS type",
            HUMAN,
            with(plain, "type", json!("kubernetes.io/tls")),
            false,
        ),
    ]
}

#[test]
fn check_and_the_webhook_agree_on_every_row() {
    for (what, user, object, allowed) in rows() {
        let c = check_verdict(&object, user);
        let w = webhook_verdict(&object, user);
        assert_eq!(c, w, "{what}: check {c:?} vs webhook {w:?}");
        assert_eq!(
            c.0, allowed,
            "{what}: expected allowed={allowed}, got {c:?}"
        );
        assert!(!format!("{c:?}{w:?}").contains("CANARY"));
    }
}

/// kubectl applies every item of any `…List` (`SecretList`, `List`, a list nested in a list),
/// so `check` must judge each item as the webhook will see it.
#[test]
fn check_judges_the_secrets_inside_any_list_kind() {
    let plain = secret("db", "payments", json!({}));
    let nested = json!({ "apiVersion": "v1", "kind": "List", "items": [plain.clone()] });
    for (what, list) in [
        (
            "List",
            json!({ "apiVersion": "v1", "kind": "List", "items": [plain.clone()] }),
        ),
        (
            "SecretList",
            json!({ "apiVersion": "v1", "kind": "SecretList", "items": [plain.clone()] }),
        ),
        (
            "ConfigMapList",
            json!({ "apiVersion": "v1", "kind": "ConfigMapList", "items": [plain.clone()] }),
        ),
        (
            "a List in a List",
            json!({ "apiVersion": "v1", "kind": "List", "items": [nested] }),
        ),
    ] {
        let text = serde_json::to_string(&list).expect("encode");
        let identity = Identity::new(HUMAN, groups(HUMAN));
        let report = check::evaluate_text("list.json", &text, &identity, &Policy::default())
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(
            report.denied, 1,
            "{what}: the Secret inside is judged and denied"
        );
        assert_eq!(
            report.results[0].violations[0].rule, "VG101",
            "{what}: {:?}",
            report.results[0].violations
        );
    }
}

/// UPDATEs by the producers RFC-SECOPS-0001 names stay allowed; the same UPDATE by a human is
/// denied (the control).
#[test]
fn producer_updates_stay_allowed_and_the_same_update_by_a_human_is_denied() {
    let eso_old = secret("db", "payments", es_owner());
    let eso_new = with(eso_old.clone(), "data", json!({ "password": "bmV3" }));
    let tls_meta = json!({ "annotations": { "cert-manager.io/certificate-name": "web" } });
    let tls_old = with(
        with(
            secret("web-tls", "payments", tls_meta),
            "type",
            json!("kubernetes.io/tls"),
        ),
        "data",
        json!({ "tls.crt": "b2xk", "tls.key": "b2xk" }),
    );
    let tls_new = with(
        tls_old.clone(),
        "data",
        json!({ "tls.crt": "bmV3", "tls.key": "bmV3" }),
    );
    let sa_old = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": { "name": "build-token", "namespace": "payments",
            "annotations": { "kubernetes.io/service-account.name": "build" } }
    });
    let sa_new = with(
        sa_old.clone(),
        "data",
        json!({ "token": "dA==", "ca.crt": "Y2E=", "namespace": "cGF5bWVudHM=" }),
    );
    let helm_old = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": { "name": "sh.helm.release.v1.web.v3", "namespace": "payments",
            "labels": { "owner": "helm", "name": "web", "version": "3", "status": "deployed" } },
        "data": { "release": "SDRzSQ==" }
    });
    let mut helm_new = helm_old.clone();
    helm_new["metadata"]["labels"]["status"] = json!("superseded");
    for (what, producer, old, new) in [
        ("ESO refreshing its Secret", ESO, eso_old, eso_new),
        (
            "cert-manager renewing a certificate",
            CERT_MANAGER,
            tls_old,
            tls_new,
        ),
        (
            "the token controller filling a token",
            "system:kube-controller-manager",
            sa_old,
            sa_new,
        ),
        (
            "helm-controller superseding a release",
            HELM,
            helm_old,
            helm_new,
        ),
    ] {
        let d =
            Write::update(Kind::Secret, "payments", producer, old.clone(), new.clone()).evaluate();
        assert_allowed(&d, what);
        // The control changes the values too: a metadata-only edit is housekeeping by design.
        let mut tampered = new;
        tampered["data"] = json!({ "release": "dGFtcGVyZWQ=" });
        let d = Write::update(Kind::Secret, "payments", HUMAN, old, tampered).evaluate();
        assert!(
            !d.allowed(),
            "{what}, with new values by a human, must be denied"
        );
    }
}

/// `kubectl create secret … --dry-run=server` and server-side apply send the same review with
/// `dryRun: true`: the verdict is the same as for the real write.
#[test]
fn a_server_dry_run_is_judged_like_the_write() {
    let plain = secret("db", "payments", json!({}));
    let hook = webhook();
    let mut review: Value = serde_json::from_slice(&admission_review(
        ("", "v1", "Secret"),
        "CREATE",
        "payments",
        "db",
        HUMAN,
        plain,
        Value::Null,
    ))
    .expect("review");
    review["request"]["dryRun"] = json!(true);
    let body = serde_json::to_vec(&review).expect("encode");
    let response = respond(&hook, Route::Validate, &body);
    assert_eq!(response["allowed"], false);
    assert_eq!(rule_ids(&response), ["VG101"]);
}
