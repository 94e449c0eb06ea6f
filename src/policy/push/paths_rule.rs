//! VG303-VG305 and VG111 over a PushSecret's entries: each rule reported once per object with
//! every offending entry named and one fix, so a ten-entry PushSecret is not ten denials.

use super::remote_ref;
use crate::policy::{
    Policy, Violation,
    field::Problems,
    fix,
    objects::PushSecretSpec,
    paths::{self, Prefix},
    rules, vault_material,
};

/// VG303-VG305 over every entry, one violation per rule (each entry named, one fix), and VG111
/// for an entry that publishes Vault root material by its key or property name.
pub(super) fn paths_and_properties(
    spec: &PushSecretSpec,
    obj: &str,
    namespace: Option<&str>,
    policy: &Policy,
    out: &mut Vec<Violation>,
) {
    let (mut path, mut property, mut config, mut root) = (
        Problems::default(),
        Problems::default(),
        Problems::default(),
        Problems::default(),
    );
    let mut materials = Vec::new();
    let mut config_fix = Vec::new();
    for (i, d) in spec.data.iter().enumerate() {
        let r = d.match_.remote_ref.as_ref();
        for (at, name) in [
            (
                format!("spec.data[{i}].match.secretKey"),
                d.match_.secret_key.as_deref(),
            ),
            (
                remote_ref(i, "property"),
                r.and_then(|r| r.property.as_deref()),
            ),
        ] {
            if let Some(m) = name.and_then(vault_material::classify_key) {
                materials.push(m);
                root.push(
                    &at,
                    format!("{at} {:?} ({})", name.unwrap_or_default(), m.as_str()),
                );
            }
        }
        let Some(r) = r else {
            continue;
        };
        let Some(key) = r.remote_key.as_deref().filter(|k| !k.is_empty()) else {
            continue;
        };
        let problems = paths::push_path_problems(key, policy);
        if !problems.is_empty() {
            let at = remote_ref(i, "remoteKey");
            path.push(&at, format!("{at} {key:?}: {}", problems.join("; ")));
            continue;
        }
        let Some(Prefix::Convention(prefix)) = paths::prefix_of(key, policy) else {
            continue;
        };
        let at = remote_ref(i, "property");
        match r.property.as_deref() {
            None | Some("") => property.push(
                &at,
                format!("spec.data[{i}] pushes to {key:?} without remoteRef.property"),
            ),
            Some(p) if !paths::property_allowed(prefix, p, policy) => property.push(
                &at,
                format!("spec.data[{i}] uses property {p:?} under {key:?}"),
            ),
            Some(p)
                if prefix == "platform-config"
                    && policy.vault.secret_properties.iter().any(|s| s == p) =>
            {
                config.push(
                    &at,
                    format!("spec.data[{i}] pushes the secret property {p:?} to {key:?}"),
                );
                let target = format!(
                    "platform-data/{}",
                    key.split_once('/').map_or("", |(_, rest)| rest)
                );
                if !config_fix.contains(&target) {
                    config_fix.push(target);
                }
            }
            Some(_) => {}
        }
    }
    if !root.is_empty() {
        materials.dedup();
        out.push(
            Violation::new(
                &rules::VAULT_ROOT_MATERIAL,
                format!(
                    "{obj} publishes Vault root material to Vault: {}",
                    root.join("; ")
                ),
                fix::root_material(&materials),
            )
            .at_opt(root.field),
        );
    }
    if !path.is_empty() {
        out.push(
            Violation::new(
                &rules::VAULT_PATH,
                format!("{obj} {}", path.join("; ")),
                format!(
                    "use platform-data/<datasource>/<consumer> for secrets or platform-config/<datasource>/<instance> for configuration, e.g. platform-data/postgres/{}",
                    namespace.unwrap_or("temporal")
                ),
            )
            .at_opt(path.field),
        );
    }
    if !property.is_empty() {
        out.push(
            Violation::new(
                &rules::PROPERTY_NAME,
                format!("{obj} {}", property.join("; ")),
                format!(
                    "name each property explicitly, one of {} (each key its own property)",
                    policy.vault.properties.join(", ")
                ),
            )
            .at_opt(property.field),
        );
    }
    if !config.is_empty() {
        out.push(
            Violation::new(
                &rules::SECRET_IN_CONFIG,
                format!("{obj} {}", config.join("; ")),
                format!("push them to {} instead", config_fix.join(", ")),
            )
            .at_opt(config.field),
        );
    }
}
