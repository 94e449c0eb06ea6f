#!/usr/bin/env python3
"""Turns one h2load run's text output into the JSON line tests/bench/load.sh appends to
results.jsonl for its HTTP/2 scenario (report.py reads it). h2load reports throughput and
min/max/mean latency, no percentiles; the server's CPU ticks and peak RSS come from load.sh.

    h2load_result.py OUTPUT SERVER LABEL BODY LOADAVG OTHER_BUILDS CPU_TICKS CLK_TCK DURATION HWM_KIB CONNS STREAMS
"""
import json, re, sys


def ms(v):
    """h2load prints times as 123us, 4.56ms or 1.2s."""
    m = re.fullmatch(r"([0-9.]+)(us|ms|s)", v)
    if not m:
        sys.exit(f"h2load_result.py: cannot read the time {v!r}")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def need(pattern, text, what):
    m = re.search(pattern, text)
    if not m:
        sys.exit(f"h2load_result.py: no {what} in h2load's output:\n{text}")
    return m


out, server, label, body, load, other, ticks, clk, duration, hwm, conns, streams = sys.argv[1:]
rps = float(need(r"finished in [0-9.]+m?s, ([0-9.]+) req/s", out, "throughput").group(1))
req = need(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
           out, "request counts")
done, succeeded = int(req.group(3)), int(req.group(4))
ok_status = int(need(r"status codes: (\d+) 2xx", out, "status codes").group(1))
lat = need(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", out, "request times")
cpu_ms = int(ticks) * 1000.0 / int(clk)
print(json.dumps({
    "proto": "h2", "label": label, "mode": "max", "server": server, "body": body, "rps": rps,
    "done": done, "errors": done - min(succeeded, ok_status),
    "mean_ms": ms(lat.group(3)), "max_ms": ms(lat.group(2)),
    "cpu_ms_per_req": cpu_ms / max(done, 1), "server_cores": cpu_ms / 1000.0 / float(duration),
    "peak_rss_kib": int(hwm), "conns": int(conns), "streams": int(streams),
    "loadavg": float(load), "other_builds": int(other),
}))
