//! Support for the handover tests: a real OpenBao dev server and a real etcd + kube-apiserver,
//! each on free loopback ports, started by the tests themselves and killed (by their own PID) on
//! drop. Binaries come from the e2e toolchain (`tests/e2e/tools/build.sh`):
//!
//! - `VAULTGATE_E2E_BIN`: the bin dir with etcd, kube-apiserver and bao (required by the
//!   controller tests: without it they fail, they never skip; under tests/e2e/run.sh the
//!   directory of its `VAULTGATE_E2E_KUBECTL` is used);
//! - `VAULTGATE_BAO`: the bao binary (the OpenBao tests also accept `VAULTGATE_E2E_BIN/bao`, or
//!   the last line printed by `bash tests/e2e/tools/build.sh`, which is instant once cached).
//!
//! This is a second launcher beside tests/e2e/run.sh on purpose: the harness's apiserver has
//! vaultgate's webhooks registered for every namespace but its own, which would judge (and deny)
//! the bootstrap Secrets these tests write as an admin with the decrypter's earned labels, and the
//! sealed-Vault scenario seals its OpenBao. Certificates are minted with openssl, as in run.sh.

#![allow(dead_code)]

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

/// The e2e bin dir: `VAULTGATE_E2E_BIN`, or the directory of `VAULTGATE_E2E_KUBECTL` (exported
/// by tests/e2e/run.sh). Fails the test, naming the fix, when neither is set.
pub fn e2e_bin_dir() -> PathBuf {
    let from_harness = std::env::var_os("VAULTGATE_E2E_KUBECTL")
        .and_then(|k| PathBuf::from(k).parent().map(Path::to_path_buf));
    let Some(dir) = std::env::var_os("VAULTGATE_E2E_BIN")
        .map(PathBuf::from)
        .or(from_harness)
    else {
        panic!(
            "VAULTGATE_E2E_BIN is not set: this test needs a real etcd, kube-apiserver and bao.\n\
             Run: export VAULTGATE_E2E_BIN=$(bash tests/e2e/tools/build.sh | tail -n1)\n\
             (or run it under bash tests/e2e/run.sh, which exports VAULTGATE_E2E_KUBECTL)"
        );
    };
    for b in ["etcd", "kube-apiserver", "bao"] {
        assert!(
            dir.join(b).is_file(),
            "VAULTGATE_E2E_BIN={} has no {b}",
            dir.display()
        );
    }
    dir
}

/// The bao binary: `VAULTGATE_BAO`, `VAULTGATE_E2E_BIN/bao`, or build.sh's output dir.
pub fn bao_binary() -> PathBuf {
    if let Some(b) = std::env::var_os("VAULTGATE_BAO") {
        let b = PathBuf::from(b);
        assert!(b.is_file(), "VAULTGATE_BAO={} does not exist", b.display());
        return b;
    }
    if let Some(dir) = std::env::var_os("VAULTGATE_E2E_BIN") {
        let b = PathBuf::from(dir).join("bao");
        assert!(b.is_file(), "VAULTGATE_E2E_BIN has no bao: {}", b.display());
        return b;
    }
    if let Some(b) = std::env::var_os("VAULTGATE_E2E_KUBECTL")
        .and_then(|k| Some(PathBuf::from(k).parent()?.join("bao")))
        && b.is_file()
    {
        return b;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/tools/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output();
    let dir = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        Ok(o) => panic!(
            "no bao: VAULTGATE_BAO and VAULTGATE_E2E_BIN are unset and {} failed ({})",
            script.display(),
            o.status
        ),
        Err(e) => panic!(
            "no bao: VAULTGATE_BAO and VAULTGATE_E2E_BIN are unset and {} could not run: {e}",
            script.display()
        ),
    };
    let b = PathBuf::from(dir).join("bao");
    assert!(
        b.is_file(),
        "no bao: {} printed a bin dir without bao ({})",
        script.display(),
        b.display()
    );
    b
}

