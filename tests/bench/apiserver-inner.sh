#!/usr/bin/env bash
# Runs under tests/e2e/run.sh (see tests/bench/apiserver.sh, which builds the release binaries
# first): sets up the configurations, stores the Secrets the UPDATE scenario refreshes, runs
# bench-apiserver-client over both scenarios interleaved, and fails unless the UPDATEs took the
# path they are meant to measure (allowed; vaultgate's /mutate never called, the floor's is).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
: "${VAULTGATE_E2E_DIR:?run me through tests/bench/apiserver.sh (under tests/e2e/run.sh)}"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
VG_REL="$TARGET/release/vaultgate"
CLIENT="$TARGET/release/examples/bench-apiserver-client"
FLOOR="$TARGET/release/examples/bench-floor"
for bin in "$VG_REL" "$CLIENT" "$FLOOR"; do
  [ -x "$bin" ] || { echo "apiserver-inner.sh: $bin missing; build first: bash tests/bench/apiserver.sh" >&2; exit 1; }
done
D=$VAULTGATE_E2E_DIR
N=${BENCH_N:-2000}
CONCURRENCY=${BENCH_CONCURRENCY:-4}
ROUNDS=${BENCH_ROUNDS:-8}
OUT="$TARGET/bench/apiserver-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
log() { echo "apiserver-inner.sh: [$(date +%H:%M:%S)] $*" >&2; }
k() { kubectl "$@" >>"$OUT/setup.log" 2>&1; }

