#!/usr/bin/python3
"""PromQL latency: varve, Prometheus and VictoriaMetrics on the same data.

    bench/bench_query.py BUILD_DIR [PROMETHEUS [VICTORIA_METRICS]]

Starts the three servers on 127.0.0.1 (temporary directories), loads the
same 10,000 series with one hour of samples every 15 s (2.4 million
samples) into each through remote_write, then runs a fixed set of
dashboard-style queries, each as a range query over the hour at a 60 s
step (what a Grafana panel asks for) and as an instant query at the end,
and prints per query the median wall time of RUNS runs (whole answer
read) on each server and the ratios peer time / varve time (above 1:
varve is faster).

The series (node-exporter and HTTP-service shaped):
  bench_cpu_seconds_total{instance(100), cpu(8), mode(8)}     6,400 counters
  bench_http_requests_total{job(2), instance(50), handler(4),
                            method(2), code(3)}              2,400 counters
  bench_request_duration_seconds_bucket{job(2), instance(50),
                                        le(10)}              1,000 counters
  bench_memory_bytes{instance(100)}, bench_up{instance(100)}   200 gauges

VictoriaMetrics runs with its rollup result cache off
(-search.disableCache) and without its 30 s "latency offset", so that a
repeated query is computed again as it is by the other two; Prometheus and
varve have no result cache.  Each server gets the same requests in turn,
query by query, after one untimed warm-up run.  The figures depend on the
machine: run it on an idle one.

Environment: RUNS (default 7), BENCH_SERIES_SCALE (default 1.0; 0.1
loads a tenth of the instances for a quick try).  Exits 77 when
Prometheus or VictoriaMetrics is missing.
"""

import os
import statistics
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.dont_write_bytecode = True
import lib  # noqa: E402

RUNS = int(os.environ.get("RUNS", "7"))
SCALE = float(os.environ.get("BENCH_SERIES_SCALE", "1.0"))
STEP_MS = 15000
SAMPLES = 240
# Prometheus takes remote-written samples down to an hour behind its
# newest one: the hour ends a little before now
END_MS = (int(time.time()) - 60) * 1000
START_MS = END_MS - (SAMPLES - 1) * STEP_MS
SERIES_PER_REQUEST = 250

QUERIES = [
    ("raw selector", 'bench_memory_bytes{instance="i-7"}'),
    ("raw selector, 1200 series", 'bench_http_requests_total{job="api"}'),
    ("rate", 'rate(bench_http_requests_total{instance="i-3"}[5m])'),
    ("sum by rate", 'sum by (mode) (rate(bench_cpu_seconds_total[5m]))'),
    ("sum by rate, filtered",
     'sum by (instance) (rate(bench_cpu_seconds_total{mode!="idle"}[5m]))'),
    ("topk", 'topk(5, sum by (instance) '
     '(rate(bench_cpu_seconds_total{mode="user"}[5m])))'),
    ("histogram_quantile", 'histogram_quantile(0.99, sum by (le, job) '
     '(rate(bench_request_duration_seconds_bucket[5m])))'),
    ("max_over_time", 'max_over_time(bench_memory_bytes[10m])'),
    ("avg_over_time", 'avg_over_time(bench_memory_bytes{instance=~"i-1.*"}[5m])'),
    ("regex matchers", 'sum(rate(bench_http_requests_total'
     '{handler=~"/api/.*", code=~"5.."}[5m]))'),
    ("binary join", 'sum by (instance) '
     '(rate(bench_http_requests_total{code="500"}[5m])) / sum by (instance) '
     '(rate(bench_http_requests_total[5m]))'),
    ("group_left join", 'bench_memory_bytes * on (instance) group_left '
     'bench_up'),
]


# ------------------------------------------------------------ data


def uvarint(n):
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


TS_BYTES = [b"\x10" + uvarint(START_MS + i * STEP_MS) for i in range(SAMPLES)]


