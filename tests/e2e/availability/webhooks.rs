//! The shared webhook configurations: moved to balancer listeners for one test, and restored
//! (also on a failed assertion) before the suite's lock is released.

use std::{
    process::Command,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use k8s_openapi::{
    ByteString,
    api::admissionregistration::v1::{
        MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
    },
};
use kube::{
    Client,
    api::{Api, PostParams},
};
use serde_json::Value;

use super::{balancer::Balancer, load::Load};
use crate::harness::*;

/// The shared webhook configurations, pointed elsewhere for one test and put back afterwards.
pub(super) struct Webhooks {
    validating: Api<ValidatingWebhookConfiguration>,
    mutating: Api<MutatingWebhookConfiguration>,
    names: (String, String),
    original: (Vec<WebhookClientConfig>, Vec<WebhookClientConfig>),
    restored: bool,
}

fn config_names() -> (String, String) {
    let path = env().dir.join("manifests").join("webhooks.json");
    let list: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("webhooks.json")).unwrap();
    let name = |kind: &str| {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|o| o["kind"] == kind)
            .and_then(|o| o["metadata"]["name"].as_str())
            .unwrap_or_else(|| panic!("no {kind} in {}", path.display()))
            .to_owned()
    };
    (
        name("ValidatingWebhookConfiguration"),
        name("MutatingWebhookConfiguration"),
    )
}

/// `https://127.0.0.1:<port><path of the original URL>`
fn moved(original: &WebhookClientConfig, port: u16, ca_bundle: &[u8]) -> WebhookClientConfig {
    let url = original.url.as_deref().expect("the harness registers url:");
    let rest = url.strip_prefix("https://").expect("an https:// URL");
    let path = &rest[rest.find('/').expect("a path after the host")..];
    WebhookClientConfig {
        url: Some(format!("https://127.0.0.1:{port}{path}")),
        ca_bundle: Some(ByteString(ca_bundle.to_vec())),
        service: None,
    }
}

impl Webhooks {
    pub(super) async fn take(admin: &Client) -> Self {
        let names = config_names();
        let validating: Api<ValidatingWebhookConfiguration> = Api::all(admin.clone());
        let mutating: Api<MutatingWebhookConfiguration> = Api::all(admin.clone());
        let v = validating.get(&names.0).await.expect("GET validating");
        let m = mutating.get(&names.1).await.expect("GET mutating");
        let original = (
            v.webhooks
                .unwrap_or_default()
                .into_iter()
                .map(|w| w.client_config)
                .collect(),
            m.webhooks
                .unwrap_or_default()
                .into_iter()
                .map(|w| w.client_config)
                .collect(),
        );
        Self {
            validating,
            mutating,
            names,
            original,
            restored: false,
        }
    }

    /// Points the validating webhooks at `validate_port`, the mutating one at `mutate_port`,
    /// trusting `ca_bundle`; `None` puts the original client configs back.
    async fn point(&self, target: Option<(u16, u16, &[u8])>) {
        let mut v = self.validating.get(&self.names.0).await.expect("GET");
        for (hook, original) in v.webhooks.iter_mut().flatten().zip(&self.original.0) {
            hook.client_config = match target {
                Some((port, _, ca)) => moved(original, port, ca),
                None => original.clone(),
            };
        }
        self.validating
            .replace(&self.names.0, &PostParams::default(), &v)
            .await
            .expect("update the validating webhook configuration");
        let mut m = self.mutating.get(&self.names.1).await.expect("GET");
        for (hook, original) in m.webhooks.iter_mut().flatten().zip(&self.original.1) {
            hook.client_config = match target {
                Some((_, port, ca)) => moved(original, port, ca),
                None => original.clone(),
            };
        }
        self.mutating
            .replace(&self.names.1, &PostParams::default(), &m)
            .await
            .expect("update the mutating webhook configuration");
    }

    /// Moves both configurations to a new pair of balancer listeners trusting `ca_bundle`, and
    /// waits until the apiserver has connected to both (the load drives the traffic).
    pub(super) async fn move_to(&self, balancer: &mut Balancer, ca_bundle: &[u8], step: &str) {
        let (v, m) = (balancer.front().await, balancer.front().await);
        self.point(Some((v.port, m.port, ca_bundle))).await;
        let started = Instant::now();
        while v.accepted.load(Ordering::Relaxed) == 0 || m.accepted.load(Ordering::Relaxed) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{step}: the apiserver did not connect to the new webhook URLs within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "availability: {step}: the apiserver uses the new configuration after {:.2} s",
            started.elapsed().as_secs_f64()
        );
    }

    /// Puts the original configurations back and waits until the harness's vaultgate answers
    /// both routes again, so the next test finds the suite exactly as run.sh set it up.
    pub(super) async fn restore(mut self, load: &Load) {
        let client = webhook_https_client(&[]);
        let before = main_reviews(&client).await;
        self.point(None).await;
        let started = Instant::now();
        loop {
            let now = main_reviews(&client).await;
            if now.0 > before.0 && now.1 > before.1 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the harness's vaultgate got no reviews within 60 s of restoring the webhook \
                 configurations (load: {})",
                load.counts()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.restored = true;
    }
}

/// Reviews answered by the harness's vaultgate, per route (validate, mutate).
async fn main_reviews(client: &reqwest::Client) -> (f64, f64) {
    let text = client
        .get(format!("{}/metrics", env().webhook_url))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("the harness's vaultgate /metrics")
        .text()
        .await
        .expect("metrics body");
    reviews_by_route(&text)
}

impl Drop for Webhooks {
    fn drop(&mut self) {
        if !self.restored {
            // A failed assertion: put the configurations back as run.sh applied them.
            let _ = Command::new(&env().kubectl)
                .arg("--kubeconfig")
                .arg(&env().kubeconfig)
                .args(["apply", "-f"])
                .arg(env().dir.join("manifests").join("webhooks.json"))
                .status();
        }
    }
}
