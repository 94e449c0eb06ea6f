//! A round-robin TCP balancer in front of vaultgate instances, with one listener per webhook
//! URL so a moved configuration is seen by its first accepted connection.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{net::TcpStream, sync::watch, task::JoinHandle};

/// A round-robin TCP balancer (TLS passes through untouched): each accepted connection goes to
/// the next backend that accepts a TCP connection; backends that refuse are skipped. Every
/// listener (`front`) counts its accepted connections.
pub(super) struct Balancer {
    backends: Arc<Vec<SocketAddr>>,
    next: Arc<AtomicUsize>,
    pub(super) skipped: Arc<AtomicU64>,
    pub(super) forwarded: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// One balancer listener.
pub(super) struct Front {
    pub(super) port: u16,
    pub(super) accepted: Arc<AtomicU64>,
}

impl Balancer {
    pub(super) fn new(backends: Vec<SocketAddr>) -> Self {
        Self {
            backends: Arc::new(backends),
            next: Arc::new(AtomicUsize::new(0)),
            skipped: Arc::new(AtomicU64::new(0)),
            forwarded: Arc::new(AtomicU64::new(0)),
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        }
    }

    pub(super) async fn front(&mut self) -> Front {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("balancer listener");
        let port = listener.local_addr().expect("listener address").port();
        let accepted = Arc::new(AtomicU64::new(0));
        let (backends, next, skipped, forwarded, counter) = (
            self.backends.clone(),
            self.next.clone(),
            self.skipped.clone(),
            self.forwarded.clone(),
            accepted.clone(),
        );
        let stop = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let (backends, next, skipped, forwarded, mut stop) = (
                    backends.clone(),
                    next.clone(),
                    skipped.clone(),
                    forwarded.clone(),
                    stop.clone(),
                );
                tokio::spawn(async move {
                    tokio::select! {
                        () = forward(inbound, &backends, &next, &skipped, &forwarded) => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                });
            }
        }));
        Front { port, accepted }
    }
}

async fn forward(
    mut inbound: TcpStream,
    backends: &[SocketAddr],
    next: &AtomicUsize,
    skipped: &AtomicU64,
    forwarded: &AtomicU64,
) {
    let first = next.fetch_add(1, Ordering::Relaxed);
    for i in 0..backends.len() {
        let addr = backends[(first + i) % backends.len()];
        match tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await {
            Ok(Ok(mut outbound)) => {
                let _ = outbound.set_nodelay(true);
                let _ = inbound.set_nodelay(true);
                forwarded.fetch_add(1, Ordering::Relaxed);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                return;
            }
            _ => {
                skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // No backend accepts: the client sees its connection closed (as from a real balancer).
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}
