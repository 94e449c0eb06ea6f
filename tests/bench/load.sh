#!/usr/bin/env bash
# Side-by-side load test: vaultgate (release build, `serve --cluster-context memory`, JSON logs at
# the default level `info` written to a file, as in production) against the floor
# (tests/bench/floor.rs: the same TLS/HTTP stack answering a fixed AdmissionReview), alternating,
# same settings, with tests/bench/loadgen.rs over TLS 1.3 + HTTP/1.1 keep-alive. An optional third
# server, `vaultgate-warn` (the same binary with --log-level warn), shows what logging at info
# costs: BENCH_SERVERS="vaultgate floor vaultgate-warn". (Since allowed reviews log at debug,
# both benchmark reviews, which are allowed, write no line at info either.) Two more optional
# servers place vaultgate between the floor and a webhook that reads the request:
# floor-uid (scans the body, echoes request.uid: the least a correct webhook does) and
# floor-kube (kube-rs's AdmissionReview<DynamicObject> decode, no policy).
#
#   bash tests/bench/load.sh            # ~6 minutes; prints the tables, keeps raw JSON lines
#
# Scenarios (each: BENCH_WARMUP s unmeasured, then BENCH_DURATION s measured):
#   small (2.3 KB Secret CREATE) and tls (19 KB TLS Secret UPDATE) x fixed 1k/2k/5k req/s + max
#   storm: a new TCP+TLS connection per request (full handshakes), small review, max rate
#   h2-small@max, h2-tls@max: HTTP/2 (what kube-apiserver speaks to webhooks), the same two bodies
#     multiplexed as BENCH_H2_STREAMS concurrent streams on each of BENCH_H2_CONNS TLS connections,
#     driven by nghttp2's h2load (tests/tools/h2load.sh finds it or installs Debian's
#     nghttp2-client, failing loudly if it cannot), after an unmeasured h2load run of
#     BENCH_WARMUP s. Every server is first checked to answer allowed:true over h2 for both bodies.
# Environment: BENCH_DURATION (10), BENCH_WARMUP (2), BENCH_CONNS (16), BENCH_RATES ("1000 2000 5000"),
#   BENCH_STORM_CONNS (8), BENCH_LOADGEN_THREADS (1), BENCH_REPEAT (1; N: every server N times,
#   rotating the order; the ratio table then uses medians), BENCH_MAX (1), BENCH_STORM (1),
#   BENCH_SERVERS ("vaultgate floor"), BENCH_H1 (1; 0: skip every HTTP/1.1 run), BENCH_H2 (1),
#   BENCH_H2_CONNS (2), BENCH_H2_STREAMS (32),
#   CARGO_TARGET_DIR. Results: $TARGET/bench/load-<time>/{results.jsonl,report.md,*.log}.
# Every measured run records the 1-min load average and any other cargo/rustc/go process seen,
# so contention from other work on the machine shows in the table.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-16}
RATES=${BENCH_RATES:-"1000 2000 5000"}
STORM_CONNS=${BENCH_STORM_CONNS:-8}
THREADS=${BENCH_LOADGEN_THREADS:-1}
SERVERS=${BENCH_SERVERS:-"vaultgate floor"}
REPEAT=${BENCH_REPEAT:-1}
WITH_MAX=${BENCH_MAX:-1}      # 0: skip the max-throughput runs
WITH_STORM=${BENCH_STORM:-1}  # 0: skip the handshake storm
WITH_H1=${BENCH_H1:-1}        # 0: skip every HTTP/1.1 run
WITH_H2=${BENCH_H2:-1}        # 0: skip the HTTP/2 runs
H2_CONNS=${BENCH_H2_CONNS:-2}
H2_STREAMS=${BENCH_H2_STREAMS:-32}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

log() { echo "load.sh: [$(date +%H:%M:%S)] $*" >&2; }

log "cargo build --release --bin vaultgate --example bench-floor --example bench-loadgen"
cargo build --release --bin vaultgate --example bench-floor --example bench-loadgen >&2
VG="$TARGET/release/vaultgate"
H2LOAD=""
if [ "$WITH_H2" = 1 ]; then
  H2LOAD=$(bash tests/tools/h2load.sh | tail -n 1) && [ -x "$H2LOAD" ] \
    || { log "ERROR: h2load is needed for the HTTP/2 scenario (tests/tools/h2load.sh failed, see above; BENCH_H2=0 skips it)"; exit 1; }
fi
FLOOR="$TARGET/release/examples/bench-floor"
LOADGEN="$TARGET/release/examples/bench-loadgen"

OUT="$TARGET/bench/load-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
"$VG" certs --out "$OUT/certs" --ip 127.0.0.1 --dns localhost >"$OUT/certs.log" 2>&1
[[ " $SERVERS " == *" floor "* ]] || { log "ERROR: BENCH_SERVERS must include floor (the ratios are against it)"; exit 2; }

