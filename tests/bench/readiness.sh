#!/usr/bin/env bash
# Readiness at scale (issue 17): on the e2e harness's real etcd + kube-apiserver
# (tests/e2e/control-plane.sh, the one launcher), fill the cluster with BENCH_SECRETS Secrets,
# BENCH_ES ExternalSecrets and BENCH_PUSH PushSecrets (tests/bench/populate.py, straight to the
# apiserver), then measure `vaultgate serve` (release build, live cluster context, the built-in
# default policy, the shipped service account's RBAC from manifests/base):
#   - start: time from process start to /readyz = 200 on the probe port (polled every 20 ms), and
#     VmRSS / VmHWM from /proc at ready and BENCH_SETTLE s later (after the first audit pass);
#     BENCH_REPEAT starts, one after another;
#   - the first in-cluster audit pass at that size: one more start with --audit-interval
#     BENCH_AUDIT_INTERVAL (the shipped 5m would first run 5 minutes after start), RSS / peak once
#     vaultgate_audit_last_run_timestamp_seconds is set, with the pass's own duration metric;
#   - rolling restart of two replicas as the shipped Deployment does it (maxSurge 1,
#     maxUnavailable 0, --shutdown-delay 5s as shipped): start new-1, wait ready, SIGTERM old-1
#     and start new-2, wait ready, SIGTERM old-2; time from new-1's start to old-2's exit.
#
#   bash tests/bench/readiness.sh        # ~10 minutes on 2 cores, most of it filling the cluster
#
# Environment: BENCH_SECRETS (100000), BENCH_ES (20000), BENCH_PUSH (5000), BENCH_NAMESPACES (100),
#   BENCH_REPEAT (3), BENCH_SETTLE (15), BENCH_AUDIT_INTERVAL (20s), BENCH_POPULATE_PROCS (4), CARGO_TARGET_DIR,
#   VAULTGATE_E2E_* as for tests/e2e/control-plane.sh;
#   BENCH_VAULTGATE=PATH measures that binary instead of building one;
#   BENCH_KEEP=1 leaves the filled control plane running at the end (stop it with
#   `bash tests/e2e/control-plane.sh down DIR`), and BENCH_REUSE=DIR measures again against such a
#   kept one, skipping the start and the fill (a fill takes minutes on a busy machine).
# Results: $TARGET/bench/readiness-<time>/{results-<time>.jsonl,results-<time>.md,logs/}.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
SECRETS=${BENCH_SECRETS:-100000}
ES=${BENCH_ES:-20000}
PUSH=${BENCH_PUSH:-5000}
NAMESPACES=${BENCH_NAMESPACES:-100}
REPEAT=${BENCH_REPEAT:-3}
SETTLE=${BENCH_SETTLE:-15}
PROCS=${BENCH_POPULATE_PROCS:-4}
AUDIT_INTERVAL=${BENCH_AUDIT_INTERVAL:-20s}

log() { echo "readiness.sh: [$(date +%H:%M:%S)] $*" >&2; }
die() { echo "readiness.sh: ERROR: $*" >&2; exit 1; }

BIN=$(bash tests/e2e/tools/build.sh | tail -n 1) || die "tests/e2e/tools/build.sh failed (see above)"
KUBECTL="$BIN/kubectl"

REUSE=${BENCH_REUSE:-}
KEEP=${BENCH_KEEP:-0}
if [ -n "$REUSE" ]; then
  D=$(cd "$REUSE" && pwd)
  [ -f "$D/env" ] || die "BENCH_REUSE=$REUSE: no control plane recorded there ($D/env)"
else
  D="$TARGET/bench/readiness-$(date -u +%Y%m%dT%H%M%SZ)"
fi
mkdir -p "$D/logs"
declare -A PID
cleanup() {
  local rc=$? name
  trap - EXIT
  for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null || true; done
  for name in "${!PID[@]}"; do wait "${PID[$name]}" 2>/dev/null || true; done
  if [ "$KEEP" = 1 ]; then
    log "BENCH_KEEP=1: the control plane keeps running; BENCH_REUSE=$D measures again, and
    bash tests/e2e/control-plane.sh down $D stops it"
  else
    bash tests/e2e/control-plane.sh down "$D" || true
  fi
  [ "$rc" = 0 ] || log "FAILED (exit $rc); logs: $D/logs"
  exit "$rc"
}
trap cleanup EXIT

