//! The writes that move a bootstrap Secret forward, each with its audit trail: the merge patch
//! (guarded by `resourceVersion`) that records `copied`, `consumed` or `superseded` with its
//! provenance annotations, the retirement (`inert`: data emptied in that same patch; `retain`;
//! `delete` right after, with uid + resourceVersion preconditions), one Event and one
//! structured log line per transition, and the `vaultgate_handovers_total` count.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{
    ResourceExt,
    api::{Api, DeleteParams, Patch, PatchParams, Preconditions},
    runtime::{controller::Action, events::EventType},
};
use serde_json::{Value, json};

use super::reconcile::{Ctx, Error};
use crate::policy::handover::{
    Retire, Retirement, Stamp, State, Verdict, next_state, transition_metadata,
};

/// Applies a Vault verdict to a `pending` (or re-verified `copied`) Secret.
#[allow(clippy::too_many_arguments)]
pub(super) async fn conclude(
    ctx: &Ctx,
    api: &Api<Secret>,
    secret: &Secret,
    from: State,
    path: &str,
    mode: Retire,
    digest: &str,
    at: &str,
    verdict: Verdict,
) -> Result<Action, Error> {
    let to = next_state(&verdict, from);
    let (version, result) = match verdict {
        Verdict::Blocked(b) => return Err(b.into()),
        Verdict::Copied {
            version,
            wrote: true,
        } => (version, "copied"),
        Verdict::Copied {
            version,
            wrote: false,
        } if from == State::Pending => (version, "already_copied"),
        Verdict::Copied { version, .. } => (version, "consumed"),
        Verdict::Superseded { version } => (version, "superseded"),
    };
    let stamp = Stamp {
        at,
        vault_version: version,
        digest,
    };
    if to == State::Copied {
        let (labels, annotations) = transition_metadata(&ctx.policy, to, Some(&stamp));
        let patch = json!({ "metadata": { "resourceVersion": secret.resource_version(), "labels": labels, "annotations": annotations } });
        api.patch(
            &secret.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
        log_transition(secret, path, from, to, Some(version), result);
        ctx.metrics.count(result);
        let note = if result == "copied" {
            format!(
                "copied to Vault {}/{path} (version {version}, create-only), read back and verified by keyed digest",
                ctx.mount
            )
        } else {
            format!(
                "Vault {}/{path} already holds this value (version {version}): an earlier attempt wrote it; verified by keyed digest",
                ctx.mount
            )
        };
        ctx.event(secret, EventType::Normal, "HandoverCopied", note)
            .await;
        return Ok(Action::requeue(Duration::from_secs(60)));
    }
    transition(
        ctx,
        api,
        secret,
        &Retirement { from, to, mode },
        Some(&stamp),
        path,
        result,
    )
    .await
}

/// Writes a terminal state (with the retirement in the same patch for `inert`/`retain`; the
/// delete right after for `delete`), or finishes an interrupted retirement.
pub(super) async fn transition(
    ctx: &Ctx,
    api: &Api<Secret>,
    secret: &Secret,
    r: &Retirement,
    stamp: Option<&Stamp<'_>>,
    path: &str,
    result: &'static str,
) -> Result<Action, Error> {
    let name = secret.name_any();
    let mut rv = secret.resource_version();
    let has_data = secret.data.as_ref().is_some_and(|d| !d.is_empty());
    if r.from != r.to || (r.mode == Retire::Inert && has_data) {
        let (labels, annotations) = transition_metadata(&ctx.policy, r.to, stamp);
        let mut patch = json!({ "metadata": { "resourceVersion": rv, "labels": labels, "annotations": annotations } });
        if r.mode == Retire::Inert {
            patch["data"] = Value::Null;
        }
        rv = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?
            .resource_version();
    }
    if r.mode == Retire::Delete {
        let pre = Preconditions {
            uid: secret.uid(),
            resource_version: rv,
        };
        match api
            .delete(
                &name,
                &DeleteParams {
                    preconditions: Some(pre),
                    ..DeleteParams::default()
                },
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let retired = match r.mode {
        Retire::Inert => "data emptied, object kept as a tombstone with its provenance",
        Retire::Delete => "Secret deleted",
        Retire::Retain => "Secret retained; the webhook keeps consumers away from it",
    };
    let version = stamp.map(|s| s.vault_version);
    if r.from == r.to {
        log_transition(secret, path, r.from, r.to, version, "retired");
        ctx.event(
            secret,
            EventType::Normal,
            "HandoverRetired",
            format!("retired ({}): {retired}", r.mode),
        )
        .await;
        return Ok(Action::await_change());
    }
    log_transition(secret, path, r.from, r.to, version, result);
    ctx.metrics.count(if r.to == State::Superseded {
        "superseded"
    } else {
        "consumed"
    });
    let at = |v: Option<u64>| v.map_or_else(String::new, |v| format!(" (version {v})"));
    if r.to == State::Superseded {
        let note = format!(
            "Vault {}/{path}{} already holds a different value: Vault is the authority, nothing was overwritten; retired ({}): {retired}",
            ctx.mount,
            at(version),
            r.mode
        );
        ctx.event(secret, EventType::Warning, "HandoverSuperseded", note)
            .await;
    } else {
        let note = format!(
            "Vault {}/{path}{} is now the authority; retired ({}): {retired}",
            ctx.mount,
            at(version),
            r.mode
        );
        ctx.event(secret, EventType::Normal, "HandoverConsumed", note)
            .await;
    }
    Ok(Action::await_change())
}

fn log_transition(
    secret: &Secret,
    path: &str,
    from: State,
    to: State,
    vault_version: Option<u64>,
    result: &str,
) {
    tracing::info!(
        namespace = %secret.namespace().unwrap_or_default(), name = %secret.name_any(), uid = %secret.uid().unwrap_or_default(),
        path, from = from.as_str(), to = to.as_str(), vault_version, result,
        "handover transition"
    );
}
