#!/usr/bin/env bash
# The one control-plane launcher: etcd + kube-apiserver (RBAC on, client-certificate, static-token
# and service-account identities) and an OpenBao dev server on free 127.0.0.1 ports, with the
# certificates minted here by openssl. Used by tests/e2e/run.sh (the shell harness) and by the
# handover tier (tests/handover/control_plane.rs, through std::process::Command), so both get the
# same processes, flags, health checks and teardown. It never registers a webhook: run.sh does
# that against the apiserver this starts; the handover tier runs without any.
#
# Usage:
#   control-plane.sh up DIR [--components etcd,apiserver,bao] [--no-webhooks] [--bao-tls] [--bin BIN]
#   control-plane.sh down DIR [--kill]
#   control-plane.sh kubeconfig DIR OUT USER (token TOKEN | cert CRT KEY)
#
# up: starts the components (default all three; apiserver needs etcd) and returns once each is
#   healthy, leaving them running. Everything goes under DIR:
#     env          KEY=VALUE lines (values never need quoting: `. DIR/env` or split on the first
#                  '='); written last, so its presence means the control plane is up. Keys:
#                  DIR BIN KUBECTL LOGS PKI KUBE COMPONENTS; etcd: ETCD_PORT ETCD_PEER_PORT
#                  ETCD_URL ETCD_DATA ETCD_PID; apiserver: API_PORT API_URL API_PID CA
#                  ADMIN_TOKEN ADMIN_KUBECONFIG; bao: BAO_PORT BAO_ADDR BAO_PID BAO_TOKEN
#                  BAO_UNSEAL_KEY, and BAO_CA with --bao-tls
#     logs/        etcd.log kube-apiserver.log bao.log openssl.log
#     pki/         ca (serves the apiserver), client-ca with alice, bob and ci-robot, sa.key,
#                  tokens.csv (the admin's static token, system:masters); unless --no-webhooks,
#                  webhook-client-ca with webhook-client (the apiserver's identity towards a
#                  webhook) and webhook-probe, webhook-client.kubeconfig, admission-config.yaml
#     kube/        admin, alice, bob, ci-robot kubeconfigs
#     pids/        NAME = "PID STARTTIME" of each process, written as it starts (what `down` stops)
#     bao-tls/     with --bao-tls: the dev server's CA (vault-ca.pem) and certificate
#   etcd's data is on /dev/shm when writable (ETCD_DATA), else under DIR. On failure `up` stops
#   what it started, names the component and its log, and exits non-zero; nothing is skipped.
#   --no-webhooks: no AdmissionConfiguration and no webhook mTLS certificates (the handover tier).
#   --bao-tls: `bao server -dev -dev-tls`, BAO_ADDR is https:// and BAO_CA its CA.
#   --bin: the dir with etcd, kube-apiserver, bao (and kubectl); default $VAULTGATE_E2E_BIN,
#   else the dir of $VAULTGATE_E2E_KUBECTL, else the last line of tests/e2e/tools/build.sh
#   (instant once cached; a cold cache builds for many minutes).
#
# down: stops what `up` started, by PID (checked against the recorded start time, never by
#   name): kube-apiserver before etcd, and bao meanwhile; SIGTERM, up to 15 s, then SIGKILL.
#   --kill: SIGKILL at once, for callers that only need the processes gone (the handover tier,
#   whose tests never read a stopped component's last words). Removes the etcd data; keeps logs
#   and certificates. Idempotent, and safe after a failed `up`.
#
# Environment: VAULTGATE_E2E_TIMEOUT (seconds per health wait, default 120), VAULTGATE_E2E_BIN,
# VAULTGATE_E2E_KUBECTL, VAULTGATE_E2E_CACHE (tools/build.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TIMEOUT=${VAULTGATE_E2E_TIMEOUT:-120}

log() { echo "control-plane.sh: [$(date +%H:%M:%S)] $*" >&2; }
die() { echo "control-plane.sh: ERROR: $*" >&2; exit 1; }
usage() { sed -n '/^# Usage:/,/^# up:/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

# starttime PID: field 22 of /proc/PID/stat (clock ticks since boot), so a reused PID is told apart.
starttime() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# pid_alive PID [START]: running (a zombie counts as gone) and, if START is given, the same process.
pid_alive() {
  local state
  [ -r "/proc/$1/stat" ] || return 1
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] || return 1
  [ -z "${2:-}" ] || [ "$(starttime "$1")" = "$2" ]
}