def series_bytes(labels, values):
    """A TimeSeries message, labels sorted by name."""
    out = bytearray()
    for n, v in sorted(labels.items()):
        lab = lib.pb_bytes(1, n) + lib.pb_bytes(2, v)
        out += b"\x0a" + uvarint(len(lab)) + lab
    pack = struct.pack
    for i, v in enumerate(values):
        smp = b"\x09" + pack("<d", v) + TS_BYTES[i]
        out += b"\x12" + uvarint(len(smp)) + smp
    return b"\x0a" + uvarint(len(out)) + bytes(out)


def counter(seed, rate):
    v = float(seed % 1000)
    out = []
    for i in range(SAMPLES):
        v += rate * (1 + ((i * 7 + seed) % 5))
        out.append(v)
    return out


def gauge(seed, base):
    return [base + ((i * 13 + seed) % 97) * base / 1000 for i in range(SAMPLES)]


def dataset():
    """Yield TimeSeries messages (bytes)."""
    instances = max(1, int(100 * SCALE))
    for n in range(instances):
        inst = "i-%d" % n
        for cpu in range(8):
            for m, mode in enumerate(("idle", "user", "system", "iowait",
                                      "irq", "softirq", "steal", "nice")):
                yield series_bytes({"__name__": "bench_cpu_seconds_total",
                                    "instance": inst, "cpu": str(cpu),
                                    "mode": mode, "job": "node"},
                                   counter(n * 64 + cpu * 8 + m,
                                           15.0 if m == 0 else 1.5 / (m + 1)))
        yield series_bytes({"__name__": "bench_memory_bytes", "instance": inst,
                            "job": "node"}, gauge(n, 2.0e9 + n * 1.0e7))
        yield series_bytes({"__name__": "bench_up", "instance": inst,
                            "job": "node"}, [1.0] * SAMPLES)
    for job in ("api", "web"):
        for n in range(max(1, int(50 * SCALE))):
            inst = "i-%d" % n
            for h, handler in enumerate(("/api/users", "/api/orders",
                                         "/health", "/static")):
                for method in ("GET", "POST"):
                    for c, code in enumerate(("200", "404", "500")):
                        yield series_bytes(
                            {"__name__": "bench_http_requests_total",
                             "job": job, "instance": inst,
                             "handler": handler, "method": method,
                             "code": code},
                            counter(n * 24 + h * 6 + c, 10.0 / (c * 5 + 1)))
            acc = 0.0
            bounds = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                      "1", "2.5", "+Inf")
            for b, le in enumerate(bounds):
                acc += 1 + b % 4
                yield series_bytes(
                    {"__name__": "bench_request_duration_seconds_bucket",
                     "job": job, "instance": inst, "le": le},
                    counter(n + b, acc))


def requests():
    """Snappy-compressed WriteRequests (literal-only snappy: cheap here,
    decoded alike by every receiver) and the number of series."""
    out = []
    batch = []
    count = 0
    for ts in dataset():
        batch.append(ts)
        count += 1
        if len(batch) == SERIES_PER_REQUEST:
            out.append(lib.snappy_encode(b"".join(batch), copies=False))
            batch = []
    if batch:
        out.append(lib.snappy_encode(b"".join(batch), copies=False))
    return out, count


# ------------------------------------------------------------ servers


def start_victoria(path):
    workdir = lib.tmpdir("varve-bench-vm-")
    for attempt in range(3):
        port = lib.free_port()
        proc = lib.spawn([path, "-httpListenAddr=127.0.0.1:%d" % port,
                          "-storageDataPath=" + os.path.join(workdir, "data"),
                          "-retentionPeriod=100y", "-search.disableCache",
                          "-search.latencyOffset=0s", "-loggerLevel=ERROR"],
                         os.path.join(workdir, "vm-%d.log" % attempt))
        s = lib.Server(proc, port, workdir, "victoria-metrics")
        try:
            lib.wait_ready(s, timeout=60, path="/health")
            return s
        except RuntimeError:
            if attempt < 2 and proc.poll() is not None:
                continue
            raise
    raise AssertionError("unreachable")


