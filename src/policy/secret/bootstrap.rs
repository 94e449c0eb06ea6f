//! The bootstrap lifecycle: bootstrap Secrets only in bootstrap namespaces (VG106), no rewrite
//! by another producer (VG110), and no write after the handover retired them (VG107).

use super::{Write, target};
use crate::policy::{Operation, Violation, classify::Class, fix, rules};

pub(super) fn bootstrap(write: Write<'_>, out: &mut Vec<Violation>) {
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
    let ns = review.namespace.unwrap_or("");
    let declared_bootstrap =
        secret.label(&policy.reserved_key("secret-class")) == Some("bootstrap");
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
            if write.root.any() {
                fix::ROOT_MATERIAL_ELSEWHERE.to_owned()
            } else {
                format!(
                    "decrypt bootstrap secrets only into a bootstrap namespace; applications read the value from Vault through an ExternalSecret ({})",
                    fix::data_path(fix::datasource_or_placeholder(review.name), ns)
                )
            },
        ).at("metadata.namespace"));
    }
    if writer.handover {
        return;
    }
    // VG110: an old bootstrap Secret rewritten by another classified producer (an unclassified
    // writer is already denied by VG101). Otherwise the handover would copy that value to Vault.
    let state_key = policy.reserved_key("handover-state");
    if let Some(o) = old
        && review.operation == Operation::Update
        && o.label(&policy.reserved_key("secret-class")) == Some("bootstrap")
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
                o.annotation(&policy.reserved_key("handover-to"))
                    .map(str::to_owned),
            ),
            _ => return,
        },
        _ => match view.secret(ns, review.name) {
            Some(meta) if retired(meta.label(&state_key)) => (
                meta.label(&state_key).map(str::to_owned),
                meta.annotations
                    .get(&policy.reserved_key("handover-to"))
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
        if write.root.any() {
            fix::ROOT_MATERIAL_ELSEWHERE.to_owned()
        } else {
            format!(
                "the value now lives {where_now}; read it through an ExternalSecret, and remove the encrypted source (SealedSecret or SOPS file) from Git"
            )
        },
    ));
}
