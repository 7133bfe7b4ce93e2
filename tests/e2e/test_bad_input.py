#!/usr/bin/python3
"""Bad remote_write requests get the documented answers and harm nothing.

Raw HTTP against one varve started with a small
--remote-write.max-decoded-bytes: a valid write first (204), then truncated
and corrupt snappy, undecodable protobuf, oversize bodies, invalid series
beside a valid one, wrong methods, content types and encodings.  Each
answer must carry the documented status; afterwards varve still runs and
the first valid write reads back exactly.
"""

import os
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

MAX_DECODED = 65536
NOW_MS = int(time.time() * 1000)
T0 = NOW_MS - 60000             # first valid samples: the last minute
OK_LABELS = {"__name__": "e2e_bad_input_ok", "job": "e2e", "case": "first"}
OK_SAMPLES = [(1.5, T0), (2.5, T0 + 15000), (42.25, T0 + 30000)]
STALE_NAN = ("bits", 0x7ff0000000000002)


def ok_request():
    return lib.write_request([(OK_LABELS, OK_SAMPLES)], [
        ("e2e_bad_input_ok", "gauge", "A gauge written by the e2e test.", "")])


def query_at(v, expr, t_ms):
    data = lib.api_data(v.url, "/api/v1/query",
                        [("query", expr), ("time", "%.3f" % (t_ms / 1000))])
    check_eq(data.get("resultType"), "vector", "resultType of " + expr)
    return data["result"]


def value_at(v, expr, t_ms):
    """The single sample value (a string) of expr at t_ms."""
    res = query_at(v, expr, t_ms)
    check(len(res) == 1, "%s at %d: want one series, got %r" % (
        expr, t_ms, res))
    return res[0]["value"][1]


def expect(v, body, code, headers=None, compress=True, what=""):
    st, h, data = lib.remote_write(v.url, body, headers, compress)
    check(st == code, "%s: HTTP %d, want %d; body %r" % (
        what, st, code, data[:300]))
    if 400 <= code < 500:
        check(len(data.strip()) > 0, "%s: %d without a reason" % (what, st))
    check(v.proc.poll() is None, "varve exited after %s" % what)
    return data


def case_valid(v):
    expect(v, ok_request(), 204, what="valid write")
    check_eq(value_at(v, "e2e_bad_input_ok", T0 + 31000), "42.25", "value")


