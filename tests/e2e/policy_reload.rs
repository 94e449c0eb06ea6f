//! The README's rollout step "enforce namespace by namespace" against the real apiserver:
//! `namespaces.modes` is edited in the policy file vaultgate serves (a ConfigMap edit in a
//! cluster), and kubectl goes from `Warning:` to a denial without a restart. A bad edit is
//! logged with the field it names and counted, and the last good policy keeps judging. The file
//! is put back, and its warn verdict awaited, before the exclusive lock is released: every other
//! test relies on `legacy-payments` warning.

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::harness::*;

/// Listed as `warn` in tests/e2e/policy.yaml.
const WARN_NAMESPACE: &str = "legacy-payments";
const WARN_LINE: &str = "    legacy-payments: warn\n";
const ENFORCE_LINE: &str = "    legacy-payments: enforce\n";
/// How long a rewritten file may take to reach kubectl's verdict (vaultgate polls every 2 s).
const DEADLINE: Duration = Duration::from_secs(60);

/// Writes the original policy back when dropped, also when an assertion fails.
struct Restore {
    path: PathBuf,
    original: Vec<u8>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        write_policy(&self.path, &self.original);
    }
}

/// Replaced as the kubelet replaces a ConfigMap file: the new content appears whole.
fn write_policy(path: &Path, bytes: &[u8]) {
    vaultgate::certs::write_atomic(path, bytes, false).expect("rewrite the policy file");
}

/// alice's server-side dry run of a plain Secret in the warn namespace (nothing is stored).
fn dry_run(alice: &Identity, manifest: &str) -> Kubectl {
    alice.kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(manifest))
}

/// Repeats `dry_run` until `done` holds for its result (bounded), and returns that result.
async fn dry_run_until(
    alice: &Identity,
    manifest: &str,
    done: impl Fn(&Kubectl) -> bool,
) -> Kubectl {
    let until = Instant::now() + DEADLINE;
    loop {
        let out = dry_run(alice, manifest);
        if done(&out) {
            return out;
        }
        assert!(
            Instant::now() < until,
            "the policy file's change never reached kubectl; last answer:\n{}",
            out.stderr
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn policy_errors() -> f64 {
    let url = format!("{}/metrics", env().webhook_probe_url);
    let text = reqwest::get(&url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("GET /metrics on the probe port")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix("vaultgate_policy_reloads_total{result=\"error\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Whether vaultgate's log has the rejection naming `field`.
fn rejection_logged(field: &str) -> bool {
    let log =
        std::fs::File::open(env().dir.join("logs").join("vaultgate.log")).expect("vaultgate.log");
    BufReader::new(log)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("still serving the last good policy") && line.contains(field))
}

#[tokio::test]
async fn a_namespace_switched_to_enforce_in_the_policy_file_is_denied_and_a_bad_edit_keeps_it_denied()
 {
    let _cluster = exclusive().await;
    let admin = admin().await;
    ensure_namespace(&admin, WARN_NAMESPACE).await;
    let alice = human("alice").await;
    let manifest = secret_yaml(
        WARN_NAMESPACE,
        &unique("reload"),
        &[("password", "hunter2")],
    );

    let path = env().policy.clone();
    let original = std::fs::read(&path).expect("read the policy file");
    let text = String::from_utf8(original.clone()).expect("UTF-8 policy");
    assert!(
        text.contains(WARN_LINE),
        "tests/e2e/policy.yaml lists {WARN_NAMESPACE} as warn"
    );
    let restore = Restore {
        path: path.clone(),
        original,
    };

    // As installed: the developer's write is admitted with a warning.
    let warned = dry_run(&alice, &manifest);
    warned.expect_ok();
    assert_contains(
        &warned.stderr,
        &["Warning: [VG101 unmanaged-secret]"],
        "warn mode",
    );

    // The namespace is switched to enforce in the file: kubectl is denied, with no restart.
    let enforcing = text.replace(WARN_LINE, ENFORCE_LINE);
    write_policy(&path, enforcing.as_bytes());
    let denied = dry_run_until(&alice, &manifest, |out| !out.success).await;
    assert_contains(
        &denied.stderr,
        &[
            "admission webhook",
            SECRETS_VALIDATE,
            "VG101 unmanaged-secret",
        ],
        "the denial after the switch",
    );

    // A typo: rejected, logged naming the field, counted; the namespace stays enforced.
    let errors_before = policy_errors().await;
    write_policy(&path, format!("{enforcing}aproved: []\n").as_bytes());
    let until = Instant::now() + DEADLINE;
    while policy_errors().await <= errors_before {
        assert!(
            Instant::now() < until,
            "the invalid policy was never counted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        rejection_logged("aproved"),
        "vaultgate.log names the bad field"
    );
    dry_run(&alice, &manifest).expect_failed();

    // Back to the file as shipped, and to warnings, before other tests run.
    drop(restore);
    let warned_again = dry_run_until(&alice, &manifest, |out| out.success).await;
    assert_contains(&warned_again.stderr, &["Warning: [VG101"], "warn again");
}
