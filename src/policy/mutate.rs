//! The mutating webhook's decision: the metadata a Secret should carry (docs/ARCHITECTURE.md §3). Only
//! labels and annotations are ever touched, never `data`/`stringData`. The audit stamps are
//! computed for the request (and kept as stored on UPDATE), other keys are set only when
//! absent, so running the mutation on its own output changes nothing (an empty patch).

pub mod drift;
pub mod scope;

use std::collections::BTreeMap;

use super::{
    Operation, Policy, Review,
    classify::{Class, Provenance},
    objects::{Object, SecretObject},
    secret::{HANDOVER_OWNED, STAMPED},
};

/// Desired labels and annotations (complete maps, existing entries included).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesiredMeta {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Where the manifest came from in Git, from the GitOps controller's own tracking markers.
fn git_source(secret: &SecretObject) -> Option<String> {
    if let Some(id) = secret.annotation("argocd.argoproj.io/tracking-id") {
        return Some(format!("argocd:{id}"));
    }
    if let (Some(ns), Some(name)) = (
        secret.label("kustomize.toolkit.fluxcd.io/namespace"),
        secret.label("kustomize.toolkit.fluxcd.io/name"),
    ) {
        return Some(format!("flux:{ns}/{name}"));
    }
    secret
        .label("app.kubernetes.io/instance")
        .filter(|_| secret.label("argocd.argoproj.io/instance").is_none())
        .map(|i| format!("argocd:{i}"))
}

/// Where a stamp lives on the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampMap {
    Label,
    Annotation,
}

/// One audit stamp vaultgate computes for a bootstrap write, with the value this request
/// gives it (`None`: the key must be absent, e.g. no `git-source` without tracking markers).
/// The mutating webhook writes these values; the validating webhook checks the ones any call
/// of the request can compute, so a stamp a client brought (a forged `created-by`) never
/// survives, whether or not the mutating call ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The key's name below the policy prefix (one of `STAMPED`).
    pub name: &'static str,
    pub map: StampMap,
    pub value: Option<String>,
    /// Known only to the mutating call: the time (`first-seen`) and that call's own uid
    /// (`admission-uid`; the apiserver gives every webhook call of a request its own uid).
    /// The validating call cannot recompute these, only see that they were stamped.
    pub per_call: bool,
}

/// The mutating call's own facts: its clock reading (RFC 3339) and its request uid.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub now: &'a str,
    pub uid: &'a str,
}

/// The stamps of a bootstrap write, in `STAMPED` order. Without a [`Call`] (the validating
/// side) the per-call stamps have no value.
pub fn stamps(
    secret: &SecretObject,
    review: &Review<'_>,
    provenance: &Provenance<'_>,
    call: Option<Call<'_>>,
) -> [Stamp; 5] {
    let stamp = |name, map, value: Option<&str>, per_call| Stamp {
        name,
        map,
        value: value.map(str::to_owned),
        per_call,
    };
    [
        stamp(
            "bootstrap-source",
            StampMap::Label,
            provenance.source,
            false,
        ),
        stamp(
            "first-seen",
            StampMap::Annotation,
            call.map(|c| c.now),
            true,
        ),
        stamp(
            "created-by",
            StampMap::Annotation,
            Some(&review.user.username),
            false,
        ),
        stamp(
            "admission-uid",
            StampMap::Annotation,
            call.map(|c| c.uid),
            true,
        ),
        Stamp {
            name: "git-source",
            map: StampMap::Annotation,
            value: git_source(secret),
            per_call: false,
        },
    ]
}

/// Computes the metadata a classified Secret should carry. `None`: nothing to change.
/// `now` is an RFC 3339 timestamp supplied by the caller (policy code reads no clock).
///
/// On CREATE of a bootstrap Secret every stamp is computed here and overwrites what the
/// request carried. On UPDATE a stamp the Secret already had is put back to its stored value
/// (changed or dropped alike), and a missing one is stamped late, for Secrets that predate
/// vaultgate. Other keys vaultgate owns are only re-added when dropped.
pub fn desired_metadata(
    secret: &SecretObject,
    review: &Review<'_>,
    provenance: &Provenance<'_>,
    policy: &Policy,
    now: &str,
) -> Option<DesiredMeta> {
    let class = provenance.class.filter(|c| *c != Class::System)?;
    let mut d = DesiredMeta {
        labels: secret.metadata.labels.clone().unwrap_or_default(),
        annotations: secret.metadata.annotations.clone().unwrap_or_default(),
    };
    let before = d.clone();

    let old = match review.old {
        Some(Object::Secret(old)) if review.operation == Operation::Update => Some(old),
        _ => None,
    };
    if let Some(old) = old {
        preserve(&mut d, old, policy);
    }
    let set = |map: &mut BTreeMap<String, String>, name: &str, value: &str| {
        map.entry(policy.key(name))
            .or_insert_with(|| value.to_owned());
    };
    set(&mut d.labels, "secret-class", class.as_str());
    if class == Class::Bootstrap {
        if d.annotations
            .contains_key(&*policy.reserved_key("handover-to"))
        {
            set(&mut d.labels, "handover-state", "pending");
        }
        let call = Call {
            now,
            uid: review.uid,
        };
        for stamp in stamps(secret, review, provenance, Some(call)) {
            let key = policy.key(stamp.name);
            let map = match stamp.map {
                StampMap::Label => &mut d.labels,
                StampMap::Annotation => &mut d.annotations,
            };
            let stored = old.and_then(|o| match stamp.map {
                StampMap::Label => o.label(&key),
                StampMap::Annotation => o.annotation(&key),
            });
            match (stored, stamp.value) {
                // Already restored by `preserve`.
                (Some(_), _) => {}
                (None, Some(value)) => {
                    map.insert(key, value);
                }
                (None, None) => {
                    map.remove(&key);
                }
            }
        }
    }
    (d != before).then_some(d)
}

/// Puts back what vaultgate stamped earlier: the audit stamps to their stored values (no
/// writer may change them), and its other keys when a legitimate writer's UPDATE dropped them
/// (the sealed-secrets controller, for one, rewrites the Secret from its template; the
/// handover controller advances `handover-state` itself, so that one is only re-added).
fn preserve(d: &mut DesiredMeta, old: &SecretObject, policy: &Policy) {
    for name in STAMPED {
        let key = policy.key(name);
        if let Some(v) = old.label(&key) {
            d.labels.insert(key.clone(), v.to_owned());
        }
        if let Some(v) = old.annotation(&key) {
            d.annotations.insert(key, v.to_owned());
        }
    }
    for name in ["secret-class", "handover-state"] {
        let key = policy.key(name);
        if let Some(v) = old.label(&key) {
            d.labels.entry(key).or_insert_with(|| v.to_owned());
        }
    }
    for name in HANDOVER_OWNED {
        let key = policy.key(name);
        if let Some(v) = old.annotation(&key) {
            d.annotations.entry(key).or_insert_with(|| v.to_owned());
        }
    }
}
