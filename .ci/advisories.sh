#!/usr/bin/env bash
# Checks Cargo.lock against the RustSec advisory database with cargo-deny, offline: the
# database is fetched from github.com when reachable, and otherwise taken from the snapshot
# vendored beside the repository (../shared/vendor/rustsec-advisory-db, plain files). cargo-deny
# reads its database as a git checkout under db-path, so the snapshot is committed into a
# scratch repository where cargo-deny looks for the github URL's database. Before trusting a
# pass, the same database with one synthetic advisory against a crate in Cargo.lock must FAIL,
# so a check that silently reads nothing cannot pass. Prints one summary line on stdout:
#   checked (<source>)
# and exits non-zero on any advisory, on a failed self-check, or when no database is at hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SNAPSHOT=${VAULTGATE_ADVISORY_SNAPSHOT:-../shared/vendor/rustsec-advisory-db}
WORK=target/advisories
# cargo-deny's directory name for https://github.com/rustsec/advisory-db (its URL hash).
DB_DIR=advisory-db-3157b0e258782691
rm -rf "$WORK" && mkdir -p "$WORK/dbs"

config() { # config DB_PATH OUT
  sed "s#^db-urls = .*#&\ndb-path = \"$1\"\nmaximum-db-staleness = \"P3650D\"#" .cargo/deny.toml >"$2"
}

if timeout 60 cargo deny --config .cargo/deny.toml fetch db >"$WORK/fetch.log" 2>&1; then
  cargo deny --offline --config .cargo/deny.toml check advisories >&2
  echo "checked (RustSec database fetched from github.com)"
  exit 0
fi
[ -d "$SNAPSHOT/crates" ] || {
  echo "advisories: ERROR: github.com is unreachable and no snapshot is at $SNAPSHOT" >&2
  exit 1
}
commit=$(grep -o 'Source commit: `[0-9a-f]*`' "$SNAPSHOT/../README.md" 2>/dev/null | grep -o '[0-9a-f]\{7\}' | head -1 || true)
dated=$(grep -o 'committed [0-9-]*' "$SNAPSHOT/../README.md" 2>/dev/null | head -1 || true)

snapshot_repo() { # snapshot_repo DIR
  cp -r "$SNAPSHOT" "$1"
  git -C "$1" init -q
  git -C "$1" add -A
  git -C "$1" -c user.name=vaultgate-ci -c user.email=ci@localhost commit -q -m "RustSec snapshot $commit"
}

# Self-check: a synthetic advisory against serde (in Cargo.lock) must make the check fail.
mkdir -p "$WORK/selfcheck"
snapshot_repo "$WORK/selfcheck/$DB_DIR"
mkdir -p "$WORK/selfcheck/$DB_DIR/crates/serde"
cat >"$WORK/selfcheck/$DB_DIR/crates/serde/RUSTSEC-0000-0001.md" <<'ADVISORY'
```toml
[advisory]
id = "RUSTSEC-0000-0001"
package = "serde"
date = "2026-01-01"
url = "https://example.invalid/vaultgate-ci-self-check"
[versions]
patched = []
```
# vaultgate CI self-check advisory
Not a real advisory: proves the advisories check reads this database.
ADVISORY
git -C "$WORK/selfcheck/$DB_DIR" add -A
git -C "$WORK/selfcheck/$DB_DIR" -c user.name=vaultgate-ci -c user.email=ci@localhost commit -q -m "self-check advisory"
config "$PWD/$WORK/selfcheck" "$WORK/selfcheck.toml"
if cargo deny --offline --config "$WORK/selfcheck.toml" check advisories >"$WORK/selfcheck.log" 2>&1; then
  echo "advisories: ERROR: a synthetic advisory against serde passed the check; the database is not being read" >&2
  exit 1
fi
grep -q "RUSTSEC-0000-0001" "$WORK/selfcheck.log" || {
  echo "advisories: ERROR: the self-check failed for another reason:" >&2
  tail -20 "$WORK/selfcheck.log" >&2
  exit 1
}

snapshot_repo "$WORK/dbs/$DB_DIR"
config "$PWD/$WORK/dbs" "$WORK/deny.toml"
cargo deny --offline --config "$WORK/deny.toml" check advisories >&2
echo "checked (vendored RustSec snapshot ${commit:-?}, ${dated:-date unknown}; github.com unreachable)"
