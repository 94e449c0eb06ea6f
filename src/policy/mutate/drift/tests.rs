use serde_json::Value;

use super::*;
use crate::policy::{config::Decrypter, identity::UserPattern};

fn repo_yaml(path: &str) -> Vec<Value> {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{full}: {e}"))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn webhooks(config: &Value) -> Vec<InstalledWebhook> {
    config["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .map(webhook)
        .collect()
}

fn webhook(hook: &Value) -> InstalledWebhook {
    InstalledWebhook {
        name: hook["name"].as_str().expect("name").to_owned(),
        conditions: serde_json::from_value(hook["matchConditions"].clone()).unwrap_or_default(),
    }
}

/// The policy.yaml a ConfigMap (or a kustomize patch replacing it) carries.
fn policy_from(text: &str) -> Policy {
    Policy::from_yaml(text).expect("a shipped policy parses")
}

fn base_policy() -> Policy {
    let cm = &repo_yaml("manifests/base/configmap-policy.yaml")[0];
    policy_from(cm["data"]["policy.yaml"].as_str().expect("policy.yaml"))
}

fn base() -> (Vec<InstalledWebhook>, Vec<InstalledWebhook>) {
    (
        webhooks(&repo_yaml("manifests/base/mutatingwebhookconfiguration.yaml")[0]),
        webhooks(&repo_yaml("manifests/base/validatingwebhookconfiguration.yaml")[0]),
    )
}

/// The webhook an overlay's JSON patch adds (`op: add, path: /webhooks/-`).
fn overlay_added_webhook(overlay: &str) -> InstalledWebhook {
    let k = &repo_yaml(&format!("manifests/overlays/{overlay}/kustomization.yaml"))[0];
    let patch = k["patches"][0]["patch"].as_str().expect("an inline patch");
    let ops: Vec<Value> = serde_saphyr::from_str(patch).expect("JSON patch as YAML");
    webhook(&ops[0]["value"])
}

/// The policy an overlay writes into the ConfigMap (`op: replace, path: /data/policy.yaml`).
fn overlay_policy(overlay: &str) -> Policy {
    let k = &repo_yaml(&format!("manifests/overlays/{overlay}/kustomization.yaml"))[0];
    let patch = k["patches"][0]["patch"].as_str().expect("an inline patch");
    let ops: Vec<Value> = serde_saphyr::from_str(patch).expect("JSON patch as YAML");
    assert_eq!(ops[0]["path"], "/data/policy.yaml", "{overlay}");
    policy_from(ops[0]["value"].as_str().expect("policy text"))
}

fn all_drift(policy: &Policy, m: &[InstalledWebhook], v: &[InstalledWebhook]) -> Vec<Drift> {
    let mut out = drift(policy, Configuration::Mutating, Some(m));
    out.extend(drift(policy, Configuration::Validating, Some(v)));
    out
}

#[test]
fn every_shipped_webhook_compares_clean_with_the_policy_it_ships_with() {
    let (m, mut v) = base();
    assert_eq!(all_drift(&base_policy(), &m, &v), []);
    for overlay in ["content-copy", "warn"] {
        assert_eq!(all_drift(&overlay_policy(overlay), &m, &v), [], "{overlay}");
    }
    // The opt-in third validating webhook carries the policy's exemption too.
    v.push(overlay_added_webhook("hidden-control-planes"));
    assert_eq!(all_drift(&base_policy(), &m, &v), []);
}

#[test]
fn the_chart_values_compare_clean_with_the_default_policy() {
    // What charts/vaultgate/templates renders: matchConditions on every webhook (the hidden one
    // too unless hiddenControlPlanes.matchConditions is set), then mutateMatchConditions on the
    // mutating one (tests/helm/chart_matches_kustomize.sh checks the rendered objects equal
    // manifests/ too).
    let values = &repo_yaml("charts/vaultgate/values.yaml")[0];
    let common: Vec<MatchCondition> =
        serde_json::from_value(values["webhook"]["matchConditions"].clone()).unwrap();
    let own: Vec<MatchCondition> =
        serde_json::from_value(values["webhook"]["mutateMatchConditions"].clone()).unwrap();
    let hidden = values["hiddenControlPlanes"]["matchConditions"].clone();
    assert!(
        hidden.as_array().is_some_and(Vec::is_empty),
        "hiddenControlPlanes.matchConditions overrides the policy's exemption: {hidden}"
    );
    let hook = |conditions: Vec<MatchCondition>| InstalledWebhook {
        name: "w".into(),
        conditions,
    };
    let policy = Policy::default();
    let m = [hook(common.iter().chain(&own).cloned().collect())];
    let v = [hook(common.clone()), hook(common)];
    assert_eq!(all_drift(&policy, &m, &v), []);
}

#[test]
fn reports_exempt_condition_missing_a_new_producer() {
    let (m, v) = base();
    let policy = policy_from(
        "identities:\n  operators:\n    - name: cert-rotator\n      \
         users: [system:serviceaccount:kube-system:cert-rotator]\n      class: internal\n",
    );
    let found = all_drift(&policy, &m, &v);
    assert_eq!(found.len(), 3, "every webhook: {found:#?}");
    for d in &found {
        let Drift::Conditions {
            missing,
            extra,
            different,
            ..
        } = d
        else {
            panic!("{d:?}");
        };
        assert_eq!(different, &["skip-exempt-service-accounts"]);
        assert!(missing.is_empty() && extra.is_empty(), "{d:?}");
    }
}

#[test]
fn reports_an_extra_exempt_group_on_every_webhook() {
    let (m, v) = base();
    let mut policy = base_policy();
    policy
        .identities
        .exempt_groups
        .push("system:serviceaccounts:monitoring".into());
    let found = all_drift(&policy, &m, &v);
    let webhooks: Vec<&str> = found
        .iter()
        .map(|d| match d {
            Drift::Conditions { webhook, .. } => webhook.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        webhooks,
        [
            "secrets.mutate.vaultgate.platform.pnats.cloud",
            "secrets.validate.vaultgate.platform.pnats.cloud",
            "eso.validate.vaultgate.platform.pnats.cloud",
        ]
    );
}

#[test]
fn reports_stamp_condition_missing_a_new_decrypter_on_the_mutating_webhook_only() {
    let (m, v) = base();
    let mut policy = base_policy();
    policy.identities.bootstrap_decrypters.push(Decrypter {
        name: "sops".into(),
        users: vec![UserPattern::from(
            "system:serviceaccount:sops:sops-operator",
        )],
    });
    assert_eq!(
        all_drift(&policy, &m, &v),
        [Drift::Conditions {
            configuration: Configuration::Mutating,
            webhook: "secrets.mutate.vaultgate.platform.pnats.cloud".into(),
            missing: vec![],
            extra: vec![],
            different: vec!["only-writes-that-can-need-a-stamp".into()],
        }]
    );
}

#[test]
fn reports_conditions_missing_or_extra_by_name() {
    let policy = Policy::default();
    let mut hooks = [InstalledWebhook {
        name: "secrets.mutate.vaultgate.platform.pnats.cloud".into(),
        conditions: vec![MatchCondition {
            name: "skip-kube-system-service-accounts".into(),
            expression: "true".into(),
        }],
    }];
    hooks[0]
        .conditions
        .push(mutating_conditions(&policy)[1].clone());
    assert_eq!(
        drift(&policy, Configuration::Mutating, Some(&hooks)),
        [Drift::Conditions {
            configuration: Configuration::Mutating,
            webhook: "secrets.mutate.vaultgate.platform.pnats.cloud".into(),
            missing: vec!["skip-exempt-service-accounts".into()],
            extra: vec!["skip-kube-system-service-accounts".into()],
            different: vec![],
        }]
    );
}

#[test]
fn a_webhook_without_conditions_misses_every_generated_one() {
    let hooks = [InstalledWebhook {
        name: "w".into(),
        conditions: vec![],
    }];
    let found = drift(&Policy::default(), Configuration::Validating, Some(&hooks));
    assert!(
        matches!(&found[..], [Drift::Conditions { missing, .. }] if missing == &["skip-exempt-service-accounts"]),
        "{found:?}"
    );
}

#[test]
fn a_missing_configuration_is_reported() {
    assert_eq!(
        drift(&Policy::default(), Configuration::Validating, None),
        [Drift::MissingConfiguration(Configuration::Validating)]
    );
}

#[test]
fn surrounding_whitespace_is_ignored_but_inner_whitespace_is_not() {
    let policy = Policy::default();
    let mut conditions = validating_conditions(&policy);
    conditions[0].expression = format!("\n  {}\n", conditions[0].expression);
    let hooks = [InstalledWebhook {
        name: "w".into(),
        conditions: conditions.clone(),
    }];
    assert_eq!(drift(&policy, Configuration::Validating, Some(&hooks)), []);
    let mut hooks = hooks;
    hooks[0].conditions[0].expression = validating_conditions(&policy)[0]
        .expression
        .replacen("\n|| ", "\n||  ", 1);
    assert_eq!(
        drift(&policy, Configuration::Validating, Some(&hooks)).len(),
        1
    );
}

#[test]
fn a_configuration_without_webhooks_is_reported_as_not_installed_not_clean() {
    // `webhooks: []` (or null) is a valid object the apiserver calls nothing for: a sibling of
    // deleting the configuration, never "matches the policy".
    assert_eq!(
        drift(&Policy::default(), Configuration::Validating, Some(&[])),
        [Drift::MissingConfiguration(Configuration::Validating)]
    );
}
