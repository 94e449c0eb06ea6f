#!/usr/bin/env bash
# The Helm chart (charts/vaultgate) and the kustomize tree (manifests/) must install the same
# thing. Renders both and compares them after normalization (tests/helm/compare.py), so neither
# can drift from the other:
#   - helm lint, with image.repository set;
#   - the chart with values matching the kustomize install (namespace vaultgate-system, mode
#     enforce) against `kubectl kustomize manifests/overlays/cert-manager` (= manifests/base plus
#     the cert-manager objects and annotation): the same set of objects, and equal webhook
#     configurations (every field but caBundle: rules, matchConditions, namespaceSelector,
#     failurePolicy, timeouts, clientConfig.service), RBAC rules, roleRefs and subjects,
#     Deployment, Service, PDB and Certificate/Issuer specs and the parsed policy;
#   - the chart with mtls.enabled against overlays/mtls, and with hiddenControlPlanes.enabled
#     against overlays/hidden-control-planes, object by object as above;
#   - the chart with handover.enabled against manifests/handover's RBAC rules and arguments;
#   - the render fails, naming the value, without image.repository, and the exempt namespace and
#     handover identity follow the release namespace elsewhere.
# Usage: bash tests/helm/chart_matches_kustomize.sh
# Needs: helm (tests/tools/helm.sh builds it), kubectl (VAULTGATE_E2E_KUBECTL, else the one
# tests/e2e/tools/build.sh builds), python3 with PyYAML.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
die() { echo "chart_matches_kustomize: ERROR: $*" >&2; exit 1; }

python3 -c 'import yaml' 2>/dev/null || die "python3 lacks PyYAML (apt-get install python3-yaml)"
HELM=${HELM:-$(bash tests/tools/helm.sh | tail -n 1)} || die "tests/tools/helm.sh failed"
[ -x "$HELM" ] || die "no helm at '$HELM'"
if [ -n "${VAULTGATE_E2E_KUBECTL:-}" ]; then
  KUBECTL=$VAULTGATE_E2E_KUBECTL
else
  KUBECTL="$(bash tests/e2e/tools/build.sh | tail -n 1)/kubectl" || die "tests/e2e/tools/build.sh failed"
fi
[ -x "$KUBECTL" ] || die "no kubectl at '$KUBECTL'"

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
CHART=charts/vaultgate

"$HELM" lint --strict "$CHART" --set image.repository=registry.example.com/vaultgate >"$OUT/lint.log" 2>&1 \
  || { cat "$OUT/lint.log" >&2; die "helm lint failed"; }

# The kustomize install as README "Install" builds it: an overlay of the user's own that names
# the image (manifests/ only carries the placeholder `vaultgate`).
USER_OVERLAY="$OUT/tree/deploy/vaultgate"
mkdir -p "$USER_OVERLAY" && cp -r manifests "$OUT/tree/manifests"
user_overlay() {
  printf 'resources:\n  - ../../manifests/%s\nimages:\n  - name: vaultgate\n    newName: registry.example.com/vaultgate\n    newTag: 0.1.0\n' "$1" \
    >"$USER_OVERLAY/kustomization.yaml"
  "$KUBECTL" kustomize "$USER_OVERLAY"
}
user_overlay overlays/cert-manager >"$OUT/kustomize.yaml" || die "kubectl kustomize of an overlay on manifests/overlays/cert-manager failed"
user_overlay overlays/mtls >"$OUT/kustomize-mtls.yaml" || die "kubectl kustomize of an overlay on manifests/overlays/mtls failed"
user_overlay overlays/hidden-control-planes >"$OUT/kustomize-hidden-control-planes.yaml" \
  || die "kubectl kustomize of an overlay on manifests/overlays/hidden-control-planes failed"
# The placeholder is never a pullable registry image.
"$KUBECTL" kustomize manifests/overlays/cert-manager | grep -E '^ +image: ' | grep -qvx ' *image: vaultgate' \
  && die "manifests/ names an image other than the placeholder 'vaultgate'"
"$KUBECTL" kustomize manifests/handover >"$OUT/kustomize-handover.yaml" || die "kubectl kustomize manifests/handover failed"

# Values that match the kustomize install: its namespace, its image and mode: enforce.
AS_KUSTOMIZE=(--namespace vaultgate-system --set image.repository=registry.example.com/vaultgate --set image.tag=0.1.0 --set mode=enforce)
"$HELM" template vaultgate "$CHART" "${AS_KUSTOMIZE[@]}" >"$OUT/chart.yaml" || die "helm template (as kustomize) failed"
"$HELM" template vaultgate "$CHART" "${AS_KUSTOMIZE[@]}" --set mtls.enabled=true >"$OUT/chart-mtls.yaml" \
  || die "helm template (mtls.enabled) failed"
"$HELM" template vaultgate "$CHART" "${AS_KUSTOMIZE[@]}" --set hiddenControlPlanes.enabled=true \
  >"$OUT/chart-hidden-control-planes.yaml" || die "helm template (hiddenControlPlanes.enabled) failed"
"$HELM" template vaultgate "$CHART" "${AS_KUSTOMIZE[@]}" --set handover.enabled=true \
  --set handover.clusterName=CHANGE-ME --set handover.vault.address=http://vault-active.vault.svc:8200 \
  >"$OUT/chart-handover.yaml" || die "helm template (handover) failed"
"$HELM" template other "$CHART" --namespace platform-security --set image.repository=r/vaultgate \
  >"$OUT/chart-other-ns.yaml" || die "helm template (release other in platform-security) failed"

# A render without image.repository must fail and say so.
if "$HELM" template vaultgate "$CHART" >"$OUT/noimage.yaml" 2>"$OUT/noimage.err"; then
  die "helm template without image.repository succeeded; it must fail (no public image exists)"
fi
grep -q 'image.repository is required' "$OUT/noimage.err" || { cat "$OUT/noimage.err" >&2; die "the failure without image.repository does not name image.repository"; }

python3 tests/helm/compare.py "$OUT"
