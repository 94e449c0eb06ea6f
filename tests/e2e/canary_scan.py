#!/usr/bin/env python3
"""No-leak scan for the e2e run: is a Secret value the tests wrote anywhere it must not be?

Usage: canary_scan.py CANARY FILE...

Every Secret value the e2e suite writes starts with CANARY (tests/e2e/harness.rs). This looks for
CANARY in each FILE in the forms a careless log line, error or metric label would carry it:

  - raw bytes;
  - base64 (standard and URL-safe alphabets) at each of the 3 alignments the canary can have
    inside a longer encoded value, so `data:` fields and encoded bodies are caught wherever the
    canary starts;
  - hex, lower and upper case (also what `{:x}`-style debug output of bytes gives);
  - a decimal byte list, as Rust's `{:?}` prints a `Vec<u8>`/`&[u8]` (`118, 103, ...`).

Before it scans anything it checks itself: it plants the canary in every form (behind 0, 1 and
2 bytes of prefix, inside longer values) in a temporary file and must find each one, and must
find nothing in a clean file. If that self-check fails the scan is worthless, so it exits 2.

Exit status: 0 clean, 1 the canary was found (every hit is listed by file, line and form; the
matched text itself is never printed), 2 usage error, unreadable file or failed self-check.
"""

import base64
import os
import sys
import tempfile


def b64_fragments(canary: bytes, encode) -> list:
    """The part of encode(prefix + canary) that depends only on the canary, for each alignment."""
    out = []
    for shift in range(3):
        enc = encode(b"\0" * shift + canary)
        start = -(-(shift * 8) // 6)  # first 6-bit group entirely after the prefix
        end = ((shift + len(canary)) * 8) // 6  # groups entirely inside the canary
        out.append(enc[start:end])
    return out


def needles(canary: bytes) -> list:
    """(form, bytes) pairs to look for."""
    out = [("raw", canary)]
    for i, frag in enumerate(b64_fragments(canary, base64.b64encode)):
        out.append((f"base64 (alignment {i})", frag))
    for i, frag in enumerate(b64_fragments(canary, base64.urlsafe_b64encode)):
        if frag not in [n for _, n in out]:
            out.append((f"base64url (alignment {i})", frag))
    out.append(("hex", canary.hex().encode()))
    out.append(("HEX", canary.hex().upper().encode()))
    out.append(("decimal byte list", ", ".join(str(b) for b in canary).encode()))
    out.append(("decimal byte list (compact)", ",".join(str(b) for b in canary).encode()))
    return out


def scan(path: str, patterns: list) -> list:
    """(line number, form) of every hit in the file at `path`."""
    hits = []
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            for form, needle in patterns:
                if needle in line:
                    hits.append((lineno, form))
    return hits


def self_check(canary: bytes, patterns: list) -> list:
    """Problems found when scanning planted and clean files; empty when the scanner works."""
    problems = []
    planted = []
    for shift in range(3):
        value = b"x" * shift + canary + b"-tail-of-the-value"
        planted += [
            ("raw", b"level=trace msg=" + value),
            ("base64", b'"data":{"k":"' + base64.b64encode(value) + b'"}'),
            ("base64url", b"token=" + base64.urlsafe_b64encode(value)),
            ("hex", b"bytes=" + value.hex().encode()),
            ("HEX", b"BYTES=" + value.hex().upper().encode()),
            ("decimal byte list", b"[" + ", ".join(str(b) for b in value).encode() + b"]"),
        ]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (form, line) in enumerate(planted):
            path = os.path.join(tmp, f"planted-{i}.log")
            with open(path, "wb") as f:
                f.write(b"first line\n" + line + b"\nlast line\n")
            if not scan(path, patterns):
                problems.append(f"a planted {form} canary (case {i}) was not found")
        clean = os.path.join(tmp, "clean.log")
        with open(clean, "wb") as f:
            f.write(b"level=info msg=\"admission review\" decision=deny rule=VG101\n")
            f.write(base64.b64encode(b"an unrelated value of some length") + b"\n")
        if scan(clean, patterns):
            problems.append("the clean file was reported as leaking")
    return problems


def main(argv: list) -> int:
    if len(argv) < 3 or len(argv[1]) < 8:
        print("usage: canary_scan.py CANARY(at least 8 bytes) FILE...", file=sys.stderr)
        return 2
    canary = argv[1].encode()
    patterns = needles(canary)
    problems = self_check(canary, patterns)
    if problems:
        for p in problems:
            print(f"canary scan: SELF-CHECK FAILED: {p}", file=sys.stderr)
        print("canary scan: the scanner cannot detect a leak; refusing to report the run clean", file=sys.stderr)
        return 2
    print(
        f"canary scan: self-check passed: every planted form (raw, base64, base64url, hex, HEX, "
        f"byte list; 3 alignments each) found, nothing in a clean file ({len(patterns)} patterns)"
    )
    leaks, scanned, size = 0, 0, 0
    for path in argv[2:]:
        try:
            hits = scan(path, patterns)
            size += os.path.getsize(path)
        except OSError as e:
            print(f"canary scan: cannot read {path}: {e}", file=sys.stderr)
            return 2
        scanned += 1
        for lineno, form in hits:
            leaks += 1
            print(f"canary scan: LEAK: {path}:{lineno}: the canary, {form}")
    if leaks:
        print(f"canary scan: FAILED: {leaks} hit(s) in {scanned} files")
        return 1
    print(f"canary scan: clean: {scanned} files, {size} bytes, no form of the canary")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
