//! Forged provenance (VG104): ownerReferences, ESO markers, stamped and handover-owned keys
//! and the class label set by someone who does not own them; and class-label changes (VG108).

use std::collections::BTreeMap;

use super::{HANDOVER_OWNED, Write, target};
use crate::policy::{
    Operation, Violation,
    classify::Class,
    field::{self, Problems},
    mutate::{StampMap, stamps},
    rules, view,
};

fn changed(
    key: &str,
    new: &BTreeMap<String, String>,
    old: Option<&BTreeMap<String, String>>,
) -> bool {
    new.get(key) != old.and_then(|o| o.get(key))
}

pub(super) fn forged(write: Write<'_>, out: &mut Vec<Violation>) {
    let Write {
        secret,
        review,
        writer,
        provenance,
        policy,
        old,
        view,
        ..
    } = write;
    let mut forged = Problems::default();
    let empty = BTreeMap::new();
    let labels = secret.metadata.labels.as_ref().unwrap_or(&empty);
    let annotations = secret.metadata.annotations.as_ref().unwrap_or(&empty);
    let (old_labels, old_annotations) = (
        old.and_then(|o| o.metadata.labels.as_ref()),
        old.and_then(|o| o.metadata.annotations.as_ref()),
    );
    // An owner is the same owner only if group, kind, name and uid all are: an owner added
    // under another group and then re-grouped would otherwise pass as kept.
    fn identity(
        o: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
    ) -> (&str, &str, &str, &str) {
        (view::group_of(&o.api_version), &o.kind, &o.name, &o.uid)
    }
    let owners_now: Vec<_> = secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .map(identity)
        .collect();
    let old_owners: Vec<_> = old
        .and_then(|o| o.metadata.owner_references.as_ref())
        .into_iter()
        .flatten()
        .map(identity)
        .collect();
    // Which producer's controller owns a claimed ownerReference, if it is one.
    let controller_of = |api_version: &str, kind: &str| {
        if view::is_owner(api_version, kind, view::EXTERNAL_SECRET) {
            Some(writer.eso)
        } else if view::is_owner(api_version, kind, view::SEALED_SECRET) {
            Some(writer.decrypter.is_some())
        } else {
            None
        }
    };
    for removed in old
        .and_then(|o| o.metadata.owner_references.as_ref())
        .into_iter()
        .flatten()
        .filter(|o| !owners_now.contains(&identity(o)))
    {
        if controller_of(&removed.api_version, &removed.kind) == Some(false) {
            forged.push(
                "metadata.ownerReferences",
                format!(
                    "removes ownerReference {} {:?} (only its controller changes it)",
                    removed.kind, removed.name
                ),
            );
        }
    }

    for (i, owner) in secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .enumerate()
    {
        let Some(allowed) = controller_of(&owner.api_version, &owner.kind) else {
            continue;
        };
        let kept = old_owners.contains(&identity(owner));
        let at = || format!("metadata.ownerReferences[{i}]");
        if !allowed && !kept {
            forged.push(
                &at(),
                format!(
                    "ownerReference {} {:?} (only its controller sets it)",
                    owner.kind, owner.name
                ),
            );
        } else if view.owner_exists(
            review.namespace.unwrap_or(""),
            &owner.kind,
            &owner.name,
            &owner.uid,
        ) == Some(false)
        {
            forged.push(
                &at(),
                format!(
                    "ownerReference {} {:?} uid {:?} matches no such object",
                    owner.kind, owner.name, owner.uid
                ),
            );
        }
    }
    if !writer.eso {
        for (key, map, old_map, kind) in labels
            .keys()
            .map(|k| (k, labels, old_labels, "label"))
            .chain(
                annotations
                    .keys()
                    .map(|k| (k, annotations, old_annotations, "annotation")),
            )
        {
            if key.starts_with("reconcile.external-secrets.io/") && changed(key, map, old_map) {
                forged.push(
                    &field::metadata(kind, key),
                    format!("{key} (set only by External Secrets)"),
                );
            }
        }
        for (key, kind) in old_labels
            .into_iter()
            .flatten()
            .map(|(k, _)| (k, "label"))
            .filter(|(k, _)| !labels.contains_key(*k))
            .chain(
                old_annotations
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| (k, "annotation"))
                    .filter(|(k, _)| !annotations.contains_key(*k)),
            )
            .filter(|(k, _)| k.starts_with("reconcile.external-secrets.io/"))
        {
            forged.push(
                &field::metadata(kind, key),
                format!("removes {key} (set only by External Secrets)"),
            );
        }
    }
    let is_bootstrap = provenance.class == Some(Class::Bootstrap);
    let stamper = is_bootstrap && (writer.decrypter.is_some() || writer.handover);
    forged_stamps(write, stamper, &mut forged);
    for name in HANDOVER_OWNED {
        let key = &*policy.reserved_key(name);
        // The mutating webhook stamps `handover-state=pending` on a declared bootstrap CREATE.
        let pending_on_create = review.operation == Operation::Create
            && is_bootstrap
            && name == "handover-state"
            && labels.get(key).map(String::as_str) == Some("pending");
        if writer.handover || pending_on_create {
            continue;
        }
        if changed(key, labels, old_labels) {
            forged.push(
                &field::label(key),
                format!("label {key} (owned by the handover controller)"),
            );
        }
        if changed(key, annotations, old_annotations) {
            forged.push(
                &field::annotation(key),
                format!("annotation {key} (owned by the handover controller)"),
            );
        }
    }
    let handover_to = policy.reserved_key("handover-to");
    if changed(&handover_to, annotations, old_annotations)
        && !(writer.gitops || writer.decrypter.is_some())
    {
        forged.push(
            &field::annotation(&handover_to),
            format!("annotation {handover_to} (declared in Git only)"),
        );
    }
    let class_key = &*policy.reserved_key("secret-class");
    if let Some(claimed) = labels.get(class_key) {
        let actual = provenance.class.map(Class::as_str);
        let unchanged = old_labels.and_then(|l| l.get(class_key)) == Some(claimed);
        if actual != Some(claimed.as_str()) && !unchanged {
            forged.push(
                &field::label(class_key),
                format!(
                    "label {class_key}={claimed} (this write classifies as {})",
                    actual.unwrap_or("unclassified")
                ),
            );
        }
    }
    if forged.is_empty() {
        return;
    }
    out.push(
        Violation::new(
            &rules::FORGED_PROVENANCE,
            format!(
                "Secret {:?} written by {:?} sets provenance markers it does not own: {}",
                target(review),
                writer.username,
                forged.join("; ")
            ),
            "remove these markers from the manifest; the controller that owns each one sets it",
        )
        .at_opt(forged.field),
    );
}

