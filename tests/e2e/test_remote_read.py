#!/usr/bin/python3
"""remote_read: varve as a read backend of a real Prometheus, and the raw
protocol.

A deterministic data set (the one of test_api_compat plus a stale marker)
is remote-written to varve and to a reference Prometheus.  Then:

- raw ReadRequests go to both: SAMPLES (snappy protobuf) and
  STREAMED_XOR_CHUNKS (CRC-checked frames of XOR chunks, decoded here) must
  return exactly the samples written, bit for bit, for several queries in
  one request, in query order; the reference Prometheus answers the same
  requests, which keeps this file's decoders honest;
- a second, empty Prometheus with `remote_read` pointed at varve must
  answer queries exactly as the reference Prometheus, which holds the same
  data locally: the same engine on both sides, so any difference comes
  from the data varve served.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402
import test_api_compat as compat  # noqa: E402

STALE_BITS = 0x7ff0000000000002
START, END = compat.START_MS, compat.END_MS


def dataset():
    data = compat.dataset()
    t = [END - 60000, END - 45000, END - 30000]
    data.append(({"__name__": "e2e_rr_stale", "job": "api"},
                 [(4.0, t[0]), (("bits", STALE_BITS), t[1]), (5.0, t[2])]))
    return data


def expected(matchers, start, end):
    """Series of the data set that the matchers select, with their
    samples in [start, end] as (ts, bits); sorted by labels."""
    import re
    out = []
    for labels, samples in dataset():
        ok = True
        for name, op, value in matchers:
            got = labels.get(name, "")
            if op == "=":
                ok = got == value
            elif op == "!=":
                ok = got != value
            elif op == "=~":
                ok = re.fullmatch(value, got) is not None
            else:
                ok = re.fullmatch(value, got) is None
            if not ok:
                break
        if not ok:
            continue
        pts = []
        for v, t in samples:
            if start <= t <= end:
                bits = v[1] if isinstance(v, tuple) else lib.f64_bits(v)
                pts.append((t, bits))
        if pts:
            out.append((sorted(labels.items()), pts))
    return sorted(out)


QUERIES = [
    (START, END, [("__name__", "=", "e2e_api_temperature")]),
    (START + 100000, START + 400000,
     [("__name__", "=", "e2e_api_requests_total"), ("code", "!=", "200"),
      ("instance", "=~", "a.*|b:2")]),
    (START, END, [("__name__", "=~", "e2e_api_(info|shortlived)")]),
    (START, END, [("__name__", "=", "e2e_rr_stale")]),
    (START, END, [("__name__", "=", "e2e_rr_nothing_here")]),
]

READ_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Read-Version": "0.1.0",
}


def post_read(server, body):
    return lib.http("POST", server.url + "/api/v1/read",
                    lib.snappy_encode(body), READ_HEADERS)


def want_all():
    wants = [expected(m, s, e) for s, e, m in QUERIES]
    check(all(wants[:4]), "test data selects nothing for some query")
    return wants


def case_samples(server, packed):
    st, h, body = post_read(server, lib.read_request(QUERIES, [0], packed))
    check_eq(st, 200, "status (%r)" % body[:200])
    check(h.get("content-type", "").startswith("application/x-protobuf"),
          "content-type %r" % h.get("content-type"))
    check_eq(h.get("content-encoding"), "snappy", "content-encoding")
    got = lib.decode_read_response(lib.snappy_decode(body))
    wants = want_all()
    check_eq(len(got), len(QUERIES), "results")
    for i, (res, want) in enumerate(zip(got, wants)):
        norm = [(sorted(lab), pts) for lab, pts in res]
        for lab, _ in res:
            check_eq(lab, sorted(lab), "labels sorted in query %d" % i)
        check_eq([lab for lab, _ in norm], sorted(lab for lab, _ in norm),
                 "series sorted in query %d" % i)
        if norm != want:
            check_eq([lab for lab, _ in norm], [lab for lab, _ in want],
                     "series of query %d" % i)
            for (lab, pts), (_, wpts) in zip(norm, want):
                check_eq(pts, wpts, "samples of %r" % (lab,))


def case_chunks(server):
    st, h, body = post_read(server, lib.read_request(QUERIES, [1, 0]))
    check_eq(st, 200, "status (%r)" % body[:200])
    ct = h.get("content-type", "").replace(" ", "")
    check_eq(ct, "application/x-streamed-protobuf;"
             "proto=prometheus.ChunkedReadResponse", "content-type")
    check(not h.get("content-encoding"), "content-encoding %r" %
          h.get("content-encoding"))
    per_query = {}
    last_index = -1
    for msg in lib.read_frames(body):
        f = lib.pb_decode(msg)
        qi = lib.pb_int64(f.get(2, [0])[0])
        check(qi >= last_index, "query_index goes back: %d after %d" % (
            qi, last_index))
        last_index = qi
        for cs in f.get(1, []):
            cf = lib.pb_decode(cs)
            labels = lib.pb_labels(cf)
            check_eq(labels, sorted(labels), "labels sorted")
            pts = []
            for ch in cf.get(2, []):
                chf = lib.pb_decode(ch)
                ctype = chf.get(3, [0])[0]
                check_eq(ctype, 1, "chunk type XOR")
                dec = lib.xor_decode(chf[4][0])
                check(dec, "empty chunk")
                mint = lib.pb_int64(chf.get(1, [0])[0])
                maxt = lib.pb_int64(chf.get(2, [0])[0])
                check_eq((mint, maxt), (dec[0][0], dec[-1][0]),
                         "chunk min/max time vs its samples")
                check(not pts or dec[0][0] > pts[-1][0],
                      "chunks overlap or go back")
                pts += dec
            lst = per_query.setdefault(qi, [])
            if lst and lst[-1][0] == labels:
                lst[-1][1].extend(pts)     # a series split over frames
            else:
                lst.append((labels, pts))
    wants = want_all()
    for i, want in enumerate(wants):
        got = per_query.get(i, [])
        # Chunks cover whole chunks: trim to the query's range, as clients do.
        s, e = QUERIES[i][0], QUERIES[i][1]
        got = [(lab, [p for p in pts if s <= p[0] <= e]) for lab, pts in got]
        got = [(lab, pts) for lab, pts in got if pts]
        check_eq([lab for lab, _ in got], [lab for lab, _ in want],
                 "series of query %d" % i)
        for (lab, pts), (_, wpts) in zip(got, want):
            check_eq(pts, wpts, "samples of %r" % (lab,))


def case_errors(server):
    st, _, _ = lib.http("POST", server.url + "/api/v1/read",
                        lib.snappy_encode(b"\x0a\xff\xff"), READ_HEADERS)
    check_eq(st, 400, "undecodable ReadRequest")
    st, _, _ = lib.http("POST", server.url + "/api/v1/read", b"\xff\xff\xff",
                        READ_HEADERS)
    check_eq(st, 400, "corrupt snappy")
    st, _, _ = post_read(server, lib.read_request(QUERIES[:1], [7]))
    check_eq(st, 400, "only an unknown response type")
    if server.kind == "varve":
        # Prometheus 2.42 answers 500 here; varve documents 400.
        st, _, _ = post_read(server, lib.read_request(
            [(START, END, [("__name__", "=~", "(")])], [0]))
        check_eq(st, 400, "bad regular expression")


def load(server):
    st, _, body = lib.remote_write(server.url, lib.write_request(dataset()))
    check(st in (200, 204), "%s: remote write -> %d %r" % (
        server.kind, st, body[:300]))


READER_QUERIES = [
    'e2e_api_temperature',
    'rate(e2e_api_requests_total[2m])',
    'sum by (code) (e2e_api_requests_total)',
    'e2e_rr_stale',
    'max_over_time(e2e_api_shortlived[20m])',
]


def case_reader(reader, ref, path, params, empty=False):
    a = lib.api_data(reader.url, path, params)
    b = lib.api_data(ref.url, path, params)
    na, nb = compat.norm(a), compat.norm(b)
    if empty:
        check(not nb[1], "reference result should be empty: %r" % (nb,))
    else:
        check(nb[1], "reference gave an empty result; proves nothing")
    check(na == nb, compat.differ(na, nb).replace("varve", "reader")
          .replace("prometheus", "reference"))


def body(r):
    v = lib.start_varve()
    r.add_log(v)
    ref = lib.start_prometheus("global: {}\n", extra_args=[
        "--web.enable-remote-write-receiver"], kind="reference prometheus")
    r.add_log(ref)
    r.case("load data into varve", load, v)
    r.case("load data into reference prometheus", load, ref)
    for s in (v, ref):
        r.case("%s: SAMPLES, packed accepted types" % s.kind,
               case_samples, s, True)
        r.case("%s: STREAMED_XOR_CHUNKS" % s.kind, case_chunks, s)
        r.case("%s: errors -> 400" % s.kind, case_errors, s)
    r.case("varve: SAMPLES, unpacked accepted types", case_samples, v, False)

    reader = lib.start_prometheus(
        "global: {}\nremote_read:\n  - url: %s/api/v1/read\n"
        "    read_recent: true\n" % v.url, kind="reader prometheus")
    r.add_log(reader)
    t = compat.tstr((END - 50000 + 300) / 1000)    # e2e_rr_stale is 4
    for q in READER_QUERIES:
        r.case("reader instant %s" % q, case_reader, reader, ref,
               "/api/v1/query", [("query", q), ("time", t)])
        r.case("reader range %s" % q, case_reader, reader, ref,
               "/api/v1/query_range",
               [("query", q), ("start", compat.tstr(START / 1000 + 30.5)),
                ("end", compat.tstr(compat.T_EVAL)), ("step", "17")])
    r.case("reader instant behind a stale marker", case_reader, reader, ref,
           "/api/v1/query", [("query", "e2e_rr_stale"),
                             ("time", compat.tstr((END - 40000) / 1000))],
           True)
    r.case("reader series", case_reader_series, reader, ref)


def case_reader_series(reader, ref):
    params = [("match[]", '{__name__=~"e2e_.*"}'),
              ("start", compat.tstr(START / 1000)),
              ("end", compat.tstr(END / 1000))]
    a = lib.api_data(reader.url, "/api/v1/series", params)
    b = lib.api_data(ref.url, "/api/v1/series", params)
    sa = set(lib.label_set(x) for x in a)
    sb = set(lib.label_set(x) for x in b)
    check(sb, "reference has no series")
    check(sa == sb, lib.diff_sets(sa, sb, "reader", "reference"))


if __name__ == "__main__":
    lib.main(body)