if [ -z "$REUSE" ]; then
bash tests/e2e/control-plane.sh up "$D" --components etcd,apiserver --no-webhooks --bin "$BIN" \
  || die "the control plane did not start (see $D/logs)"
# shellcheck source=/dev/null
. "$D/env"
export KUBECONFIG="$ADMIN_KUBECONFIG" KUBECACHEDIR="$D/kube/cache"
k() { "$KUBECTL" "$@"; }

log "CRDs (tests/e2e/crds), and vaultgate's namespace, service account and RBAC from manifests/base"
k apply -f tests/e2e/crds/ >>"$D/logs/kubectl.log" 2>&1 || die "applying the CRDs failed (see $D/logs/kubectl.log)"
k wait --for=condition=Established --timeout=60s crd --all >>"$D/logs/kubectl.log" 2>&1 || die "CRDs not Established"
k kustomize manifests/base | k create --dry-run=client -o json -f - >"$D/rendered.json" 2>>"$D/logs/kubectl.log" \
  || die "rendering manifests/base failed (see $D/logs/kubectl.log)"
python3 - "$D/rendered.json" >"$D/platform.json" <<'PY'
import json, sys
text, pos, items, dec = open(sys.argv[1]).read(), 0, [], json.JSONDecoder()
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos == len(text):
        break
    doc, pos = dec.raw_decode(text, pos)
    items.extend(doc["items"] if doc.get("kind") == "List" else [doc])
# Only vaultgate's identity: no webhook configuration (nothing serves it here), no Deployment.
keep = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
json.dump({"apiVersion": "v1", "kind": "List", "items": [o for o in items if o["kind"] in keep]}, sys.stdout)
PY
k apply -f "$D/platform.json" >>"$D/logs/kubectl.log" 2>&1 || die "applying vaultgate's RBAC failed (see $D/logs/kubectl.log)"
TOKEN=$(k create token vaultgate -n vaultgate-system --duration=24h) || die "TokenRequest for vaultgate-system/vaultgate failed"
bash tests/e2e/control-plane.sh kubeconfig "$D" "$D/kube/vaultgate.kubeconfig" vaultgate token "$TOKEN"
printf '%s\n' "$ADMIN_TOKEN" >"$D/admin.token"

log "filling the cluster: $SECRETS Secrets, $ES ExternalSecrets, $PUSH PushSecrets in $NAMESPACES namespaces"
t0=$(date +%s)
python3 tests/bench/populate.py --api "$API_URL" --ca "$CA" --token-file "$D/admin.token" --secrets "$SECRETS" \
  --externalsecrets "$ES" --pushsecrets "$PUSH" --namespaces "$NAMESPACES" --procs "$PROCS" 2>&1 | tee "$D/logs/populate.log" >&2
[ "${PIPESTATUS[0]}" = 0 ] || die "populate.py failed (see $D/logs/populate.log)"
FILL_S=$(( $(date +%s) - t0 ))
# count PATH: objects the apiserver holds there (a one-item page and its remainingItemCount).
count() {
  k get --raw "$1?limit=1" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(len(d["items"]) + d["metadata"].get("remainingItemCount", 0))'
}
log "in the cluster: $(count /api/v1/secrets) Secrets, $(count /apis/external-secrets.io/v1/externalsecrets) ExternalSecrets, $(count /apis/external-secrets.io/v1alpha1/pushsecrets) PushSecrets"
du -sm "$ETCD_DATA" | cut -f1 >"$D/etcd-mb"
echo "$FILL_S" >"$D/fill-s"
else
  # shellcheck source=/dev/null
  . "$D/env"
  export KUBECONFIG="$ADMIN_KUBECONFIG" KUBECACHEDIR="$D/kube/cache"
  kill -0 "$API_PID" 2>/dev/null || die "BENCH_REUSE=$D: its kube-apiserver (pid $API_PID) is not running"
  log "reusing the filled control plane in $D"
fi
ETCD_MB=$(cat "$D/etcd-mb" 2>/dev/null || du -sm "$ETCD_DATA" | cut -f1)
FILL_S=$(cat "$D/fill-s" 2>/dev/null || echo "?")

# Built after the fill, which needs no vaultgate: a build already running elsewhere overlaps it.
if [ -n "${BENCH_VAULTGATE:-}" ]; then
  VG=$BENCH_VAULTGATE   # another build of vaultgate, e.g. to compare two trees on one fill
