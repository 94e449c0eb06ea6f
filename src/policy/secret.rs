//! Rules for core Secrets: who may write them (VG101/VG102), copies (VG103), forged provenance
//! (VG104), edits of materialized Secrets (VG105), bootstrap scope and retirement (VG106,
//! VG107) and class-label changes (VG108).

use std::collections::BTreeMap;

use super::{
    Operation, Policy, Review, Violation,
    classify::{Class, Provenance, has_owner},
    fix,
    identity::Writer,
    objects::{Object, SecretObject},
    rules,
};
use crate::cluster::ClusterView;

/// Annotation/label key domains of the copy tools (anchors-features §3). Matched without case,
/// so `Reflector.V1.K8s.Emberstack.com/reflects` is still a copy.
const COPIER_DOMAINS: [&str; 6] = [
    "replicator.v1.mittwald.de/",
    "reflector.v1.k8s.emberstack.com/",
    "kubed.appscode.com/",
    "generate.kyverno.io/",
    "clustersecret.io/",
    "secretgen.carvel.dev/",
];
const COPIER_KEYS: [&str; 2] = [
    "sealedsecrets.bitnami.com/cluster-wide",
    "sealedsecrets.bitnami.com/namespace-wide",
];

/// Keys stamped on bootstrap Secrets by the mutating webhook.
pub(crate) const STAMPED: [&str; 5] = [
    "bootstrap-source",
    "first-seen",
    "created-by",
    "admission-uid",
    "git-source",
];
/// Keys only the handover controller writes.
pub(crate) const HANDOVER_OWNED: [&str; 4] = [
    "handover-state",
    "handover-at",
    "vault-version",
    "content-digest",
];

fn old_secret<'a>(review: &Review<'a>) -> Option<&'a SecretObject> {
    match review.old {
        Some(Object::Secret(s)) => Some(s),
        _ => None,
    }
}

fn target(review: &Review<'_>) -> String {
    format!("{}/{}", review.namespace.unwrap_or(""), review.name)
}

/// Evaluates every Secret rule.
pub fn check(
    secret: &SecretObject,
    review: &Review<'_>,
    writer: &Writer<'_>,
    provenance: &Provenance<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    if provenance.class == Some(Class::System) {
        return;
    }
    let old = old_secret(review);
    writer_rules(secret, review, writer, provenance, policy, old, out);
    copy_markers(secret, review, writer, policy, out);
    forged(secret, review, writer, provenance, policy, old, view, out);
    class_label_change(secret, review, writer, policy, old, out);
    bootstrap(secret, review, writer, provenance, policy, old, view, out);
}

fn writer_rules(
    secret: &SecretObject,
    review: &Review<'_>,
    writer: &Writer<'_>,
    provenance: &Provenance<'_>,
    policy: &Policy,
    old: Option<&SecretObject>,
    out: &mut Vec<Violation>,
) {
    let ns = review.namespace.unwrap_or("default");
    let old_materialized = old.is_some_and(|o| {
        has_owner(o, "external-secrets.io", "ExternalSecret")
            || o.label("reconcile.external-secrets.io/managed") == Some("true")
    });
    if old_materialized && !writer.eso {
        out.push(Violation::new(
            &rules::MATERIALIZED_EDIT,
            format!(
                "Secret {:?} is materialized by External Secrets from Vault, and {:?} edited it",
                target(review),
                writer.username
            ),
            "change the value in Vault (ESO refreshes the Secret within its refreshInterval), or change the ExternalSecret in Git",
        ));
        return;
    }
    if provenance.class.is_some() {
        return;
    }
    let keys: Vec<&str> = secret.keys().collect();
    if writer.copier {
        // Reported once, with the markers, by `copy_markers`.
    } else if writer.ci {
        out.push(Violation::new(
            &rules::CI_WRITER,
            format!(
                "Secret {:?} is written by the CI identity {:?}",
                target(review),
                writer.username
            ),
            fix::external_secret(review.name, ns, &keys, policy),
        ));
    } else {
        let detail = match writer.operator {
            Some(op) => format!(
                " (operator {:?} may write Secrets only in {})",
                op.name,
                op.namespaces.join(", ")
            ),
            None if writer.decrypter.is_some() => format!(
                " (a decrypter's Secret needs a SealedSecret owner or the Git-declared label {}=bootstrap)",
                policy.key("secret-class")
            ),
            None => String::new(),
        };
        out.push(Violation::new(
            &rules::UNMANAGED_SECRET,
            format!(
                "Secret {:?} is written by {:?}, which is not an approved producer (no ExternalSecret owner, not a declared bootstrap secret, not a registered operator){detail}",
                target(review),
                writer.username
            ),
            fix::external_secret(review.name, ns, &keys, policy),
        ));
    }
}

