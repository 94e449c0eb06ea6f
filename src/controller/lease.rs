//! Leader election on a `coordination.k8s.io/v1` Lease, so one replica acts (kube-runtime 5 has
//! no lease helper). The algorithm follows client-go's leaderelection:
//!
//! - no Lease → create it holding it (AlreadyExists: someone else won);
//! - we hold it → renew `renewTime` with a replace guarded by `resourceVersion`;
//! - someone else holds it → take it over only once the record has not changed for a whole
//!   `leaseDurationSeconds` *as measured on our clock* (no trust in other nodes' clocks);
//! - a 409 Conflict on any write means another replica moved first: not leader this round.
//!
//! Leadership is dropped locally when renewals fail for longer than the renew deadline (2/3 of
//! the lease duration), i.e. before any other replica may take over. On shutdown the lease is
//! released (empty holder, 1 s duration) so a successor starts at once. Even a brief overlap
//! would be safe: every handover step is guarded by Vault check-and-set and resourceVersion.

use std::time::{Duration, Instant};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub name: String,
    /// This replica's identity (pod name), recorded as `holderIdentity`.
    pub identity: String,
    pub duration: Duration,
    /// How often to renew or retry.
    pub retry: Duration,
}

/// One replica's view of the lease.
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    /// The resourceVersion of the last record seen and when we first saw it.
    observed: Option<(String, Instant)>,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

impl Elector {
    pub fn new(api: Api<Lease>, cfg: LeaseConfig) -> Self {
        Self {
            api,
            cfg,
            observed: None,
        }
    }

