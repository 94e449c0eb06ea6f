//! The cluster view backed by watches: one kube-runtime watcher per resource type (see
//! [`watch`]) feeds an indexed [`Table`]; admissions only read those tables (no API call on the
//! hot path) and get `Arc`s to the stored records, never copies. Secrets are watched as metadata
//! only and reduced to the few keys rules read ([`compact_meta`](super::compact_meta)), so 100k
//! Secrets stay small. Which Secrets are service-account tokens comes from a second metadata
//! watch selected by type, as a metadata watch carries no `type`. With the in-cluster audit on,
//! ESO objects and stores are also kept whole ([`Held`]) for it to judge.

mod held;
mod listing;
mod snapshot;
mod watch;

pub use held::Held;
pub use snapshot::SealedListing;

use std::sync::Arc;

use super::{ClusterView, ExternalSecretInfo, PushSecretInfo, SecretMeta, StoreInfo, table::Table};
use crate::digest::DigestKey;
use crate::policy::Policy;

/// A SealedSecret: its uid, for owner verification.
type SealedInfo = Box<str>;

fn secret_by_digest(m: &SecretMeta) -> Vec<(&str, &str)> {
    m.digests.iter().map(|d| ("", &**d)).collect()
}

/// Keyed digests of Secret values of at least `min_len` bytes ([`DigestKey::of_value`], with a
/// random per-process key that never leaves memory).
pub struct Digester {
    key: DigestKey,
    min_len: usize,
}

impl Digester {
    pub fn new(min_len: usize) -> Option<Self> {
        Some(Self {
            key: DigestKey::random()?,
            min_len,
        })
    }

    pub fn digest(&self, value: &[u8]) -> Option<String> {
        (value.len() >= self.min_len).then(|| self.key.of_value(value))
    }
}

/// ExternalSecret with its uid (owner verification), and whole while the audit is on.
#[derive(Debug, Clone)]
pub struct EsEntry {
    pub info: Arc<ExternalSecretInfo>,
    pub uid: Box<str>,
    pub held: Option<Held>,
}

/// A PushSecret's lookup fields, and the object whole while the audit is on.
#[derive(Debug, Clone)]
pub struct PushEntry {
    pub info: Arc<PushSecretInfo>,
    pub held: Option<Held>,
}

impl From<PushSecretInfo> for PushEntry {
    fn from(info: PushSecretInfo) -> Self {
        Self {
            info: Arc::new(info),
            held: None,
        }
    }
}

/// A store's provider, and the store whole while the audit is on.
#[derive(Debug, Clone)]
pub struct StoreEntry {
    pub info: StoreInfo,
    pub held: Option<Held>,
}

impl From<StoreInfo> for StoreEntry {
    fn from(info: StoreInfo) -> Self {
        Self { info, held: None }
    }
}

/// The `type` of a service-account token Secret.
const SA_TOKEN: &str = "kubernetes.io/service-account-token";

/// A service-account token Secret, as the type-selected watch lists it: its account's name.
type TokenInfo = Box<str>;

fn es_by_target(e: &EsEntry) -> Vec<(&str, &str)> {
    vec![(&e.info.namespace, &e.info.target)]
}
fn push_by_source(p: &PushEntry) -> Vec<(&str, &str)> {
    p.info
        .source
        .iter()
        .map(|s| (&*p.info.namespace, &**s))
        .collect()
}
fn push_by_path(p: &PushEntry) -> Vec<(&str, &str)> {
    p.info.paths.iter().map(|path| ("", &**path)).collect()
}

/// The tables of the live view.
pub struct LiveView {
    secrets: Table<SecretMeta>,
    /// Service-account token Secrets, by the API's `type` (see [`Self::token`]).
    tokens: Table<TokenInfo>,
    digester: Option<Digester>,
    stores: Table<StoreEntry>,
    cluster_stores: Table<StoreEntry>,
    externals: Table<EsEntry>,
    pushes: Table<PushEntry>,
    sealed: Table<SealedInfo>,
    /// ClusterExternalSecrets and ClusterPushSecrets, watched only for the audit (no rule looks
    /// them up), whole.
    cluster_externals: Table<Held>,
    cluster_pushes: Table<Held>,
    /// Whether ESO objects and stores are kept whole, for the in-cluster audit.
    hold: bool,
    /// Woken by every change a watch applies; one stored wake-up stands for any number of
    /// changes, so a waiter sees a burst as one (the in-cluster audit re-runs on it).
    changes: tokio::sync::Notify,
}

impl Default for LiveView {
    fn default() -> Self {
        Self {
            secrets: Table::new(vec![secret_by_digest]),
            tokens: Table::new(vec![]),
            digester: None,
            stores: Table::new(vec![]),
            cluster_stores: Table::new(vec![]),
            externals: Table::new(vec![es_by_target]),
            pushes: Table::new(vec![push_by_source, push_by_path]),
            sealed: Table::new(vec![]),
            cluster_externals: Table::new(vec![]),
            cluster_pushes: Table::new(vec![]),
            hold: false,
            changes: tokio::sync::Notify::new(),
        }
    }
}