fn copy_markers(
    secret: &SecretObject,
    review: &Review<'_>,
    writer: &Writer<'_>,
    policy: &Policy,
    out: &mut Vec<Violation>,
) {
    let meta = &secret.metadata;
    let keys = meta
        .labels
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .chain(meta.annotations.iter().flatten().map(|(k, _)| k));
    let mut markers = Vec::new();
    for key in keys {
        let lower = key.to_ascii_lowercase();
        if COPIER_DOMAINS.iter().any(|d| lower.starts_with(d))
            || COPIER_KEYS.contains(&lower.as_str())
        {
            markers.push(key.as_str());
        }
    }
    if meta
        .labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/managed-by"))
        .is_some_and(|v| v.eq_ignore_ascii_case("kyverno"))
    {
        markers.push("app.kubernetes.io/managed-by=kyverno");
    }
    markers.sort_unstable();
    markers.dedup();
    let what = match (writer.copier, markers.is_empty()) {
        (false, true) => return,
        (false, false) => format!(
            "Secret {:?} carries cross-namespace copy markers: {}",
            target(review),
            markers.join(", ")
        ),
        (true, true) => format!(
            "Secret {:?} is written by the copy controller {:?}",
            target(review),
            writer.username
        ),
        (true, false) => format!(
            "Secret {:?} is written by the copy controller {:?} and carries copy markers: {}",
            target(review),
            writer.username,
            markers.join(", ")
        ),
    };
    out.push(Violation::new(
        &rules::COPY_MARKER,
        what,
        fix::distribute_through_vault(review.name, review.namespace.unwrap_or("default"), policy),
    ));
}

fn changed(
    key: &str,
    new: &BTreeMap<String, String>,
    old: Option<&BTreeMap<String, String>>,
) -> bool {
    new.get(key) != old.and_then(|o| o.get(key))
}

