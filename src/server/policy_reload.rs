//! Policy reload without a restart: `serve --policy FILE` re-reads FILE every
//! `--policy-reload-interval` and compares bytes, as the certificates are (`reload.rs`): a
//! ConfigMap volume is updated by swapping a `..data` symlink, which inode watches miss.
//!
//! A changed file that parses becomes the policy of every review from then on (the webhook's
//! engine is swapped whole, [`Webhook::replace_engine`]). One that does not is counted
//! (`vaultgate_policy_reloads_total{result="error"}`), logged with the error, which names the
//! field and line, and otherwise ignored: the last good policy keeps serving, and the same bad
//! bytes are not counted again on the next poll. The decision is [`judge`], a pure function of
//! what the file held at the last poll, what it holds now and the policy in effect.
//!
//! What a reload cannot change: a live cluster view is built once from the policy's `prefix`
//! (which labels and annotations it keeps of each Secret) and `contentCopy` (whether it watches
//! Secret data and digests values, and from which length). A file that changes those is
//! rejected, naming the fields, until vaultgate is restarted. A memory view
//! (`--cluster-context memory`, `--dev`) holds only the policy's approved stores, so it is
//! rebuilt from each new policy.
//!
//! The policy in effect is exported as `vaultgate_policy_info{digest="sha256:<hex>"} 1`: the
//! plain SHA-256 of the file's bytes, so `sha256sum policy.yaml` shows whether a replica serves
//! it. A policy is configuration, not a secret value, so the keyed-digest rule for values
//! (CONTRIBUTING.md, security rule 2) does not apply to it.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{
    admission::{Engine, Webhook},
    cluster::{ClusterView, MemoryView},
    digest::hex,
    metrics::ReloadLabels,
    policy::Policy,
};

/// How the cluster view follows a new policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewOnReload {
    /// A live view, kept: it was built with the policy's `prefix` and `contentCopy`, so a
    /// policy changing those is rejected until a restart ([`restart_only_changes`]).
    Live,
    /// A memory view, rebuilt from the new policy ([`MemoryView::from_policy`]).
    Memory,
}

/// What the policy file held at one poll: its bytes, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Bytes(Vec<u8>),
    Unreadable(String),
}

impl Seen {
    /// Reads `path` (blocking).
    pub fn read(path: &Path) -> Self {
        match std::fs::read(path) {
            Ok(bytes) => Self::Bytes(bytes),
            Err(e) => Self::Unreadable(e.to_string()),
        }
    }
}

/// What to do about one poll.
#[derive(Debug)]
pub enum Verdict {
    /// The file holds what it held at the last poll (applied or already rejected).
    Unchanged,
    /// A valid new policy: judge every review with it from now on.
    Apply { policy: Box<Policy>, digest: String },
    /// A changed file that cannot be used; the message names the field, or the reason.
    Reject(String),
}

/// `sha256:<hex>` of a policy file's bytes (`vaultgate_policy_info`'s label).
pub fn digest(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
    )
}

/// Decides on one poll: `last` is what the previous poll found (at first, the file the policy
/// in effect was read from), `now` what this one found, `running` the policy in effect.
pub fn judge(last: &Seen, now: &Seen, running: &Policy, view: ViewOnReload) -> Verdict {
    if last == now {
        return Verdict::Unchanged;
    }
    let bytes = match now {
        Seen::Unreadable(e) => return Verdict::Reject(format!("cannot read the file: {e}")),
        Seen::Bytes(bytes) => bytes,
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Verdict::Reject("the file is not UTF-8 text".to_owned());
    };
    let policy = match Policy::from_yaml(text) {
        Ok(policy) => policy,
        Err(e) => return Verdict::Reject(e.to_string()),
    };
    if view == ViewOnReload::Live {
        let changed = restart_only_changes(running, &policy);
        if !changed.is_empty() {
            return Verdict::Reject(format!(
                "{} changed: the live cluster view was built with the running value, so this \
                 policy takes effect only when vaultgate restarts",
                changed.join(", ")
            ));
        }
    }
    Verdict::Apply {
        policy: Box::new(policy),
        digest: digest(bytes),
    }
}

