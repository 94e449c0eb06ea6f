//! Availability under change (issue #7 item 6), each with a steady load of Secret creates
//! through the real apiserver, counting every answer that is not vaultgate's own verdict:
//!
//! - certificate rotation: a leaf rotated under the same CA, then a CA rollover (caBundle with
//!   old + new CA, leaf signed by the new CA, old CA removed);
//! - a rolling restart of two vaultgate processes behind a round-robin TCP balancer.
//!
//! Both run dedicated vaultgate processes (started by run.sh's start-webhook.sh, so with the same
//! policy, identity, client CA and flags) and point the shared webhook configurations at them.
//! They hold the suite's lock exclusively, so no other test runs while the configurations point
//! elsewhere, and they put the configurations back (and wait until the harness's vaultgate
//! answers again) before they let go of it.
//!
//! Every step that changes what the apiserver talks to moves the webhooks to new balancer
//! listeners (a new URL): the apiserver's webhook client cache is keyed by the client config, so
//! the first connection accepted on a new listener proves it uses the new configuration, and
//! that connection's handshake is made against the certificate served at that moment.
//!
//! No timing is asserted: the figures (time to serve a new certificate, requests per phase) are
//! printed, and only eventual outcomes and failure counts are asserted.
//!
//! Layout: `balancer` (the TCP balancer), `instance` (certificate volume, vaultgate processes,
//! served-certificate probing), `webhooks` (moving and restoring the webhook configurations),
//! `load` (the steady load and its verdicts); this file holds the two tests.

mod balancer;
mod instance;
mod load;
mod webhooks;

