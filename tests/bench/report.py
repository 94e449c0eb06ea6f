#!/usr/bin/env python3
"""Prints the markdown tables of a tests/bench/load.sh run from its results.jsonl:
raw figures per server and scenario, then the vaultgate/floor ratios against the targets; the
HTTP/2 runs (h2load, proto "h2") in tables of their own, with the ratios to floor-uid (issue 17).
With BENCH_REPEAT > 1 the ratios use the median of the repeats."""
import json, statistics, sys

rows, h2rows, idle, idle_after = [], [], {}, {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("idle"):
        idle[d["server"]] = d["rss_kib"]
    elif d.get("idle_after"):
        idle_after[d["server"]] = d["rss_kib"]
    elif d.get("proto") == "h2":
        h2rows.append(d)
    else:
        rows.append(d)

mib = lambda kib: kib / 1024.0
print("\n## Raw figures (latency from the intended send time: coordinated-omission corrected)\n")
print("| scenario | server | offered req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | max ms | svc p99 ms "
      "| CPU ms/req | server cores | peak RSS MiB | errors | not allowed | load avg | other builds |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for d in rows:
    offered = d["target_rate"] if d["mode"] == "fixed" else "max"
    print(f"| {d['label']} | {d['server']} | {offered} | {d['rps']:.0f} | {d['p50_ms']:.3f} | {d['p99_ms']:.3f} "
          f"| {d['p999_ms']:.3f} | {d['max_ms']:.2f} | {d['svc_p99_ms']:.3f} | {d.get('cpu_ms_per_req', float('nan')):.4f} "
          f"| {d.get('server_cores', float('nan')):.2f} | {mib(d.get('peak_rss_kib', 0)):.1f} | {d['errors']} "
          f"| {d['not_allowed']} | {d['loadavg']:.2f} | {d['other_builds']} |")

def med(label, server, key, among=None):
    vals = [d[key] for d in (rows if among is None else among)
            if d["label"] == label and d["server"] == server and key in d]
    return statistics.median(vals) if vals else float("nan")

labels = list(dict.fromkeys(d["label"] for d in rows))
servers = list(dict.fromkeys(d["server"] for d in rows + h2rows))
for server in [s for s in servers if s != "floor"]:
    print(f"\n## {server} / floor\n")
    print(f"| scenario | req/s ratio | p50 ratio | p99 ratio | p99.9 ratio | {server} CPU ms/req | floor CPU ms/req | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label in labels:
        r = lambda key: med(label, server, key) / med(label, "floor", key)
        print(f"| {label} | {r('rps'):.3f} | {r('p50_ms'):.2f} | {r('p99_ms'):.2f} | {r('p999_ms'):.2f} "
              f"| {med(label, server, 'cpu_ms_per_req'):.4f} | {med(label, 'floor', 'cpu_ms_per_req'):.4f} | {r('cpu_ms_per_req'):.2f} |")

if h2rows:
    h2labels = list(dict.fromkeys(d["label"] for d in h2rows))
    print("\n## HTTP/2 (h2load: max throughput; mean latency only, h2load reports no percentiles)\n")
    print("| scenario | server | conns x streams | req/s | mean ms | max ms | CPU ms/req | server cores | errors | load avg | other builds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d in h2rows:
        print(f"| {d['label']} | {d['server']} | {d['conns']} x {d['streams']} | {d['rps']:.0f} | {d['mean_ms']:.3f} "
              f"| {d['max_ms']:.2f} | {d['cpu_ms_per_req']:.4f} | {d['server_cores']:.2f} | {d['errors']} "
              f"| {d['loadavg']:.2f} | {d['other_builds']} |")
    h2servers = list(dict.fromkeys(d["server"] for d in h2rows))
    print("\n## HTTP/2 medians and ratios (req/s; each run's raw figure in brackets)\n")
    print("| scenario | " + " | ".join(h2servers) + " | " + " | ".join(f"{s}/floor-uid" for s in h2servers if s != "floor-uid") + " |")
    print("|---|" + "---:|" * (len(h2servers) + len([s for s in h2servers if s != "floor-uid"])))
    for label in h2labels:
        raw = lambda server: " ".join(f"{d['rps']:.0f}" for d in h2rows if d["label"] == label and d["server"] == server)
        cells = [f"{med(label, s, 'rps', h2rows):.0f} [{raw(s)}]" for s in h2servers]
        ratios = [f"{med(label, s, 'rps', h2rows) / med(label, 'floor-uid', 'rps', h2rows):.3f}"
                  for s in h2servers if s != "floor-uid"]
        print(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    if "floor-uid" in h2servers and "vaultgate" in h2servers:
        print("\n## Targets (issue 17, HTTP/2; vaultgate / floor-uid, medians)\n")
        for label, target in (("h2-small@max", 0.95), ("h2-tls@max", 0.9)):
            if label in h2labels:
                ratio = med(label, "vaultgate", "rps", h2rows) / med(label, "floor-uid", "rps", h2rows)
                print(f"- throughput {label}: vaultgate/floor-uid = {ratio:.3f} (target >= {target}): {'met' if ratio >= target else 'MISSED'}")
        for label in ("small@max", "tls@max"):
            if label in labels and "floor-uid" in servers:
                ratio = med(label, "vaultgate", "rps") / med(label, "floor-uid", "rps")
                print(f"- alongside, HTTP/1.1 {label}: vaultgate/floor-uid = {ratio:.3f}")

print("\n## Memory\n")
print("| server | idle RSS MiB (start) | idle RSS MiB (after load) | peak RSS MiB (any run) |")
print("|---|---:|---:|---:|")
for server in servers:
    peak = max((d.get("peak_rss_kib", 0) for d in rows + h2rows if d["server"] == server), default=0)
    print(f"| {server} | {mib(idle.get(server, 0)):.1f} | {mib(idle_after.get(server, 0)):.1f} | {mib(peak):.1f} |")

def verdict(ok):
    return "met" if ok else "MISSED"

print("\n## Targets (issue 6; vaultgate as shipped, i.e. logging at info)\n")
maxes = [l for l in labels if l.endswith("@max") and not l.startswith("storm")]
for label in maxes:
    ratio = med(label, "vaultgate", "rps") / med(label, "floor", "rps")
    print(f"- throughput {label}: vaultgate/floor = {ratio:.3f} (target >= 0.85): {verdict(ratio >= 0.85)}")
for label in [l for l in labels if l.endswith("@2000")]:
    ratio = med(label, "vaultgate", "p99_ms") / med(label, "floor", "p99_ms")
    print(f"- p99 at 2k req/s {label}: vaultgate/floor = {ratio:.2f} (target <= 1.5): {verdict(ratio <= 1.5)}")
small = [med(l, "vaultgate", "cpu_ms_per_req") for l in labels if l.startswith("small@")]
if small:
    worst = max(small)
    print(f"- CPU per small review: {min(small):.4f}-{worst:.4f} ms (target <= 0.1 ms, incl. TLS+HTTP): {verdict(worst <= 0.1)}")
if "vaultgate" in idle:
    print(f"- idle RSS: {mib(idle['vaultgate']):.1f} MiB at start, {mib(idle_after.get('vaultgate', 0)):.1f} MiB after load "
          f"(target <= 32 MiB): {verdict(max(idle['vaultgate'], idle_after.get('vaultgate', 0)) <= 32 * 1024)}")
