//! `vaultgate audit`: lists the cluster of the current kubeconfig once (Secrets as metadata
//! only, never their values; ESO objects and stores whole; SealedSecrets as metadata), builds
//! the same indexed view `serve` watches, runs the audit engine ([`crate::audit`]) and prints
//! the report as text, JSON, Markdown or one self-contained HTML file.
//!
//! Exit codes: see [`EXIT_CODES`].

pub(super) mod errors;
pub mod html;
mod render;

use std::{path::PathBuf, process::ExitCode};

use clap::ValueEnum;
use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::{
    Client,
    api::{Api, ApiResource, DynamicObject, GroupVersionKind},
};
use serde_json::{Value, json};

use super::listing::{list_dynamic, pages};
use crate::{
    audit::{self, FieldManager, Listed},
    cluster::{LiveView, live::SealedListing},
    policy::objects::Kind,
};

pub const EXIT_CODES: &str = "Exit codes: 0 no violation; 1 violations found; 2 cannot run (no kubeconfig, a list refused, an invalid policy).";

/// Output format of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// One self-contained HTML file (inline CSS and SVG, no scripts, no external fetches).
    Html,
}

#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct AuditArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Policy file (default: the built-in policy).
    #[arg(long, env = "VAULTGATE_POLICY")]
    pub policy: Option<PathBuf>,
    /// Print only the namespaces below `enforce` with no violation, and the `namespaces.modes`
    /// policy snippet that moves them to `enforce`.
    #[arg(long)]
    pub ready: bool,
}

/// The ESO kinds and stores listed whole: (group, versions to try, kind, plural).
const ESO_KINDS: &[(&[&str], Kind, &str)] = &[
    (&["v1", "v1beta1"], Kind::ExternalSecret, "externalsecrets"),
    (
        &["v1", "v1beta1"],
        Kind::ClusterExternalSecret,
        "clusterexternalsecrets",
    ),
    (&["v1alpha1"], Kind::PushSecret, "pushsecrets"),
    (&["v1alpha1"], Kind::ClusterPushSecret, "clusterpushsecrets"),
    (&["v1", "v1beta1"], Kind::SecretStore, "secretstores"),
    (
        &["v1", "v1beta1"],
        Kind::ClusterSecretStore,
        "clustersecretstores",
    ),
];

/// Who and how, from `managedFields`; the fields themselves are dropped.
fn managers(meta: &ObjectMeta) -> Vec<FieldManager> {
    meta.managed_fields
        .iter()
        .flatten()
        .map(|m| FieldManager {
            manager: m.manager.clone().unwrap_or_default(),
            operation: m.operation.clone().unwrap_or_default(),
            subresource: m.subresource.as_deref().is_some_and(|s| !s.is_empty()),
        })
        .collect()
}

/// The field selector of the Secrets whose stored type is a service-account token.
const SA_TOKEN_SELECTOR: &str = "type=kubernetes.io/service-account-token";

/// A Secret as the engine reads it from its metadata. A metadata listing has no `type`, so
/// `sa_token` says whether the API listed it under [`SA_TOKEN_SELECTOR`]: its
/// `kubernetes.io/service-account.name` annotation proves nothing, any writer may set it on an
/// Opaque Secret holding a plain value.
fn secret_object(mut meta: ObjectMeta, sa_token: bool) -> anyhow::Result<Listed> {
    let managers = managers(&meta);
    meta.managed_fields = None;
    let mut value = json!({ "apiVersion": "v1", "kind": "Secret", "metadata": meta });
    if sa_token {
        value["type"] = json!("kubernetes.io/service-account-token");
    }
    errors::decode(Kind::Secret, value, managers).map_err(anyhow::Error::msg)
}

