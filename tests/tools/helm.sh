#!/usr/bin/env bash
# Builds helm from the Go module proxy once and prints the path of the binary (the LAST line on
# stdout; progress goes to stderr). Used by .ci/run (helm lint / helm template of charts/vaultgate)
# and tests/helm/chart_matches_kustomize.sh.
#
#   bash tests/tools/helm.sh            # -> ~/.cache/vaultgate-tools/helm-v4.3.2/helm
#   HELM=$(bash tests/tools/helm.sh) && "$HELM" version
#
# Cache: ${VAULTGATE_TOOLS_CACHE:-$HOME/.cache/vaultgate-tools}/helm-$HELM_VERSION/helm. An existing
# binary that reports the pinned version is reused; delete the directory to force a rebuild.
# Needs: go (GOTOOLCHAIN=local: never downloads a toolchain) and, on a cold GOMODCACHE, the Go
# module proxy. A cold build takes several minutes on 2 shared cores (see CONTRIBUTING.md).
# Any failure exits non-zero naming the cause; nothing falls back to a helm found on PATH.
set -euo pipefail

# helm v4 (the Go module proxy's notes prefer it over v3; the chart is apiVersion v2, which
# helm v3 renders identically).
HELM_MODULE=helm.sh/helm/v4
HELM_VERSION=v4.3.2

log() { echo "helm.sh: $*" >&2; }
die() { echo "helm.sh: ERROR: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go not found on PATH (needed to build helm $HELM_VERSION from $HELM_MODULE)"

CACHE=${VAULTGATE_TOOLS_CACHE:-$HOME/.cache/vaultgate-tools}
DIR="$CACHE/helm-$HELM_VERSION"
HELM="$DIR/helm"

if [ -x "$HELM" ] && "$HELM" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
  echo "$HELM"
  exit 0
fi

mkdir -p "$DIR"
log "building $HELM_MODULE/cmd/helm@$HELM_VERSION into $DIR (cold: several minutes)"
start=$(date +%s)
# go install writes the binary only when the build succeeded; GOBIN is this version's own dir.
# The -X sets what `helm version` reports, as helm's Makefile does.
GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOBIN="$DIR" \
  go install -ldflags "-s -w -X $HELM_MODULE/internal/version.version=$HELM_VERSION" \
  "$HELM_MODULE/cmd/helm@$HELM_VERSION" >&2 \
  || die "go install $HELM_MODULE/cmd/helm@$HELM_VERSION failed (see above)"
[ -x "$HELM" ] || die "go install succeeded but wrote no $HELM"
got=$("$HELM" version --template '{{.Version}}' 2>/dev/null) || die "$HELM does not run"
[ "$got" = "$HELM_VERSION" ] || die "$HELM reports version '$got', expected $HELM_VERSION"
log "built helm $got in $(( $(date +%s) - start ))s"
echo "$HELM"