#[allow(clippy::too_many_arguments)]
fn forged(
    secret: &SecretObject,
    review: &Review<'_>,
    writer: &Writer<'_>,
    provenance: &Provenance<'_>,
    policy: &Policy,
    old: Option<&SecretObject>,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let mut forged: Vec<String> = Vec::new();
    let empty = BTreeMap::new();
    let labels = secret.metadata.labels.as_ref().unwrap_or(&empty);
    let annotations = secret.metadata.annotations.as_ref().unwrap_or(&empty);
    let (old_labels, old_annotations) = (
        old.and_then(|o| o.metadata.labels.as_ref()),
        old.and_then(|o| o.metadata.annotations.as_ref()),
    );
    let old_owners: Vec<(&str, &str)> = old
        .and_then(|o| o.metadata.owner_references.as_ref())
        .into_iter()
        .flatten()
        .map(|o| (o.kind.as_str(), o.uid.as_str()))
        .collect();

    for owner in secret.metadata.owner_references.iter().flatten() {
        let group = crate::cluster::group_of(&owner.api_version);
        let claimed = match (group, owner.kind.as_str()) {
            ("external-secrets.io", "ExternalSecret") => Some(writer.eso),
            ("bitnami.com", "SealedSecret") => Some(writer.decrypter.is_some()),
            _ => None,
        };
        let Some(allowed) = claimed else { continue };
        let kept = old_owners.contains(&(owner.kind.as_str(), owner.uid.as_str()));
        if !allowed && !kept {
            forged.push(format!(
                "ownerReference {} {:?} (only its controller sets it)",
                owner.kind, owner.name
            ));
        } else if view.owner_exists(
            review.namespace.unwrap_or(""),
            &owner.kind,
            &owner.name,
            &owner.uid,
        ) == Some(false)
        {
            forged.push(format!(
                "ownerReference {} {:?} uid {:?} matches no such object",
                owner.kind, owner.name, owner.uid
            ));
        }
    }
    if !writer.eso {
        for (key, map, old_map) in labels.keys().map(|k| (k, labels, old_labels)).chain(
            annotations
                .keys()
                .map(|k| (k, annotations, old_annotations)),
        ) {
            if key.starts_with("reconcile.external-secrets.io/") && changed(key, map, old_map) {
                forged.push(format!("{key} (set only by External Secrets)"));
            }
        }
    }
    let is_bootstrap = provenance.class == Some(Class::Bootstrap);
    for name in STAMPED {
        let key = policy.key(name);
        let owner = is_bootstrap && (writer.decrypter.is_some() || writer.handover);
        if !owner && changed(&key, labels, old_labels) && labels.contains_key(&key) {
            forged.push(format!("label {key}"));
        }
        if !owner && changed(&key, annotations, old_annotations) && annotations.contains_key(&key) {
            forged.push(format!("annotation {key}"));
        }
    }
    for name in HANDOVER_OWNED {
        let key = policy.key(name);
        // The mutating webhook stamps `handover-state=pending` on a declared bootstrap CREATE.
        let pending_on_create = review.operation == Operation::Create
            && is_bootstrap
            && name == "handover-state"
            && labels.get(&key).map(String::as_str) == Some("pending");
        if writer.handover || pending_on_create {
            continue;
        }
        if changed(&key, labels, old_labels) {
            forged.push(format!("label {key} (owned by the handover controller)"));
        }
        if changed(&key, annotations, old_annotations) {
            forged.push(format!(
                "annotation {key} (owned by the handover controller)"
            ));
        }
    }
    let handover_to = policy.key("handover-to");
    if changed(&handover_to, annotations, old_annotations)
        && !(writer.gitops || writer.decrypter.is_some())
    {
        forged.push(format!("annotation {handover_to} (declared in Git only)"));
    }
    let class_key = policy.key("secret-class");
    if let Some(claimed) = labels.get(&class_key) {
        let actual = provenance.class.map(Class::as_str);
        let unchanged = old_labels.and_then(|l| l.get(&class_key)) == Some(claimed);
        if actual != Some(claimed.as_str()) && !unchanged {
            forged.push(format!(
                "label {class_key}={claimed} (this write classifies as {})",
                actual.unwrap_or("unclassified")
            ));
        }
    }
    if forged.is_empty() {
        return;
    }
    out.push(Violation::new(
        &rules::FORGED_PROVENANCE,
        format!(
            "Secret {:?} written by {:?} sets provenance markers it does not own: {}",
            target(review),
            writer.username,
            forged.join("; ")
        ),
        "remove these markers from the manifest; the controller that owns each one sets it",
    ));
}

fn class_label_change(
    secret: &SecretObject,
    review: &Review<'_>,
    writer: &Writer<'_>,
    policy: &Policy,
    old: Option<&SecretObject>,
    out: &mut Vec<Violation>,
) {
    let Some(old) = old else { return };
    let key = policy.key("secret-class");
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
    ));
}