# ---- 1. vaultgate: the release build with production logging instead of the harness's debug build.
PORT=${VAULTGATE_E2E_WEBHOOK_URL##*:}
old=$(cat "$VAULTGATE_E2E_WEBHOOK_PIDFILE")
log "replacing the harness's debug vaultgate (pid $old) with $VG_REL"
kill -TERM "$old" 2>/dev/null || true
for _ in $(seq 1 100); do [ -e "/proc/$old" ] || break; sleep 0.1; done
KUBECONFIG="$D/kube/vaultgate.kubeconfig" VAULTGATE_SHUTDOWN_DELAY=0s "$VG_REL" serve --listen "127.0.0.1:$PORT" \
  --tls-cert "$D/webhook/tls.crt" --tls-key "$D/webhook/tls.key" --policy tests/e2e/policy.yaml \
  --log-format json </dev/null >>"$D/logs/vaultgate-release.log" 2>&1 &
VG_PID=$!
echo "$VG_PID" >"$VAULTGATE_E2E_WEBHOOK_PIDFILE"   # the harness stops it on exit
until curl -fsS --max-time 1 --cacert "$VAULTGATE_E2E_WEBHOOK_CA" "$VAULTGATE_E2E_WEBHOOK_URL/readyz" >/dev/null 2>&1; do
  [ -e "/proc/$VG_PID" ] || { echo "release vaultgate exited: see $D/logs/vaultgate-release.log" >&2; exit 1; }
  sleep 0.2
done
log "release vaultgate ready (pid $VG_PID)"

# ---- 2. namespaces; the unpoliced ones (and the floor's) are taken out of vaultgate's webhooks' scope.
for ns in bench-none bench-vap bench-vaultgate bench-vg-validate bench-floor bench-floor-v external-secrets; do k create namespace "$ns" || true; done
k -n external-secrets create serviceaccount external-secrets || true
for cfg in validatingwebhookconfiguration/vaultgate mutatingwebhookconfiguration/vaultgate; do
  count=$(kubectl get "$cfg" -o jsonpath='{range .webhooks[*]}x{end}' | wc -c)
  patch="["
  for i in $(seq 0 $((count - 1))); do
    patch+="{\"op\":\"add\",\"path\":\"/webhooks/$i/namespaceSelector/matchExpressions/0/values/-\",\"value\":\"bench-none\"},"
    patch+="{\"op\":\"add\",\"path\":\"/webhooks/$i/namespaceSelector/matchExpressions/0/values/-\",\"value\":\"bench-vap\"},"
    patch+="{\"op\":\"add\",\"path\":\"/webhooks/$i/namespaceSelector/matchExpressions/0/values/-\",\"value\":\"bench-floor\"},"
    patch+="{\"op\":\"add\",\"path\":\"/webhooks/$i/namespaceSelector/matchExpressions/0/values/-\",\"value\":\"bench-floor-v\"},"
    # bench-vg-validate: the validating webhook alone (one hop, like the VAP's single check).
    if [ "$cfg" = mutatingwebhookconfiguration/vaultgate ]; then
      patch+="{\"op\":\"add\",\"path\":\"/webhooks/$i/namespaceSelector/matchExpressions/0/values/-\",\"value\":\"bench-vg-validate\"},"
    fi
  done
  k patch "$cfg" --type=json -p "${patch%,}]"
done

# ---- 2b. the floor as webhooks: vaultgate's shipped Secret webhooks (mutating + validating, same
# rules, matchConditions, failurePolicy, timeouts), pointed at tests/bench/floor.rs --answer uid
# (reads the review, echoes its uid, allows; no policy) and scoped to bench-floor. What these add
# over the baseline is the price of the two hops themselves; vaultgate's figure minus this one is
# what its policy, patch and logging cost on top. The floor stamps nothing, so the mutating
# matchCondition sends it every UPDATE too (no stored class label): two hops, unscoped.
# bench-floor-v: the floor's validating webhook alone (one hop).
FLOOR_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$D/manifests/webhooks.json" "$FLOOR_PORT" >"$OUT/floor-webhooks.json" <<'PY'
import json, sys
hooks, port = json.load(open(sys.argv[1]))["items"], sys.argv[2]
out = []
for cfg in hooks:
    kept = []
    for hook in cfg["webhooks"]:
        if not hook["name"].startswith("secrets."):
            continue
        path = hook["clientConfig"]["url"].rsplit("/", 1)[1]
        hook["name"] = hook["name"].replace(".vaultgate.", ".bench-floor.")
        hook["clientConfig"]["url"] = f"https://127.0.0.1:{port}/{path}"
        scope = ["bench-floor"] + (["bench-floor-v"] if cfg["kind"].startswith("Validating") else [])
        hook["namespaceSelector"] = {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": scope}]}
        kept.append(hook)
    if kept:
        out.append({"apiVersion": cfg["apiVersion"], "kind": cfg["kind"],
                    "metadata": {"name": "bench-floor"}, "webhooks": kept})
assert len(out) == 2, f"expected a mutating and a validating Secret webhook, got {len(out)}"
json.dump({"apiVersion": "v1", "kind": "List", "items": out}, sys.stdout, indent=1)
PY
k apply -f "$OUT/floor-webhooks.json"
FLOOR_PID=""
trap '[ -z "$FLOOR_PID" ] || kill "$FLOOR_PID" 2>/dev/null || true' EXIT

# ---- 3. the in-tree policy: the unmanaged-writer rule in CEL, bound to bench-vap.
cat >"$OUT/vap.yaml" <<'EOF'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: bench-secret-writers
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["secrets"]
  validations:
    - expression: >-
        request.userInfo.username in [
          'system:serviceaccount:external-secrets:external-secrets',
          'system:serviceaccount:kube-system:sealed-secrets-controller',
          'system:serviceaccount:flux-system:kustomize-controller',
          'system:serviceaccount:argocd:argocd-application-controller',
          'system:serviceaccount:cert-manager:cert-manager',
          'system:serviceaccount:vaultgate-system:vaultgate']
      message: Secrets in this namespace may only be written by an approved producer (ESO, a bootstrap decrypter, a registered operator)
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: bench-secret-writers
spec:
  policyName: bench-secret-writers
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: bench-vap
EOF
k apply -f "$OUT/vap.yaml"

# ---- 4. the ExternalSecrets that own the Secret in the governed namespaces (applied as Argo CD).
external_secret() { # external_secret NS NAME: creates ExternalSecret NAME (target NAME), prints its uid
  local file="$OUT/externalsecret-$1-$2.json" uid
  cat >"$file" <<EOF
{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "$2", "namespace": "$1"},
 "spec": {"refreshInterval": "1h", "target": {"name": "$2", "creationPolicy": "Owner"},
  "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault-backend"},
  "data": [{"secretKey": "password", "remoteRef": {"key": "platform-data/$2/$1", "property": "password"}}]}}
EOF
  k create --as=system:serviceaccount:argocd:argocd-application-controller --as-group=system:serviceaccounts \
    --as-group=system:serviceaccounts:argocd --as-group=system:authenticated -f "$file"
  uid=$(kubectl get -f "$file" -o jsonpath='{.metadata.uid}')
  [ -n "$uid" ] || { echo "the ExternalSecret $1/$2 was not created: see $OUT/setup.log" >&2; return 1; }
  echo "$uid"
}
declare -A OWNER
for ns in bench-vaultgate bench-vg-validate; do OWNER[$ns]=$(external_secret "$ns" bench-db); done
OWNER_UID=${OWNER[bench-vaultgate]}
# The UPDATE scenario's Secrets: one per client in each namespace it measures, each with its own
# ExternalSecret (stored in step 6b, once every configuration is in effect).
UPDATE_NS=(bench-none bench-vap bench-vaultgate bench-floor bench-floor-v)
declare -A UPDATE_OWNER
for ns in "${UPDATE_NS[@]}"; do
  for i in $(seq 0 $((CONCURRENCY - 1))); do UPDATE_OWNER[$ns/bench-upd-$i]=$(external_secret "$ns" "bench-upd-$i"); done
