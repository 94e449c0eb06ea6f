#!/usr/bin/env bash
# Finds h2load (nghttp2's HTTP/2 load generator, for the HTTP/2 scenario of tests/bench/load.sh)
# and prints its path as the last line of stdout. An `h2load` already on PATH (or named by
# VAULTGATE_H2LOAD) is used as it is; otherwise Debian's `nghttp2-client` package is installed
# once with apt-get (as root, without recommended packages; apt keeps the .deb in its own cache
# and the installed binary stays, so later runs find it on PATH). Anything missing fails loudly,
# naming it; nothing is skipped and no other load generator is substituted.
set -euo pipefail

die() { echo "h2load.sh: ERROR: $*" >&2; exit 1; }

found() {
  local c
  for c in "${VAULTGATE_H2LOAD:-}" h2load; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

if path=$(found); then echo "$path"; exit 0; fi

[ -n "${VAULTGATE_H2LOAD:-}" ] && die "VAULTGATE_H2LOAD=$VAULTGATE_H2LOAD is not an executable on PATH"
command -v apt-get >/dev/null 2>&1 \
  || die "no h2load on PATH, and no apt-get to install Debian's nghttp2-client: install nghttp2's h2load and put it on PATH (or set VAULTGATE_H2LOAD)"
[ "$(id -u)" = 0 ] \
  || die "no h2load on PATH; installing Debian's nghttp2-client needs root: run 'apt-get install -y --no-install-recommends nghttp2-client' as root"

echo "h2load.sh: installing Debian's nghttp2-client (apt-get, once; the HTTP/2 load scenario needs h2load)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show nghttp2-client >/dev/null 2>&1; then
  apt-get update -qq >&2 || die "apt-get update failed"
fi
apt-get install -y -qq --no-install-recommends nghttp2-client >/dev/null \
  || die "apt-get install nghttp2-client failed (is another apt running? see above)"
path=$(found) || die "apt-get installed nghttp2-client but no h2load is on PATH"
echo "$path"