# stop NAME: the process recorded in DIR/pids/NAME. $SIGNAL (TERM, or KILL with --kill), up to
# 15 s, then SIGKILL.
stop() {
  local name=$1 f="$D/pids/$1" pid start t0
  [ -f "$f" ] || return 0
  read -r pid start <"$f" || true
  [ -n "${pid:-}" ] || return 0
  if pid_alive "$pid" "$start"; then
    t0=$(date +%s%N)
    kill -CONT "$pid" 2>/dev/null || true
    kill "-$SIGNAL" "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do pid_alive "$pid" "$start" || break; sleep 0.05; done
    if pid_alive "$pid" "$start"; then
      log "$name (pid $pid) ignored SIG$SIGNAL for 15s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    t0=$(( ($(date +%s%N) - t0) / 100000000 ))
    log "stopped $name (pid $pid) in $(( t0 / 10 )).$(( t0 % 10 ))s"
  fi
  wait "$pid" 2>/dev/null || true   # reaps it when `up` itself is stopping what it started
  rm -f "$f"
}

down() {
  local bao_stopper
  stop bao &            # bao depends on neither, so it stops meanwhile
  bao_stopper=$!
  stop kube-apiserver   # the apiserver before etcd
  stop etcd
  wait "$bao_stopper" || true
  if [ -f "$D/pids/etcd-data" ]; then
    local data
    data=$(cat "$D/pids/etcd-data")
    case "$data" in
      /dev/shm/vaultgate-e2e-*/etcd) rm -rf "${data%/etcd}" ;;
      "$D"/etcd) rm -rf "$data" ;;
    esac
    rm -f "$D/pids/etcd-data"
  fi
}

# kubeconfig OUT USER (token TOKEN | cert CRT KEY), for the apiserver recorded in DIR/env.
kubeconfig() {
  local out=$1 user=$2 cred
  case "${3:-}" in
    token) [ $# -eq 4 ] || usage; cred="      token: $4" ;;
    cert) [ $# -eq 5 ] || usage; cred="      client-certificate: $4
      client-key: $5" ;;
    *) usage ;;
  esac
  [ -n "${API_PORT:-}" ] || API_PORT=$(sed -n 's/^API_PORT=//p' "$D/env" 2>/dev/null)
  [ -n "$API_PORT" ] || die "kubeconfig: no apiserver recorded in $D/env"
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster:
      server: https://127.0.0.1:$API_PORT
      certificate-authority: $D/pki/ca.crt
users:
  - name: $user
    user:
$cred
contexts:
  - name: e2e
    context: {cluster: e2e, user: $user}
current-context: e2e
EOF
  chmod 600 "$out"
}