declare -A PID PORT
cleanup() {
  for pid in "${PID[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PID[@]}"; do wait "$pid" 2>/dev/null || true; done
  # The info log holds one line per review (~100 MB per run): keep its size and last lines only.
  if [ -f "$OUT/vaultgate.log" ]; then
    echo "$(wc -l <"$OUT/vaultgate.log") lines, $(du -h "$OUT/vaultgate.log" | cut -f1)" >"$OUT/vaultgate.log.size"
    tail -n 20 "$OUT/vaultgate.log" >"$OUT/vaultgate.log.tail" && rm -f "$OUT/vaultgate.log"
  fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
TLS=(--tls-cert "$OUT/certs/tls.crt" --tls-key "$OUT/certs/tls.key")
# launch NAME: starts that server on a free port. floor-uid / floor-kube are the floor reading the
# request first (tests/bench/floor.rs --answer): the uid only, or kube-rs's AdmissionReview decode.
launch() {
  local port
  port=$(free_port)
  case $1 in
    vaultgate) "$VG" serve --listen "127.0.0.1:$port" "${TLS[@]}" --cluster-context memory --log-format json \
      --shutdown-delay 0s </dev/null 2>"$OUT/vaultgate.log" & ;;
    vaultgate-warn) "$VG" serve --listen "127.0.0.1:$port" "${TLS[@]}" --cluster-context memory --log-format json \
      --log-level warn --shutdown-delay 0s </dev/null 2>"$OUT/vaultgate-warn.log" & ;;
    floor) "$FLOOR" --listen "127.0.0.1:$port" "${TLS[@]}" </dev/null 2>"$OUT/floor.log" & ;;
    floor-uid | floor-kube) "$FLOOR" --listen "127.0.0.1:$port" "${TLS[@]}" --answer "${1#floor-}" \
      </dev/null 2>"$OUT/$1.log" & ;;
    *) log "ERROR: unknown server '$1' in BENCH_SERVERS (vaultgate, vaultgate-warn, floor, floor-uid, floor-kube)"; exit 2 ;;
  esac
  PID[$1]=$! PORT[$1]=$port
}
for server in $SERVERS; do launch "$server"; done
for server in $SERVERS; do
  ready=""
  for _ in $(seq 1 100); do
    curl -fsS --max-time 1 --cacert "$OUT/certs/ca.crt" "https://127.0.0.1:${PORT[$server]}/readyz" >/dev/null 2>&1 && { ready=1; break; }
    sleep 0.1
  done
  # A server that did not come up (e.g. its port was taken meanwhile) would measure as 0 req/s.
  if [ -z "$ready" ]; then
    log "ERROR: $server not ready on :${PORT[$server]} after 10 s; server logs:"
    tail -n 5 "$OUT"/*.log >&2
    exit 1
  fi
done
sleep 2
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
for server in $SERVERS; do log "$server: pid ${PID[$server]} on :${PORT[$server]}"; done

RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
pid_of() { echo "${PID[$1]}"; }
port_of() { echo "${PORT[$1]}"; }
for server in $SERVERS; do
  printf '{"idle":true,"server":"%s","rss_kib":%s}\n' "$server" "$(rss "$(pid_of "$server")")" >>"$RESULTS"
done

# run SERVER SCENARIO BODY LOADGEN-ARGS...: one measured run, one JSON line.
run() {
  local server=$1 scenario=$2 body=$3 port pid other load line
  shift 3
  port=$(port_of "$server") pid=$(pid_of "$server")
  load=$(cut -d' ' -f1 /proc/loadavg)
  other=$(ps -eo comm= | grep -cE '^(cargo|rustc|go|compile|link|cc1|ld|clippy-driver)$' || true)
  line=$("$LOADGEN" --addr "127.0.0.1:$port" --ca "$OUT/certs/ca.crt" --body "tests/bench/reviews/$body.json" \
    --duration "$DURATION" --warmup "$WARMUP" --threads "$THREADS" --pid "$pid" --clk-tck "$CLK_TCK" \
    --label "$scenario" "$@" 2>>"$OUT/loadgen.log")
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(server=sys.argv[2], body=sys.argv[3], loadavg=float(sys.argv[4]), other_builds=int(sys.argv[5])); print(json.dumps(d))' \
    "$line" "$server" "$body" "$load" "$other" >>"$RESULTS"
  log "$(tail -n 1 "$RESULTS" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%-12s %-9s %8.0f req/s  p50 %.3f  p99 %.3f  p99.9 %.3f ms  cpu %.4f ms/req  errors %d  load %s  other builds %d" % (d["label"], d["server"], d["rps"], d["p50_ms"], d["p99_ms"], d["p999_ms"], d.get("cpu_ms_per_req", 0), d["errors"], d["loadavg"], d["other_builds"]))')"
}

# pair SCENARIO BODY ARGS...: every server, rotating which goes first.
n=0
pair() {
  local order=($SERVERS) rep i
  for rep in $(seq 1 "$REPEAT"); do
    for i in $(seq 0 $((${#order[@]} - 1))); do
      run "${order[$(( (i + n) % ${#order[@]} ))]}" "$@"
    done
    n=$((n + 1))
  done
}

# h2run SERVER SCENARIO BODY: one measured h2load run (after an unmeasured one of BENCH_WARMUP s),
# one JSON line (tests/bench/h2load_result.py). The server's CPU is read from /proc around the
# measured run, as loadgen does.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
h2run() {
  local server=$1 scenario=$2 body=$3 port pid other load t0 t1 out
  port=$(port_of "$server") pid=$(pid_of "$server")
  local args=(-c "$H2_CONNS" -m "$H2_STREAMS" -t 1 -d "tests/bench/reviews/$body.json"
              -H 'content-type: application/json' "https://127.0.0.1:$port/validate")
  "$H2LOAD" -D "$WARMUP" "${args[@]}" >>"$OUT/h2load.log" 2>&1 || true
  load=$(cut -d' ' -f1 /proc/loadavg)
  other=$(ps -eo comm= | grep -cE '^(cargo|rustc|go|compile|link|cc1|ld|clippy-driver)$' || true)
  t0=$(ticks "$pid")
  out=$("$H2LOAD" -D "$DURATION" "${args[@]}" 2>&1) || { log "ERROR: h2load failed against $server:"; echo "$out" >&2; exit 1; }
  t1=$(ticks "$pid")
  printf '%s\n' "+ $H2LOAD -D $DURATION ${args[*]}  # $server $scenario" "$out" >>"$OUT/h2load.log"
  python3 tests/bench/h2load_result.py "$out" "$server" "$scenario" "$body" "$load" "$other" "$((t1 - t0))" \
    "$CLK_TCK" "$DURATION" "$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")" "$H2_CONNS" "$H2_STREAMS" >>"$RESULTS"
  log "$(tail -n 1 "$RESULTS" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%-12s %-10s %8.0f req/s  mean %.3f ms  cpu %.4f ms/req  errors %d  load %s  other builds %d" % (d["label"], d["server"], d["rps"], d["mean_ms"], d["cpu_ms_per_req"], d["errors"], d["loadavg"], d["other_builds"]))')"
}
# h2check SERVER BODY: the server answers allowed:true over HTTP/2 (else its figures would be an
# error path's).
h2check() {
  local answer
  answer=$(curl -fsS --http2 --max-time 5 --cacert "$OUT/certs/ca.crt" -H 'content-type: application/json' \
    --data-binary "@tests/bench/reviews/$2.json" -w '\n%{http_version}' "https://127.0.0.1:$(port_of "$1")/validate") \
    || { log "ERROR: $1 did not answer $2 over HTTP/2"; exit 1; }
  [ "$(tail -n 1 <<<"$answer")" = 2 ] || { log "ERROR: $1 answered $2 over HTTP/$(tail -n 1 <<<"$answer"), not HTTP/2"; exit 1; }
  grep -q '"allowed":true' <<<"$answer" || { log "ERROR: $1 did not allow $2 over HTTP/2: $(head -c 300 <<<"$answer")"; exit 1; }
}
# h2pair SCENARIO BODY: every server, rotating which goes first, as pair does.
h2pair() {
  local order=($SERVERS) rep i
  for rep in $(seq 1 "$REPEAT"); do
    for i in $(seq 0 $((${#order[@]} - 1))); do
      h2run "${order[$(( (i + n) % ${#order[@]} ))]}" "$@"
    done
    n=$((n + 1))
  done
}

if [ "$WITH_H1" = 1 ]; then
  for body in secret-create-small secret-update-tls; do
    short=small; [ "$body" = secret-update-tls ] && short=tls
    for rate in $RATES; do
      pair "$short@$rate" "$body" --conns "$CONNS" --rate "$rate"
    done
    if [ "$WITH_MAX" = 1 ]; then pair "$short@max" "$body" --conns "$CONNS" --rate 0; fi
  done
  if [ "$WITH_STORM" = 1 ]; then pair "storm@max" secret-create-small --conns "$STORM_CONNS" --rate 0 --new-conn; fi
fi
if [ "$WITH_H2" = 1 ]; then
  for server in $SERVERS; do
    for body in secret-create-small secret-update-tls; do h2check "$server" "$body"; done
  done
  h2pair "h2-small@max" secret-create-small
  h2pair "h2-tls@max" secret-update-tls
fi

sleep 2
for server in $SERVERS; do
  printf '{"idle_after":true,"server":"%s","rss_kib":%s}\n' "$server" "$(rss "$(pid_of "$server")")" >>"$RESULTS"
done

{
  echo "# load.sh $(date -u +%Y-%m-%dT%H:%M:%SZ): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), duration ${DURATION}s + warm-up ${WARMUP}s, $CONNS connections (storm: $STORM_CONNS), loadgen threads $THREADS; HTTP/2: h2load, $H2_CONNS connections x $H2_STREAMS streams, 1 thread"
  python3 tests/bench/report.py "$RESULTS"
} | tee "$OUT/report.md"
log "raw results: $RESULTS"