use std::{
    net::Ipv4Addr,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use rustls::pki_types::{CertificateDer, pem::PemObject};
use vaultgate::certs::CertAuthority;

use crate::harness::*;
use balancer::Balancer;
use instance::{CertVolume, Instance, served_leaf, wait_served};
use load::{Load, assert_no_failures, soak};
use webhooks::Webhooks;

fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn leaf_der(cert_pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .expect("leaf PEM")
        .to_vec()
}

// Multi-threaded: the balancer's relaying tasks must keep running while a thread blocks
// (an `Instance` drop waits for its process), or a draining vaultgate's GOAWAY never reaches the
// apiserver and its drain waits for connections nobody relays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_and_ca_rollover_under_load_fail_no_admission() {
    let _cluster = exclusive().await;
    let admin = admin().await;
    let dir = env().dir.join(unique("rotation"));
    let old_ca = CertAuthority::generate(1).expect("old CA");
    let new_ca = CertAuthority::generate(1).expect("new CA");
    let sign = |ca: &CertAuthority| {
        ca.sign_server(&["localhost".to_owned()], &[Ipv4Addr::LOCALHOST.into()], 1)
            .expect("serving certificate")
    };
    let first = sign(&old_ca);
    let mut volume = CertVolume::new(dir.join("certs"), &first);
    let instance = Instance::start("rotation", &volume.dir, "0s");
    let old_pem = old_ca.cert_pem().to_owned();
    let new_pem = new_ca.cert_pem().to_owned();
    let both_pem = format!("{new_pem}{old_pem}");
    wait_ready_at(
        &webhook_https_client(&[old_pem.as_bytes()]),
        &instance.base(),
    )
    .await;
    assert_eq!(
        served_leaf(instance.port, &[&old_pem]).await.as_deref(),
        Ok(leaf_der(&first.cert_pem).as_slice()),
        "the rotation instance serves its first certificate"
    );

    let mut balancer = Balancer::new(vec![instance.addr()]);
    let webhooks = Webhooks::take(&admin).await;
    let load = Load::start(2).await;
    webhooks
        .move_to(&mut balancer, old_pem.as_bytes(), "start (old CA)")
        .await;
    let mut phases = vec![("before rotation", soak(&load, Duration::from_secs(2)).await)];

    // 1. Leaf rotation under the same CA.
    let before = load.counts();
    let second = sign(&old_ca);
    let changed = volume.swap(&second);
    let took = wait_served(
        instance.port,
        &[&old_pem],
        &leaf_der(&second.cert_pem),
        changed,
    )
    .await;
    println!(
        "availability: rotation: leaf rotated (same CA): new certificate sha256 {} served {:.3} s \
         after the files changed",
        &sha256_hex(&leaf_der(&second.cert_pem))[..16],
        took.as_secs_f64()
    );
    // New connections (a new URL) handshake against the rotated leaf.
    webhooks
        .move_to(&mut balancer, old_pem.as_bytes(), "leaf rotated")
        .await;
    soak(&load, Duration::from_secs(2)).await;
    phases.push(("leaf rotation", load.counts() - before));

    // 2. CA rollover: bundle old + new, then the leaf of the new CA, then only the new CA.
    let before = load.counts();
    webhooks
        .move_to(&mut balancer, both_pem.as_bytes(), "caBundle old+new")
        .await;
    soak(&load, Duration::from_secs(1)).await;
    let third = sign(&new_ca);
    let changed = volume.swap(&third);
    let took = wait_served(
        instance.port,
        &[&both_pem],
        &leaf_der(&third.cert_pem),
        changed,
    )
    .await;
    println!(
        "availability: rotation: leaf of the new CA: sha256 {} served {:.3} s after the files \
         changed",
        &sha256_hex(&leaf_der(&third.cert_pem))[..16],
        took.as_secs_f64()
    );
    webhooks
        .move_to(
            &mut balancer,
            both_pem.as_bytes(),
            "new-CA leaf, caBundle old+new",
        )
        .await;
    soak(&load, Duration::from_secs(1)).await;
    webhooks
        .move_to(&mut balancer, new_pem.as_bytes(), "old CA removed")
        .await;
    soak(&load, Duration::from_secs(2)).await;
    phases.push(("CA rollover", load.counts() - before));

    let metrics = instance
        .metrics(&webhook_https_client(&[new_pem.as_bytes()]))
        .await;
    let reloads = metrics
        .lines()
        .find(|l| l.starts_with("vaultgate_tls_reloads_total{result=\"ok\"}"))
        .unwrap_or("vaultgate_tls_reloads_total{result=\"ok\"} (absent)")
        .to_owned();
    println!("availability: rotation: {reloads}");

    webhooks.restore(&load).await;
    let (total, samples) = load.stop().await;
    println!(
        "availability: rotation: balancer: {} connections forwarded",
        balancer.forwarded.load(Ordering::Relaxed)
    );
    drop(balancer);
    let took = instance.stop().await;
    println!(
        "availability: rotation: instance exited {:.2} s after SIGTERM",
        took.as_secs_f64()
    );
    assert_no_failures("certificate rotation", &phases, total, &samples);
}