[ $# -ge 2 ] || usage
CMD=$1 D=$2
shift 2
case "$D" in /*) ;; *) D="$(pwd)/$D" ;; esac
case "$CMD" in
  down)
    SIGNAL=TERM
    case "${1:-}" in "") ;; --kill) SIGNAL=KILL; shift ;; *) usage ;; esac
    [ $# -eq 0 ] || usage
    down
    exit 0
    ;;
  kubeconfig) [ $# -ge 3 ] || usage; kubeconfig "$@"; exit 0 ;;
  up) ;;
  *) usage ;;
esac

# ---------------------------------------------------------------- up: arguments
COMPONENTS=etcd,apiserver,bao WEBHOOKS=1 BAO_TLS=0 BIN=${VAULTGATE_E2E_BIN:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --components) [ $# -ge 2 ] || usage; COMPONENTS=$2; shift 2 ;;
    --no-webhooks) WEBHOOKS=0; shift ;;
    --bao-tls) BAO_TLS=1; shift ;;
    --bin) [ $# -ge 2 ] || usage; BIN=$2; shift 2 ;;
    *) usage ;;
  esac
done
want() { case ",$COMPONENTS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for c in ${COMPONENTS//,/ }; do
  case "$c" in etcd | apiserver | bao) ;; *) die "--components: unknown component '$c' (etcd, apiserver, bao)" ;; esac
done
[ -n "$COMPONENTS" ] || die "--components: nothing to start"
if want apiserver && ! want etcd; then die "--components: apiserver needs etcd"; fi

command -v curl >/dev/null 2>&1 || die "missing prerequisite: 'curl' is not on PATH (waits on the health endpoints)"
command -v python3 >/dev/null 2>&1 || die "missing prerequisite: 'python3' is not on PATH (allocates free ports)"
if want apiserver; then
  command -v openssl >/dev/null 2>&1 || die "missing prerequisite: 'openssl' is not on PATH (mints the certificates)"
fi
if [ -z "$BIN" ] && [ -n "${VAULTGATE_E2E_KUBECTL:-}" ]; then BIN=$(dirname "$VAULTGATE_E2E_KUBECTL"); fi
if [ -z "$BIN" ]; then
  log "no --bin, VAULTGATE_E2E_BIN or VAULTGATE_E2E_KUBECTL: asking tests/e2e/tools/build.sh (cached after the first run)"
  BIN=$(bash "$HERE/tools/build.sh" | tail -n 1) || die "tests/e2e/tools/build.sh failed: no etcd, kube-apiserver or bao"
fi
for b in ${COMPONENTS//,/ }; do
  [ "$b" = apiserver ] && b=kube-apiserver
  [ -x "$BIN/$b" ] || die "missing binary: $BIN/$b (build it with: bash tests/e2e/tools/build.sh)"
done

LOGS="$D/logs" PKI="$D/pki" KUBE="$D/kube"
mkdir -p "$LOGS" "$PKI" "$KUBE" "$D/pids"
[ ! -e "$D/env" ] || die "$D/env exists: a control plane was already started there (run down, and use a fresh DIR)"

UP_DONE=0
SIGNAL=TERM   # what a failed `up` stops its processes with
on_exit() {
  local rc=$?
  if [ "$UP_DONE" != 1 ]; then
    trap - EXIT
    set +e
    down
    echo "control-plane.sh: ERROR: up failed (exit $rc); logs in $LOGS" >&2
    [ "$rc" != 0 ] || rc=1
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# spawn NAME CMD...: starts CMD in the background, output to logs/NAME.log, PID in pids/NAME.
spawn() {
  local name=$1 pid; shift
  "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
  pid=$!
  echo "$pid $(starttime "$pid")" >"$D/pids/$name"
}
pid_of() { cut -d' ' -f1 "$D/pids/$1"; }

# wait_healthy NAME CHECK...: polls CHECK until it succeeds, the process dies or TIMEOUT.
wait_healthy() {
  local name=$1 pid start; shift
  pid=$(pid_of "$name")
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    pid_alive "$pid" || die "$name exited during startup (see $LOGS/$name.log)"
    [ $(( $(date +%s) - start )) -lt "$TIMEOUT" ] || die "$name not healthy after ${TIMEOUT}s (see $LOGS/$name.log)"
    sleep 0.1
  done
  log "$name healthy after $(( $(date +%s) - start ))s (pid $pid)"
}

# ---------------------------------------------------------------- ports
# Distinct free loopback ports, held open together while chosen: etcd client and peer, apiserver,
# and bao, whose port+1 (its cluster listener) must be free as well.
read -r ETCD_PORT ETCD_PEER_PORT API_PORT BAO_PORT < <(python3 - <<'PY'
import socket
held, ports = [], []
def bind(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", port))
    held.append(s)
    return s.getsockname()[1]
for _ in range(3):
    ports.append(bind())
while True:
    p = bind()
    try:
        bind(p + 1)
    except OSError:
        continue
    ports.append(p)
    break
print(*ports)
PY
)
[ -n "${BAO_PORT:-}" ] || die "could not allocate free loopback ports"

ENV=("DIR=$D" "BIN=$BIN" "KUBECTL=$(if [ -x "$BIN/kubectl" ]; then echo "$BIN/kubectl"; fi)" "LOGS=$LOGS" "PKI=$PKI" "KUBE=$KUBE"
     "COMPONENTS=$COMPONENTS")

# ---------------------------------------------------------------- etcd and bao, then the apiserver
etcd_ok() { curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
api_ok() { [ "$(curl -fsS --max-time 2 --cacert "$PKI/ca.crt" "https://127.0.0.1:$API_PORT/readyz")" = ok ]; }
# The unseal key is printed in the banner, which may come after the listener is up.
bao_ok() {
  curl -fsS --max-time 2 "${BAO_CURL[@]}" "$BAO_ADDR/v1/sys/health" | grep -q '"sealed":false' \
    && grep -q '^Unseal Key: ' "$LOGS/bao.log"
}

if want etcd; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    ETCD_DATA="/dev/shm/vaultgate-e2e-$(basename "$D")-$$/etcd"
  else
    ETCD_DATA="$D/etcd"
  fi
  echo "$ETCD_DATA" >"$D/pids/etcd-data"
  mkdir -p "$ETCD_DATA"
  log "starting etcd on 127.0.0.1:$ETCD_PORT (data: $ETCD_DATA)"
  spawn etcd "$BIN/etcd" --name e2e --data-dir "$ETCD_DATA" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync
  ENV+=("ETCD_PORT=$ETCD_PORT" "ETCD_PEER_PORT=$ETCD_PEER_PORT" "ETCD_URL=http://127.0.0.1:$ETCD_PORT"
        "ETCD_DATA=$ETCD_DATA" "ETCD_PID=$(pid_of etcd)")
fi

if want bao; then
  BAO_ARGS=(server -dev -dev-listen-address="127.0.0.1:$BAO_PORT" -dev-root-token-id=root -dev-no-store-token)
  BAO_CURL=()
  if [ "$BAO_TLS" = 1 ]; then
    mkdir -p "$D/bao-tls"
    BAO_ARGS+=(-dev-tls -dev-tls-cert-dir="$D/bao-tls")
    BAO_ADDR="https://127.0.0.1:$BAO_PORT"
    BAO_CURL=(--cacert "$D/bao-tls/vault-ca.pem")
  else
    BAO_ADDR="http://127.0.0.1:$BAO_PORT"
  fi
  log "starting OpenBao dev server on $BAO_ADDR"
  spawn bao "$BIN/bao" "${BAO_ARGS[@]}"
fi

# ---------------------------------------------------------------- certificates (while etcd and bao boot)
if want apiserver; then
  cat >"$PKI/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
EOF
  ossl() { openssl "$@" >>"$LOGS/openssl.log" 2>&1 || die "openssl $1 failed (see $LOGS/openssl.log)"; }
  # new_ca NAME CN
  new_ca() {
    ossl req -x509 -config "$PKI/openssl.cnf" -extensions ca -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -days 2 -subj "/CN=$2" -keyout "$PKI/$1.key" -out "$PKI/$1.crt"
  }
  # new_leaf NAME SUBJECT CA EXTENSIONS
  new_leaf() {
    ossl req -new -config "$PKI/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "$2" -keyout "$PKI/$1.key" -out "$PKI/$1.csr"
    ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$3.crt" -CAkey "$PKI/$3.key" -CAcreateserial -days 2 \
      -extfile "$PKI/openssl.cnf" -extensions "$4" -out "$PKI/$1.crt"
    rm -f "$PKI/$1.csr"
  }
  log "minting certificates"
  new_ca ca vaultgate-e2e-ca                       # serves the apiserver
  new_ca client-ca vaultgate-e2e-client-ca         # authenticates the human test users
  new_leaf apiserver "/CN=127.0.0.1" ca server
  new_leaf alice "/O=developers/CN=alice" client-ca client
  new_leaf bob "/O=developers/CN=bob" client-ca client
  new_leaf ci-robot "/O=ci/CN=ci-robot" client-ca client
  if [ "$WEBHOOKS" = 1 ]; then
    # mTLS between the apiserver and a webhook: a CA of its own (not the users' client CA, so no
    # human's certificate can call the webhook), the apiserver's client certificate, and one for
    # the harness's and the tests' probes of the webhook's /readyz and /metrics.
    new_ca webhook-client-ca vaultgate-e2e-webhook-client-ca
    new_leaf webhook-client "/CN=system:kube-apiserver" webhook-client-ca client
    new_leaf webhook-probe "/CN=vaultgate-e2e-probe" webhook-client-ca client
  fi
  ossl genrsa -out "$PKI/sa.key" 2048               # signs (and verifies) service-account tokens
  ADMIN_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
  printf '%s,e2e-admin,e2e-admin-uid,"system:masters"\n' "$ADMIN_TOKEN" >"$PKI/tokens.csv"
  chmod 600 "$PKI"/*.key "$PKI/tokens.csv"
fi

if want etcd; then wait_healthy etcd etcd_ok; fi

if want apiserver; then
  API_ARGS=()
  if [ "$WEBHOOKS" = 1 ]; then
    # The apiserver's credentials for webhook calls (AdmissionConfiguration kubeConfigFile): user
    # "*" matches every webhook host, so the same certificate reaches any port a test points a
    # webhook at.
    cat >"$PKI/webhook-client.kubeconfig" <<EOF
apiVersion: v1
kind: Config
users:
  - name: "*"
    user:
      client-certificate: $PKI/webhook-client.crt
      client-key: $PKI/webhook-client.key
EOF
    chmod 600 "$PKI/webhook-client.kubeconfig"
    sed "s|@WEBHOOK_KUBECONFIG@|$PKI/webhook-client.kubeconfig|g; s|@PKI@|$PKI|g" "$HERE/mtls-admission-config.yaml" \
      >"$PKI/admission-config.yaml" || die "rendering tests/e2e/mtls-admission-config.yaml failed"
    grep -q "kubeConfigFile: \"$PKI/webhook-client.kubeconfig\"" "$PKI/admission-config.yaml" \
      || die "tests/e2e/mtls-admission-config.yaml has no kubeConfigFile: \"@WEBHOOK_KUBECONFIG@\" to substitute"
    API_ARGS+=(--admission-control-config-file="$PKI/admission-config.yaml")
  fi
  log "starting kube-apiserver on https://127.0.0.1:$API_PORT"
  spawn kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/client-ca.crt" --token-auth-file="$PKI/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer="https://127.0.0.1:$API_PORT" \
    --service-account-key-file="$PKI/sa.key" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --disable-admission-plugins=ServiceAccount \
    "${API_ARGS[@]}" \
    --allow-privileged=true
fi

if want bao; then
  wait_healthy bao bao_ok
  BAO_UNSEAL_KEY=$(sed -n 's/^Unseal Key: *//p' "$LOGS/bao.log" | head -n 1 | tr -d '[:space:]')
  [ -n "$BAO_UNSEAL_KEY" ] || die "no unseal key in the dev server's banner (see $LOGS/bao.log)"
  ENV+=("BAO_PORT=$BAO_PORT" "BAO_ADDR=$BAO_ADDR" "BAO_PID=$(pid_of bao)" "BAO_TOKEN=root" "BAO_UNSEAL_KEY=$BAO_UNSEAL_KEY")
  [ "$BAO_TLS" = 0 ] || ENV+=("BAO_CA=$D/bao-tls/vault-ca.pem")
fi

if want apiserver; then
  wait_healthy kube-apiserver api_ok
  kubeconfig "$KUBE/admin.kubeconfig" e2e-admin token "$ADMIN_TOKEN"
  for u in alice bob ci-robot; do
    kubeconfig "$KUBE/$u.kubeconfig" "$u" cert "$PKI/$u.crt" "$PKI/$u.key"
  done
  ENV+=("API_PORT=$API_PORT" "API_URL=https://127.0.0.1:$API_PORT" "API_PID=$(pid_of kube-apiserver)"
        "CA=$PKI/ca.crt" "ADMIN_TOKEN=$ADMIN_TOKEN" "ADMIN_KUBECONFIG=$KUBE/admin.kubeconfig")
fi

# ---------------------------------------------------------------- env (last: it means "up")
for kv in "${ENV[@]}"; do
  [[ "$kv" =~ ^[A-Z_]+=[A-Za-z0-9_./:,@+=-]*$ ]] || die "cannot write '${kv%%=*}' to $D/env: its value needs quoting"
done
printf '%s\n' "${ENV[@]}" >"$D/env.tmp"
mv -f "$D/env.tmp" "$D/env"
UP_DONE=1
log "up: $COMPONENTS ($D/env)"