done

# ---- 5. ESO's identity: a real bound token.
TOKEN=$(kubectl -n external-secrets create token external-secrets --duration=2h)
API=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
CA=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
cat >"$OUT/eso.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "$API", certificate-authority: "$CA"}}]
users: [{name: eso, user: {token: "$TOKEN"}}]
contexts: [{name: e2e, context: {cluster: e2e, user: eso}}]
current-context: e2e
EOF
chmod 600 "$OUT/eso.kubeconfig"

# ---- 6. wait until every configuration behaves as intended (informers and the VAP compile lag).
probe() { # probe NS [NAME UID]: writes the Secret ExternalSecret NAME (default NS's bench-db) would materialize; prints its path
  local name=${2:-bench-db} uid=${3:-${OWNER[$1]:-$OWNER_UID}}
  cat >"$OUT/probe-$1-$name.json" <<EOF
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "$name", "labels": {"reconcile.external-secrets.io/managed": "true"},
 "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "$name", "uid": "$uid", "controller": true}]},
 "stringData": {"password": "probe"}}
EOF
  echo "$OUT/probe-$1-$name.json"
}
expect() { # expect allowed|denied NS [kubectl args]
  local want=$1 ns=$2 out; shift 2
  out=$(kubectl create --dry-run=server -n "$ns" -f "$(probe "$ns")" "$@" 2>&1) && got=allowed || got=denied
  echo "+ $want in $ns ($*): $out" >>"$OUT/setup.log"
  [ "$got" = "$want" ]
}
ready() {
  expect denied bench-vap &&                                      # the admin is not on the VAP allowlist
  expect allowed bench-none &&                                    # webhooks no longer called there
  expect allowed bench-vap --kubeconfig "$OUT/eso.kubeconfig" &&
  expect allowed bench-vaultgate --kubeconfig "$OUT/eso.kubeconfig" &&
  expect denied bench-vaultgate &&                                # vaultgate enforces there
  expect allowed bench-vg-validate --kubeconfig "$OUT/eso.kubeconfig" &&
  expect denied bench-vg-validate &&
  expect allowed bench-floor --kubeconfig "$OUT/eso.kubeconfig" &&
  expect allowed bench-floor-v --kubeconfig "$OUT/eso.kubeconfig"
}
# The floor's webhooks are in effect once a write there fails (failurePolicy Fail, nothing
# listening yet); then the floor starts and the same write must be allowed.
start=$(date +%s)
until expect denied bench-floor --kubeconfig "$OUT/eso.kubeconfig" && expect denied bench-floor-v --kubeconfig "$OUT/eso.kubeconfig"; do
  [ $(( $(date +%s) - start )) -lt 120 ] || { echo "the floor's webhooks not in effect after 120 s: see $OUT/setup.log" >&2; exit 1; }
  sleep 1
done
"$FLOOR" --listen "127.0.0.1:$FLOOR_PORT" --tls-cert "$D/webhook/tls.crt" --tls-key "$D/webhook/tls.key" --answer uid \
  </dev/null >>"$D/logs/bench-floor.log" 2>&1 &
