//! A live view filled once from a listing instead of by watches (`vaultgate audit`): the same
//! tables and lookups as `serve`'s, so owner uids are verified against what was listed and
//! absence means "does not exist". A kind the cluster does not serve is simply empty.

use std::sync::Arc;

use super::{EsEntry, Held, LiveView, PushEntry, SA_TOKEN, StoreEntry};
use crate::{
    cluster::{ExternalSecretInfo, PushSecretInfo, SecretMeta, StoreInfo, kept_key},
    policy::{Object, Policy},
};

/// A SealedSecret as listed: namespace, name, uid.
pub type SealedListing = (String, String, String);

impl LiveView {
    /// A synced view of `objects` (Secrets as metadata only, a service-account token by its
    /// `type`) and the SealedSecrets listed. Secret metadata is reduced as the watch reduces it:
    /// vaultgate's and ESO's keys, owners, the type. An ESO object or store listed with its
    /// [`Held`] form is kept whole, as `serve` keeps them for its audit (`vaultgate audit` judges
    /// the listing itself and passes none).
    pub fn from_listing<'a>(
        policy: &Policy,
        objects: impl IntoIterator<Item = (&'a Object, Option<Held>)>,
        sealed: &[SealedListing],
    ) -> Self {
        let mut view = Self::default();
        for t in [&view.stores, &view.cluster_stores] {
            t.init();
        }
        for t in [&view.cluster_externals, &view.cluster_pushes] {
            t.init();
        }
        view.secrets.init();
        view.tokens.init();
        view.externals.init();
        view.pushes.init();
        view.sealed.init();
        let keep = |k: &str, v: &str| kept_key(&policy.prefix, k, v);
        for (object, held) in objects {
            view.hold |= held.is_some();
            let meta = object.metadata();
            let ns = meta.namespace.as_deref().unwrap_or("");
            let name = object.name();
            match object {
                Object::Secret(s) => {
                    let record = SecretMeta::of_object(meta, s.type_.as_deref(), keep);
                    view.secrets.init_apply(ns, name, record);
                    if s.type_.as_deref() == Some(SA_TOKEN) {
                        let account = s
                            .annotation("kubernetes.io/service-account.name")
                            .unwrap_or("");
                        view.tokens.init_apply(ns, name, account.into());
                    }
                }
                Object::ExternalSecret(es) => view.externals.init_apply(
                    ns,
                    name,
                    EsEntry {
                        info: Arc::new(ExternalSecretInfo::of(ns, name, es)),
                        uid: meta.uid.as_deref().unwrap_or("").into(),
                        held,
                    },
                ),
                Object::PushSecret(ps) => view.pushes.init_apply(
                    ns,
                    name,
                    PushEntry {
                        info: Arc::new(PushSecretInfo::of(ns, name, ps)),
                        held,
                    },
                ),
                Object::SecretStore(st) => view.stores.init_apply(
                    ns,
                    name,
                    StoreEntry {
                        info: StoreInfo::of(st),
                        held,
                    },
                ),
                Object::ClusterSecretStore(st) => view.cluster_stores.init_apply(
                    "",
                    name,
                    StoreEntry {
                        info: StoreInfo::of(st),
                        held,
                    },
                ),
                Object::ClusterExternalSecret(_) => {
                    if let Some(h) = held {
                        view.cluster_externals.init_apply("", name, h);
                    }
                }
                Object::ClusterPushSecret(_) => {
                    if let Some(h) = held {
                        view.cluster_pushes.init_apply("", name, h);
                    }
                }
                _ => {}
            }
        }
        for (ns, name, uid) in sealed {
            view.sealed.init_apply(ns, name, uid.as_str().into());
        }
        view.secrets.init_done();
        view.tokens.init_done();
        view.externals.init_done();
        view.pushes.init_done();
        view.sealed.init_done();
        for t in [&view.stores, &view.cluster_stores] {
            t.init_done();
        }
        for t in [&view.cluster_externals, &view.cluster_pushes] {
            t.init_done();
        }
        view
    }
}
