//! A broken webhook cannot lock the cluster: the exempt namespaces (kube-system, vaultgate's
//! own) are never sent to vaultgate, so they stay writable while governed namespaces fail
//! closed (failurePolicy: Fail). Proven with vaultgate hung (SIGSTOP) and dead (killed), then
//! restarted exactly as the harness started it; recovery is immediate (the first write after
//! `/readyz` is 200 gets vaultgate's verdict, the time it took is printed).
//!
//! This test takes the cluster lock exclusively: no other test runs while vaultgate is down.

use std::time::{Duration, Instant};

use crate::harness::*;

fn webhook_pid() -> u32 {
    pid_in(&env().webhook_pidfile)
}

async fn wait_ready() {
    wait_ready_at(&webhook_https_client(&[]), &env().webhook_url).await;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Stopped,
    Dead,
}

/// Controls vaultgate's process; on drop (also on a failed assertion) it is brought back.
struct Outage {
    pid: u32,
    state: State,
}

impl Outage {
    fn new() -> Self {
        let pid = webhook_pid();
        assert!(
            alive(pid),
            "vaultgate (pid {pid}) is not running at the start of the test"
        );
        Self {
            pid,
            state: State::Running,
        }
    }

    fn hang(&mut self) {
        signal(self.pid, "STOP");
        self.state = State::Stopped;
    }

    fn resume(&mut self) {
        signal(self.pid, "CONT");
        self.state = State::Running;
    }

    fn kill(&mut self) {
        signal(self.pid, "TERM");
        self.state = State::Dead;
        let deadline = Instant::now() + Duration::from_secs(15);
        while alive(self.pid) {
            if Instant::now() > deadline {
                signal(self.pid, "KILL");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn restart(&mut self) {
        let status = std::process::Command::new("bash")
            .arg(&env().webhook_start)
            .status()
            .expect("run start-webhook.sh");
        assert!(status.success(), "{} failed", env().webhook_start.display());
        self.pid = webhook_pid();
        self.state = State::Running;
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        match self.state {
            State::Running => {}
            State::Stopped => {
                let _ = std::process::Command::new("kill")
                    .arg("-CONT")
                    .arg(self.pid.to_string())
                    .status();
            }
            State::Dead => {
                let _ = std::process::Command::new("bash")
                    .arg(&env().webhook_start)
                    .status();
            }
        }
    }
}

/// alice applies a fresh Secret into `ns`; returns (kubectl result, its name, seconds taken).
fn alice_writes(alice: &Identity, ns: &str) -> (Kubectl, String, f64) {
    let name = unique("probe");
    let started = Instant::now();
    let out = alice.kubectl(
        &["apply", "-f", "-"],
        Some(&secret_yaml(ns, &name, &[("k", "v")])),
    );
    (out, name, started.elapsed().as_secs_f64())
}

async fn exempt_writes_succeed(admin: &kube::Client, alice: &Identity, phase: &str) {
    for ns in ["kube-system", "vaultgate-system"] {
        let (out, name, took) = alice_writes(alice, ns);
        assert!(
            out.success,
            "{phase}: alice's write in exempt namespace {ns} failed after {took:.1}s:\n{}",
            out.stderr
        );
        assert!(
            get_secret(admin, ns, &name).await.is_some(),
            "{phase}: {ns}/{name} not stored"
        );
        // Not sent to vaultgate at all, so never waiting for the 5 s webhook timeout.
        assert!(
            took < 4.0,
            "{phase}: the write in {ns} took {took:.1}s; was it sent to the webhook?"
        );
    }
}

async fn governed_write_fails_closed(
    admin: &kube::Client,
    alice: &Identity,
    ns: &str,
    phase: &str,
    cause: &str,
) {
    let (out, name, _) = alice_writes(alice, ns);
    out.expect_failed();
    let host = env().webhook_url.trim_start_matches("https://");
    // Mutating webhooks run before validating ones, so the mutating one is the first to fail.
    let failed = format!("failed calling webhook \"{SECRETS_MUTATE}\"");
    assert_contains(&out.stderr, &[&failed, host, cause], phase);
    assert!(
        get_secret(admin, ns, &name).await.is_none(),
        "{phase}: a write that failed closed must not be stored"
    );
}

#[tokio::test]
async fn exempt_namespaces_stay_writable_and_governed_writes_fail_closed_while_vaultgate_is_down() {
    let _cluster = exclusive().await;
    let admin = admin().await;
    let alice = human("alice").await;
    let governed = namespace(&admin, "payments").await;

    // vaultgate up: exempt namespaces are writable, the governed one is judged.
    exempt_writes_succeed(&admin, &alice, "vaultgate up").await;
    let (out, _, _) = alice_writes(&alice, &governed);
    out.expect_failed();
    assert_eq!(rule_ids(&out.stderr), ["VG101"], "{}", out.stderr);

    let mut outage = Outage::new();

    // Hung: the apiserver gives up after the webhook's timeoutSeconds.
    outage.hang();
    exempt_writes_succeed(&admin, &alice, "vaultgate hung").await;
    governed_write_fails_closed(
        &admin,
        &alice,
        &governed,
        "vaultgate hung",
        "context deadline exceeded",
    )
    .await;
    outage.resume();

    // Dead: nothing listens on the port.
    outage.kill();
    exempt_writes_succeed(&admin, &alice, "vaultgate dead").await;
    governed_write_fails_closed(
        &admin,
        &alice,
        &governed,
        "vaultgate dead",
        "connection refused",
    )
    .await;

    // Back: restarted as the harness started it. Recovery is immediate: the first write after
    // /readyz answers 200 gets vaultgate's verdict. Retrying is allowed for one cause only, the
    // apiserver still holding a dead connection to the old process (a connection-level error
    // naming the webhook). Not "connection refused": once /readyz is 200 the port listens, so a
    // refusal would be a real problem. Any other failure, or another verdict, fails at once.
    outage.restart();
    wait_ready().await;
    let ready = Instant::now();
    let mut attempts = 0;
    let deadline = ready + Duration::from_secs(30);
    loop {
        attempts += 1;
        let (out, _, _) = alice_writes(&alice, &governed);
        out.expect_failed();
        if rule_ids(&out.stderr) == ["VG101"] {
            break;
        }
        let connection_level = out.stderr.contains("failed calling webhook")
            && [
                "connection reset",
                "EOF",
                "broken pipe",
                "use of closed network connection",
            ]
            .iter()
            .any(|cause| out.stderr.contains(cause));
        assert!(
            connection_level,
            "after the restart (/readyz 200), a write failed for another reason than a stale \
             connection:\n{}",
            out.stderr
        );
        assert!(
            Instant::now() < deadline,
            "vaultgate did not judge writes again within 30 s of /readyz turning 200:\n{}",
            out.stderr
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "fail_closed: after the restart, vaultgate's verdict came back on write #{attempts}, \
         {:.3} s after /readyz turned 200",
        ready.elapsed().as_secs_f64()
    );
}