FLOOR_PID=$!
start=$(date +%s)
until ready; do
  [ $(( $(date +%s) - start )) -lt 120 ] || { echo "configurations not in effect after 120 s: see $OUT/setup.log" >&2; exit 1; }
  sleep 1
done
log "all configurations in effect after $(( $(date +%s) - start ))s"

# ---- 6b. the Secrets the UPDATE scenario refreshes, stored as ESO materializes them: created by
# its identity through each namespace's webhooks, so in bench-vaultgate the mutating webhook
# stamped them (class label `materialized`) and a refresh that keeps that label skips /mutate.
# The floor stamps nothing: its Secrets carry no class label, so its mutating hop is called.
CLASS_LABEL='{.metadata.labels.platform\.pnats\.cloud/secret-class}'
for ns in "${UPDATE_NS[@]}"; do
  for i in $(seq 0 $((CONCURRENCY - 1))); do
    name=bench-upd-$i
    file=$(probe "$ns" "$name" "${UPDATE_OWNER[$ns/$name]}")
    start=$(date +%s)
    until kubectl create --kubeconfig "$OUT/eso.kubeconfig" -n "$ns" -f "$file" >>"$OUT/setup.log" 2>&1; do
      # The live view learns of the new ExternalSecret within moments.
      [ $(( $(date +%s) - start )) -lt 60 ] || { echo "ESO could not store $ns/$name: see $OUT/setup.log" >&2; exit 1; }
      sleep 1
    done
    class=$(kubectl -n "$ns" get secret "$name" -o "jsonpath=$CLASS_LABEL")
    case "$ns:$class" in
      bench-vaultgate:materialized | bench-none: | bench-vap: | bench-floor: | bench-floor-v:) ;;
      *) echo "$ns/$name stored with secret-class \"$class\": not the path the UPDATE scenario measures" >&2; exit 1 ;;
    esac
  done
done
log "stored ${#UPDATE_NS[@]} x $CONCURRENCY Secrets for the UPDATE scenario (bench-vaultgate's stamped)"

# ---- 7. measure.
vg_metrics() {
  curl -fsS --cacert "$VAULTGATE_E2E_WEBHOOK_CA" "$VAULTGATE_E2E_WEBHOOK_URL/metrics" \
    | grep -E '^vaultgate_admission_duration_seconds_(sum|count)\{.*kind="Secret"' || true
}
api_metrics() { kubectl get --raw /metrics | grep -E '^apiserver_admission_webhook_admission_duration_seconds_count' || true; }
vg_metrics >"$OUT/vaultgate-metrics.before"
api_metrics >"$OUT/apiserver-metrics.before"
CPU0=$(awk '{print $14 + $15}' "/proc/$VG_PID/stat")
FLOOR_CPU0=$(awk '{print $14 + $15}' "/proc/$FLOOR_PID/stat")
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# By command name, as load.sh counts them (pgrep warns on, and may not match, a pattern over 15 characters).
OTHER=$(ps -eo comm= | grep -cE '^(cargo|rustc|go|compile|link|cc1|ld|clippy-driver)$' || true)
log "measuring: N=$N per configuration, $CONCURRENCY clients, $ROUNDS rounds (load average $LOAD0, other builds running: $OTHER)"
CLIENT_RC=0
"$CLIENT" --kubeconfig "$OUT/eso.kubeconfig" --admin-kubeconfig "$KUBECONFIG" --owner-uid "$OWNER_UID" --name bench-db \
  --target baseline=bench-none --target vap=bench-vap --target "vaultgate=bench-vaultgate@${OWNER[bench-vaultgate]}" \
  --target "vaultgate-validate-only=bench-vg-validate@${OWNER[bench-vg-validate]}" \
  --target floor-webhooks=bench-floor --target floor-validate-only=bench-floor-v \
  --update baseline=bench-none --update vap=bench-vap --update vaultgate=bench-vaultgate \
  --update floor-webhooks=bench-floor --update floor-validate-only=bench-floor-v --update-name bench-upd \
  --n "$N" --concurrency "$CONCURRENCY" --rounds "$ROUNDS" >"$OUT/client.md" 2>"$OUT/client.log" || CLIENT_RC=$?
