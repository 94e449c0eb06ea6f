#!/usr/bin/env bash
# Builds promtool (Prometheus' rule checker) from the Go module proxy, once, and prints the
# binary's path as the LAST line on stdout; progress goes to stderr.
#
# Output: ${VAULTGATE_TOOLS_CACHE:-$HOME/.cache/vaultgate-tools}/promtool-${PROMTOOL_VERSION}/promtool
# A binary already there is not rebuilt (delete the directory to force a rebuild).
# Needs: go (GOTOOLCHAIN=local, never downloads a toolchain) and the Go module proxy on a cold
#        GOMODCACHE. A cold build fetches Prometheus' dependencies and takes minutes on 2 cores.
# The version is the Go module version of github.com/prometheus/prometheus (v0.316.0 is
# Prometheus 3.16.0; `promtool --version` reports the module version).
set -euo pipefail

PROMTOOL_VERSION=${PROMTOOL_VERSION:-v0.316.0}

log() { echo "promtool.sh: $*" >&2; }
die() { echo "promtool.sh: ERROR: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go not found on PATH (needed to build promtool)"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-trimpath

DIR="${VAULTGATE_TOOLS_CACHE:-$HOME/.cache/vaultgate-tools}/promtool-$PROMTOOL_VERSION"
BIN="$DIR/promtool"
if [ -x "$BIN" ]; then
  log "present, not rebuilt ($BIN)"
  echo "$BIN"
  exit 0
fi

# Install into a temporary GOBIN beside the final one, then rename: an interrupted build never
# leaves a binary that looks finished.
mkdir -p "$DIR"
TMP=$(mktemp -d "$DIR/.build.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
log "building github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION ($(go version | awk '{print $3}'); minutes on a cold module cache)"
start=$(date +%s)
GOBIN="$TMP" go install -ldflags "-s -w" "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION" \
  || die "go install github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION failed (see above)"
[ -x "$TMP/promtool" ] || die "go install produced no promtool in $TMP"
"$TMP/promtool" --version >/dev/null 2>&1 || die "the built promtool does not run ($TMP/promtool --version)"
mv -f "$TMP/promtool" "$BIN"
log "built in $(( $(date +%s) - start ))s: $BIN"
echo "$BIN"
