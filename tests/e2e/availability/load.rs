//! The steady admission load during a test: workers, their counts, the verdict check, and the
//! final no-failure assertion.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::task::JoinHandle;

use crate::harness::*;

/// A steady load of server-side dry-run Secret creates in a governed namespace, alternating
/// alice (vaultgate denies: exactly VG101) and the CNPG operator (vaultgate admits and stamps
/// `secret-class: internal`). Anything else is a failure.
pub(super) struct Load {
    stop: Arc<AtomicBool>,
    verdicts: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    samples: Arc<Mutex<Vec<String>>>,
    workers: Vec<JoinHandle<()>>,
}

#[derive(Clone, Copy)]
pub(super) struct Counts {
    verdicts: u64,
    failures: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests, {} vaultgate verdicts, {} failures",
            self.verdicts + self.failures,
            self.verdicts,
            self.failures
        )
    }
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            verdicts: self.verdicts - earlier.verdicts,
            failures: self.failures - earlier.failures,
        }
    }
}

impl Load {
    pub(super) async fn start(workers: usize) -> Self {
        let admin = admin().await;
        let ns = namespace(&admin, "load").await;
        let alice = human("alice").await;
        let cnpg = service_account(CNPG).await;
        let mut load = Self {
            stop: Arc::new(AtomicBool::new(false)),
            verdicts: Arc::new(AtomicU64::new(0)),
            failures: Arc::new(AtomicU64::new(0)),
            samples: Arc::new(Mutex::new(Vec::new())),
            workers: Vec::new(),
        };
        for worker in 0..workers {
            let (stop, verdicts, failures, samples) = (
                load.stop.clone(),
                load.verdicts.clone(),
                load.failures.clone(),
                load.samples.clone(),
            );
            let (alice, cnpg, ns) = (alice.client.clone(), cnpg.client.clone(), ns.clone());
            load.workers.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let name = format!("load-{worker}-{n}");
                    let admit = n.is_multiple_of(2);
                    let secret = secret(&ns, &name, &[("password", "load")]);
                    let result = if admit {
                        create_dry_run(&cnpg, &secret).await
                    } else {
                        create_dry_run(&alice, &secret).await
                    };
                    match judge(result, admit) {
                        Ok(()) => verdicts.fetch_add(1, Ordering::Relaxed),
                        Err(why) => {
                            let mut samples = samples.lock().unwrap();
                            if samples.len() < 10 {
                                samples.push(why);
                            }
                            failures.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }));
        }
        load
    }

    pub(super) fn counts(&self) -> Counts {
        Counts {
            verdicts: self.verdicts.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    pub(super) async fn stop(mut self) -> (Counts, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers.drain(..) {
            worker.await.expect("load worker");
        }
        (self.counts(), self.samples.lock().unwrap().clone())
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Ok when `result` is vaultgate's expected verdict; otherwise what came back instead (the
/// apiserver's error text: it never holds a value; an admitted object is never printed).
fn judge(result: kube::Result<kube::api::DynamicObject>, admit: bool) -> Result<(), String> {
    match (result, admit) {
        (Ok(obj), true) => {
            let class = obj
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(&format!("{P}secret-class")).cloned());
            if class.as_deref() == Some("internal") {
                Ok(())
            } else {
                Err(format!(
                    "the operator's Secret was admitted without vaultgate's stamp (class {class:?})"
                ))
            }
        }
        (Ok(_), false) => Err("alice's Secret was admitted".to_owned()),
        (Err(kube::Error::Api(s)), false)
            if s.code == 403
                && s.message.contains(&format!(
                    "admission webhook \"{SECRETS_VALIDATE}\" denied the request: vaultgate denied"
                ))
                && rule_ids(&s.message) == ["VG101"] =>
        {
            Ok(())
        }
        (Err(e), _) => Err(error_text(&e)),
    }
}

pub(super) fn assert_no_failures(
    test: &str,
    phases: &[(&str, Counts)],
    total: Counts,
    samples: &[String],
) {
    for (phase, counts) in phases {
        println!("availability: {test}: {phase}: {counts}");
    }
    println!("availability: {test}: total: {total}");
    assert_eq!(
        total.failures,
        0,
        "{test}: {} admissions failed (not vaultgate's verdict); first ones:\n{}",
        total.failures,
        samples.join("\n")
    );
    for (phase, counts) in phases {
        assert!(
            counts.verdicts > 0,
            "{test}: no request was answered during {phase}; the load did not cover it"
        );
    }
}

/// Waits `for_` with the load running and returns the counts of that window.
pub(super) async fn soak(load: &Load, for_: Duration) -> Counts {
    let before = load.counts();
    tokio::time::sleep(for_).await;
    load.counts() - before
}