else
  log "cargo build --release --bin vaultgate"
  cargo build --release --bin vaultgate >&2
  VG="$TARGET/release/vaultgate"
fi
[ -s "$D/certs/tls.crt" ] || "$VG" certs --out "$D/certs" --ip 127.0.0.1 --dns localhost >"$D/logs/certs.log" 2>&1 \
  || die "vaultgate certs failed (see $D/logs/certs.log)"
free_ports() { python3 -c '
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in held))' "$1"; }

# start NAME [ARGS...]: a vaultgate replica as the Deployment runs it (default policy, live context,
# JSON logs at info, audit on), plus ARGS; records its start time (ns) in STARTED[NAME].
declare -A STARTED PROBE EXTRA
start() {
  local name=$1 port probe
  shift
  EXTRA[$name]="$*"
  read -r port probe < <(free_ports 2)
  STARTED[$name]=$(date +%s%N)
  KUBECONFIG="$D/kube/vaultgate.kubeconfig" "$VG" serve --listen "127.0.0.1:$port" \
    --tls-cert "$D/certs/tls.crt" --tls-key "$D/certs/tls.key" --probe-listen "127.0.0.1:$probe" \
    --log-format json "$@" </dev/null >>"$D/logs/vaultgate-$name.log" 2>&1 &
  PID[$name]=$! PROBE[$name]=$probe
}
# wait_ready NAME: polls /readyz every 20 ms; sets READY to the seconds since its start. A port
# taken between choosing and binding it (other work on the machine) restarts it on new ports.
wait_ready() {
  local name=$1 deadline=$(( $(date +%s) + 300 ))
  until curl -fs --max-time 1 -o /dev/null "http://127.0.0.1:${PROBE[$name]}/readyz"; do
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      wait "${PID[$name]}" 2>/dev/null || true
      tail -n 2 "$D/logs/vaultgate-$name.log" | grep -q 'cannot bind' \
        || die "vaultgate $name exited (see $D/logs/vaultgate-$name.log)"
      log "$name: its port was taken meanwhile; starting it again on others"
      # shellcheck disable=SC2086
      start "$name" ${EXTRA[$name]}
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "vaultgate $name not ready after 300 s (see $D/logs/vaultgate-$name.log)"
    sleep 0.02
  done
  READY=$(python3 -c 'import sys; print(f"{(int(sys.argv[1]) - int(sys.argv[2])) / 1e9:.3f}")' "$(date +%s%N)" "${STARTED[$name]}")
}
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/${PID[$1]}/status"; }
# cpu_s PID: user + system CPU seconds the process has used so far (fields 14 and 15 of stat).
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t}' "/proc/$1/stat"; }
stop() { kill -TERM "${PID[$1]}" 2>/dev/null || true; }
reap() { wait "${PID[$1]}" 2>/dev/null || true; unset "PID[$1]"; }

RESULTS="$D/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
: >"$RESULTS"
for i in $(seq 1 "$REPEAT"); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  api0=$(cpu_s "$API_PID")
  start "start-$i"
  wait_ready "start-$i"; ready=$READY
  cpu_ready=$(cpu_s "${PID[start-$i]}") api_cpu=$(python3 -c 'import sys; print(f"{float(sys.argv[1]) - float(sys.argv[2]):.2f}")' "$(cpu_s "$API_PID")" "$api0")
  rss_ready=$(kib "start-$i" VmRSS) hwm_ready=$(kib "start-$i" VmHWM)
  sleep "$SETTLE"
  rss_settled=$(kib "start-$i" VmRSS) hwm_settled=$(kib "start-$i" VmHWM)
  printf '{"run":"start","i":%s,"ready_s":%s,"cpu_ready_s":%s,"apiserver_cpu_s":%s,"rss_ready_kib":%s,"hwm_ready_kib":%s,"rss_settled_kib":%s,"hwm_settled_kib":%s,"settle_s":%s,"loadavg":%s}\n' \
    "$i" "$ready" "$cpu_ready" "$api_cpu" "$rss_ready" "$hwm_ready" "$rss_settled" "$hwm_settled" "$SETTLE" "$load" >>"$RESULTS"
  log "start $i: ready in ${ready}s (CPU: vaultgate ${cpu_ready}s, apiserver ${api_cpu}s); RSS ${rss_ready} KiB at ready (peak ${hwm_ready}), ${rss_settled} KiB after ${SETTLE}s (peak ${hwm_settled}); load $load"
  if [ "$i" -lt "$REPEAT" ]; then stop "start-$i"; reap "start-$i"; fi
