//! A Secret's metadata as the cluster view holds it (never its values), in a compact form: the
//! live view keeps one per Secret in the cluster, so 100k of them must stay small. Labels and
//! annotations are a sorted slice of shared strings rather than a `BTreeMap<String, String>`
//! (whose first node alone is ~540 bytes), and the strings every record repeats are interned.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::intern::intern;

/// Labels or annotations: sorted by key, looked up by binary search. Keys and values are
/// interned, so the few distinct ones are shared by every record that carries them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pairs(Box<[(Arc<str>, Arc<str>)]>);

impl Pairs {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|(_, v)| &**v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// Sets `key` (replacing its value). Rebuilds the slice: meant for building a record, not
    /// for a hot path.
    pub fn insert(&mut self, key: &str, value: &str) {
        *self = self
            .iter()
            .filter(|(k, _)| *k != key)
            .chain([(key, value)])
            .collect();
    }
}

/// As a `BTreeMap` built from the same pairs: sorted, and the last value of a repeated key wins.
impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Pairs {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let sorted: BTreeMap<Arc<str>, Arc<str>> = pairs
            .into_iter()
            .map(|(k, v)| (intern(k.as_ref()), intern(v.as_ref())))
            .collect();
        Self(sorted.into_iter().collect())
    }
}

/// An owner reference, as much of it as the rules read: provenance (`apiVersion`'s group,
/// `kind`, `controller`), the name to find an owning ExternalSecret by, and the uid, so the
/// in-cluster audit can verify a stored Secret's owner as admission verifies the object under
/// review (36 bytes per owner).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnerRef {
    pub api_version: Arc<str>,
    pub kind: Arc<str>,
    pub name: Box<str>,
    pub controller: bool,
    pub uid: Box<str>,
}

/// The one conversion from the API type, for the live view and the in-memory one alike.
impl From<&OwnerReference> for OwnerRef {
    fn from(o: &OwnerReference) -> Self {
        Self {
            api_version: intern(&o.api_version),
            kind: intern(&o.kind),
            name: o.name.as_str().into(),
            controller: o.controller == Some(true),
            uid: o.uid.as_str().into(),
        }
    }
}

/// A Secret's metadata: labels, annotations, owners and type. Never its values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretMeta {
    pub labels: Pairs,
    pub annotations: Pairs,
    pub owners: Box<[OwnerRef]>,
    pub type_: Option<Arc<str>>,
    /// Keyed digests of its values, in the live view with content-copy detection on (empty
    /// otherwise). Held here rather than beside the metadata so a lookup hit is one `Arc`.
    pub digests: Box<[Box<str>]>,
}

impl SecretMeta {
    /// A governed Secret's metadata as a view keeps it: the labels and annotations `keep`
    /// selects, its owners and its `type`. One build for every view that holds decoded objects
    /// (`check`'s memory view, the audit's listing).
    pub fn of_object(
        meta: &crate::policy::meta::Meta,
        type_: Option<&str>,
        keep: impl Fn(&str, &str) -> bool,
    ) -> Self {
        let kept = |m: &Option<BTreeMap<String, String>>| -> Pairs {
            m.iter().flatten().filter(|(k, v)| keep(k, v)).collect()
        };
        Self {
            labels: kept(&meta.labels),
            annotations: kept(&meta.annotations),
            owners: meta
                .owner_references
                .iter()
                .flatten()
                .map(OwnerRef::from)
                .collect(),
            type_: type_.map(intern),
            digests: Box::default(),
        }
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key)
    }

    /// Owned by an ExternalSecret, or carrying ESO's managed label.
    pub fn is_materialized(&self) -> bool {
        materialized(
            self.owners.iter().map(|o| (&*o.api_version, &*o.kind)),
            self.label(ESO_MANAGED_LABEL),
        )
    }

    /// Owned by a SealedSecret.
    pub fn is_sealed(&self) -> bool {
        self.owners
            .iter()
            .any(|o| is_owner(&o.api_version, &o.kind, SEALED_SECRET))
    }
}

/// The label External Secrets puts on the Secrets it manages.
pub const ESO_MANAGED_LABEL: &str = "reconcile.external-secrets.io/managed";
/// The producer kinds whose ownerReference says where a Secret came from: (group, kind).
pub const EXTERNAL_SECRET: (&str, &str) = ("external-secrets.io", "ExternalSecret");
pub const SEALED_SECRET: (&str, &str) = ("bitnami.com", "SealedSecret");

