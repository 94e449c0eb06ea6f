//! A live view filled once from a listing instead of by watches (`vaultgate audit`): the same
//! tables and lookups as `serve`'s, so owner uids are verified against what was listed and
//! absence means "does not exist". A kind the cluster does not serve is simply empty.

use std::sync::Arc;

use super::{EsEntry, LiveView};
use crate::{
    cluster::{ExternalSecretInfo, PushSecretInfo, SecretMeta, StoreInfo, kept_key},
    policy::{Object, Policy},
};

/// A SealedSecret as listed: namespace, name, uid.
pub type SealedListing = (String, String, String);

impl LiveView {
    /// A synced view of `objects` (Secrets as metadata only) and the SealedSecrets listed.
    /// Secret metadata is reduced as the watch reduces it: vaultgate's and ESO's keys, owners,
    /// the type.
    pub fn from_listing<'a>(
        policy: &Policy,
        objects: impl IntoIterator<Item = &'a Object>,
        sealed: &[SealedListing],
    ) -> Self {
        let view = Self::default();
        for t in [&view.stores, &view.cluster_stores] {
            t.init();
        }
        view.secrets.init();
        view.externals.init();
        view.pushes.init();
        view.sealed.init();
        let keep = |k: &str, v: &str| kept_key(&policy.prefix, k, v);
        for object in objects {
            let meta = object.metadata();
            let ns = meta.namespace.as_deref().unwrap_or("");
            let name = object.name();
            match object {
                Object::Secret(s) => {
                    let record = SecretMeta::of_object(meta, s.type_.as_deref(), keep);
                    view.secrets.init_apply(ns, name, record);
                }
                Object::ExternalSecret(es) => view.externals.init_apply(
                    ns,
                    name,
                    EsEntry {
                        info: Arc::new(ExternalSecretInfo::of(ns, name, es)),
                        uid: meta.uid.as_deref().unwrap_or("").into(),
                    },
                ),
                Object::PushSecret(ps) => {
                    view.pushes
                        .init_apply(ns, name, PushSecretInfo::of(ns, name, ps))
                }
                Object::SecretStore(st) => view.stores.init_apply(ns, name, StoreInfo::of(st)),
                Object::ClusterSecretStore(st) => {
                    view.cluster_stores.init_apply("", name, StoreInfo::of(st))
                }
                _ => {}
            }
        }
        for (ns, name, uid) in sealed {
            view.sealed.init_apply(ns, name, uid.as_str().into());
        }
        view.secrets.init_done();
        view.externals.init_done();
        view.pushes.init_done();
        view.sealed.init_done();
        for t in [&view.stores, &view.cluster_stores] {
            t.init_done();
        }
        view
    }
}