/// Polls `/readyz` of the instance being stopped until the process is gone: when `/readyz` first
/// answered 503, when connections were first refused, and when the process had exited.
async fn watch_shutdown(
    client: &reqwest::Client,
    instance: &Instance,
    pid: u32,
) -> (f64, f64, f64) {
    let sigterm = Instant::now();
    let (mut not_ready, mut refused) = (None, None);
    let url = format!("{}/readyz", instance.base());
    while alive(pid) || refused.is_none() {
        match client.get(&url).send().await {
            Ok(r) if r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                not_ready.get_or_insert(sigterm.elapsed());
            }
            Ok(r) if r.status().is_success() => {}
            Ok(r) => panic!(
                "{} /readyz answered {} during shutdown",
                instance.name,
                r.status()
            ),
            Err(_) => {
                refused.get_or_insert(sigterm.elapsed());
            }
        }
        assert!(
            sigterm.elapsed() < Duration::from_secs(60),
            "{} did not stop within 60 s of SIGTERM",
            instance.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let not_ready = not_ready.unwrap_or_else(|| {
        panic!(
            "{}: /readyz never answered 503 between SIGTERM and the port closing: it stopped \
             accepting before it reported not ready",
            instance.name
        )
    });
    let refused = refused.expect("loop ends once refused");
    assert!(
        not_ready < refused,
        "{}: /readyz turned 503 at {not_ready:?}, after the port closed at {refused:?}",
        instance.name
    );
    (
        not_ready.as_secs_f64(),
        refused.as_secs_f64(),
        sigterm.elapsed().as_secs_f64(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_of_two_replicas_behind_a_balancer_fails_no_admission() {
    let _cluster = exclusive().await;
    let admin = admin().await;
    // The harness's certificates (read only), and a shutdown delay so that /readyz fails while
    // the port still serves, as in a Deployment behind a Service.
    let certs = env().dir.join("webhook");
    let replicas = [
        Instance::start("replica-a", &certs, "2s"),
        Instance::start("replica-b", &certs, "2s"),
    ];
    let client = webhook_https_client(&[]);
    // No connection reuse while watching a shutdown: each /readyz answer proves that the port
    // still accepted a new connection.
    let fresh = webhook_https_builder(&[])
        .pool_max_idle_per_host(0)
        .build()
        .expect("reqwest client");
    for replica in &replicas {
        wait_ready_at(&client, &replica.base()).await;
    }
    let ca = std::fs::read(&env().webhook_ca).expect("webhook CA");
    let mut balancer = Balancer::new(replicas.iter().map(Instance::addr).collect());
    let webhooks = Webhooks::take(&admin).await;
    let load = Load::start(2).await;
    webhooks
        .move_to(&mut balancer, &ca, "two replicas behind the balancer")
        .await;
    let mut phases = vec![(
        "both replicas serving",
        soak(&load, Duration::from_secs(2)).await,
    )];

    for replica in &replicas {
        let before = load.counts();
        let (validate, mutate) = reviews_by_route(&replica.metrics(&client).await);
        let pid = replica.pid();
        signal(pid, "TERM");
        let (not_ready, refused, exited) = watch_shutdown(&fresh, replica, pid).await;
        replica.wait_exit(pid);
        println!(
            "availability: rolling restart: {} (had answered {validate} validate + {mutate} \
             mutate reviews): /readyz 503 {not_ready:.2} s after SIGTERM, port closed \
             {refused:.2} s, process exited (drained) by {exited:.2} s",
            replica.name
        );
        replica.launch();
        let restarted = Instant::now();
        wait_ready_at(&client, &replica.base()).await;
        println!(
            "availability: rolling restart: {} ready {:.2} s after its restart",
            replica.name,
            restarted.elapsed().as_secs_f64()
        );
        soak(&load, Duration::from_secs(2)).await;
        phases.push((
            if replica.name.starts_with("replica-a") {
                "restart of replica a"
            } else {
                "restart of replica b"
            },
            load.counts() - before,
        ));
    }
    for replica in &replicas {
        let (validate, mutate) = reviews_by_route(&replica.metrics(&client).await);
        println!(
            "availability: rolling restart: {} answered {validate} validate + {mutate} mutate \
             reviews since its restart",
            replica.name
        );
    }

    webhooks.restore(&load).await;
    let (total, samples) = load.stop().await;
    println!(
        "availability: rolling restart: balancer: {} connections forwarded, {} connects to a \
         stopped replica skipped",
        balancer.forwarded.load(Ordering::Relaxed),
        balancer.skipped.load(Ordering::Relaxed)
    );
    drop(balancer);
    for replica in &replicas {
        let took = replica.stop().await;
        println!(
            "availability: rolling restart: {} exited {:.2} s after its final SIGTERM",
            replica.name,
            took.as_secs_f64()
        );
    }
    assert_no_failures("rolling restart", &phases, total, &samples);
}
