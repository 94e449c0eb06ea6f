//! Support for the handover tests: a real OpenBao dev server and a real etcd + kube-apiserver,
//! started by `tests/e2e/control-plane.sh`, the one launcher tests/e2e/run.sh uses too (same
//! flags, certificates minted by openssl, health checks, teardown order). Each [`Launch`] is one
//! `control-plane.sh up DIR` in a directory of its own under `target/tmp/handover/` (free ports
//! are chosen by the script, so tests and test binaries run in parallel), read back from
//! `DIR/env`, and stopped by `control-plane.sh down DIR --kill` on drop (by PID, the apiserver
//! before etcd; SIGKILL at once, as nothing reads a stopped component's last words here). The
//! directory (logs, certificates) is removed after a clean drop and kept when the test panicked.
//!
//! The handover tier starts control planes of its own instead of using the harness's on purpose:
//! the harness's apiserver has vaultgate's webhooks registered for every namespace but its own,
//! which would judge (and deny) the bootstrap Secrets these tests write as an admin with the
//! decrypter's earned labels, and the sealed-Vault scenario seals its OpenBao. So it launches
//! with `--no-webhooks` (no AdmissionConfiguration, no webhook mTLS certificates) and registers
//! none.
//!
//! Binaries (etcd, kube-apiserver, bao): `VAULTGATE_E2E_BIN`, else the directory of
//! `VAULTGATE_E2E_KUBECTL` (exported by tests/e2e/run.sh), else the last line printed by
//! `bash tests/e2e/tools/build.sh` (run once per test binary; instant once cached). Anything
//! missing fails the test with the script's message and the logs' tails; nothing is skipped.

#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    repo().join("tests/e2e/control-plane.sh")
}

/// The bin dir with etcd, kube-apiserver and bao, resolved once per test binary (so a cold
/// cache is built once, not by every test at the same time).
pub fn e2e_bin_dir() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(dir) = std::env::var_os("VAULTGATE_E2E_BIN") {
            return PathBuf::from(dir);
        }
        if let Some(dir) = std::env::var_os("VAULTGATE_E2E_KUBECTL")
            .and_then(|k| Some(PathBuf::from(k).parent()?.to_path_buf()))
        {
            return dir;
        }
        let build = repo().join("tests/e2e/tools/build.sh");
        let out = Command::new("bash")
            .arg(&build)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash {}: {e}", build.display()));
        assert!(
            out.status.success(),
            "VAULTGATE_E2E_BIN is unset and {} failed ({}): this tier needs a real etcd, \
             kube-apiserver and bao (see its stderr above). Run: \
             export VAULTGATE_E2E_BIN=$(bash tests/e2e/tools/build.sh | tail -n1)",
            build.display(),
            out.status
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
    })
}

