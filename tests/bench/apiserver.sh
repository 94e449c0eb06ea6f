#!/usr/bin/env bash
# Through the real apiserver, two scenarios measured interleaved in one run under the e2e harness
# (etcd + kube-apiserver + OpenBao + vaultgate), each under several admission configurations:
#   CREATE  N dryRun=All creates of the Secret an ExternalSecret would materialize;
#   UPDATE  N real updates of Secrets ESO already materialized (stored through the webhooks, so
#           vaultgate's are stamped), changing one data value as an ESO refresh does: with the
#           shipped matchConditions vaultgate's mutating webhook is skipped (one hop). The run
#           fails if a vaultgate UPDATE is denied or reaches /mutate, or the floor's is skipped.
# Configurations, one namespace each:
#   baseline   bench-none: no admission policy (vaultgate's webhooks skip it)
#   vap        bench-vap: an in-tree ValidatingAdmissionPolicy (CEL) denying Secret writers
#              outside an allowlist (vaultgate's webhooks skip it too)
#   vaultgate  bench-vaultgate: vaultgate's shipped mutating + validating webhooks (release
#              build, JSON logs at info, live cluster context)
#   vaultgate-validate-only  bench-vg-validate (CREATE only): the validating webhook alone
#   floor-webhooks  bench-floor: the same two Secret webhooks (as shipped but for the URL)
#              answered by tests/bench/floor.rs --answer uid: the price of the two hops alone
#              (the floor stamps nothing, so its UPDATEs reach both hops)
#   floor-validate-only  bench-floor-v: the floor's validating webhook alone (one hop)
# The writer everywhere is ESO's service account (a real TokenRequest token), so every request
# is admitted in every configuration.
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