/// The audit stamps (`STAMPED`): on CREATE they must be the values vaultgate computes for this
/// request (the mutating webhook overwrites whatever was sent, so a different value means the
/// mutating call was skipped or bypassed); on UPDATE they may only stay as stored, or be
/// stamped late with this request's values when the stored Secret had none (a stored stamp
/// changed or dropped is VG112, `stamps.rs`). The time and the
/// mutating call's uid cannot be recomputed here (every webhook call of a request has its own
/// uid), so those two are only held to "set by a stamper, never changed once stored".
fn forged_stamps(write: Write<'_>, stamper: bool, forged: &mut Problems) {
    let Write {
        secret,
        review,
        provenance,
        policy,
        old,
        ..
    } = write;
    let expected = stamps(secret, review, provenance, None);
    for stamp in &expected {
        let key = policy.reserved_key(stamp.name);
        // The same name in the other map is no stamp of vaultgate's: nobody may add it.
        let (other, other_before, other_where) = match stamp.map {
            StampMap::Label => (
                secret.annotation(&key),
                old.and_then(|o| o.annotation(&key)),
                "annotation",
            ),
            StampMap::Annotation => (secret.label(&key), old.and_then(|o| o.label(&key)), "label"),
        };
        if other.is_some() && other != other_before {
            forged.push(
                &field::metadata(other_where, &key),
                format!("{other_where} {key}"),
            );
        }
        let (now, before) = match stamp.map {
            StampMap::Label => (secret.label(&key), old.and_then(|o| o.label(&key))),
            StampMap::Annotation => (
                secret.annotation(&key),
                old.and_then(|o| o.annotation(&key)),
            ),
        };
        let Some(now) = now else { continue };
        // A stored stamp changed (or dropped, above) is VG112's (`stamps`), whoever writes.
        if before.is_some() {
            continue;
        }
        let where_ = match stamp.map {
            StampMap::Label => "label",
            StampMap::Annotation => "annotation",
        };
        let computed = stamp.per_call || stamp.value.as_deref() == Some(now);
        let at = || field::metadata(where_, &key);
        if !stamper {
            forged.push(&at(), format!("{where_} {key}"));
        } else if !computed {
            forged.push(
                &at(),
                format!("{where_} {key}={now:?} (vaultgate stamps it for this request)"),
            );
        }
    }
}

pub(super) fn class_label_change(write: Write<'_>, out: &mut Vec<Violation>) {
    let Write {
        secret,
        review,
        writer,
        policy,
        old,
        ..
    } = write;
    let Some(old) = old else { return };
    let key = policy.reserved_key("secret-class");
    let (before, after) = (old.label(&key), secret.label(&key));
    if before.is_none() || before == after {
        return;
    }
    let owner = writer.gitops
        || writer.handover
        || (before == Some("bootstrap") && writer.decrypter.is_some());
    if owner {
        return;
    }
    let what = match after {
        Some(a) => format!(
            "changes label {key} from {:?} to {a:?}",
            before.unwrap_or_default()
        ),
        None => format!("removes label {key}={}", before.unwrap_or_default()),
    };
    out.push(Violation::new(
        &rules::CLASS_LABEL_CHANGE,
        format!("this UPDATE by {:?} {what} on Secret {:?}", writer.username, target(review)),
        "keep the label as declared; change the classification in Git, where the GitOps controller applies it",
    ).at(field::label(&key)));
}