/// A fresh directory for one launch: `target/tmp/handover/<pid>-<n>-<label>`.
fn fresh_dir(label: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("handover")
        .join(format!("{}-{n}-{label}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

fn tail_of(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One `control-plane.sh up DIR ARGS…`; `control-plane.sh down DIR --kill` on drop.
pub struct Launch {
    pub dir: PathBuf,
    env: BTreeMap<String, String>,
}

impl Launch {
    pub fn up(label: &str, args: &[&str]) -> Self {
        let dir = fresh_dir(label);
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .arg("up")
            .arg(&dir)
            .args(args)
            .arg("--bin")
            .arg(e2e_bin_dir())
            .stdin(Stdio::null());
        if std::env::var_os("VAULTGATE_E2E_TIMEOUT").is_none() {
            // Tests start control planes while other tests run: more patience than run.sh's 120 s.
            cmd.env("VAULTGATE_E2E_TIMEOUT", "180");
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash {}: {e}", script().display()));
        if !out.status.success() {
            let mut tails = String::new();
            for entry in fs::read_dir(dir.join("logs"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let p = entry.path();
                tails.push_str(&format!(
                    "\n--- last 30 lines of {}\n{}",
                    p.display(),
                    tail_of(&p, 30)
                ));
            }
            panic!(
                "tests/e2e/control-plane.sh up {} {args:?} failed ({}):\n{}{tails}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = fs::read_to_string(dir.join("env")).expect("control-plane.sh wrote no env file");
        let env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self { dir, env }
    }

    /// A value from `DIR/env`; panics naming the key when the launch did not write it.
    pub fn get(&self, key: &str) -> &str {
        self.env.get(key).map_or_else(
            || panic!("{}/env has no {key}", self.dir.display()),
            String::as_str,
        )
    }

    /// The last 30 lines of `logs/<name>.log` (etcd, kube-apiserver, bao).
    pub fn tail(&self, name: &str) -> String {
        tail_of(&self.dir.join("logs").join(format!("{name}.log")), 30)
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        let down = Command::new("bash")
            .arg(script())
            .arg("down")
            .arg(&self.dir)
            .arg("--kill")
            .stdin(Stdio::null())
            .output();
        let clean = matches!(&down, Ok(o) if o.status.success());
        if !clean {
            eprintln!(
                "control-plane.sh down {} failed: {down:?}",
                self.dir.display()
            );
        }
        if clean && !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A real OpenBao dev server (KV v2 at `secret/`, root token `root`).
pub struct Bao {
    pub addr: String,
    pub unseal_key: String,
    /// The launch directory; tests may write files here (token files).
    pub dir: PathBuf,
    /// With [`Bao::start_tls`]: the CA of the dev server's self-made certificate.
    pub ca: Option<PathBuf>,
    launch: Arc<Launch>,
}

impl Bao {
    /// An OpenBao of its own, over plain HTTP.
    pub fn start() -> Self {
        Self::of(Arc::new(Launch::up("bao", &["--components", "bao"])))
    }

    /// An OpenBao of its own over TLS (`bao server -dev -dev-tls`); its CA is in [`Bao::ca`].
    pub fn start_tls() -> Self {
        Self::of(Arc::new(Launch::up(
            "bao-tls",
            &["--components", "bao", "--bao-tls"],
        )))
    }

    fn of(launch: Arc<Launch>) -> Self {
        Self {
            addr: launch.get("BAO_ADDR").to_owned(),
            unseal_key: launch.get("BAO_UNSEAL_KEY").to_owned(),
            dir: launch.dir.clone(),
            ca: launch.env.get("BAO_CA").map(PathBuf::from),
            launch,
        }
    }

    pub fn logs(&self) -> String {
        format!("--- bao\n{}", self.launch.tail("bao"))
    }

    /// A token file holding the root token. Written under a temporary name and renamed: tests
    /// running at once ask for it, and a reader must never see it truncated.
    pub fn root_token_file(&self) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let p = self.dir.join("root-token");
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(".root-token.{n}"));
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

/// A real etcd + kube-apiserver (RBAC on, static admin token, service-account tokens signed),
/// no webhook registered.
pub struct ControlPlane {
    pub url: String,
    pub ca: PathBuf,
    pub admin_token: String,
    /// The launch directory; tests may write files here (service-account token files).
    pub dir: PathBuf,
    launch: Arc<Launch>,
}

impl ControlPlane {
    /// etcd, kube-apiserver and an OpenBao from one launch (they start in parallel, as in
    /// run.sh); all three stop when both handles are dropped.
    pub fn start_with_bao() -> (Self, Bao) {
        let launch = Arc::new(Launch::up(
            "control-plane",
            &["--components", "etcd,apiserver,bao", "--no-webhooks"],
        ));
        let cp = Self {
            url: launch.get("API_URL").to_owned(),
            ca: PathBuf::from(launch.get("CA")),
            admin_token: launch.get("ADMIN_TOKEN").to_owned(),
            dir: launch.dir.clone(),
            launch: launch.clone(),
        };
        (cp, Bao::of(launch))
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
            self.launch.tail("etcd"),
            self.launch.tail("kube-apiserver")
        )
    }
}
