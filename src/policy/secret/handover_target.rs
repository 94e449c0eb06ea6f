//! The `handover-to` annotation of a bootstrap Secret, checked when it is written: the path,
//! property-name and Inv 8 rules a PushSecret to that path would be held to (VG303-VG305).
//! The handover controller copies every key of the Secret to that path, so a `token` key
//! declared for `platform-config/...` would land in the tree every namespace reads. The same
//! check ([`handover::target_problems`]) runs again in the controller's plan.

use super::{Write, target};
use crate::policy::{
    Violation, field,
    handover::{self, Settings},
    paths, rules,
};

pub(super) fn handover_target(write: Write<'_>, out: &mut Vec<Violation>) {
    let Write {
        secret,
        review,
        policy,
        ..
    } = write;
    let key = policy.reserved_key("handover-to");
    let Some(path) = secret.annotation(&key) else {
        return;
    };
    // A prefix outside the policy may still be one the controller was started with
    // (`--handover-prefix`); the controller refuses it if not. Everything else is decided here.
    let mut settings = Settings::default();
    if paths::hygiene(path).is_none() && paths::prefix_of(path, policy).is_none() {
        let first = path.split('/').next().unwrap_or_default();
        settings.extra_prefixes.push(first.to_owned());
    }
    let keys: Vec<&str> = secret.keys().collect();
    let problems = handover::target_problems(path, &keys, policy, &settings);
    let obj = format!("Secret {:?} annotation {key}", target(review));
    let at = field::annotation(&key);
    let example = format!(
        "platform-data/<datasource>/{}",
        review.namespace.unwrap_or("<consumer>")
    );
    if !problems.path.is_empty() {
        out.push(Violation::new(
            &rules::VAULT_PATH,
            format!("{obj}={path:?}: {}", problems.path.join("; ")),
            format!(
                "declare a §5a.5 path: {example} for secrets, platform-config/<datasource>/<instance> for configuration"
            ),
        ).at(&at));
    }
    if !problems.properties.is_empty() {
        out.push(Violation::new(
            &rules::PROPERTY_NAME,
            format!("{obj}={path:?}: {}", problems.properties.join("; ")),
            format!(
                "name the Secret's keys after the properties they become ({}), in the encrypted source in Git",
                policy.vault.properties.join(", ")
            ),
        ).at(&at));
    }
    if !problems.secret_in_config.is_empty() {
        out.push(
            Violation::new(
                &rules::SECRET_IN_CONFIG,
                format!("{obj}={path:?}: {}", problems.secret_in_config.join("; ")),
                format!(
                    "hand secrets over to platform-data/{}",
                    path.split_once('/').map_or("", |(_, rest)| rest)
                ),
            )
            .at(at),
        );
    }
}
