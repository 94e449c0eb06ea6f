//! The watches that fill the live view's tables: one kube-runtime watcher per resource type,
//! each event reduced to what its table keeps. A watch error is counted, logged, and retried with
//! backoff; a resource whose CRD is not installed counts as synced-and-empty so a cluster
//! without ESO still becomes ready.

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use futures::{Stream, StreamExt};
use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::{
    Client,
    api::PartialObjectMeta,
    api::{Api, ApiResource, DynamicObject, GroupVersionKind},
    runtime::{WatchStreamExt, watcher},
};

use super::{EsEntry, Held, LiveView, PushEntry, StoreEntry};
use crate::{
    cluster::{
        ExternalSecretInfo, PushSecretInfo, SecretMeta, StoreInfo, compact_meta, table::Table,
    },
    metrics::{Metrics, ResourceLabels},
    policy::{Object, Policy, objects::Kind},
};

fn ns_name(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// Events of one watch, reduced to what a table needs.
enum Change<V> {
    Apply(String, String, V),
    Delete(String, String),
    Init,
    InitApply(String, String, V),
    InitDone,
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Drives one table from a watcher stream until the stream ends (never, in practice).
async fn drive<K, V, S>(
    name: &'static str,
    stream: S,
    table: Arc<LiveView>,
    pick: fn(&LiveView) -> &Table<V>,
    convert: impl Fn(K) -> Option<(String, String, V)>,
    key: impl Fn(&K) -> (String, String),
    metrics: Arc<Metrics>,
) where
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    let labels = ResourceLabels { resource: name };
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        let t = pick(&table);
        let change = match event {
            Ok(watcher::Event::Apply(o)) => convert(o).map(|(n, m, v)| Change::Apply(n, m, v)),
            Ok(watcher::Event::Delete(o)) => {
                let (n, m) = key(&o);
                Some(Change::Delete(n, m))
            }
            Ok(watcher::Event::Init) => Some(Change::Init),
            Ok(watcher::Event::InitApply(o)) => {
                convert(o).map(|(n, m, v)| Change::InitApply(n, m, v))
            }
            Ok(watcher::Event::InitDone) => Some(Change::InitDone),
            Err(e) => {
                metrics.context_watch_errors.get_or_create(&labels).inc();
                let absent = matches!(&e, watcher::Error::InitialListFailed(kube::Error::Api(s)) if s.is_not_found());
                if absent {
                    if !t.synced() {
                        tracing::warn!(
                            resource = name,
                            "resource is not installed; treating it as empty until it appears"
                        );
                    }
                    t.mark_absent();
                    metrics.context_synced.get_or_create(&labels).set(1);
                } else {
                    tracing::warn!(resource = name, error = %e, "watch failed; retrying with backoff");
                }
                None
            }
        };
        // What the in-cluster audit re-runs on (a relist counts once, when it is swapped in).
        let changed = matches!(
            change,
            Some(Change::Apply(..) | Change::Delete(..) | Change::InitDone)
        );
        match change {
            Some(Change::Apply(n, m, v)) => t.apply(&n, &m, v),
            Some(Change::Delete(n, m)) => t.delete(&n, &m),
            Some(Change::Init) => t.init(),
            Some(Change::InitApply(n, m, v)) => t.init_apply(&n, &m, v),
            Some(Change::InitDone) => {
                t.init_done();
                metrics.context_resyncs.get_or_create(&labels).inc();
                metrics.context_synced.get_or_create(&labels).set(1);
                tracing::info!(resource = name, objects = t.len(), "cluster view synced");
            }
            None => {}
        }
        if changed {
            table.mark_changed();
        }
        metrics
            .context_objects
            .get_or_create(&labels)
            .set(t.len() as i64);
        metrics
            .context_last_event
            .get_or_create(&labels)
            .set(now_seconds());
    }
}

/// The object as `kind`, and its [`Held`] form when `hold` (the in-cluster audit is on).
fn decode(kind: Kind, obj: DynamicObject, hold: bool) -> Option<(Object, Option<Held>)> {
    let mut value = serde_json::to_value(&obj).ok()?;
    let held = hold.then(|| Held::keep(&mut value));
    Some((Object::from_value(kind, value).ok()?, held))
}