done

log "the first in-cluster audit pass (--audit-interval $AUDIT_INTERVAL)"
start audit --audit-interval "$AUDIT_INTERVAL"
wait_ready audit; ready=$READY
metric() { curl -fsS --max-time 5 "http://127.0.0.1:${PROBE[audit]}/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
deadline=$(( $(date +%s) + 600 ))
until [ "$(metric vaultgate_audit_last_run_timestamp_seconds)" != "" ] && [ "$(metric vaultgate_audit_last_run_timestamp_seconds)" != 0 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || die "no audit pass within 600 s (see $D/logs/vaultgate-audit.log)"
  sleep 0.5
done
printf '{"run":"audit","ready_s":%s,"audit_s":%s,"rss_kib":%s,"hwm_kib":%s,"loadavg":%s}\n' "$ready" \
  "$(metric vaultgate_audit_duration_seconds)" "$(kib audit VmRSS)" "$(kib audit VmHWM)" "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"
log "audit: $(tail -n 1 "$RESULTS")"
stop audit
reap audit

log "rolling restart of two replicas (maxSurge 1, maxUnavailable 0, shutdown delay 5 s as shipped)"
start old-2
wait_ready old-2
PID[old-1]=${PID[start-$REPEAT]}; unset "PID[start-$REPEAT]"
load=$(cut -d' ' -f1 /proc/loadavg)
t0=$(date +%s%N)
start new-1
wait_ready new-1; r1=$READY
stop old-1
start new-2
wait_ready new-2; r2=$READY
stop old-2
reap old-1
reap old-2
total=$(python3 -c 'import sys; print(f"{(int(sys.argv[1]) - int(sys.argv[2])) / 1e9:.3f}")' "$(date +%s%N)" "$t0")
printf '{"run":"rolling","new1_ready_s":%s,"new2_ready_s":%s,"total_s":%s,"loadavg":%s}\n' "$r1" "$r2" "$total" "$load" >>"$RESULTS"
log "rolling restart: new-1 ready in ${r1}s, new-2 in ${r2}s, old-2 gone after ${total}s in all"

{
  echo "# readiness.sh $(date -u +%Y-%m-%dT%H:%M:%SZ): $(nproc) cores; $SECRETS Secrets, $ES ExternalSecrets, $PUSH PushSecrets in $NAMESPACES namespaces (filled in ${FILL_S}s, etcd data ${ETCD_MB} MB)"
  python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
starts = [r for r in rows if r["run"] == "start"]
mib = lambda k: k / 1024
print("\n| start | ready s | vaultgate CPU s | apiserver CPU s | RSS at ready MiB | peak at ready MiB | RSS settled MiB | peak settled MiB | load avg |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in starts:
    print(f"| {r['i']} | {r['ready_s']:.2f} | {r['cpu_ready_s']:.2f} | {r['apiserver_cpu_s']:.2f} | {mib(r['rss_ready_kib']):.1f} | {mib(r['hwm_ready_kib']):.1f} "
          f"| {mib(r['rss_settled_kib']):.1f} | {mib(r['hwm_settled_kib']):.1f} | {r['loadavg']} |")
for r in rows:
    if r["run"] == "audit":
        print(f"\nafter the first in-cluster audit pass ({r['audit_s']} s): RSS {mib(r['rss_kib']):.1f} MiB, "
              f"peak {mib(r['hwm_kib']):.1f} MiB (ready in {r['ready_s']} s; load avg {r['loadavg']})")
ready = statistics.median(r["ready_s"] for r in starts)
peak = max(r["hwm_settled_kib"] for r in starts)
for r in rows:
    if r["run"] == "rolling":
        print(f"\nrolling restart (2 replicas): new-1 ready {r['new1_ready_s']:.2f} s, new-2 ready {r['new2_ready_s']:.2f} s, "
              f"total {r['total_s']:.2f} s (load avg {r['loadavg']})")
print(f"\n- ready after start: median {ready:.2f} s (target <= 10 s): {'met' if ready <= 10 else 'MISSED'}")
print(f"- RSS: peak {mib(peak):.1f} MiB over every start (target <= 96 MiB): {'met' if peak <= 96 * 1024 else 'MISSED'}")
PY
} | tee "${RESULTS%.jsonl}.md"
log "raw results: $RESULTS"
