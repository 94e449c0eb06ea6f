#!/usr/bin/env bash
# Through the real apiserver: N dryRun=All Secret creates under five admission configurations,
# measured in one run under the e2e harness (etcd + kube-apiserver + OpenBao + vaultgate):
#   baseline   namespace bench-none: no admission policy (vaultgate's webhooks skip it)
#   vap        namespace bench-vap: an in-tree ValidatingAdmissionPolicy (CEL) denying Secret
#              writers outside an allowlist (vaultgate's webhooks skip it too)
#   vaultgate  namespace bench-vaultgate: vaultgate's shipped mutating + validating webhooks
#              (release build, JSON logs at info, live cluster context)
#   vaultgate-validate-only  namespace bench-vg-validate: the validating webhook alone (one hop,
#              the same single check as the VAP)
#   floor-webhooks  namespace bench-floor: the same two Secret webhooks (as shipped but for the
#              URL) answered by tests/bench/floor.rs --answer uid: the price of the two hops alone
# The writer everywhere is ESO's service account (a real TokenRequest token) creating the Secret
# its ExternalSecret would materialize, so every request is admitted in all five.
#
#   bash tests/bench/apiserver.sh        # BENCH_N (2000) BENCH_CONCURRENCY (4) BENCH_ROUNDS (8)
#
# Results: $TARGET/bench/apiserver-<time>/report.md (also printed).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
echo "apiserver.sh: cargo build --release --bin vaultgate --example bench-apiserver-client --example bench-floor" >&2
cargo build --release --bin vaultgate --example bench-apiserver-client --example bench-floor >&2
exec bash tests/e2e/run.sh bash tests/bench/apiserver-inner.sh