/// Lists what the audit reads. A kind the cluster does not serve (404) is noted and empty.
async fn list_cluster(
    notes: &mut Vec<String>,
) -> anyhow::Result<(Vec<Listed>, Vec<SealedListing>)> {
    let client = Client::try_default()
        .await
        .map_err(|e| anyhow::anyhow!("no usable kubeconfig or in-cluster config: {e}"))?;
    let secrets: Api<Secret> = Api::all(client.clone());
    let tokens: std::collections::HashSet<String> = pages(|p| {
        let secrets = secrets.clone();
        async move { secrets.list_metadata(&p.fields(SA_TOKEN_SELECTOR)).await }
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!(errors::list_failed(
            "listing service-account token secrets (metadata)",
            &e
        ))
    })?
    .into_iter()
    .filter_map(|s| s.metadata.uid)
    .collect();
    let mut objects = Vec::new();
    for s in pages(|p| {
        let secrets = secrets.clone();
        async move { secrets.list_metadata(&p).await }
    })
    .await
    .map_err(|e| anyhow::anyhow!(errors::list_failed("listing secrets (metadata)", &e)))?
    {
        let sa_token = s.metadata.uid.as_ref().is_some_and(|u| tokens.contains(u));
        objects.push(secret_object(s.metadata, sa_token)?);
    }
    for (versions, kind, plural) in ESO_KINDS {
        match list_dynamic(
            &client,
            "external-secrets.io",
            versions,
            kind.as_str(),
            plural,
        )
        .await?
        {
            Some(items) => {
                for mut o in items {
                    let managers = managers(&o.metadata);
                    o.metadata.managed_fields = None;
                    let value = serde_json::to_value(&o).unwrap_or(Value::Null);
                    match errors::decode(*kind, value, managers) {
                        Ok(listed) => objects.push(listed),
                        Err(note) => notes.push(note),
                    }
                }
            }
            None => notes.push(format!(
                "{plural}.external-secrets.io is not served by this cluster"
            )),
        }
    }
    let mut sealed = Vec::new();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret"),
        "sealedsecrets",
    );
    let api = Api::<DynamicObject>::all_with(client, &ar);
    match pages(|p| {
        let api = api.clone();
        async move { api.list_metadata(&p).await }
    })
    .await
    {
        Ok(items) => {
            for o in items {
                let m = o.metadata;
                sealed.push((
                    m.namespace.unwrap_or_default(),
                    m.name.unwrap_or_default(),
                    m.uid.unwrap_or_default(),
                ));
            }
        }
        Err(kube::Error::Api(e)) if e.code == 404 => {
            notes.push("sealedsecrets.bitnami.com is not served by this cluster".into())
        }
        Err(e) => {
            return Err(anyhow::anyhow!(errors::list_failed(
                "listing sealedsecrets.bitnami.com (metadata)",
                &e
            )));
        }
    }
    Ok((objects, sealed))
}

pub fn run(args: AuditArgs) -> ExitCode {
    let policy = match super::policy_cmd::load_or_default(args.policy.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --policy: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let mut notes = Vec::new();
    let (objects, sealed) = match runtime.block_on(list_cluster(&mut notes)) {
        Ok(listed) => listed,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let view = LiveView::from_listing(&policy, objects.iter().map(|l| (&l.object, None)), &sealed);
    let report = audit::audit(&objects, &policy, &view, std::time::SystemTime::now());
    let out = match (args.ready, args.format) {
        (true, Format::Json) => serde_json::to_string_pretty(&json!({
            "ready": report.ready,
            "policy": audit::ready_snippet(&report.ready),
        }))
        .unwrap_or_default(),
        (true, _) => render::ready(&report),
        (false, Format::Text) => render::text(&report, &notes),
        (false, Format::Markdown) => render::markdown(&report, &notes),
        (false, Format::Html) => html::page(&report, &notes),
        (false, Format::Json) => serde_json::to_string_pretty(&json!({
            "objects": report.objects,
            "namespaces": report.namespaces,
            "exempt": report.exempt,
            "ready": report.ready,
            "notes": notes,
        }))
        .unwrap_or_default(),
    };
    println!("{}", out.trim_end());
    if report.violations() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audited(sa_token: bool) -> crate::audit::Audited {
        let policy = crate::policy::Policy::default();
        let meta = ObjectMeta {
            name: Some("db-creds".into()),
            namespace: Some("payments".into()),
            uid: Some("3b1f6a52-0000-4000-8000-000000000009".into()),
            annotations: Some(
                [(
                    "kubernetes.io/service-account.name".to_owned(),
                    "default".to_owned(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        };
        let listed = vec![secret_object(meta, sa_token).expect("a Secret")];
        let mut view = crate::cluster::MemoryView::from_policy(&policy);
        view.insert(&listed[0].object, None);
        let report = crate::audit::audit(&listed, &policy, &view, std::time::SystemTime::now());
        report.objects[0].clone()
    }

    /// An Opaque Secret holding a plain value (stored in `warn` mode or before vaultgate) is not
    /// taken for a service-account token because it carries the token's annotation, which any
    /// writer may set: only the API's `type` (the token list) says it is one.
    #[test]
    fn an_opaque_secret_with_the_service_account_annotation_is_still_judged() {
        let o = audited(false);
        assert!(
            o.violations.iter().any(|v| v.rule == "VG101"),
            "class {:?}, producer {:?}: no VG101",
            o.class,
            o.producer.name
        );
    }

    #[test]
    fn a_secret_the_api_lists_as_a_service_account_token_is_the_control_planes() {
        let o = audited(true);
        assert!(
            o.violations.is_empty(),
            "class {:?}, producer {:?}: {:?}",
            o.class,
            o.producer.name,
            o.violations
        );
    }
}
