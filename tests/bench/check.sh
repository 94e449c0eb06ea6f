#!/usr/bin/env bash
# `vaultgate check` at scale: generates a GitOps-like corpus (one manifest per file, 100
# namespaces) and times the release binary over it with /usr/bin/time -v (wall time, peak RSS).
#
#   bash tests/bench/check.sh            # BENCH_CHECK_SIZES ("1000 10000")
#
# Mix per 20 manifests: 11 ExternalSecrets (valid), 3 PushSecrets, 2 bootstrap Secrets declared
# for Flux in bootstrap namespaces, 2 plain Secrets (denied: VG101), 1 ClusterSecretStore-free
# ConfigMap and 1 Deployment (skipped: not governed). Exit code 1 (something denied) is expected.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
SIZES=${BENCH_CHECK_SIZES:-"1000 10000"}
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release --bin vaultgate >&2
VG="$TARGET/release/vaultgate"
OUT="$TARGET/bench/check-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"

gen() { # gen N DIR
  python3 - "$1" "$2" <<'PY'
import os, sys
n, root = int(sys.argv[1]), sys.argv[2]
BOOT = ["vault", "external-secrets", "argocd", "flux-system"]
def es(i, ns):
    return f"""apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: app-{i}
  namespace: {ns}
spec:
  refreshInterval: 1h
  secretStoreRef:
    kind: ClusterSecretStore
    name: vault-backend
  target:
    name: app-{i}
    creationPolicy: Owner
  data:
    - secretKey: username
      remoteRef:
        key: platform-data/db-{i % 13}/{ns}
        property: username
    - secretKey: password
      remoteRef:
        key: platform-data/db-{i % 13}/{ns}
        property: password
"""
def push(i, ns):
    return f"""apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: push-{i}
  namespace: {ns}
spec:
  refreshInterval: 1h
  secretStoreRefs:
    - kind: ClusterSecretStore
      name: vault-backend
  selector:
    secret:
      name: pg-app-{i}
  data:
    - match:
        secretKey: password
        remoteRef:
          remoteKey: platform-data/pg-{i}/{ns}
          property: password
"""
def boot(i, ns):
    return f"""apiVersion: v1
kind: Secret
metadata:
  name: boot-{i}
  namespace: {BOOT[i % 4]}
  labels:
    platform.pnats.cloud/secret-class: bootstrap
    kustomize.toolkit.fluxcd.io/name: infra
    kustomize.toolkit.fluxcd.io/namespace: flux-system
type: Opaque
stringData:
  token: value-{i}-0123456789abcdef
"""
def plain(i, ns):
    return f"""apiVersion: v1
kind: Secret
metadata:
  name: plain-{i}
  namespace: {ns}
type: Opaque
data:
  password: c2VjcmV0LXZhbHVlLTAxMjM0NTY3ODlhYmNkZWY=
"""
def cm(i, ns):
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg-{i}
  namespace: {ns}
data:
  LOG_LEVEL: info
"""
def deploy(i, ns):
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: {ns}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: app-{i}}}
  template:
    metadata:
      labels: {{app: app-{i}}}
    spec:
      containers:
        - name: app
          image: registry.example.com/app:{i}
          envFrom:
            - secretRef: {{name: app-{i}}}
"""
kinds = [es] * 11 + [push] * 3 + [boot] * 2 + [plain] * 2 + [cm, deploy]
for i in range(n):
    ns = f"team-{i % 100:03d}"
    d = os.path.join(root, ns)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"m{i:05d}.yaml"), "w") as f:
        f.write(kinds[i % 20](i, ns))
PY
}

{
  echo "# check.sh $(date -u +%Y-%m-%dT%H:%M:%SZ): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo
  echo "| manifests | files | wall s | user s | sys s | objects/s | peak RSS MiB | exit | load avg | other builds |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$OUT/report.md"
for n in $SIZES; do
  corpus="$OUT/corpus-$n"
  gen "$n" "$corpus"
  files=$(find "$corpus" -name '*.yaml' | wc -l)
  load=$(cut -d' ' -f1 /proc/loadavg)
  other=$(ps -eo comm= | grep -cE '^(cargo|rustc|go|clippy-driver)$' || true)
  set +e
  /usr/bin/time -v -o "$OUT/time-$n.txt" "$VG" check "$corpus" --format json >"$OUT/check-$n.json" 2>"$OUT/check-$n.err"
  rc=$?
  set -e
  python3 - "$OUT/time-$n.txt" "$n" "$files" "$rc" "$load" "$other" >>"$OUT/report.md" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
get = lambda k: re.search(re.escape(k) + r": (.*)", t).group(1).strip()
wall = get("Elapsed (wall clock) time (h:mm:ss or m:ss)")
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
n = int(sys.argv[2])
print(f"| {n} | {sys.argv[3]} | {secs:.2f} | {float(get('User time (seconds)')):.2f} | {float(get('System time (seconds)')):.2f} "
      f"| {n / max(secs, 1e-9):,.0f} | {int(get('Maximum resident set size (kbytes)')) / 1024:.1f} | {sys.argv[4]} | {sys.argv[5]} | {sys.argv[6]} |")
PY
  rm -rf "$corpus"
done
cat "$OUT/report.md"
