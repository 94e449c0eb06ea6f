//! The cluster view backed by watches: one kube-runtime watcher per resource type feeds an
//! indexed [`Table`]; admissions only read those tables (no API call on the hot path). Secrets
//! are watched as metadata only and reduced to the few keys rules read, so 100k Secrets stay
//! small. A watch error is counted, logged, and retried with backoff; a resource whose CRD is
//! not installed counts as synced-and-empty so a cluster without ESO still becomes ready.

use std::{
    collections::BTreeMap,
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

use super::{
    ClusterView, ExternalSecretInfo, OwnerRef, PushSecretInfo, SecretMeta, StoreInfo, table::Table,
};
use crate::{
    metrics::{Metrics, ResourceLabels},
    policy::{Object, Policy, objects::Kind},
};

/// A SealedSecret: its uid, for owner verification.
type SealedInfo = String;

/// A Secret as the view keeps it: reduced metadata, plus keyed digests of its values when
/// content-copy detection is on (never a value).
#[derive(Debug, Clone, Default)]
pub struct SecretRecord {
    pub meta: SecretMeta,
    pub digests: Vec<String>,
}

impl From<SecretMeta> for SecretRecord {
    fn from(meta: SecretMeta) -> Self {
        Self {
            meta,
            digests: Vec::new(),
        }
    }
}

fn secret_by_digest(r: &SecretRecord) -> Vec<String> {
    r.digests.clone()
}

/// Keyed digests of Secret values: HMAC-SHA256 with a random per-process key, truncated to
/// 128 bits (collision-safe for this purpose, half the memory). The key never leaves memory.
pub struct Digester {
    key: ring::hmac::Key,
    min_len: usize,
}

impl Digester {
    pub fn new(min_len: usize) -> Option<Self> {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).ok()?;
        Some(Self { key, min_len })
    }

    pub fn digest(&self, value: &[u8]) -> Option<String> {
        if value.len() < self.min_len {
            return None;
        }
        let tag = ring::hmac::sign(&self.key, value);
        Some(
            tag.as_ref()[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }
}

/// ExternalSecret with its uid (owner verification).
#[derive(Debug, Clone)]
pub struct EsEntry {
    pub info: ExternalSecretInfo,
    pub uid: String,
}

fn es_by_target(e: &EsEntry) -> Vec<String> {
    vec![format!("{}\0{}", e.info.namespace, e.info.target)]
}
fn push_by_source(p: &PushSecretInfo) -> Vec<String> {
    p.source
        .iter()
        .map(|s| format!("{}\0{s}", p.namespace))
        .collect()
}
fn push_by_path(p: &PushSecretInfo) -> Vec<String> {
    p.paths.clone()
}

/// The tables of the live view.
pub struct LiveView {
    secrets: Table<SecretRecord>,
    digester: Option<Digester>,
    stores: Table<StoreInfo>,
    cluster_stores: Table<StoreInfo>,
    externals: Table<EsEntry>,
    pushes: Table<PushSecretInfo>,
    sealed: Table<SealedInfo>,
}

impl Default for LiveView {
    fn default() -> Self {
        Self {
            secrets: Table::new(vec![secret_by_digest]),
            digester: None,
            stores: Table::new(vec![]),
            cluster_stores: Table::new(vec![]),
            externals: Table::new(vec![es_by_target]),
            pushes: Table::new(vec![push_by_source, push_by_path]),
            sealed: Table::new(vec![]),
        }
    }
}

/// Keeps only the metadata rules read: vaultgate's own keys, ESO's markers and owners.
pub fn compact_meta(meta: &ObjectMeta, prefix: &str) -> SecretMeta {
    let keep =
        |k: &String| k.starts_with(prefix) || k.starts_with("reconcile.external-secrets.io/");
    let filter = |m: &Option<BTreeMap<String, String>>| -> BTreeMap<String, String> {
        m.iter()
            .flatten()
            .filter(|(k, _)| keep(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let annotations = meta.annotations.as_ref();
    SecretMeta {
        labels: filter(&meta.labels),
        annotations: filter(&meta.annotations),
        owners: meta
            .owner_references
            .iter()
            .flatten()
            .map(|o| OwnerRef {
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                name: o.name.clone(),
                uid: o.uid.clone(),
                controller: o.controller == Some(true),
            })
            .collect(),
        // A metadata watch carries no `type`; every service-account token Secret carries this
        // annotation, which is what the push-source rule needs to know.
        type_: annotations
            .is_some_and(|a| a.contains_key("kubernetes.io/service-account.name"))
            .then(|| "kubernetes.io/service-account-token".to_owned()),
    }
}

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
        match change {
            Some(Change::Apply(n, m, v)) => t.apply(n, m, v),
            Some(Change::Delete(n, m)) => t.delete(&n, &m),
            Some(Change::Init) => t.init(),
            Some(Change::InitApply(n, m, v)) => t.init_apply(n, m, v),
            Some(Change::InitDone) => {
                t.init_done();
                metrics.context_resyncs.get_or_create(&labels).inc();
                metrics.context_synced.get_or_create(&labels).set(1);
                tracing::info!(resource = name, objects = t.len(), "cluster view synced");
            }
            None => {}
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

fn decode(kind: Kind, obj: DynamicObject) -> Option<Object> {
    let value = serde_json::to_value(&obj).ok()?;
    Object::from_value(kind, value).ok()
}

impl LiveView {
    /// Starts every watch on the current tokio runtime and returns the view.
    pub fn spawn(client: Client, policy: &Policy, metrics: Arc<Metrics>) -> Arc<Self> {
        let view = Arc::new(Self::new(policy));
        let config = watcher::Config::default().any_semantic();
        let prefix = policy.prefix.clone();

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
                        SecretRecord {
                            meta: compact_meta(&o.metadata, &prefix),
                            digests,
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
                    Some((ns, name, compact_meta(&o.metadata, &prefix).into()))
                },
                |o| ns_name(&o.metadata),
                metrics.clone(),
            ));
        }

        let dynamic = |ar: &ApiResource| Api::<DynamicObject>::all_with(client.clone(), ar);
        let store_info = |kind: Kind| {
            move |o: DynamicObject| {
                let (ns, name) = ns_name(&o.metadata);
                let (Object::SecretStore(s) | Object::ClusterSecretStore(s)) = decode(kind, o)?
                else {
                    return None;
                };
                let mut providers = s.providers();
                let provider = match (providers.next(), providers.next()) {
                    (Some(p), None) => Some(p.to_owned()),
                    _ => None,
                };
                Some((ns, name, StoreInfo { provider }))
            }
        };
        for (name, ar, kind, pick) in [
            (
                "secretstores",
                resource("external-secrets.io", "v1", "SecretStore", "secretstores"),
                Kind::SecretStore,
                (|v: &LiveView| &v.stores) as fn(&LiveView) -> &Table<StoreInfo>,
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
            |o: DynamicObject| {
                let uid = o.metadata.uid.clone().unwrap_or_default();
                let (ns, name) = ns_name(&o.metadata);
                let Object::ExternalSecret(es) = decode(Kind::ExternalSecret, o)? else {
                    return None;
                };
                let info = ExternalSecretInfo {
                    namespace: ns.clone(),
                    name: name.clone(),
                    target: es.target_name().to_owned(),
                    keys: es
                        .spec
                        .data
                        .iter()
                        .map(|d| d.remote_ref.key.clone())
                        .chain(
                            es.spec
                                .data_from
                                .iter()
                                .filter_map(|d| d.extract.as_ref().map(|e| e.key.clone())),
                        )
                        .collect(),
                };
                Some((ns, name, EsEntry { info, uid }))
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
            |o: DynamicObject| {
                let (ns, name) = ns_name(&o.metadata);
                let Object::PushSecret(ps) = decode(Kind::PushSecret, o)? else {
                    return None;
                };
                let info = PushSecretInfo {
                    namespace: ns.clone(),
                    name: name.clone(),
                    source: ps.spec.source_name().map(str::to_owned),
                    paths: ps.spec.remote_keys().map(str::to_owned).collect(),
                };
                Some((ns, name, info))
            },
            |o: &DynamicObject| ns_name(&o.metadata),
            metrics.clone(),
        ));

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
                Some((ns, name, o.metadata.uid.clone().unwrap_or_default()))
            },
            |o| ns_name(&o.metadata),
            metrics,
        ));
        view
    }

    /// An unsynced view; with content-copy detection on when the policy asks for it.
    pub fn new(policy: &Policy) -> Self {
        let digester = policy
            .content_copy
            .enabled
            .then(|| Digester::new(policy.content_copy.min_value_length))
            .flatten();
        Self {
            digester,
            ..Self::default()
        }
    }

    fn digests_of<'a>(&self, values: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
        let Some(d) = &self.digester else {
            return Vec::new();
        };
        let mut out: Vec<String> = values.filter_map(|v| d.digest(v)).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Test and benchmark access: load objects without a cluster.
    pub fn tables(
        &self,
    ) -> (
        &Table<SecretRecord>,
        &Table<EsEntry>,
        &Table<PushSecretInfo>,
    ) {
        (&self.secrets, &self.externals, &self.pushes)
    }

    /// Test access to the store and SealedSecret tables.
    pub fn store_tables(&self) -> (&Table<StoreInfo>, &Table<StoreInfo>, &Table<SealedInfo>) {
        (&self.stores, &self.cluster_stores, &self.sealed)
    }
}

impl ClusterView for LiveView {
    fn synced(&self) -> bool {
        self.secrets.synced()
            && self.stores.synced()
            && self.cluster_stores.synced()
            && self.externals.synced()
            && self.pushes.synced()
            && self.sealed.synced()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn store(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<StoreInfo> {
        match kind {
            "ClusterSecretStore" => self.cluster_stores.get("", name, Clone::clone),
            "SecretStore" => self.stores.get(namespace.unwrap_or(""), name, Clone::clone),
            _ => None,
        }
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<SecretMeta> {
        self.secrets.get(namespace, name, |r| r.meta.clone())
    }

    fn external_secret(&self, namespace: &str, name: &str) -> Option<ExternalSecretInfo> {
        self.externals.get(namespace, name, |e| e.info.clone())
    }

    fn digest_value(&self, value: &[u8]) -> Option<String> {
        self.digester.as_ref()?.digest(value)
    }

    fn value_holders(&self, digest: &str) -> Vec<(String, String, SecretMeta)> {
        self.secrets.lookup(0, digest, |ns, name, r| {
            (ns.to_owned(), name.to_owned(), r.meta.clone())
        })
    }

    fn external_secrets_targeting(&self, namespace: &str, secret: &str) -> Vec<ExternalSecretInfo> {
        self.externals
            .lookup(0, &format!("{namespace}\0{secret}"), |_, _, e| {
                e.info.clone()
            })
    }

    fn push_secrets_from(&self, namespace: &str, secret: &str) -> Vec<PushSecretInfo> {
        self.pushes
            .lookup(0, &format!("{namespace}\0{secret}"), |_, _, p| p.clone())
    }

    fn path_publishers(&self, path: &str) -> Vec<PushSecretInfo> {
        self.pushes.lookup(1, path, |_, _, p| p.clone())
    }

    fn owner_exists(&self, namespace: &str, kind: &str, name: &str, uid: &str) -> Option<bool> {
        match kind {
            "ExternalSecret" if self.externals.synced() => Some(
                self.externals
                    .get(namespace, name, |e| e.uid == uid)
                    .unwrap_or(false),
            ),
            "SealedSecret" if self.sealed.synced() => Some(
                self.sealed
                    .get(namespace, name, |u| u == uid)
                    .unwrap_or(false),
            ),
            _ => None,
        }
    }
}
