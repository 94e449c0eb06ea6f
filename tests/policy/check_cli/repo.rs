//! `vaultgate check` on a whole platform repository (tests/fixtures/repo): every object judged
//! with its `file:line`, everything else listed with a hint, missing context said, and
//! SealedSecrets judged as the Secrets their decrypter writes.

use serde_json::Value;

use super::{check, fixture, json, stderr, stdout};

fn repo(rel: &str) -> String {
    fixture(&format!("repo/{rel}"))
}

/// The JSON result for `kind` `name`.
fn result<'a>(report: &'a Value, kind: &str, name: &str) -> &'a Value {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["kind"] == kind && r["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} in {report:#}"))
}

fn rules(result: &Value) -> Vec<&str> {
    result["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| v["rule"].as_str().expect("rule"))
        .collect()
}

/// The listed entry for `file` (a path under the repository).
fn listed<'a>(report: &'a Value, file: &str) -> &'a Value {
    report["not_manifests"]
        .as_array()
        .expect("not_manifests")
        .iter()
        .find(|l| l["file"].as_str().is_some_and(|f| f.ends_with(file)))
        .unwrap_or_else(|| panic!("{file} listed in {report:#}"))
}

#[test]
fn a_whole_repository_is_judged_object_by_object_at_file_and_line() {
    let out = check(&[&repo("")]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "denials win over not-evaluated: {text}"
    );
    assert!(
        text.contains("DENIED  Secret default/db (namespace defaulted by -n) (")
            && text.contains("repo/apps/billing/secret.yaml:2)"),
        "{text}"
    );
    assert!(text.contains("[VG101 unmanaged-secret]"), "{text}");
    assert!(
        text.contains("ALLOWED ExternalSecret billing/billing-db (")
            && text.contains("repo/apps/billing/externalsecret.yaml:1)"),
        "{text}"
    );
    assert!(
        text.contains("checked 11 objects in 9 files: 4 allowed, 5 denied, 0 warned, 1 not governed, 1 not evaluated; 8 listed"),
        "{text}"
    );
    let report = json(&check(&["--format", "json", &repo("")]));
    let secret = result(&report, "Secret", "db");
    assert_eq!(
        (secret["line"].as_u64(), secret["document"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(rules(secret), ["VG101"]);
    let push = result(&report, "PushSecret", "vault-admin-to-vault");
    assert_eq!(push["line"], 17, "the second document's first content line");
    assert_eq!(push["document"], 1);
}

#[test]
fn lists_helm_chart_files_with_the_render_command() {
    let report = json(&check(&["--format", "json", &repo("")]));
    for file in [
        "charts/billing/Chart.yaml",
        "charts/billing/values.yaml",
        "charts/billing/templates/secret.yaml",
    ] {
        let entry = listed(&report, file);
        assert!(
            entry["what"].as_str().unwrap().contains("Helm chart"),
            "{entry}"
        );
        let hint = entry["hint"].as_str().unwrap();
        assert!(
            hint.contains("helm template <release> ")
                && hint.contains("charts/billing | vaultgate check -"),
            "{hint}"
        );
    }
    // The chart's templated Secret is not judged as a Secret named `{{ .Release.Name }}-db`.
    assert!(!report.to_string().contains("Release.Name"), "{report:#}");
}

#[test]
fn lists_the_kustomization_and_its_json6902_patch_with_the_build_command() {
    let report = json(&check(&["--format", "json", &repo("kustomize")]));
    for file in [
        "kustomize/payments/kustomization.yaml",
        "kustomize/payments/replicas-patch.yaml",
    ] {
        let hint = listed(&report, file)["hint"].as_str().unwrap().to_owned();
        assert!(
            hint.contains("kubectl kustomize ") && hint.contains("payments | vaultgate check -"),
            "{hint}"
        );
    }
    // Without --kustomize, the resources it lists are judged as written.
    assert_eq!(
        result(&report, "ExternalSecret", "payments-db")["outcome"],
        "allowed"
    );
    // A JSON6902 patch no kustomization lists is recognised by its content.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("patch.yaml"),
        "- op: add\n  path: /metadata/labels/team\n  value: billing\n",
    )
    .unwrap();
    std::fs::copy(
        repo("apps/billing/externalsecret.yaml"),
        dir.path().join("es.yaml"),
    )
    .unwrap();
    let out = check(&[dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("patch.yaml: JSON6902 patch (a list of op/path operations)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn lists_ci_workflows_documentation_yaml_and_documents_without_kind() {
    let report = json(&check(&["--format", "json", &repo("")]));
    assert!(
        listed(&report, ".github/workflows/ci.yaml")["what"]
            .as_str()
            .unwrap()
            .contains("CI pipeline")
    );
    assert!(
        listed(&report, "docs/settings.yaml")["what"]
            .as_str()
            .unwrap()
            .contains("without apiVersion/kind")
    );
    // A stray document in a manifest file is listed at its line; the file's object is judged.
    let stray = listed(&report, "apps/billing/mixed.yaml");
    assert_eq!(
        (stray["line"].as_u64(), stray["document"].as_u64()),
        (Some(7), Some(1))
    );
    assert_eq!(
        report["skipped"], 1,
        "the ConfigMap: not governed (the Deployment is judged for scripts that write Secrets)"
    );
}

#[test]
fn a_push_secret_without_its_source_is_not_evaluated_in_text_and_json() {
    let file = repo("apps/billing/pushsecret.yaml");
    let out = check(&[&file]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("NOT EVALUATED PushSecret postgres/publish-billing (")
            && text.contains("pushsecret.yaml:3)"),
        "{text}"
    );
    assert!(
        text.contains("missing: Secret \"postgres/billing.postgres-cluster.credentials\" (spec.selector.secret.name)"),
        "{text}"
    );
    let report = json(&check(&["--format", "json", &file]));
    let push = result(&report, "PushSecret", "publish-billing");
    assert_eq!(push["outcome"], "not_evaluated");
    assert_eq!(push["allowed"], false);
    assert_eq!(push["missing"][0]["kind"], "Secret");
    assert_eq!(
        push["missing"][0]["name"],
        "billing.postgres-cluster.credentials"
    );
    assert_eq!(push["missing"][0]["field"], "spec.selector.secret.name");
    assert_eq!(report["not_evaluated"], 1);
    let partial = check(&["--allow-partial", &file]);
    assert_eq!(partial.status.code(), Some(0), "{}", stderr(&partial));
}

#[test]
fn a_denial_wins_over_missing_context_which_is_kept_as_a_note() {
    // The same PushSecret applied by hand: VG209, and its source is still unknown.
    let text = std::fs::read(repo("apps/billing/pushsecret.yaml")).unwrap();
    let out = super::check_stdin(&["--as", "alice", "--format", "json"], &text);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let push = result(&report, "PushSecret", "publish-billing");
    assert_eq!(push["outcome"], "denied");
    assert_eq!(rules(push), ["VG209"]);
    assert_eq!(push["missing"][0]["field"], "spec.selector.secret.name");
    let text_out = super::check_stdin(&["--as", "alice"], &text);
    assert!(
        stdout(&text_out).contains("note: also not evaluated, missing: Secret"),
        "{}",
        stdout(&text_out)
    );
}

#[test]
fn reports_a_namespace_defaulted_by_the_flag() {
    let file = repo("apps/billing/secret.yaml");
    let report = json(&check(&["--format", "json", "-n", "billing", &file]));
    let secret = result(&report, "Secret", "db");
    assert_eq!(secret["namespace"], "billing");
    assert_eq!(secret["namespace_defaulted"], true);
    let es = json(&check(&[
        "--format",
        "json",
        &repo("apps/billing/externalsecret.yaml"),
    ]));
    assert_eq!(
        result(&es, "ExternalSecret", "billing-db")["namespace_defaulted"],
        false
    );
}

#[test]
fn a_sealed_secret_outside_the_bootstrap_namespaces_is_denied_as_the_secret_it_writes() {
    let out = check(&[&repo("sealed/temporal-github.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("DENIED  SealedSecret temporal/github-token → Secret temporal/github-token, written by decrypter sealed-secrets (system:serviceaccount:kube-system:sealed-secrets-controller)"),
        "{text}"
    );
    assert!(text.contains("[VG106 bootstrap-namespace]"), "{text}");
    let report = json(&check(&[
        "--format",
        "json",
        &repo("sealed/temporal-github.yaml"),
    ]));
    let secret = result(&report, "Secret", "github-token");
    assert_eq!(secret["sealed_secret"]["name"], "github-token");
    assert_eq!(secret["written_by"]["decrypter"], "sealed-secrets");
    assert_eq!(secret["class"], "bootstrap");
}

#[test]
fn a_sealed_secret_and_an_external_secret_writing_one_secret_are_two_writers() {
    let report = json(&check(&[
        "--format",
        "json",
        &repo("sealed/two-writers.yaml"),
    ]));
    let es = result(&report, "ExternalSecret", "smtp");
    assert_eq!(rules(es), ["VG207"]);
    assert!(
        es["violations"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already written by a SealedSecret"),
        "{es}"
    );
}

#[test]
fn pushing_a_sealed_secrets_output_names_update_policy_refresh_and_the_handover() {
    let report = json(&check(&["--format", "json", &repo("bootstrap")]));
    let sealed = result(&report, "Secret", "vault-admin");
    assert_eq!(
        sealed["outcome"], "allowed",
        "a bootstrap Secret in a bootstrap namespace"
    );
    let push = result(&report, "PushSecret", "vault-admin-to-vault");
    assert_eq!(rules(push), ["VG307"]);
    let finding = &push["violations"][0];
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains("is a bootstrap Secret")
            && message.contains("updatePolicy Replace")
            && message.contains("refreshInterval 1h"),
        "{message}"
    );
    assert!(
        finding["fix"].as_str().unwrap().contains("handover-to"),
        "{finding}"
    );
}

#[test]
fn a_directory_of_sealed_secrets_is_judged_not_skipped() {
    let out = check(&[&repo("sealed")]);
    let text = stdout(&out);
    assert!(
        text.contains(
            "checked 3 objects in 2 files: 0 allowed, 3 denied, 0 warned, 0 not governed, 0 not evaluated"
        ),
        "{text}"
    );
}

#[test]
fn no_value_or_ciphertext_reaches_the_output() {
    for format in ["text", "json", "sarif", "junit", "github"] {
        let out = check(&["--format", format, &repo("")]);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        for canary in ["hunter2-canary", "CANARY", "change-me", "AgC", "AgB"] {
            assert!(!all.contains(canary), "{canary} leaked in {format}: {all}");
        }
    }
}