/// The fields a live view was built with, where `new` differs from `running`.
pub fn restart_only_changes(running: &Policy, new: &Policy) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if running.prefix != new.prefix {
        changed.push("prefix");
    }
    if running.content_copy.enabled != new.content_copy.enabled {
        changed.push("contentCopy.enabled");
    }
    if running.content_copy.min_value_length != new.content_copy.min_value_length {
        changed.push("contentCopy.minValueLength");
    }
    changed
}

/// The reload task's inputs.
pub struct PolicyReload {
    pub path: PathBuf,
    pub every: Duration,
    pub view: ViewOnReload,
    /// What the file held when the policy in effect was read from it.
    pub loaded: Vec<u8>,
}

/// Records the loaded file as the policy in effect and spawns the poll loop on the current
/// runtime. It runs until the runtime stops or the returned handle is aborted.
pub fn spawn_policy_reloader(webhook: Arc<Webhook>, reload: PolicyReload) -> JoinHandle<()> {
    webhook.metrics().set_policy(None, &digest(&reload.loaded));
    tokio::spawn(poll(webhook, reload))
}

/// Checks the file every `every` (the first check one period after start: it was just read).
/// The read runs on the blocking pool.
async fn poll(webhook: Arc<Webhook>, reload: PolicyReload) {
    let PolicyReload {
        path,
        every,
        view,
        loaded,
    } = reload;
    let every = every.max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut in_effect = digest(&loaded);
    let mut last = Seen::Bytes(loaded);
    loop {
        ticks.tick().await;
        let file = path.clone();
        let now = match tokio::task::spawn_blocking(move || Seen::read(&file)).await {
            Ok(now) => now,
            Err(e) => {
                tracing::error!(error = %e, "policy reload task failed; will retry");
                continue;
            }
        };
        let engine = webhook.engine();
        let verdict = exceptions_in_time(
            judge(&last, &now, &engine.policy, view),
            std::time::SystemTime::now(),
        );
        last = now;
        apply(&webhook, &engine, &path, view, &mut in_effect, verdict);
    }
}

/// Exceptions are judged against the time of each load, as at startup: a new policy with one
/// that outlives `exceptionMaxLifetime` is refused (an expired one only stops applying).
fn exceptions_in_time(verdict: Verdict, now: std::time::SystemTime) -> Verdict {
    match verdict {
        Verdict::Apply { policy, digest } => match policy.check_exception_times(now) {
            Ok(_) => Verdict::Apply { policy, digest },
            Err(e) => Verdict::Reject(e.to_string()),
        },
        other => other,
    }
}

/// Swaps, counts and logs one verdict.
fn apply(
    webhook: &Webhook,
    running: &Engine,
    path: &Path,
    view: ViewOnReload,
    in_effect: &mut String,
    verdict: Verdict,
) {
    let metrics = webhook.metrics();
    match verdict {
        Verdict::Unchanged => {}
        Verdict::Apply { policy, digest } => {
            let policy = Arc::new(*policy);
            let view: Arc<dyn ClusterView> = match view {
                ViewOnReload::Live => running.view.clone(),
                ViewOnReload::Memory => Arc::new(MemoryView::from_policy(&policy)),
            };
            webhook.replace_engine(Engine { policy, view });
            metrics.set_policy(Some(in_effect), &digest);
            metrics
                .policy_reloads
                .get_or_create(&ReloadLabels { result: "success" })
                .inc();
            tracing::info!(
                policy = %path.display(),
                digest = %digest,
                previous = %in_effect,
                "policy reloaded; reviews are judged with it from now on"
            );
            *in_effect = digest;
        }
        Verdict::Reject(error) => {
            metrics
                .policy_reloads
                .get_or_create(&ReloadLabels { result: "error" })
                .inc();
            tracing::warn!(
                policy = %path.display(),
                %error,
                digest = %in_effect,
                "policy file changed but cannot be used; still serving the last good policy"
            );
        }
    }
}

#[cfg(test)]
mod tests;