#[allow(clippy::too_many_arguments)]
fn bootstrap(
    secret: &SecretObject,
    review: &Review<'_>,
    writer: &Writer<'_>,
    provenance: &Provenance<'_>,
    policy: &Policy,
    old: Option<&SecretObject>,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let ns = review.namespace.unwrap_or("");
    let declared_bootstrap = secret.label(&policy.key("secret-class")) == Some("bootstrap");
    if (provenance.class == Some(Class::Bootstrap) || declared_bootstrap)
        && !policy.namespaces.bootstrap.iter().any(|b| b == ns)
    {
        out.push(Violation::new(
            &rules::BOOTSTRAP_NAMESPACE,
            format!(
                "bootstrap Secret {:?} is in namespace {ns:?}; bootstrap namespaces are {}",
                target(review),
                policy.namespaces.bootstrap.join(", ")
            ),
            format!(
                "decrypt bootstrap secrets only into a bootstrap namespace; applications read the value from Vault through an ExternalSecret ({})",
                fix::data_path(&fix::datasource_hint(review.name), ns)
            ),
        ));
    }
    if writer.handover {
        return;
    }
    // VG110: an old bootstrap Secret rewritten by another classified producer (an unclassified
    // writer is already denied by VG101). Otherwise the handover would copy that value to Vault.
    let state_key = policy.key("handover-state");
    if let Some(o) = old
        && review.operation == Operation::Update
        && o.label(&policy.key("secret-class")) == Some("bootstrap")
        && writer.decrypter.is_none()
        && provenance.class.is_some()
        && !matches!(o.label(&state_key), Some("consumed" | "superseded"))
    {
        out.push(Violation::new(
            &rules::BOOTSTRAP_EDIT,
            format!("bootstrap Secret {:?} is rewritten by {:?}, which is not its decrypter", target(review), writer.username),
            "write a different Secret name; the bootstrap value changes only through its encrypted source in Git",
        ));
    }
    let retired = |state: Option<&str>| matches!(state, Some("consumed" | "superseded"));
    let (state, destination) = match review.operation {
        Operation::Update => match old {
            Some(o) if retired(o.label(&state_key)) => (
                o.label(&state_key).map(str::to_owned),
                o.annotation(&policy.key("handover-to")).map(str::to_owned),
            ),
            _ => return,
        },
        _ => match view.secret(ns, review.name) {
            Some(meta) if retired(meta.label(&state_key)) => (
                meta.label(&state_key).map(str::to_owned),
                meta.annotations
                    .get(&policy.key("handover-to"))
                    .map(str::to_owned),
            ),
            _ => return,
        },
    };
    let _ = secret;
    let where_now =
        destination.map_or_else(|| "in Vault".to_owned(), |d| format!("in Vault at {d}"));
    out.push(Violation::new(
        &rules::BOOTSTRAP_HANDED_OVER,
        format!(
            "bootstrap Secret {:?} was handed over (state {}) and {:?} writes it again",
            target(review),
            state.unwrap_or_default(),
            writer.username
        ),
        format!(
            "the value now lives {where_now}; read it through an ExternalSecret, and remove the encrypted source (SealedSecret or SOPS file) from Git"
        ),
    ));
}

/// VG109: a value equal to one another namespace holds is a copy, unless both Secrets are
/// materialized by ESO from the same Vault path (the sanctioned way for two namespaces to hold
/// one value).
pub fn content_copy(
    review: &Review<'_>,
    provenance: &Provenance<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    evidence: &super::Evidence,
    out: &mut Vec<Violation>,
) {
    if !policy.content_copy.enabled || evidence.value_digests.is_empty() {
        return;
    }
    let ns = review.namespace.unwrap_or("");
    let vault_paths = |ns: &str, owners: &mut dyn Iterator<Item = (&str, &str)>| -> Vec<Box<str>> {
        owners
            .filter(|(kind, _)| *kind == "ExternalSecret")
            .filter_map(|(_, name)| view.external_secret(ns, name))
            .flat_map(|e| e.keys.to_vec())
            .collect()
    };
    let own_paths: Vec<Box<str>> = if provenance.class == Some(Class::Materialized) {
        let meta = review.object.metadata();
        vault_paths(
            ns,
            &mut meta
                .owner_references
                .iter()
                .flatten()
                .map(|o| (o.kind.as_str(), o.name.as_str())),
        )
    } else {
        Vec::new()
    };
    let mut copies: Vec<String> = Vec::new();
    for digest in &evidence.value_digests {
        for (other_ns, other_name, meta) in view.value_holders(digest) {
            if other_ns == ns {
                continue;
            }
            let theirs = vault_paths(
                &other_ns,
                &mut meta.owners.iter().map(|o| (&*o.kind, &*o.name)),
            );
            if meta.is_materialized() && theirs.iter().any(|p| own_paths.contains(p)) {
                continue;
            }
            let holder = format!("{other_ns}/{other_name}");
            if !copies.contains(&holder) {
                copies.push(holder);
            }
        }
    }
    if copies.is_empty() {
        return;
    }
    out.push(Violation::new(
        &rules::CONTENT_COPY,
        format!(
            "Secret {:?} holds a value already held by Secret {} in another namespace",
            target(review),
            copies.join(", ")
        ),
        fix::distribute_through_vault(review.name, ns, policy),
    ));
}