/// Whether an ownerReference's `apiVersion`/`kind` names `owner` (group, kind), any version.
pub fn is_owner(api_version: &str, kind: &str, (group, owner_kind): (&str, &str)) -> bool {
    kind == owner_kind && group_of(api_version) == group
}

/// The one definition of "materialized by External Secrets": an ExternalSecret owner, or
/// ESO's managed label set to `true`. Stored metadata and objects under review both use it.
pub fn materialized<'a>(
    owners: impl IntoIterator<Item = (&'a str, &'a str)>,
    managed_label: Option<&str>,
) -> bool {
    owners
        .into_iter()
        .any(|(api_version, kind)| is_owner(api_version, kind, EXTERNAL_SECRET))
        || managed_label == Some("true")
}

/// The API group of an `apiVersion` (`""` for the core group).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Whether the live view keeps a Secret's label or annotation: vaultgate's own keys (`prefix`),
/// ESO's markers, and the copy tools' markers (few Secrets carry them; the in-cluster audit
/// needs them to see a copy).
pub fn kept_key(prefix: &str, key: &str, value: &str) -> bool {
    key.starts_with(prefix)
        || key.starts_with("reconcile.external-secrets.io/")
        || crate::policy::is_copy_marker(key, value)
}

/// What the live view keeps of a watched Secret's metadata: the keys [`kept_key`] keeps and the
/// owners; every other label and annotation is dropped.
pub fn compact_meta(meta: &ObjectMeta, prefix: &str) -> SecretMeta {
    let kept = |m: &Option<BTreeMap<String, String>>| -> Pairs {
        m.iter()
            .flatten()
            .filter(|(k, v)| kept_key(prefix, k, v))
            .collect()
    };
    SecretMeta {
        labels: kept(&meta.labels),
        annotations: kept(&meta.annotations),
        owners: meta
            .owner_references
            .iter()
            .flatten()
            .map(OwnerRef::from)
            .collect(),
        // A metadata watch carries no `type`, and the token annotation may sit on any Secret: the
        // live view takes the type from its type-selected token watch (`LiveView::secret`).
        type_: None,
        digests: Box::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_sorted_searchable_and_the_last_repeat_wins() {
        let mut p: Pairs = [("b", "2"), ("a", "1"), ("b", "3")].into_iter().collect();
        assert_eq!(p.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "3")]);
        assert_eq!(p.get("b"), Some("3"));
        assert_eq!(p.get("c"), None);
        p.insert("c", "4");
        p.insert("a", "0");
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            [("a", "0"), ("b", "3"), ("c", "4")]
        );
        assert!(p.contains_key("c") && p.len() == 3);
    }

    #[test]
    fn compact_meta_keeps_only_what_rules_read() {
        let map = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        let meta = ObjectMeta {
            labels: map(&[
                ("p/secret-class", "bootstrap"),
                ("app", "x"),
                ("reconcile.external-secrets.io/managed", "true"),
            ]),
            annotations: map(&[
                ("p/handover-to", "platform-config/a/b"),
                ("kubernetes.io/service-account.name", "default"),
                ("reflector.v1.k8s.emberstack.com/reflects", "shared/db"),
            ]),
            owner_references: Some(vec![OwnerReference {
                api_version: "external-secrets.io/v1".into(),
                kind: "ExternalSecret".into(),
                name: "db".into(),
                uid: "u".into(),
                controller: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let m = compact_meta(&meta, "p/");
        assert_eq!(
            m.labels.iter().collect::<Vec<_>>(),
            [
                ("p/secret-class", "bootstrap"),
                ("reconcile.external-secrets.io/managed", "true")
            ]
        );
        assert_eq!(
            m.annotations.iter().collect::<Vec<_>>(),
            [
                ("p/handover-to", "platform-config/a/b"),
                ("reflector.v1.k8s.emberstack.com/reflects", "shared/db")
            ],
            "a copy tool's marker is kept: the in-cluster audit reads it"
        );
        assert_eq!(m.type_, None, "not guessed from the token annotation");
        assert!(m.is_materialized() && !m.is_sealed() && m.owners[0].controller);
        assert_eq!(&*m.owners[0].name, "db");
    }
}