def load(server, bodies):
    t0 = time.time()
    for body in bodies:
        st, _, resp = lib.remote_write(server.url, body, compress=False)
        if st not in (200, 204):
            raise RuntimeError("%s: remote write -> %d %r" % (
                server.kind, st, resp[:200]))
    return time.time() - t0


def run_query(server, path, params):
    """Wall time (ms) of one query with the answer read, and the number
    of series (or points) it returned."""
    t0 = time.perf_counter()
    st, js = lib.api_get(server.url, path, params, timeout=300)
    ms = (time.perf_counter() - t0) * 1000
    if st != 200 or not js or js.get("status") != "success":
        raise RuntimeError("%s: %s %r -> %d %s" % (server.kind, path, params,
                                                   st, str(js)[:300]))
    res = js["data"]["result"]
    return ms, len(res) if isinstance(res, list) else 1


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "."
    prom = sys.argv[2] if len(sys.argv) > 2 else os.environ.get(
        "PROMETHEUS", "/usr/bin/prometheus")
    vm = sys.argv[3] if len(sys.argv) > 3 else os.environ.get(
        "VICTORIA_METRICS", "/usr/bin/victoria-metrics")
    for tool in (prom, vm):
        if not os.access(tool, os.X_OK):
            print("bench_query: %s missing (Debian: apt-get install "
                  "prometheus victoria-metrics)" % tool)
            sys.exit(77)
    sys.argv = [sys.argv[0], build, prom]   # what lib reads
    t0 = time.time()
    bodies, nseries = requests()
    print("data: %d series x %d samples, %d requests, built in %.1fs" % (
        nseries, SAMPLES, len(bodies), time.time() - t0))
    servers = [lib.start_varve(), lib.start_prometheus(
        "global: {}\n", extra_args=["--web.enable-remote-write-receiver"],
        kind="prometheus"), start_victoria(vm)]
    for s in servers:
        print("load %-17s %.1fs" % (s.kind, load(s, bodies)))
    lib.http("GET", servers[2].url + "/internal/force_flush")
    time.sleep(2)
    forms = [("range", "/api/v1/query_range",
              [("start", "%.3f" % (START_MS / 1000)),
               ("end", "%.3f" % (END_MS / 1000)), ("step", "60")]),
             ("instant", "/api/v1/query",
              [("time", "%.3f" % (END_MS / 1000))])]
    print("%-28s %-7s %10s %10s %10s %8s %8s %s" % (
        "query", "form", "varve_ms", "prom_ms", "vm_ms", "prom/v", "vm/v",
        "series v/p/vm"))
    slower = []
    for name, q in QUERIES:
        for form, path, extra in forms:
            params = [("query", q)] + extra
            counts = [run_query(s, path, params)[1] for s in servers]
            times = [[] for _ in servers]
            for _ in range(RUNS):
                for i, s in enumerate(servers):
                    times[i].append(run_query(s, path, params)[0])
            med = [statistics.median(t) for t in times]
            print("%-28s %-7s %10.2f %10.2f %10.2f %8.2f %8.2f %s" % (
                name, form, med[0], med[1], med[2], med[1] / med[0],
                med[2] / med[0], "/".join(str(c) for c in counts)))
            sys.stdout.flush()
            for i, peer in ((1, "prometheus"), (2, "victoria-metrics")):
                if med[i] < med[0]:
                    slower.append("%s (%s): %s %.2f ms, varve %.2f ms" % (
                        name, form, peer, med[i], med[0]))
    if slower:
        print("varve slower than a peer on %d of %d:" % (
            len(slower), 2 * len(QUERIES) * 2))
        for line in slower:
            print("  " + line)
    else:
        print("varve faster than both peers on every query")
    for s in servers:
        s.stop()


if __name__ == "__main__":
    main()