impl LiveView {
    /// An unsynced view; with content-copy detection on when the policy asks for it, and ESO
    /// objects and stores kept whole when `hold` (the in-cluster audit judges them).
    pub fn new(policy: &Policy, hold: bool) -> Self {
        let digester = policy
            .content_copy
            .enabled
            .then(|| Digester::new(policy.content_copy.min_value_length))
            .flatten();
        Self {
            digester,
            hold,
            ..Self::default()
        }
    }

    /// The account a Secret the API lists as a service-account token belongs to; `None` for
    /// every other Secret, whatever annotations it carries (any writer may set those). Matched
    /// by name: a token Secret deleted and re-created as another type is seen by both watches
    /// within moments.
    pub fn token(&self, namespace: &str, name: &str) -> Option<TokenInfo> {
        self.tokens.get(namespace, name, |t| TokenInfo::clone(t))
    }

    fn digests_of<'a>(&self, values: impl Iterator<Item = &'a [u8]>) -> Box<[Box<str>]> {
        let Some(d) = &self.digester else {
            return Box::default();
        };
        let mut out: Vec<String> = values.filter_map(|v| d.digest(v)).collect();
        out.sort_unstable();
        out.dedup();
        out.into_iter().map(String::into_boxed_str).collect()
    }

    /// Records that a watch changed a table (see [`Self::changed`]).
    pub fn mark_changed(&self) {
        self.changes.notify_one();
    }

    /// Resolves once a table changed since the last wake-up was taken (at once if it already
    /// has): changes coalesce, whoever waits learns only that something changed.
    pub async fn changed(&self) {
        self.changes.notified().await;
    }

    /// Test and benchmark access: load objects without a cluster.
    pub fn tables(&self) -> (&Table<SecretMeta>, &Table<EsEntry>, &Table<PushEntry>) {
        (&self.secrets, &self.externals, &self.pushes)
    }

    /// Test access to the store and SealedSecret tables.
    pub fn store_tables(&self) -> (&Table<StoreEntry>, &Table<StoreEntry>, &Table<SealedInfo>) {
        (&self.stores, &self.cluster_stores, &self.sealed)
    }

    /// Test access to the service-account token table (account name by Secret).
    pub fn token_table(&self) -> &Table<TokenInfo> {
        &self.tokens
    }
}

impl ClusterView for LiveView {
    fn synced(&self) -> bool {
        self.secrets.synced()
            && self.tokens.synced()
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
        let copy = |s: &Arc<StoreEntry>| s.info.clone();
        match kind {
            "ClusterSecretStore" => self.cluster_stores.get("", name, copy),
            "SecretStore" => self.stores.get(namespace.unwrap_or(""), name, copy),
            _ => None,
        }
    }

    /// Its type is the token watch's word ([`Self::token`]): the metadata watch carries none,
    /// and the annotation it could be guessed from may sit on an Opaque Secret, which a
    /// PushSecret may publish configuration from, as `vaultgate audit` and `check` judge it.
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<SecretMeta>> {
        let meta = self.secrets.get(namespace, name, Arc::clone)?;
        if self.tokens.get(namespace, name, |_| ()).is_none() {
            return Some(meta);
        }
        Some(Arc::new(SecretMeta {
            type_: Some(super::intern(SA_TOKEN)),
            ..SecretMeta::clone(&meta)
        }))
    }

    fn external_secret(&self, namespace: &str, name: &str) -> Option<Arc<ExternalSecretInfo>> {
        self.externals.get(namespace, name, |e| e.info.clone())
    }

    fn digest_value(&self, value: &[u8]) -> Option<String> {
        self.digester.as_ref()?.digest(value)
    }

    fn value_holders(&self, digest: &str) -> Vec<(String, String, Arc<SecretMeta>)> {
        self.secrets.lookup(0, "", digest, |ns, name, r| {
            (ns.to_owned(), name.to_owned(), r.clone())
        })
    }

    fn external_secrets_targeting(
        &self,
        namespace: &str,
        secret: &str,
    ) -> Vec<Arc<ExternalSecretInfo>> {
        self.externals
            .lookup(0, namespace, secret, |_, _, e| e.info.clone())
    }

    fn push_secrets_from(&self, namespace: &str, secret: &str) -> Vec<Arc<PushSecretInfo>> {
        self.pushes
            .lookup(0, namespace, secret, |_, _, p| p.info.clone())
    }

    fn path_publishers(&self, path: &str) -> Vec<Arc<PushSecretInfo>> {
        self.pushes.lookup(1, "", path, |_, _, p| p.info.clone())
    }

    fn owner_exists(&self, namespace: &str, kind: &str, name: &str, uid: &str) -> Option<bool> {
        match kind {
            "ExternalSecret" if self.externals.synced() => Some(
                self.externals
                    .get(namespace, name, |e| &*e.uid == uid)
                    .unwrap_or(false),
            ),
            "SealedSecret" if self.sealed.synced() => Some(
                self.sealed
                    .get(namespace, name, |u| ***u == *uid)
                    .unwrap_or(false),
            ),
            _ => None,
        }
    }
}
