#!/usr/bin/python3
"""Read-path benchmark: varve and Prometheus side by side, same data, same run.

    bench/bench_read_api.py BUILD_DIR [PROMETHEUS]

Loads both servers through remote_write with
  - 100,000 series (20,000 metric names x 5 instances, 6 labels each,
    two samples) for the metadata-style calls, and
  - 10,000 series with one hour of samples at 15 s (240 each) for
    remote_read,
then times, as the median wall time of several runs of each request with
the whole answer read:
  series?match[]={__name__=~"bench_.*"}&limit=40000 (Prometheus 2.42
    ignores limit and sends all 100,000: also timed without limit)
  labels?limit=40000
  label/__name__/values?limit=40000
  remote_read of the hour of the 10,000 series, SAMPLES and
  STREAMED_XOR_CHUNKS
and prints one `name varve_ms=... prometheus_ms=... ratio=...` line per
request (ratio = Prometheus time / varve time: above 1 varve is faster),
plus the answer sizes. Python standard library only; exits 77 when
Prometheus is missing.
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

NAMES = 20000
INSTANCES = 5
RR_SERIES = 10000
RR_SAMPLES = 240
STEP_MS = 15000
RUNS = int(os.environ.get("BENCH_RUNS", "5"))

NOW_MS = (int(time.time()) - 10) * 1000
# Prometheus takes remote-written samples down to an hour behind its
# newest: the hour ends now and starts just inside that window
RR_START = NOW_MS - (RR_SAMPLES - 1) * STEP_MS
RR_END = NOW_MS

READ_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Read-Version": "0.1.0",
}


def pb_labels(labels):
    return b"".join(lib.pb_bytes(1, lib.pb_label(n, v)) for n, v in labels)


def sample_bytes(v, t):
    # Sample{value=1 double, timestamp=2 int64} with its length prefix
    body = b"\x09" + struct.pack("<d", v) + lib.pb_varint(2, t)
    return b"\x12" + bytes([len(body)]) + body


def requests_meta():
    """WriteRequests (uncompressed) of the 100k-series set."""
    batch = []
    for i in range(NAMES):
        name = "bench_metric_%05d_total" % i
        for k in range(INSTANCES):
            labels = [("__name__", name), ("env", "prod"),
                      ("instance", "host-%03d:9100" % ((i * 7 + k) % 500)),
                      ("job", "bench"), ("region", "r%d" % (k % 3)),
                      ("shard", str(i % 64))]
            ts = pb_labels(labels) + sample_bytes(1.0, NOW_MS - 60000) + \
                sample_bytes(2.0, NOW_MS - 30000)
            batch.append(lib.pb_bytes(1, ts))
        if len(batch) >= 5000:
            yield b"".join(batch)
            batch = []
    if batch:
        yield b"".join(batch)


def requests_rr():
    """WriteRequests of the 10k series with an hour of samples each."""
    batch = []
    for i in range(RR_SERIES):
        labels = [("__name__", "bench_rr_value"), ("instance", "node-%05d" % i),
                  ("job", "rr")]
        out = [pb_labels(labels)]
        v = float(i % 100)
        for k in range(RR_SAMPLES):
            v += (k * 7 + i) % 13 / 4.0
            out.append(sample_bytes(v, RR_START + k * STEP_MS))
        batch.append(lib.pb_bytes(1, b"".join(out)))
        if len(batch) >= 100:
            yield b"".join(batch)
            batch = []
    if batch:
        yield b"".join(batch)


def load(servers):
    t0 = time.time()
    n = 0
    # the hour-long series first: Prometheus's head then spans the hour
    for gen in (requests_rr(), requests_meta()):
        for body in gen:
            snappy = lib.snappy_encode(body, copies=False)
            for s in servers:
                st, _, b = lib.remote_write(s.url, snappy, compress=False)
                if st not in (200, 204):
                    raise SystemExit("%s: remote write -> %d %r" % (s.kind, st, b[:200]))
            n += 1
    print("loaded %d requests into each server in %.1f s" % (n, time.time() - t0))


def timed(fn):
    times = []
    size = 0
    for _ in range(RUNS):
        t0 = time.perf_counter()
        size = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, size


def api_call(s, path, params):
    def run():
        st, _, body = lib.http("GET", lib.url_with(s.url, path, params), timeout=300)
        if st != 200:
            raise SystemExit("%s %s -> %d %r" % (s.kind, path, st, body[:200]))
        return len(body)
    return run


def read_call(s, rtype):
    req = lib.snappy_encode(lib.read_request(
        [(RR_START, RR_END, [("__name__", "=", "bench_rr_value")])], [rtype]))

    def run():
        st, _, body = lib.http("POST", s.url + "/api/v1/read", req, READ_HEADERS,
                               timeout=300)
        if st != 200:
            raise SystemExit("%s read -> %d %r" % (s.kind, st, body[:200]))
        return len(body)
    return run


def main():
    if len(sys.argv) > 2:
        os.environ["PROMETHEUS"] = sys.argv[2]
    if not os.access(lib.prometheus_path(), os.X_OK):
        print("bench_read_api: no prometheus at %s, skipped" % lib.prometheus_path())
        return 77
    v = lib.start_varve()
    p = lib.start_prometheus("global: {}\n", extra_args=[
        "--web.enable-remote-write-receiver"], kind="prometheus")
    try:
        load([v, p])
        rng = [("start", "%.3f" % (NOW_MS / 1000 - 3600)), ("end", "%.3f" % (NOW_MS / 1000))]
        cases = [
            ("series_limit_40000", lambda s: api_call(
                s, "/api/v1/series",
                rng + [("match[]", '{__name__=~"bench_.*"}'), ("limit", "40000")])),
            ("series_no_limit", lambda s: api_call(
                s, "/api/v1/series", rng + [("match[]", '{__name__=~"bench_.*"}')])),
            ("labels_limit_40000", lambda s: api_call(
                s, "/api/v1/labels", rng + [("limit", "40000")])),
            ("name_values_limit_40000", lambda s: api_call(
                s, "/api/v1/label/__name__/values", rng + [("limit", "40000")])),
            ("remote_read_samples_10k_series_1h", lambda s: read_call(s, 0)),
            ("remote_read_streamed_10k_series_1h", lambda s: read_call(s, 1)),
        ]
        print("series=%d rr_series=%d rr_samples_per_series=%d runs=%d" % (
            NAMES * INSTANCES + RR_SERIES, RR_SERIES, RR_SAMPLES, RUNS))
        for name, mk in cases:
            tv, sv = timed(mk(v))
            tp, sp = timed(mk(p))
            print("%s varve_ms=%.2f prometheus_ms=%.2f ratio=%.2f varve_bytes=%d "
                  "prometheus_bytes=%d" % (name, tv, tp, tp / tv if tv else 0, sv, sp))
            sys.stdout.flush()
    finally:
        v.stop()
        p.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
