//! Copies across namespaces: copy-tool markers and copy controllers (VG103), and values equal
//! to one another namespace holds (VG109).

use super::{Write, target};
use crate::policy::{Violation, classify::Class, field, fix, objects::SecretObject, rules};

/// Annotation/label key domains of the copy tools (docs/ARCHITECTURE.md §10.1). Matched without case,
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

pub(super) fn copy_markers(write: Write<'_>, out: &mut Vec<Violation>) {
    let Write {
        secret,
        review,
        writer,
        old,
        housekeeping,
        ..
    } = write;
    let mut found = markers(secret);
    if housekeeping {
        // Metadata-only housekeeping answers only for the markers it adds: one a Secret
        // already carried was judged when it was written.
        let before = old.map(markers).unwrap_or_default();
        found.retain(|m| !before.contains(m));
        if found.is_empty() {
            return;
        }
    }
    let markers = found;
    // The first marker's field: a label when the Secret has it as one, else an annotation.
    let at = markers.first().map(|m| {
        let key = m.split_once('=').map_or(*m, |(k, _)| k);
        match secret.label(key) {
            Some(_) => field::label(key),
            None => field::annotation(key),
        }
    });
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
    out.push(Violation::new(&rules::COPY_MARKER, what, distribute(write)).at_opt(at));
}

/// The Vault route for a copied value, unless it is Vault root material (VG111), which is
/// deleted rather than distributed.
fn distribute(write: Write<'_>) -> String {
    if write.root.any() {
        return fix::ROOT_MATERIAL_ELSEWHERE.to_owned();
    }
    let ns = write.review.namespace.unwrap_or("default");
    fix::distribute_through_vault(write.review.name, ns, write.policy)
}

fn is_marker_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    COPIER_DOMAINS.iter().any(|d| lower.starts_with(d)) || COPIER_KEYS.contains(&lower.as_str())
}

/// Whether a label or annotation is one [`markers`] reads: the live view keeps these of every
/// Secret it watches, so the in-cluster audit sees a copy as `vaultgate audit` does.
pub(crate) fn is_marker(key: &str, value: &str) -> bool {
    is_marker_key(key)
        || (key == "app.kubernetes.io/managed-by" && value.eq_ignore_ascii_case("kyverno"))
}

/// The copy-tool markers a Secret carries (keys, or `key=value` for a marker value).
fn markers(secret: &SecretObject) -> Vec<&str> {
    let meta = &secret.metadata;
    let keys = meta
        .labels
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .chain(meta.annotations.iter().flatten().map(|(k, _)| k));
    let mut markers = Vec::new();
    for key in keys {
        if is_marker_key(key) {
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
    markers
}

/// VG109: a value equal to one another namespace holds is a copy, unless both Secrets are
/// materialized by ESO from the same Vault path (the sanctioned way for two namespaces to hold
/// one value).
pub(super) fn content_copy(
    write: Write<'_>,
    evidence: &crate::policy::Evidence,
    out: &mut Vec<Violation>,
) {
    let Write {
        review,
        provenance,
        policy,
        view,
        ..
    } = write;
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
    out.push(
        Violation::new(
            &rules::CONTENT_COPY,
            format!(
                "Secret {:?} holds a value already held by Secret {} in another namespace",
                target(review),
                copies.join(", ")
            ),
            distribute(write),
        )
        .at("data"),
    );
}
