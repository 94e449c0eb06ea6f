//! `vaultgate policy suggest` on a platform repository (tests/fixtures/suggest/platform): the
//! real binary, its output parsed by the policy loader, and the onboarding path
//! `policy suggest > policy.yaml && check --policy policy.yaml` that it exists for.

use std::process::{Command, Output};

use vaultgate::policy::{Policy, identity::Identity};

fn fixture(rel: &str) -> String {
    format!(
        "{}/tests/fixtures/suggest/{rel}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn vaultgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(args)
        .output()
        .expect("run vaultgate")
}

fn suggest() -> String {
    let out = vaultgate(&["policy", "suggest", &fixture("platform")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn sa(ns: &str, name: &str) -> Identity {
    Identity::new(
        format!("system:serviceaccount:{ns}:{name}"),
        vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
        ],
    )
}

#[test]
fn suggests_the_decrypter_operators_and_controllers_the_repository_deploys() {
    let policy = Policy::from_yaml(&suggest()).expect("the suggestion is a valid policy");
    assert_eq!(policy.prefix, "platform.example.org/");
    let decrypters = &policy.identities.bootstrap_decrypters;
    assert_eq!(decrypters.len(), 1, "{decrypters:?}");
    assert_eq!(decrypters[0].name, "sealed-secrets");
    assert!(
        decrypters[0].users[0]
            .matches("system:serviceaccount:sealed-secrets:sealed-secrets-controller"),
        "the decrypter runs in its own namespace, not kube-system: {decrypters:?}"
    );
    let eso = &policy.identities.eso;
    assert_eq!(eso.len(), 1, "ESO's webhook is not a writer: {eso:?}");
    assert!(eso[0].matches("system:serviceaccount:external-secrets:external-secrets"));
    let gitops = &policy.identities.gitops;
    assert_eq!(
        gitops.len(),
        1,
        "Argo CD's API server is not a GitOps writer: {gitops:?}"
    );
    assert!(gitops[0].matches("system:serviceaccount:argocd:argocd-application-controller"));
    let operators: Vec<(&str, &str)> = policy
        .identities
        .operators
        .iter()
        .map(|o| (o.name.as_str(), o.class.as_str()))
        .collect();
    assert_eq!(
        operators,
        [
            ("cloudnative-pg", "derived"),
            ("external-secrets-cert-controller", "internal")
        ]
    );
    let cert_controller = &policy.identities.operators[1];
    assert_eq!(cert_controller.namespaces, ["external-secrets"]);
    assert_eq!(
        policy.namespaces.bootstrap,
        ["vault"],
        "an app namespace's SealedSecret is not a reason"
    );
}

#[test]
fn suggests_the_store_grants_aliases_and_prefixes_the_existing_objects_need() {
    let policy = Policy::from_yaml(&suggest()).expect("valid policy");
    assert_eq!(policy.stores.approved.len(), 1);
    assert_eq!(policy.stores.approved[0].name, "vault-backend");
    assert_eq!(policy.namespaces.aliases["payments"], ["payment-api"]);
    assert_eq!(
        policy.vault.read_grants["payments"],
        ["applications/payments"]
    );
    assert_eq!(policy.vault.extra_push_prefixes, ["ci"]);
    assert_eq!(policy.vault.publishers["postgres"], ["databases"]);
}

#[test]
fn every_suggested_entry_says_where_it_was_seen() {
    let text = suggest();
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = 0;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if !(trimmed.starts_with("- \"") || trimmed.starts_with("prefix:")) {
            continue;
        }
        entries += 1;
        let comment = lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with('#'))
            .any(|l| l.contains("tests/fixtures/suggest/platform/"));
        assert!(comment, "entry without its evidence: {line}\n{text}");
    }
    assert!(entries >= 10, "{text}");
    assert!(
        text.contains("not plain YAML (Helm templates?)") && text.contains("helm template"),
        "the unrendered chart is counted and the render command named: {text}"
    );
    assert!(text.contains("Not suggested as bootstrap namespaces") && text.contains("shop"));
}

#[test]
fn checking_with_the_suggested_policy_admits_the_deployed_decrypters_writes() {
    let dir = std::env::temp_dir().join(format!("vaultgate-suggest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let file = dir.join("policy.yaml");
    std::fs::write(&file, suggest()).expect("write");
    let decrypter = "system:serviceaccount:sealed-secrets:sealed-secrets-controller";
    let write = fixture("writes");
    let default = vaultgate(&["check", "--as", decrypter, &write]);
    assert_eq!(
        default.status.code(),
        Some(1),
        "the default policy expects kube-system"
    );
    let fitted = vaultgate(&[
        "check",
        "--policy",
        file.to_str().expect("path"),
        "--as",
        decrypter,
        &write,
    ]);
    assert_eq!(
        fitted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&fitted.stdout)
    );
    let other = sa("shop", "deployer");
    let still = vaultgate(&[
        "check",
        "--policy",
        file.to_str().expect("path"),
        "--as",
        &other.username,
        &write,
    ]);
    assert_eq!(
        still.status.code(),
        Some(1),
        "nobody else gains the decrypter's rights"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn no_objects_or_a_wrong_path_fails_naming_it() {
    let missing = vaultgate(&["policy", "suggest", &fixture("no-such-dir")]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-dir"));
    let empty = vaultgate(&["policy", "suggest", &fixture("platform/charts")]);
    assert_eq!(empty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no Kubernetes objects"));
    let nothing = vaultgate(&["policy", "suggest"]);
    assert_eq!(nothing.status.code(), Some(2));
}