/// A free loopback port whose successor is free too (bao binds port+1 for its cluster listener).
pub fn free_port_pair() -> u16 {
    loop {
        let a = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = a.local_addr().unwrap().port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (by its PID) and reaped on drop; its output goes to `log`.
pub struct Proc {
    pub name: &'static str,
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Self {
        let out = fs::File::create(&log).expect("create log file");
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { name, child, log }
    }

    pub fn tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Polls `ready` until it holds; panics with the log tail if the process dies or time runs out.
    pub fn wait_until(&mut self, timeout: Duration, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ready() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited during startup ({status}):\n{}",
                    self.name,
                    self.tail()
                );
            }
            assert!(
                start.elapsed() < timeout,
                "{} not ready after {timeout:?}:\n{}",
                self.name,
                self.tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get_ok(url: &str, ca: Option<&Path>, expect: &str) -> bool {
    let mut cmd = Command::new("curl");
    cmd.args(["-fsS", "--max-time", "2", url]);
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    cmd.output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(expect))
}

/// A real OpenBao dev server (KV v2 at `secret/`, root token `root`).
pub struct Bao {
    pub addr: String,
    pub unseal_key: String,
    pub dir: tempfile::TempDir,
    proc: Proc,
}

impl Bao {
    pub fn start() -> Self {
        let bin = bao_binary();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port_pair();
        let mut proc = Proc::spawn(
            "bao",
            Command::new(&bin).args([
                "server",
                "-dev",
                &format!("-dev-listen-address=127.0.0.1:{port}"),
                "-dev-root-token-id=root",
                "-dev-no-store-token",
            ]),
            dir.path().join("bao.log"),
        );
        let addr = format!("http://127.0.0.1:{port}");
        let health = format!("{addr}/v1/sys/health");
        // The banner with the unseal key may come after the listener is up.
        let log_path = proc.log.clone();
        proc.wait_until(Duration::from_secs(60), || {
            http_get_ok(&health, None, "\"sealed\":false")
                && fs::read_to_string(&log_path).is_ok_and(|l| l.contains("Unseal Key: "))
        });
        let log = fs::read_to_string(&proc.log).unwrap();
        let unseal_key = log
            .lines()
            .find_map(|l| l.trim().strip_prefix("Unseal Key: "))
            .unwrap_or_else(|| panic!("no unseal key in the dev server output:\n{log}"))
            .trim()
            .to_owned();
        Self {
            addr,
            unseal_key,
            dir,
            proc,
        }
    }

    /// A token file holding the root token. Written under a temporary name and renamed: tests
    /// running at once ask for it, and a reader must never see it truncated.
    pub fn root_token_file(&self) -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let p = self.dir.path().join("root-token");
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.dir.path().join(format!(".root-token.{n}"));
        fs::write(&tmp, "root\n").unwrap();
        fs::rename(&tmp, &p).unwrap();
        p
    }

    /// Raw call with the root token: (status, JSON body or Null).
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let client = reqwest::Client::new();
        let mut req = client
            .request(method, format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", "root");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("bao request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn seal(&self) {
        let (status, body) = self.raw(reqwest::Method::PUT, "sys/seal", None).await;
        assert!(status == 204 || status == 200, "seal: {status} {body}");
    }

    pub async fn unseal(&self) {
        let (status, body) = self
            .raw(
                reqwest::Method::PUT,
                "sys/unseal",
                Some(serde_json::json!({ "key": self.unseal_key })),
            )
            .await;
        assert_eq!(status, 200, "unseal: {body}");
        assert_eq!(body["sealed"], false, "unseal: {body}");
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is needed to mint test certificates");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real etcd + kube-apiserver (RBAC on, static admin token, service-account tokens signed).
pub struct ControlPlane {
    pub url: String,
    pub ca: PathBuf,
    pub admin_token: String,
    pub dir: tempfile::TempDir,
    // Field order: the apiserver is dropped (killed) before etcd.
    api: Proc,
    etcd: Proc,
}

impl ControlPlane {
    pub fn start(bin: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=handover-test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "apiserver.key",
                "-out",
                "apiserver.csr",
            ],
        );
        fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n").unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "apiserver.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                "apiserver.crt",
            ],
        );
        openssl(d, &["genrsa", "-out", "sa.key", "2048"]);
        let admin_token = format!("admin-{}", std::process::id());
        fs::write(
            d.join("tokens.csv"),
            format!("{admin_token},handover-admin,handover-admin-uid,\"system:masters\"\n"),
        )
        .unwrap();

        let (etcd_port, peer_port, api_port) = (free_port(), free_port(), free_port());
        let mut etcd = Proc::spawn(
            "etcd",
            Command::new(bin.join("etcd")).args([
                "--name=handover",
                &format!("--data-dir={}", d.join("etcd").display()),
                &format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"),
                &format!("--advertise-client-urls=http://127.0.0.1:{etcd_port}"),
                &format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
                &format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
                &format!("--initial-cluster=handover=http://127.0.0.1:{peer_port}"),
                "--unsafe-no-fsync",
            ]),
            d.join("etcd.log"),
        );
        let etcd_health = format!("http://127.0.0.1:{etcd_port}/health");
        etcd.wait_until(Duration::from_secs(60), || {
            http_get_ok(&etcd_health, None, "\"health\":\"true\"")
        });

        let p = |f: &str| d.join(f).display().to_string();
        let mut api = Proc::spawn(
            "kube-apiserver",
            Command::new(bin.join("kube-apiserver")).args([
                format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={api_port}"),
                "--advertise-address=127.0.0.1".into(),
                "--endpoint-reconciler-type=none".into(),
                format!("--tls-cert-file={}", p("apiserver.crt")),
                format!("--tls-private-key-file={}", p("apiserver.key")),
                format!("--cert-dir={}", d.display()),
                format!("--token-auth-file={}", p("tokens.csv")),
                "--authorization-mode=RBAC".into(),
                format!("--service-account-issuer=https://127.0.0.1:{api_port}"),
                format!("--service-account-key-file={}", p("sa.key")),
                format!("--service-account-signing-key-file={}", p("sa.key")),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                "--disable-admission-plugins=ServiceAccount".into(),
            ]),
            d.join("kube-apiserver.log"),
        );
        let url = format!("https://127.0.0.1:{api_port}");
        let ca = d.join("ca.crt");
        let readyz = format!("{url}/readyz");
        api.wait_until(Duration::from_secs(180), || {
            http_get_ok(&readyz, Some(&ca), "ok")
        });
        Self {
            url,
            ca,
            admin_token,
            dir,
            api,
            etcd,
        }
    }

    /// A kubeconfig authenticating with `token`, as text. Clients are built from it in memory:
    /// tests running at once ask for the same identity, and a shared file could be read
    /// half-written.
    fn kubeconfig_text(&self, name: &str, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: {name}\n  user:\n    token: {token}\ncontexts:\n- name: t\n  context: {{cluster: t, user: {name}}}\ncurrent-context: t\n",
            self.url,
            self.ca.display()
        )
    }

    pub async fn client(&self, name: &str, token: &str) -> kube::Client {
        let kubeconfig =
            kube::config::Kubeconfig::from_yaml(&self.kubeconfig_text(name, token)).unwrap();
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    pub fn logs(&self) -> String {
        format!(
            "--- etcd\n{}\n--- kube-apiserver\n{}",
            self.etcd.tail(),
            self.api.tail()
        )
    }
}
