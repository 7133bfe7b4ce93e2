#!/usr/bin/python3
"""remote_write 2.0 requests are stored like the same data sent as 1.0.

Two varves: one gets a set of series as remote_write 2.0 requests (symbols
table, label references packed and unpacked, samples with and without
start timestamps, created timestamps in the old TimeSeries field,
metadata, exemplars), the other the same series as 1.0 requests.  Series,
samples and metadata must read back the same from both.  Then the
answers of the 2.0 path: the X-Prometheus-Remote-Write-*-Written headers
on 2xx and 4xx (0 on 1.0 answers), 415 for unknown messages and
encodings, 400 for a bad symbols table, out-of-range references, native
histograms (the rest still stored) and undecodable bodies.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

NOW_MS = int(time.time() * 1000)
T0 = NOW_MS - 120000
V2_TYPE = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
V2_HEADERS = {"Content-Type": V2_TYPE,
              "X-Prometheus-Remote-Write-Version": "2.0.0"}
WRITTEN = ("x-prometheus-remote-write-samples-written",
           "x-prometheus-remote-write-histograms-written",
           "x-prometheus-remote-write-exemplars-written")
STALE_NAN = ("bits", 0x7ff0000000000002)

# ------------------------------------------------------------ 2.0 encoder


class Symbols:
    """A symbols table being built: "" first, each string once."""

    def __init__(self):
        self.v = [""]
        self.idx = {"": 0}

    def ref(self, s):
        if s not in self.idx:
            self.idx[s] = len(self.v)
            self.v.append(s)
        return self.idx[s]


def v2_sample(value, ts, start_ts=0):
    """Sample{value=1, timestamp=2, start_timestamp=3}."""
    if isinstance(value, tuple) and value[0] == "bits":
        out = lib._key(1, 1) + lib.struct.pack("<Q", value[1])
    else:
        out = lib.pb_double(1, value)
    out += lib.pb_varint(2, ts)
    if start_ts:
        out += lib.pb_varint(3, start_ts)
    return out


def v2_refs(field, refs, packed):
    if packed:
        return lib.pb_packed_varints(field, refs) if refs else b""
    return b"".join(lib.pb_varint(field, r) for r in refs)


def v2_series(sym, labels, samples=(), exemplars=(), metadata=None,
              histograms=(), created_ts=0, packed=True, refs=None):
    """TimeSeries bytes.  labels: dict or list of pairs (sent sorted by
    name); samples: (value, ts[, start_ts]); exemplars: (labels, value,
    ts); metadata: (type, help, unit); histograms: raw Histogram bytes;
    refs overrides the label references."""
    if isinstance(labels, dict):
        labels = sorted(labels.items())
    if refs is None:
        refs = []
        for n, v in labels:
            refs += [sym.ref(n), sym.ref(v)]
    out = v2_refs(1, refs, packed)
    for s in samples:
        out += lib.pb_bytes(2, v2_sample(*s))
    for h in histograms:
        out += lib.pb_bytes(3, h)
    for elabels, value, ts in exemplars:
        erefs = []
        for n, v in sorted(elabels.items()):
            erefs += [sym.ref(n), sym.ref(v)]
        out += lib.pb_bytes(4, v2_refs(1, erefs, packed) +
                            lib.pb_double(2, value) + lib.pb_varint(3, ts))
    if metadata:
        mtype, help_text, unit = metadata
        md = lib.pb_varint(1, lib.METRIC_TYPES[mtype])
        if help_text:
            md += lib.pb_varint(3, sym.ref(help_text))
        if unit:
            md += lib.pb_varint(4, sym.ref(unit))
        out += lib.pb_bytes(5, md)
    if created_ts:
        out += lib.pb_varint(6, created_ts)
    return out


def v2_request(sym, series_bytes, symbols=None):
    """Request bytes: symbols (field 4) then the series (field 5)."""
    out = b"".join(lib.pb_bytes(4, s)
                   for s in (sym.v if symbols is None else symbols))
    return out + b"".join(lib.pb_bytes(5, s) for s in series_bytes)


def v2_histogram(ts):
    """A small integer native histogram: count=1, sum=3, schema=4, one
    span of one bucket, timestamp=15."""
    span = lib.pb_varint(1, 0) + lib.pb_varint(2, 1)
    return (lib.pb_varint(1, 3) + lib.pb_double(3, 4.5) +
            lib._key(4, 0) + lib.uvarint(0) + lib.pb_bytes(11, span) +
            lib.pb_packed_varints(12, [6]) + lib.pb_varint(15, ts))


def write_v2(v, body, headers=None, compress=True):
    h = dict(V2_HEADERS)
    h.update(headers or {})
    return lib.remote_write(v.url, body, h, compress)


def written(h):
    """The three Written headers as ints (None when absent)."""
    out = []
    for k in WRITTEN:
        out.append(int(h[k]) if k in h else None)
    return tuple(out)

# ------------------------------------------------------------ the data set


def dataset():
    """Series as (labels, samples, exemplars, metadata, created_ts)."""
    out = []
    for i in range(6):
        lab = {"__name__": "e2e_rw2_requests_total", "job": "rw2",
               "instance": "host-%d" % (i % 3), "code": str(200 + i)}
        samples = [(float(i * 10 + k), T0 + k * 15000,
                    T0 - 3600000 if k == 0 else 0) for k in range(5)]
        ex = [({"trace_id": "abc%d" % i}, 1.0 + i, T0 + 15000)] if i < 2 \
            else []
        out.append((lab, samples, ex,
                    ("counter", "Requests served.", ""),
                    T0 - 7200000 if i == 3 else 0))
    for le in ("0.1", "1", "+Inf"):
        out.append(({"__name__": "e2e_rw2_latency_seconds_bucket",
                     "job": "rw2", "le": le},
                    [(float(len(le)), T0 + k * 15000) for k in range(3)],
                    [], ("histogram", "Latency.", "seconds"), 0))
    out.append(({"__name__": "e2e_rw2_latency_seconds_sum", "job": "rw2"},
                [(12.5, T0)], [], ("histogram", "Latency.", "seconds"), 0))
    out.append(({"__name__": "e2e_rw2_temp", "job": "rw2", "unicode": "日本"},
                [(float("nan"), T0), (float("inf"), T0 + 15000),
                 (float("-inf"), T0 + 30000), (-0.0, T0 + 45000),
                 (STALE_NAN, T0 + 60000)], [],
                ("gauge", "A gauge with \"quotes\" and\nnewlines.", "celsius"),
                0))
    return out


def send_v1(v, data):
    series = [(lab, [s[:2] for s in samples])
              for lab, samples, _, _, _ in data]
    md = {}
    for lab, _, _, meta, _ in data:
        fam = lab["__name__"]
        if meta[0] == "histogram":
            for sfx in ("_bucket", "_sum", "_count"):
                if fam.endswith(sfx):
                    fam = fam[:-len(sfx)]
        md[fam] = (fam,) + meta
    st, h, body = lib.remote_write(v.url, lib.write_request(series,
                                                            md.values()))
    check_eq(st, 204, "1.0 write status (%r)" % body[:200])
    check_eq(written(h), (0, 0, 0), "Written headers on a 1.0 answer")


def send_v2(v, data):
    # two requests: the first with packed references, the second unpacked
    half = len(data) // 2
    total = 0
    for part, packed in ((data[:half], True), (data[half:], False)):
        sym = Symbols()
        ser = [v2_series(sym, lab, samples, ex, meta, created_ts=ct,
                         packed=packed)
               for lab, samples, ex, meta, ct in part]
        st, h, body = write_v2(v, v2_request(sym, ser))
        check_eq(st, 204, "2.0 write status (%r)" % body[:200])
        n = sum(len(s[1]) for s in part)
        sw, hw, ew = written(h)
        check_eq(sw, n, "Samples-Written")
        check_eq(hw, 0, "Histograms-Written")
        check_eq(ew, sum(len(s[2]) for s in part), "Exemplars-Written")
        total += n
    return total


def case_same_as_v1(v1, v2):
    data = dataset()
    send_v1(v1, data)
    send_v2(v2, data)
    for expr in ('{job="rw2"}', 'e2e_rw2_requests_total',
                 'rate(e2e_rw2_requests_total[1m])', 'e2e_rw2_temp'):
        params = [("query", expr), ("start", "%.3f" % ((T0 - 1000) / 1000)),
                  ("end", "%.3f" % ((T0 + 90000) / 1000)), ("step", "5")]
        a = lib.api_data(v1.url, "/api/v1/query_range", params)
        b = lib.api_data(v2.url, "/api/v1/query_range", params)
        check(a["result"], "1.0 result of %s is empty" % expr)
        check_eq(b, a, "2.0 vs 1.0 result of " + expr)
    sa = lib.api_data(v1.url, "/api/v1/series", [("match[]", '{job="rw2"}')])
    sb = lib.api_data(v2.url, "/api/v1/series", [("match[]", '{job="rw2"}')])
    check_eq(len(sa), len(data), "series count")
    check_eq(sorted(map(lib.label_set, sb)), sorted(map(lib.label_set, sa)),
             "series")
    ma = lib.api_data(v1.url, "/api/v1/metadata")
    mb = lib.api_data(v2.url, "/api/v1/metadata")
    ma = {k: w for k, w in ma.items() if k.startswith("e2e_rw2")}
    mb = {k: w for k, w in mb.items() if k.startswith("e2e_rw2")}
    check_eq(mb, ma, "metadata")
    ex = lib.api_data(v2.url, "/api/v1/query_exemplars", [
        ("query", "e2e_rw2_requests_total"),
        ("start", "%.3f" % ((T0 - 1000) / 1000)),
        ("end", "%.3f" % ((T0 + 90000) / 1000))])
    got = sorted((e["seriesLabels"]["code"], x["labels"]["trace_id"],
                  x["value"], x["timestamp"])
                 for e in ex for x in e["exemplars"])
    check_eq(got, [("200", "abc0", "1", (T0 + 15000) / 1000),
                   ("201", "abc1", "2", (T0 + 15000) / 1000)], "exemplars")
    check_eq(mb.get("e2e_rw2_latency_seconds"),
             [{"type": "histogram", "help": "Latency.", "unit": "seconds"}],
             "histogram family metadata")


def expect(v, body, code, what, headers=None, compress=True):
    st, h, data = write_v2(v, body, headers, compress)
    check(st == code, "%s: HTTP %d, want %d; body %r" % (
        what, st, code, data[:300]))
    if 400 <= code < 500:
        check(data.strip(), "%s: %d without a reason" % (what, st))
    check(v.proc.poll() is None, "varve exited after %s" % what)
    return h, data.decode("utf-8", "replace")


def value_at(v, expr, t_ms):
    res = lib.api_data(v.url, "/api/v1/query",
                       [("query", expr), ("time", "%.3f" % (t_ms / 1000))])
    return [(r["metric"], r["value"][1]) for r in res["result"]]


def case_bad_symbols(v):
    sym = Symbols()
    ser = [v2_series(sym, {"__name__": "e2e_rw2_badsym"}, [(1.0, T0)])]
    h, msg = expect(v, v2_request(sym, ser, ["x"] + sym.v[1:]), 400,
                    "symbols[0] not empty")
    check("symbols[0]" in msg, "reason %r" % msg)
    check_eq(written(h), (0, 0, 0), "Written headers")
    check_eq(value_at(v, "e2e_rw2_badsym", T0), [], "nothing stored")


def case_bad_refs(v):
    sym = Symbols()
    good = v2_series(sym, {"__name__": "e2e_rw2_refs", "k": "good"},
                     [(1.0, T0), (2.0, T0 + 1000)])
    n = len(sym.v)
    ser = [v2_series(sym, None, [(5.0, T0)], refs=[1, n + 5]),
           good,
           v2_series(sym, None, [(6.0, T0)], refs=[1, 2, 3]),
           v2_series(sym, {"__name__": "e2e_rw2_refs", "k": "md"},
                     [(7.0, T0)]) + lib.pb_bytes(5, lib.pb_varint(3, 999))]
    h, msg = expect(v, v2_request(sym, ser), 400, "out-of-range refs")
    check("out of range" in msg, "reason %r" % msg)
    check_eq(written(h), (2, 0, 0), "Written headers")
    got = value_at(v, "e2e_rw2_refs", T0 + 1000)
    check_eq(got, [({"__name__": "e2e_rw2_refs", "k": "good"}, "2")],
             "valid series stored")


def case_histograms(v):
    sym = Symbols()
    ser = [v2_series(sym, {"__name__": "e2e_rw2_nh", "job": "rw2"},
                     histograms=[v2_histogram(T0), v2_histogram(T0 + 1000)]),
           v2_series(sym, {"__name__": "e2e_rw2_float", "job": "rw2"},
                     [(3.0, T0)])]
    h, msg = expect(v, v2_request(sym, ser), 400, "native histograms")
    check("histogram" in msg and "e2e_rw2_nh" in msg, "reason %r" % msg)
    check_eq(written(h), (1, 0, 0), "Written headers")
    check_eq(value_at(v, "e2e_rw2_float", T0),
             [({"__name__": "e2e_rw2_float", "job": "rw2"}, "3")],
             "float series stored")
    m = lib.parse_metrics(lib.metrics_text(v.url))
    n = sum(val for name, lab, val in m
            if name == "varve_rejected_samples_total"
            and lab.get("reason") == "histogram")
    check(n >= 2, "rejected histogram samples counted: %r" % n)


def case_invalid_labels(v):
    sym = Symbols()
    ser = [v2_series(sym, {"__name__": "e2e_rw2_ok2"}, [(1.0, T0)]),
           v2_series(sym, {"__name__": "e2e_rw2_bad", "0bad": "x"},
                     [(1.0, T0)]),
           v2_series(sym, {"job": "no-name"}, [(1.0, T0)])]
    h, msg = expect(v, v2_request(sym, ser), 400, "invalid labels")
    check_eq(written(h), (1, 0, 0), "Written headers")


def case_corrupt(v):
    h, _ = expect(v, b"\x2a\x05ab", 400, "truncated protobuf")
    check_eq(written(h), (0, 0, 0), "Written headers")
    expect(v, b"\xff\xff\xff", 400, "not snappy", compress=False)


def case_415(v):
    sym = Symbols()
    body = v2_request(sym, [v2_series(sym, {"__name__": "e2e_rw2_415"},
                                      [(1.0, T0)])])
    for what, hdr in (
            ("unknown proto",
             {"Content-Type": "application/x-protobuf;proto=io.prometheus."
              "write.v3.Request"}),
            ("json", {"Content-Type": "application/json"}),
            ("gzip", {"Content-Encoding": "gzip"}),
            ("zstd", {"Content-Encoding": "zstd"})):
        h, _ = expect(v, body, 415, what, headers=hdr)
        check_eq(written(h), (0, 0, 0), "Written headers on 415 (%s)" % what)
    check_eq(value_at(v, "e2e_rw2_415", T0), [], "nothing stored")


def case_empty(v):
    h, _ = expect(v, v2_request(Symbols(), []), 204, "empty request")
    check_eq(written(h), (0, 0, 0), "Written headers")


def body(r):
    if lib.standin():
        print("prometheus stand-in does not speak remote_write 2.0")
        sys.exit(77)
    v1 = lib.start_varve()
    r.add_log(v1)
    v2 = lib.start_varve()
    r.add_log(v2)
    r.case("2.0 reads back the same as 1.0 (series, samples, metadata)",
           case_same_as_v1, v1, v2)
    r.case("symbols[0] not empty -> 400, nothing stored", case_bad_symbols,
           v2)
    r.case("out-of-range references -> 400, valid series stored",
           case_bad_refs, v2)
    r.case("native histograms -> 400, counted, floats stored",
           case_histograms, v2)
    r.case("invalid labels -> 400 with Written headers",
           case_invalid_labels, v2)
    r.case("undecodable bodies -> 400", case_corrupt, v2)
    r.case("unknown messages and encodings -> 415", case_415, v2)
    r.case("empty request -> 204", case_empty, v2)
    for s in (v1, v2):
        code = s.stop(15)
        r.case("varve stops with status 0", check_eq, code, 0, "exit status")


if __name__ == "__main__":
    lib.main(body)