def case_truncated_snappy(v):
    comp = lib.snappy_encode(ok_request())
    for cut in (len(comp) // 2, len(comp) - 1, 1):
        expect(v, comp[:cut], 400, compress=False,
               what="snappy cut at %d of %d" % (cut, len(comp)))


def case_corrupt_snappy(v):
    cases = {
        # Copy before any output: offset points before the start.
        "copy before start": lib.uvarint(10) + bytes([0x01 | (3 << 2), 0x05]),
        # Header says 100 bytes, body decodes to 3.
        "length mismatch": lib.uvarint(100) + bytes([2 << 2]) + b"abc",
        # Literal claims more bytes than remain.
        "overlong literal": lib.uvarint(50) + bytes([49 << 2]) + b"xyz",
        # A uvarint header that never ends.
        "endless header": b"\xff" * 12,
        # Not snappy at all (plain protobuf).
        "uncompressed protobuf": ok_request(),
    }
    for name, body in cases.items():
        expect(v, body, 400, compress=False, what=name)


def case_garbage_protobuf(v):
    cases = {
        "length past end": b"\x0a\xff\xff\xff\x0f\x00",
        "wire type 7": b"\x0f\x01\x02\x03",
        "truncated varint": b"\x08\xff\xff",
        "timeseries of junk": lib.pb_bytes(1, b"\x12\x05abc"),
        "random bytes": bytes((i * 37 + 11) & 0xff for i in range(300)),
    }
    for name, body in cases.items():
        expect(v, body, 400, what=name)


def big_request(n_bytes):
    """The largest WriteRequest of whole series not over n_bytes
    (exactly n_bytes for even slightly larger ones: see callers)."""
    out = b""
    i = 0
    while True:
        labels = {"__name__": "e2e_bad_input_big", "idx": "%06d" % i,
                  "pad": "x" * 200}
        one = lib.write_request([(labels, [(float(i), NOW_MS - 1000)])])
        if len(out) + len(one) > n_bytes:
            return out
        out += one
        i += 1


def case_oversize(v):
    body = big_request(MAX_DECODED + 4096)
    check(len(body) > MAX_DECODED, "test body too small")
    expect(v, body, 413, what="%d bytes decoded" % len(body))
    # A header claiming 1 GiB with a tiny body: refused before allocating.
    expect(v, lib.uvarint(1 << 30) + b"\x00a", 413, compress=False,
           what="header claims 1 GiB")
    res = lib.api_data(v.url, "/api/v1/series",
                       [("match[]", "e2e_bad_input_big")])
    check_eq(res, [], "series of the refused oversize request")
    # Just under the limit is fine.
    body = big_request(MAX_DECODED - 2048)
    check(len(body) <= MAX_DECODED, "test body too large")
    expect(v, body, 204, what="%d bytes decoded" % len(body))


def case_invalid_labels(v):
    bad = {
        "bad label name": [("__name__", "e2e_bad_metric"), ("bad-name", "x")],
        "bad metric name": [("__name__", "1e2e bad"), ("job", "e2e")],
        "duplicate label": [("__name__", "e2e_bad_metric"), ("job", "a"),
                            ("job", "b")],
        "missing __name__": [("job", "e2e"), ("case", "noname")],
        "no labels": [],
    }
    for i, (name, labels) in enumerate(bad.items()):
        good = {"__name__": "e2e_valid_among_invalid", "n": str(i)}
        t = NOW_MS - 5000
        req = lib.write_request([
            (labels, [(7.0, t)]),
            (good, [(100.0 + i, t)]),
        ])
        expect(v, req, 400, what=name)
        check_eq(value_at(v, 'e2e_valid_among_invalid{n="%d"}' % i, t),
                 "%d" % (100 + i), "valid series beside %s" % name)
    res = lib.api_data(v.url, "/api/v1/series",
                       [("match[]", '{__name__=~"e2e_bad_metric|1e2e.*"}')])
    check_eq(res, [], "series stored from invalid entries")
    res = lib.api_data(v.url, "/api/v1/series",
                       [("match[]", '{case="noname"}')])
    check_eq(res, [], "series without __name__ stored")


def case_method(v):
    for m in ("GET", "PUT", "DELETE"):
        st, _, _ = lib.http(m, v.url + "/api/v1/write")
        check_eq(st, 405, "%s /api/v1/write" % m)


def case_content_type(v):
    # (remote write 2.0 has its own test: test_remote_write_v2)
    cases = {
        "unknown proto": {"Content-Type":
                          "application/x-protobuf;proto=foo.Bar"},
        "json": {"Content-Type": "application/json"},
    }
    for name, h in cases.items():
        expect(v, ok_request(), 415, headers=h, what=name)
    # v1 spelled out explicitly, and no Content-Type at all, are both v1.
    for i, h in enumerate((
            {"Content-Type":
             "application/x-protobuf;proto=prometheus.WriteRequest"},
            {"Content-Type": None})):
        req = lib.write_request([({"__name__": "e2e_v1_spelled", "n": str(i)},
                                  [(float(i), NOW_MS - 3000)])])
        expect(v, req, 204, headers=h, what="v1 header %r" % h)


def case_encoding(v):
    for enc in ("gzip", "zstd"):
        expect(v, ok_request(), 415, headers={"Content-Encoding": enc},
               what="Content-Encoding " + enc)


SAMPLE_BASE = {"__name__": "e2e_sample_rules", "job": "e2e"}
T_RULES = NOW_MS - 40000


def case_out_of_order(v):
    base, t = SAMPLE_BASE, T_RULES
    # Newer first, then older: both kept (DESIGN: out-of-order samples are
    # accepted anywhere inside retention).
    expect(v, lib.write_request([(dict(base, k="ooo"), [(2.0, t + 10000)])]),
           204, what="newer sample")
    expect(v, lib.write_request([(dict(base, k="ooo"), [(1.0, t)])]),
           204, what="older sample")
    check_eq(value_at(v, 'e2e_sample_rules{k="ooo"}', t + 1000), "1",
             "out-of-order sample")
    check_eq(value_at(v, 'e2e_sample_rules{k="ooo"}', t + 11000), "2",
             "newer sample")


def case_duplicates(v):
    base, t = SAMPLE_BASE, T_RULES
    expect(v, lib.write_request([(dict(base, k="dup"), [(1.0, t)])]),
           204, what="first sample")
    # The same sample again is accepted and changes nothing.
    expect(v, lib.write_request([(dict(base, k="dup"), [(1.0, t)])]),
           204, what="exact duplicate")
    # A different value at the same timestamp is refused; the first stays.
    expect(v, lib.write_request([(dict(base, k="dup"), [(5.0, t)])]),
           400, what="conflicting value")
    check_eq(value_at(v, 'e2e_sample_rules{k="dup"}', t + 1000), "1",
             "value after conflicting write")
    res = lib.api_data(v.url, "/api/v1/query", [
        ("query", 'count_over_time(e2e_sample_rules{k="dup"}[1m])'),
        ("time", "%.3f" % ((t + 1000) / 1000))])["result"]
    check_eq([e["value"][1] for e in res], ["1"], "samples stored")


def case_special_values(v):
    base, t = SAMPLE_BASE, T_RULES
    # Special values round-trip in Prometheus's spelling.
    specials = [(float("inf"), "+Inf"), (float("-inf"), "-Inf"),
                (float("nan"), "NaN"), (1e-7, "1e-07"), (-0.5, "-0.5"),
                (123456789.125, "123456789.125"), (1e21, "1e+21"),
                (0.1 + 0.2, "0.30000000000000004"), (5e-324, "5e-324"),
                (1.5e300, "1.5e+300"), (-0.0, "-0")]
    series = [(dict(base, k="special%d" % i), [(x, t)])
              for i, (x, _) in enumerate(specials)]
    expect(v, lib.write_request(series), 204, what="special values")
    for i, (_, want) in enumerate(specials):
        check_eq(value_at(v, 'e2e_sample_rules{k="special%d"}' % i, t),
                 want, "special value %d" % i)


def case_stale_marker(v):
    base, t = SAMPLE_BASE, T_RULES
    # A stale marker ends the series for instant queries.
    expect(v, lib.write_request([(dict(base, k="stale"),
                                  [(3.0, t), (STALE_NAN, t + 5000)])]),
           204, what="stale marker")
    check_eq(value_at(v, 'e2e_sample_rules{k="stale"}', t + 1000), "3",
             "before the stale marker")
    check_eq(query_at(v, 'e2e_sample_rules{k="stale"}', t + 6000), [],
             "after the stale marker")


def case_first_still_there(v):
    check(v.proc.poll() is None, "varve is not running")
    res = query_at(v, "e2e_bad_input_ok", T0 + 31000)
    check_eq(len(res), 1, "series count")
    check_eq(res[0]["metric"], OK_LABELS, "labels")
    check_eq(res[0]["value"], [(T0 + 31000) / 1000, "42.25"], "sample")
    check_eq(value_at(v, "e2e_bad_input_ok", T0 + 20000), "2.5",
             "middle sample")
    md = lib.api_data(v.url, "/api/v1/metadata",
                      [("metric", "e2e_bad_input_ok")])
    check_eq(md, {"e2e_bad_input_ok": [
        {"type": "gauge", "help": "A gauge written by the e2e test.",
         "unit": ""}]}, "metadata")


def body(r):
    v = lib.start_varve(["--remote-write.max-decoded-bytes=%d" % MAX_DECODED])
    r.add_log(v)
    if not r.case("valid write is stored (204)", case_valid, v):
        lib.log("the first valid write failed; later checks still run")
    r.case("truncated snappy -> 400", case_truncated_snappy, v)
    r.case("corrupt snappy -> 400", case_corrupt_snappy, v)
    r.case("garbage protobuf -> 400", case_garbage_protobuf, v)
    r.case("oversize body -> 413", case_oversize, v)
    r.case("invalid labels -> 400, valid rest stored",
           case_invalid_labels, v)
    r.case("other methods -> 405", case_method, v)
    r.case("unknown content types -> 415", case_content_type, v)
    r.case("other encodings -> 415", case_encoding, v)
    r.case("out-of-order samples accepted", case_out_of_order, v)
    r.case("duplicate sample 204, conflicting 400", case_duplicates, v)
    r.case("special values round-trip", case_special_values, v)
    r.case("stale marker ends the series", case_stale_marker, v)
    r.case("first valid write still reads back", case_first_still_there, v)
    code = v.stop(15)
    r.case("varve stops with status 0", check_eq, code, 0, "exit status")


if __name__ == "__main__":
    lib.main(body)
