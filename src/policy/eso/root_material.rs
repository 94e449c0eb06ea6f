//! VG111 on the pulling side: an ExternalSecret (or ClusterExternalSecret) that would
//! materialize Vault root material. Denied whatever it reads from: the root token must not be
//! in Vault KV either (§7.5: revoked after init), so "pull it from Vault" is never the fix, and
//! unseal shares in a Secret defeat the offline root of trust (§7.2.1).

use crate::policy::{
    Violation,
    field::Problems,
    fix,
    objects::ExternalSecretSpec,
    rules,
    vault_material::{VaultMaterial, classify_key, classify_name},
};

/// The material a Vault path names in a segment (`platform-data/vault-init-keys/...`,
/// `.../root-token`).
fn path_material(path: &str) -> Option<VaultMaterial> {
    path.split('/')
        .find_map(|segment| classify_key(segment).or_else(|| classify_name(segment)))
}

/// Pushes VG111 when `spec` names root material, and returns whether it did.
pub(super) fn root_material(
    obj: &str,
    spec: &ExternalSecretSpec,
    target: Option<&str>,
    out: &mut Vec<Violation>,
) -> bool {
    let mut found: Vec<VaultMaterial> = Vec::new();
    let mut problems = Problems::default();
    let mut note = |at: String, what: &str, m: VaultMaterial| {
        problems.push(&at, format!("{at} {what} names {}", m.as_str()));
        found.push(m);
    };
    if let Some(name) = target
        && let Some(m) = classify_name(name)
    {
        note("spec.target.name".to_owned(), &format!("{name:?}"), m);
    }
    for (i, d) in spec.data.iter().enumerate() {
        if let Some(m) = classify_key(&d.secret_key) {
            note(
                format!("spec.data[{i}].secretKey"),
                &format!("{:?}", d.secret_key),
                m,
            );
        }
        if let Some(p) = d.remote_ref.property.as_deref()
            && let Some(m) = classify_key(p)
        {
            note(
                format!("spec.data[{i}].remoteRef.property"),
                &format!("{p:?}"),
                m,
            );
        }
        if let Some(m) = path_material(&d.remote_ref.key) {
            let key = &d.remote_ref.key;
            note(
                format!("spec.data[{i}].remoteRef.key"),
                &format!("{key:?}"),
                m,
            );
        }
    }
    for (i, d) in spec.data_from.iter().enumerate() {
        if let Some(e) = &d.extract
            && let Some(m) = path_material(&e.key)
        {
            note(
                format!("spec.dataFrom[{i}].extract.key"),
                &format!("{:?}", e.key),
                m,
            );
        }
    }
    if found.is_empty() {
        return false;
    }
    found.sort_unstable();
    found.dedup();
    out.push(
        Violation::new(
            &rules::VAULT_ROOT_MATERIAL,
            format!(
                "{obj} would materialize Vault root material in Kubernetes: {}",
                problems.join("; ")
            ),
            fix::root_material(&found),
        )
        .at_opt(problems.field),
    );
    true
}

/// Other findings on an object that carries root material keep their rule but not their fix:
/// a read grant or a PushSecret to publish the value would distribute it.
pub(super) fn point_other_fixes_to_vg111(found: &mut [Violation]) {
    for v in found {
        if v.rule.id != rules::VAULT_ROOT_MATERIAL.id {
            v.fix = fix::ROOT_MATERIAL_ELSEWHERE.to_owned();
        }
    }
}
