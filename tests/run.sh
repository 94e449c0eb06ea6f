#!/usr/bin/env bash
# The whole suite, as CI runs it: every unit, integration, HTTPS, CLI and OpenBao test plus the
# end-to-end suite, all under the real control plane (etcd + kube-apiserver + OpenBao + vaultgate)
# that tests/e2e/run.sh starts and tears down. The first run builds the control plane from Go
# modules (~12 min on 2 cores, cached afterwards).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec bash tests/e2e/run.sh cargo test --locked --all-targets --features e2e