    /// One round. `Ok(true)`: we hold the lease now.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.cfg.identity.clone()),
                    lease_duration_seconds: Some(seconds(self.cfg.duration)),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.is_already_exists() || s.is_conflict() => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        // Every write (a renewal included) changes the resourceVersion.
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(seen, _)| *seen != rv) {
            self.observed = Some((rv, Instant::now()));
        }
        let held_for = spec.lease_duration_seconds.map_or(self.cfg.duration, |s| {
            Duration::from_secs(u64::try_from(s).unwrap_or(1))
        });
        let expired = self
            .observed
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() > held_for);
        if holder == self.cfg.identity {
            spec.renew_time = Some(now());
            spec.lease_duration_seconds = Some(seconds(self.cfg.duration));
        } else if holder.is_empty() || expired {
            spec.holder_identity = Some(self.cfg.identity.clone());
            spec.lease_duration_seconds = Some(seconds(self.cfg.duration));
            spec.acquire_time = Some(now());
            spec.renew_time = Some(now());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        } else {
            return Ok(false);
        }
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up if we hold it.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Runs the election until `stop` turns true, publishing leadership on `leader`. Releases the
/// lease on the way out.
pub async fn run(
    mut elector: Elector,
    leader: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let renew_deadline = elector.cfg.duration * 2 / 3;
    let mut last_renewed: Option<Instant> = None;
    loop {
        let is_leader = match elector.try_acquire_or_renew().await {
            Ok(true) => {
                last_renewed = Some(Instant::now());
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(lease = %elector.cfg.name, error = %e, "cannot renew or acquire the lease");
                last_renewed.is_some_and(|at| at.elapsed() < renew_deadline)
            }
        };
        if !is_leader {
            last_renewed = None;
        }
        if *leader.borrow() != is_leader {
            tracing::info!(lease = %elector.cfg.name, identity = %elector.cfg.identity, leader = is_leader, "leadership changed");
            leader.send_replace(is_leader);
        }
        tokio::select! {
            () = tokio::time::sleep(elector.cfg.retry) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    leader.send_replace(false);
    if let Err(e) = elector.release().await {
        tracing::warn!(lease = %elector.cfg.name, error = %e, "cannot release the lease");
    } else {
        tracing::info!(lease = %elector.cfg.name, "released the lease");
    }
}

#[cfg(test)]
mod tests {
    //! The Lease sequencing at the API level, against the scripted apiserver of
    //! `controller::scripted` (`tower::service_fn` behind `kube::Client::new`, in the style of
    //! kube's and controller-rs's `tower_test::mock` tests). Each step asserts the verb, the path
    //! and the body the elector sends, and answers; a call beyond the script fails.

    use serde_json::{Value, json};

    use super::*;
    use crate::controller::scripted::{Script, Step, client, done, status, step};

    const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";
    const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/vg";

    fn elector(identity: &str, steps: Vec<Step>) -> (Elector, Script) {
        let (client, remaining) = client(steps, Default::default());
        let api = Api::namespaced(client, "ns");
        let cfg = LeaseConfig {
            name: "vg".into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            retry: Duration::from_secs(1),
        };
        (Elector::new(api, cfg), remaining)
    }

    fn lease(rv: &str, holder: Option<&str>, seconds: i32, transitions: i32) -> Value {
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": { "name": "vg", "namespace": "ns", "resourceVersion": rv },
            "spec": { "holderIdentity": holder, "leaseDurationSeconds": seconds, "leaseTransitions": transitions },
        })
    }

    #[tokio::test]
    async fn creates_a_missing_lease_then_renews_it_guarded_by_its_resource_version() {
        let (mut e, script) = elector(
            "me",
            vec![
                step("GET", LEASE, 404, status(404, "NotFound")),
                Step {
                    check: |sent| {
                        assert_eq!(sent["metadata"]["name"], "vg");
                        assert_eq!(sent["spec"]["holderIdentity"], "me");
                        assert_eq!(sent["spec"]["leaseDurationSeconds"], 15);
                        assert_eq!(sent["spec"]["leaseTransitions"], 0);
                        assert!(sent["spec"]["acquireTime"].is_string());
                    },
                    ..step("POST", LEASES, 201, lease("1", Some("me"), 15, 0))
                },
                step("GET", LEASE, 200, lease("7", Some("me"), 15, 0)),
                Step {
                    check: |sent| {
                        assert_eq!(sent["metadata"]["resourceVersion"], "7");
                        assert_eq!(sent["spec"]["holderIdentity"], "me");
                        assert!(sent["spec"]["renewTime"].is_string());
                        assert_eq!(sent["spec"]["leaseTransitions"], 0, "a renewal");
                    },
                    ..step("PUT", LEASE, 200, lease("8", Some("me"), 15, 0))
                },
            ],
        );
        assert!(e.try_acquire_or_renew().await.unwrap(), "created");
        assert!(e.try_acquire_or_renew().await.unwrap(), "renewed");
        done(&script);
    }

    #[tokio::test]
    async fn a_lease_held_by_a_live_leader_is_never_written() {
        let (mut e, script) = elector(
            "me",
            vec![step("GET", LEASE, 200, lease("3", Some("other"), 15, 0))],
        );
        assert!(!e.try_acquire_or_renew().await.unwrap());
        done(&script);
    }

    #[tokio::test]
    async fn takes_over_only_after_a_whole_duration_without_a_renewal() {
        let (mut e, script) = elector(
            "me",
            vec![
                step("GET", LEASE, 200, lease("3", Some("other"), 1, 1)),
                // Renewed by its holder after more than a duration: the clock starts again.
                step("GET", LEASE, 200, lease("4", Some("other"), 1, 1)),
                step("GET", LEASE, 200, lease("4", Some("other"), 1, 1)),
                Step {
                    check: |sent| {
                        assert_eq!(sent["metadata"]["resourceVersion"], "4");
                        assert_eq!(sent["spec"]["holderIdentity"], "me");
                        assert_eq!(sent["spec"]["leaseTransitions"], 2);
                        assert_eq!(sent["spec"]["leaseDurationSeconds"], 15);
                    },
                    ..step("PUT", LEASE, 200, lease("5", Some("me"), 15, 2))
                },
            ],
        );
        let duration = Duration::from_millis(1100);
        assert!(!e.try_acquire_or_renew().await.unwrap(), "held");
        tokio::time::sleep(duration).await;
        assert!(!e.try_acquire_or_renew().await.unwrap(), "renewed, held");
        tokio::time::sleep(duration).await;
        assert!(e.try_acquire_or_renew().await.unwrap(), "expired: taken");
        done(&script);
    }

    #[tokio::test]
    async fn already_exists_or_a_conflict_means_another_replica_moved_first() {
        let (mut e, script) = elector(
            "me",
            vec![
                step("GET", LEASE, 404, status(404, "NotFound")),
                step("POST", LEASES, 409, status(409, "AlreadyExists")),
                step("GET", LEASE, 200, lease("9", Some("me"), 15, 0)),
                step("PUT", LEASE, 409, status(409, "Conflict")),
            ],
        );
        assert!(!e.try_acquire_or_renew().await.unwrap(), "lost the create");
        assert!(!e.try_acquire_or_renew().await.unwrap(), "lost the renewal");
        done(&script);
    }

    #[tokio::test]
    async fn release_empties_the_holder_only_when_it_is_ours() {
        let (mut e, script) = elector(
            "me",
            vec![
                step("GET", LEASE, 200, lease("3", Some("other"), 15, 0)),
                step("GET", LEASE, 200, lease("4", Some("me"), 15, 0)),
                Step {
                    check: |sent| {
                        assert_eq!(sent["metadata"]["resourceVersion"], "4");
                        assert!(sent["spec"]["holderIdentity"].is_null());
                        assert_eq!(sent["spec"]["leaseDurationSeconds"], 1);
                    },
                    ..step("PUT", LEASE, 200, lease("5", None, 1, 0))
                },
            ],
        );
        e.release().await.unwrap();
        e.release().await.unwrap();
        done(&script);
    }
}
