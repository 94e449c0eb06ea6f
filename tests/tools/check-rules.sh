#!/usr/bin/env bash
# `promtool check rules` on the alerts of manifests/monitoring/prometheusrule.yaml. promtool reads
# a rule groups file, not the PrometheusRule CRD around it, so the CRD's `spec` (the `groups:`
# list) is written to a temporary file first. promtool comes from tests/tools/promtool.sh (built
# once from the Go module proxy, then cached). Fails loudly on any error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

RULE=${1:-manifests/monitoring/prometheusrule.yaml}
die() { echo "check-rules.sh: ERROR: $*" >&2; exit 1; }

PROMTOOL=$(bash tests/tools/promtool.sh | tail -n 1) || die "could not build promtool (see above)"
[ -x "$PROMTOOL" ] || die "tests/tools/promtool.sh printed no executable: '$PROMTOOL'"

grep -qx 'kind: PrometheusRule' "$RULE" || die "$RULE is not a PrometheusRule"
GROUPS_FILE=$(mktemp --suffix=.yaml)
trap 'rm -f "$GROUPS_FILE"' EXIT
# Everything under the top-level `spec:`, two spaces of indentation removed; it must start
# with `groups:` (a layout this does not understand fails here, not silently).
awk 'in_spec && /^[^ #]/ { exit } in_spec { sub(/^  /, ""); print } /^spec:[[:space:]]*$/ { in_spec = 1 }' \
  "$RULE" >"$GROUPS_FILE"
[ "$(grep -v '^[[:space:]]*\(#.*\)\?$' "$GROUPS_FILE" | head -n 1)" = "groups:" ] \
  || die "could not extract spec.groups from $RULE"
"$PROMTOOL" check rules "$GROUPS_FILE" || die "promtool check rules failed for $RULE (spec)"