CPU1=$(awk '{print $14 + $15}' "/proc/$VG_PID/stat")
FLOOR_CPU1=$(awk '{print $14 + $15}' "/proc/$FLOOR_PID/stat")
vg_metrics >"$OUT/vaultgate-metrics.after"
api_metrics >"$OUT/apiserver-metrics.after"
{
  echo "# apiserver.sh $(date -u +%Y-%m-%dT%H:%M:%SZ): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average before $LOAD0, after $(cut -d' ' -f1-3 /proc/loadavg); other cargo/rustc/go processes at start: $OTHER"
  echo
  cat "$OUT/client.md"
  echo
  echo "# vaultgate server side over the window (its own histogram: decode + evaluate + encode)"
  python3 - "$OUT/vaultgate-metrics.before" "$OUT/vaultgate-metrics.after" "$CPU0" "$CPU1" "$(getconf CLK_TCK)" <<'PY'
import sys
def load(p):
    out = {}
    for line in open(p):
        series, value = line.rsplit(" ", 1)
        out[series] = float(value)
    return out
b, a = load(sys.argv[1]), load(sys.argv[2])
calls = 0
print("| series | reviews | mean µs |")
print("|---|---:|---:|")
for s, v in sorted(a.items()):
    if "_sum{" not in s:
        continue
    c = s.replace("_sum{", "_count{")
    n = a.get(c, 0) - b.get(c, 0)
    if n < 1:
        continue
    calls += n
    print(f"| `{s.split('{',1)[1].rstrip('}')}` | {n:.0f} | {(v - b.get(s, 0)) / n * 1e6:.1f} |")
cpu_ms = (float(sys.argv[4]) - float(sys.argv[3])) * 1000 / float(sys.argv[5])
print(f"\nvaultgate process CPU over the window: {cpu_ms:.0f} ms for {calls:.0f} reviews = {cpu_ms / max(calls, 1):.3f} ms per review (TLS, HTTP, logging, watches included)")
PY
  echo
  echo "floor process CPU over the window: $(( (FLOOR_CPU1 - FLOOR_CPU0) * 1000 / $(getconf CLK_TCK) )) ms for the floor's creates and updates"
} | tee "$OUT/report.md"
log "report: $OUT/report.md"

# ---- 8. the UPDATEs took the path they are meant to measure, or the figures mean nothing.
[ "$CLIENT_RC" = 0 ] || { echo "apiserver-inner.sh: requests failed (exit $CLIENT_RC): see $OUT/client.md and $OUT/client.log" >&2; exit 1; }
python3 - "$OUT" "$N" <<'PY' | tee -a "$OUT/report.md"
import sys
out, n = sys.argv[1], int(sys.argv[2])
def delta(name, pred):
    load = lambda p: {s: float(v) for s, v in (l.rsplit(" ", 1) for l in open(p) if "_count{" in l)}
    b, a = load(f"{out}/{name}.before"), load(f"{out}/{name}.after")
    return sum(v - b.get(s, 0) for s, v in a.items() if pred(s))
vg = lambda *want: delta("vaultgate-metrics", lambda s: all(w in s for w in want))
hook = lambda webhook, op: delta("apiserver-metrics", lambda s: f'name="{webhook}' in s and f'operation="{op}"' in s)
checks = [
    ("vaultgate /mutate reviews of UPDATEs (the matchCondition skips them)", vg('route="mutate"', 'operation="UPDATE"'), lambda c: c == 0),
    ("vaultgate /validate UPDATE reviews allowed", vg('route="validate"', 'operation="UPDATE"', 'decision="allowed"'), lambda c: c >= n),
    ("vaultgate UPDATE reviews not allowed (denied, warned)", vg('operation="UPDATE"') - vg('operation="UPDATE"', 'decision="allowed"'), lambda c: c == 0),
    ("apiserver calls of the floor's mutating webhook for UPDATEs (two hops)", hook("secrets.mutate.bench-floor.", "UPDATE"), lambda c: c >= n),
    ("apiserver calls of the floor's validating webhook for UPDATEs (bench-floor and bench-floor-v)", hook("secrets.validate.bench-floor.", "UPDATE"), lambda c: c >= 2 * n),
]
print("\n# the UPDATE path over the window (warm-up included)\n")
failed = False
for what, count, ok in checks:
    failed |= not ok(count)
    print(f"- {what}: {count:.0f}{'' if ok(count) else '  <-- WRONG PATH'}")
sys.exit(1 if failed else 0)
PY
