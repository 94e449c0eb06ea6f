//! The vaultgate side: a certificate volume rotated like a mounted Secret, vaultgate processes
//! started by start-webhook.sh, and probes of the certificate a fresh handshake is served.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
};
use tokio::net::TcpStream;
use vaultgate::certs::IssuedCert;

use super::sha256_hex;
use crate::harness::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A serving certificate directory laid out like a mounted Secret volume: `tls.crt` and
/// `tls.key` are symlinks through `..data`, which is swapped atomically (a rename), as the
/// kubelet does. A rotation therefore never shows a half-written pair.
pub(super) struct CertVolume {
    pub(super) dir: PathBuf,
    generation: u32,
}

impl CertVolume {
    pub(super) fn new(dir: PathBuf, leaf: &IssuedCert) -> Self {
        std::fs::create_dir_all(&dir).expect("certificate volume");
        let mut volume = Self { dir, generation: 0 };
        volume.swap(leaf);
        for file in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{file}"), volume.dir.join(file))
                .expect("tls symlink");
        }
        volume
    }

    /// Writes `leaf` into a new timestamp directory and points `..data` at it; returns when the
    /// rename is done (the moment the files change).
    pub(super) fn swap(&mut self, leaf: &IssuedCert) -> Instant {
        self.generation += 1;
        let data = format!("..gen-{}", self.generation);
        let target = self.dir.join(&data);
        std::fs::create_dir(&target).expect("certificate generation dir");
        vaultgate::certs::write_atomic(&target.join("tls.crt"), leaf.cert_pem.as_bytes(), false)
            .expect("write tls.crt");
        vaultgate::certs::write_atomic(&target.join("tls.key"), leaf.key_pem.as_bytes(), true)
            .expect("write tls.key");
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&data, &tmp).expect("..data_tmp symlink");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("swap ..data");
        Instant::now()
    }
}

/// A vaultgate process started by start-webhook.sh as `NAME PORT CERT_DIR`.
pub(super) struct Instance {
    pub(super) name: String,
    pub(super) port: u16,
    cert_dir: PathBuf,
    shutdown_delay: &'static str,
}

impl Instance {
    pub(super) fn start(name: &str, cert_dir: &Path, shutdown_delay: &'static str) -> Self {
        let instance = Self {
            name: unique(name),
            port: free_port(),
            cert_dir: cert_dir.to_owned(),
            shutdown_delay,
        };
        instance.launch();
        instance
    }

    pub(super) fn launch(&self) {
        let status = Command::new("bash")
            .arg(&env().webhook_start)
            .arg(&self.name)
            .arg(self.port.to_string())
            .arg(&self.cert_dir)
            .env("VAULTGATE_SHUTDOWN_DELAY", self.shutdown_delay)
            .status()
            .expect("run start-webhook.sh");
        assert!(
            status.success(),
            "{} {} failed",
            env().webhook_start.display(),
            self.name
        );
    }

    fn pidfile(&self) -> PathBuf {
        env().dir.join(format!("{}.pid", self.name))
    }

    pub(super) fn pid(&self) -> u32 {
        pid_in(&self.pidfile())
    }

    pub(super) fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    pub(super) fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> PathBuf {
        env()
            .dir
            .join("logs")
            .join(format!("vaultgate-{}.log", self.name))
    }

    /// Its /metrics, also kept in the logs directory for run.sh's canary scan.
    pub(super) async fn metrics(&self, client: &reqwest::Client) -> String {
        let text = client
            .get(format!("{}/metrics", self.base()))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("{} /metrics: {e}", self.name))
            .text()
            .await
            .expect("metrics body");
        let copy = env()
            .dir
            .join("logs")
            .join(format!("metrics-{}.txt", self.name));
        std::fs::write(copy, &text).expect("keep a copy of /metrics");
        text
    }

    /// SIGTERM, then waits (without blocking the runtime) until the process has drained and
    /// exited; returns how long that took.
    pub(super) async fn stop(&self) -> Duration {
        let pid = self.pid();
        let sigterm = Instant::now();
        signal(pid, "TERM");
        while alive(pid) {
            assert!(
                sigterm.elapsed() < Duration::from_secs(30),
                "{} (pid {pid}) still running 30 s after SIGTERM (log {})",
                self.name,
                self.log().display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sigterm.elapsed()
    }

    pub(super) fn wait_exit(&self, pid: u32) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while alive(pid) {
            assert!(
                Instant::now() < deadline,
                "{} (pid {pid}) still running 30 s after SIGTERM (log {})",
                self.name,
                self.log().display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let Ok(text) = std::fs::read_to_string(self.pidfile()) else {
            return;
        };
        let Ok(pid) = text.trim().parse::<u32>() else {
            return;
        };
        if alive(pid) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if alive(pid) {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
        }
    }
}

/// The leaf certificate vaultgate at `port` presents in a fresh handshake (trusting `roots`,
/// presenting the probe client certificate).
pub(super) async fn served_leaf(port: u16, roots: &[&str]) -> Result<Vec<u8>, String> {
    let mut store = RootCertStore::empty();
    for pem in roots {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            store
                .add(cert.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        }
    }
    let chain = CertificateDer::pem_file_iter(&env().webhook_client_cert)
        .expect("probe certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("probe certificate PEM");
    let key = PrivateKeyDer::from_pem_file(&env().webhook_client_key).expect("probe key PEM");
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(store)
            .with_client_auth_cert(chain, key)
            .expect("probe identity");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = async {
        let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        connector
            .connect(ServerName::IpAddress(Ipv4Addr::LOCALHOST.into()), tcp)
            .await
    };
    let tls = tokio::time::timeout(Duration::from_secs(2), handshake)
        .await
        .map_err(|_| "handshake timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| leaf.to_vec())
        .ok_or_else(|| "no server certificate".to_owned())
}

/// Polls new handshakes until `want` is served (60 s at most); returns the time since `changed`.
pub(super) async fn wait_served(
    port: u16,
    roots: &[&str],
    want: &[u8],
    changed: Instant,
) -> Duration {
    let deadline = changed + Duration::from_secs(60);
    loop {
        let served = served_leaf(port, roots).await;
        if served.as_deref() == Ok(want) {
            return changed.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate (sha256 {}) was not served 60 s after the files changed; last: {}",
            sha256_hex(want),
            match served {
                Ok(der) => format!("sha256 {}", sha256_hex(&der)),
                Err(e) => e,
            }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
