#!/usr/bin/env bash
# Finds a headless Chromium for the audit report's browser test (tests/e2e/audit_browser.rs) and
# prints its path as the last line of stdout. A `chromium` or `chromium-headless-shell` already on
# PATH (or named by VAULTGATE_CHROMIUM) is used as it is; otherwise Debian's `chromium` package is
# installed with apt-get (as root, without recommended packages; apt keeps the .deb in its own
# cache, nothing else is cached). Anything missing fails loudly, naming it; nothing is skipped.
set -euo pipefail

die() { echo "chromium.sh: ERROR: $*" >&2; exit 1; }

found() {
  local c
  for c in "${VAULTGATE_CHROMIUM:-}" chromium chromium-headless-shell; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

if path=$(found); then echo "$path"; exit 0; fi

[ -n "${VAULTGATE_CHROMIUM:-}" ] && die "VAULTGATE_CHROMIUM=$VAULTGATE_CHROMIUM is not an executable on PATH"
command -v apt-get >/dev/null 2>&1 \
  || die "no chromium or chromium-headless-shell on PATH, and no apt-get to install Debian's chromium: install Chromium and put it on PATH (or set VAULTGATE_CHROMIUM)"
[ "$(id -u)" = 0 ] \
  || die "no chromium or chromium-headless-shell on PATH; installing Debian's chromium needs root: run 'apt-get install -y --no-install-recommends chromium' as root"

echo "chromium.sh: installing Debian's chromium (apt-get, once; the browser test needs it)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
  apt-get update -qq >&2 || die "apt-get update failed"
fi
apt-get install -y -qq --no-install-recommends chromium >/dev/null \
  || die "apt-get install chromium failed (is another apt running? see above)"
path=$(found) || die "apt-get installed chromium but no chromium is on PATH"
echo "$path"