/// The field selector of the Secrets whose stored type is a service-account token.
pub const SA_TOKEN_SELECTOR: &str = "type=kubernetes.io/service-account-token";

impl LiveView {
    /// Starts every watch on the current tokio runtime and returns the view. With `hold` (the
    /// in-cluster audit is on), ESO objects and stores are kept whole and ClusterExternalSecrets
    /// and ClusterPushSecrets are watched too.
    pub fn spawn(client: Client, policy: &Policy, metrics: Arc<Metrics>, hold: bool) -> Arc<Self> {
        let view = Arc::new(Self::new(policy, hold));
        let config = watcher::Config::default().any_semantic();
        let prefix = policy.prefix.clone();

        // A metadata watch carries no `type`: the token Secrets are watched apart, selected by
        // it, and only their account's name is kept.
        let tokens: Api<PartialObjectMeta<Secret>> = Api::all(client.clone());
        tokens_watch(&view, tokens, config.clone(), metrics.clone());

        if view.digester.is_some() {
            // Content-copy detection: the full Secret is read to digest its values, then dropped.
            let secrets: Api<Secret> = Api::all(client.clone());
            let v = view.clone();
            let prefix = prefix.clone();
            tokio::spawn(drive(
                "secrets",
                watcher(secrets, config.clone()).default_backoff(),
                view.clone(),
                |v| &v.secrets,
                move |o: Secret| {
                    let (ns, name) = ns_name(&o.metadata);
                    let digests =
                        v.digests_of(o.data.iter().flatten().map(|(_, b)| b.0.as_slice()));
                    Some((
                        ns,
                        name,
                        SecretMeta {
                            digests,
                            ..compact_meta(&o.metadata, &prefix)
                        },
                    ))
                },
                |o| ns_name(&o.metadata),
                metrics.clone(),
            ));
        } else {
            let secrets: Api<PartialObjectMeta<Secret>> = Api::all(client.clone());
            tokio::spawn(drive(
                "secrets",
                watcher(secrets, config.clone()).default_backoff(),
                view.clone(),
                |v| &v.secrets,
                move |o: PartialObjectMeta<Secret>| {
                    let (ns, name) = ns_name(&o.metadata);
                    Some((ns, name, compact_meta(&o.metadata, &prefix)))
                },
                |o| ns_name(&o.metadata),
                metrics.clone(),
            ));
        }

        let dynamic = |ar: &ApiResource| Api::<DynamicObject>::all_with(client.clone(), ar);
        let store_info = |kind: Kind| {
            move |o: DynamicObject| {
                let (ns, name) = ns_name(&o.metadata);
                let (Object::SecretStore(s) | Object::ClusterSecretStore(s), held) =
                    decode(kind, o, hold)?
                else {
                    return None;
                };
                let info = StoreInfo::of(&s);
                Some((ns, name, StoreEntry { info, held }))
            }
        };
        for (name, ar, kind, pick) in [
            (
                "secretstores",
                resource("external-secrets.io", "v1", "SecretStore", "secretstores"),
                Kind::SecretStore,
                (|v: &LiveView| &v.stores) as fn(&LiveView) -> &Table<StoreEntry>,
            ),
            (
                "clustersecretstores",
                resource(
                    "external-secrets.io",
                    "v1",
                    "ClusterSecretStore",
                    "clustersecretstores",
                ),
                Kind::ClusterSecretStore,
                |v: &LiveView| &v.cluster_stores,
            ),
        ] {
            tokio::spawn(drive(
                name,
                watcher(dynamic(&ar), config.clone()).default_backoff(),
                view.clone(),
                pick,
                store_info(kind),
                |o: &DynamicObject| ns_name(&o.metadata),
                metrics.clone(),
            ));
        }

        let es = resource(
            "external-secrets.io",
            "v1",
            "ExternalSecret",
            "externalsecrets",
        );
        tokio::spawn(drive(
            "externalsecrets",
            watcher(dynamic(&es), config.clone()).default_backoff(),
            view.clone(),
            |v| &v.externals,
            move |o: DynamicObject| {
                let uid = o.metadata.uid.clone().unwrap_or_default();
                let (ns, name) = ns_name(&o.metadata);
                let (Object::ExternalSecret(es), held) = decode(Kind::ExternalSecret, o, hold)?
                else {
                    return None;
                };
                let info = Arc::new(ExternalSecretInfo::of(&ns, &name, &es));
                Some((
                    ns,
                    name,
                    EsEntry {
                        info,
                        uid: uid.into(),
                        held,
                    },
                ))
            },
            |o: &DynamicObject| ns_name(&o.metadata),
            metrics.clone(),
        ));

        let ps = resource(
            "external-secrets.io",
            "v1alpha1",
            "PushSecret",
            "pushsecrets",
        );
        tokio::spawn(drive(
            "pushsecrets",
            watcher(dynamic(&ps), config.clone()).default_backoff(),
            view.clone(),
            |v| &v.pushes,
            move |o: DynamicObject| {
                let (ns, name) = ns_name(&o.metadata);
                let (Object::PushSecret(ps), held) = decode(Kind::PushSecret, o, hold)? else {
                    return None;
                };
                let info = Arc::new(PushSecretInfo::of(&ns, &name, &ps));
                Some((ns, name, PushEntry { info, held }))
            },
            |o: &DynamicObject| ns_name(&o.metadata),
            metrics.clone(),
        ));

        if hold {
            for (name, kind, version, plural, pick) in [
                (
                    "clusterexternalsecrets",
                    Kind::ClusterExternalSecret,
                    "v1",
                    "clusterexternalsecrets",
                    (|v: &LiveView| &v.cluster_externals) as fn(&LiveView) -> &Table<Held>,
                ),
                (
                    "clusterpushsecrets",
                    Kind::ClusterPushSecret,
                    "v1alpha1",
                    "clusterpushsecrets",
                    |v: &LiveView| &v.cluster_pushes,
                ),
            ] {
                let ar = resource("external-secrets.io", version, kind.as_str(), plural);
                tokio::spawn(drive(
                    name,
                    watcher(dynamic(&ar), config.clone()).default_backoff(),
                    view.clone(),
                    pick,
                    move |o: DynamicObject| {
                        let (ns, name) = ns_name(&o.metadata);
                        let (_, held) = decode(kind, o, true)?;
                        Some((ns, name, held?))
                    },
                    |o: &DynamicObject| ns_name(&o.metadata),
                    metrics.clone(),
                ));
            }
        }

        let sealed = resource("bitnami.com", "v1alpha1", "SealedSecret", "sealedsecrets");
        tokio::spawn(drive(
            "sealedsecrets",
            watcher(
                Api::<PartialObjectMeta<DynamicObject>>::all_with(client, &sealed),
                config,
            )
            .default_backoff(),
            view.clone(),
            |v| &v.sealed,
            |o: PartialObjectMeta<DynamicObject>| {
                let (ns, name) = ns_name(&o.metadata);
                Some((ns, name, o.metadata.uid.as_deref().unwrap_or("").into()))
            },
            |o| ns_name(&o.metadata),
            metrics,
        ));
        view
    }
}

/// Feeds the token table: Secrets the API lists under [`SA_TOKEN_SELECTOR`], by account name.
fn tokens_watch(
    view: &Arc<LiveView>,
    api: Api<PartialObjectMeta<Secret>>,
    config: watcher::Config,
    metrics: Arc<Metrics>,
) {
    tokio::spawn(drive(
        "serviceaccounttokens",
        watcher(api, config.fields(SA_TOKEN_SELECTOR)).default_backoff(),
        view.clone(),
        |v| &v.tokens,
        |o: PartialObjectMeta<Secret>| {
            let (ns, name) = ns_name(&o.metadata);
            let account = o
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubernetes.io/service-account.name"))
                .map_or("", String::as_str)
                .into();
            Some((ns, name, account))
        },
        |o| ns_name(&o.metadata),
        metrics,
    ));
}

#[cfg(test)]
mod tests;
