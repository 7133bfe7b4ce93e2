#!/usr/bin/python3
"""Differential API test: the same data in varve and in a real Prometheus.

One deterministic data set (counters with a reset, gauges, histogram
buckets, a series that stops half way) is remote-written both to varve and
to a Prometheus started with its remote-write receiver.  Then the same API
calls go to both and the answers must agree: series, label names and values
under every matcher type, instant and range queries over many functions,
aggregations and operators, and the status code and errorType of bad
requests.

Sample timestamps sit at odd milliseconds so that no range-selector edge
ever coincides with a sample: Prometheus 2.x closes ranges on the left and
3.x, which varve follows, leaves them open; on this data both agree.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

STEP_MS = 15000
N = 60                                  # 15 minutes of samples
END_MS = (int(time.time()) - 30) * 1000 + 377
START_MS = END_MS - (N - 1) * STEP_MS
T_EVAL = (END_MS + 7531) / 1000         # instant queries
T_MID = (START_MS + 31 * STEP_MS + 4211) / 1000


def dataset():
    """(labels, samples) pairs; deterministic."""
    out = []

    def ts(i):
        # odd, slightly irregular spacing
        return START_MS + i * STEP_MS + (i * 7919) % 997

    for inst in ("a:1", "b:2", "c:3"):
        for code in ("200", "500"):
            for method in ("GET", "POST"):
                k = len(inst) + int(code) // 100 + len(method)
                v = 0.0
                samples = []
                for i in range(N):
                    v += (k * (i % 5 + 1)) * (1 if code == "200" else 0.25)
                    if inst == "b:2" and i == 33:
                        v = 3.0                    # counter reset
                    samples.append((v, ts(i)))
                out.append(({"__name__": "e2e_api_requests_total",
                             "instance": inst, "code": code,
                             "method": method, "job": "api"}, samples))
    for j, room in enumerate(("kitchen", "hall", "attic", "cellar")):
        samples = [(round(18 + j * 1.5 + ((i * (j + 3)) % 11) * 0.37 -
                          (5 if room == "cellar" else 0), 2), ts(i))
                   for i in range(N)]
        out.append(({"__name__": "e2e_api_temperature", "room": room,
                     "job": "api"}, samples))
    out.append(({"__name__": "e2e_api_temperature", "job": "api"},
                [(20.5 + (i % 3), ts(i)) for i in range(N)]))
    acc = {}
    for le in ("0.1", "0.5", "1", "5", "+Inf"):
        samples = []
        c = 0.0
        for i in range(N):
            c += {"0.1": 1, "0.5": 4, "1": 9, "5": 12, "+Inf": 13}[le] * \
                (1 + i % 3)
            samples.append((c, ts(i)))
        acc[le] = samples
        out.append(({"__name__": "e2e_api_latency_seconds_bucket", "le": le,
                     "job": "api"}, samples))
    out.append(({"__name__": "e2e_api_info", "version": "1.2.3",
                 "job": "api"}, [(1.0, ts(i)) for i in range(N)]))
    # Stops at the middle: gone by the end, present earlier.
    out.append(({"__name__": "e2e_api_shortlived", "job": "api"},
                [(float(i), ts(i)) for i in range(N // 2)]))
    return out


SERIES = [
    ['{__name__=~"e2e_api_.*"}'],
    ['e2e_api_requests_total{code!="200"}'],
    ['{__name__="e2e_api_requests_total", code=~"2..|5..", method!~"G.*"}'],
    ['e2e_api_temperature{room=""}'],
    ['e2e_api_temperature{room!~"k.*|h.*"}', 'e2e_api_info'],
    ['{job="api", instance=~".+"}'],
]

INSTANT = [
    'e2e_api_requests_total',
    'rate(e2e_api_requests_total[1m])',
    'irate(e2e_api_requests_total[1m])',
    'increase(e2e_api_requests_total[5m])',
    'resets(e2e_api_requests_total[10m])',
    'changes(e2e_api_temperature[5m])',
    'sum by (code) (rate(e2e_api_requests_total[2m]))',
    'sum without (instance, method) (e2e_api_requests_total)',
    'avg(e2e_api_temperature)',
    'min(e2e_api_temperature) by (job)',
    'max by (room) (e2e_api_temperature)',
    'count(e2e_api_requests_total) by (instance)',
    'topk(2, e2e_api_temperature)',
    'bottomk(1, e2e_api_requests_total) by (code)',
    'quantile(0.25, e2e_api_temperature)',
    'stddev(e2e_api_temperature)',
    'stdvar by (job) (e2e_api_temperature)',
    'count_values("t", round(e2e_api_temperature))',
    'group by (method) (e2e_api_requests_total)',
    'histogram_quantile(0.9, sum by (le) '
    '(rate(e2e_api_latency_seconds_bucket[5m])))',
    'histogram_quantile(0.5, rate(e2e_api_latency_seconds_bucket[3m]))',
    'abs(e2e_api_temperature - 20)',
    'ceil(e2e_api_temperature)',
    'floor(e2e_api_temperature)',
    'round(e2e_api_temperature, 0.5)',
    'clamp(e2e_api_temperature, 17, 19)',
    'clamp_min(e2e_api_temperature, 19)',
    'sqrt(e2e_api_temperature)',
    'ln(e2e_api_temperature)',
    'exp(e2e_api_temperature / 10)',
    'sgn(e2e_api_temperature - 18)',
    'delta(e2e_api_temperature[5m])',
    'deriv(e2e_api_temperature[5m])',
    'predict_linear(e2e_api_temperature[5m], 600)',
    'avg_over_time(e2e_api_temperature[5m])',
    'min_over_time(e2e_api_temperature[3m])',
    'max_over_time(e2e_api_temperature[3m])',
    'sum_over_time(e2e_api_temperature[2m])',
    'count_over_time(e2e_api_temperature[4m])',
    'last_over_time(e2e_api_shortlived[1h])',
    'quantile_over_time(0.75, e2e_api_temperature[5m])',
    'stddev_over_time(e2e_api_temperature[5m])',
    'e2e_api_shortlived',
    'absent(e2e_api_shortlived)',
    'absent(e2e_api_nonexistent{job="x"})',
    'absent_over_time(e2e_api_shortlived[1h])',
    'label_replace(e2e_api_info, "major", "$1", "version", "(\\\\d+)\\\\..*")',
    'label_join(e2e_api_requests_total, "cm", "-", "code", "method")',
    'timestamp(e2e_api_temperature)',
    'e2e_api_temperature offset 5m',
    'e2e_api_temperature @ %d' % (START_MS // 1000 + 300),
    'max_over_time(rate(e2e_api_requests_total[1m])[5m:30s])',
    'e2e_api_temperature > 19',
    'e2e_api_temperature > bool 19',
    'e2e_api_temperature * 2 - 1',
    '-e2e_api_temperature ^ 2 % 7',
    'e2e_api_requests_total / on (instance, method) group_left '
    'e2e_api_requests_total{code="200"}',
    'sum by (instance, code) (e2e_api_requests_total) / ignoring (code) '
    'group_left sum by (instance) (e2e_api_requests_total)',
    'e2e_api_requests_total{code="500"} and on (instance) '
    'e2e_api_requests_total{code="200", method="GET"}',
    'e2e_api_temperature or e2e_api_info',
    'e2e_api_temperature unless e2e_api_temperature{room="hall"}',
    'e2e_api_temperature == on (room) group_left e2e_api_temperature',
    'vector(3) + scalar(sum(e2e_api_info))',
    'sort_desc(e2e_api_temperature)',
    'time()',
    '1 + 2 * 3',
    '"a string"',
    'e2e_api_temperature[2m]',
]

# Instant queries at T_EVAL whose right answer is empty.
EMPTY = {
    'e2e_api_shortlived',
    'absent_over_time(e2e_api_shortlived[1h])',
}

RANGE = [
    'e2e_api_temperature',
    'rate(e2e_api_requests_total{instance="b:2"}[1m])',
    'sum by (code) (increase(e2e_api_requests_total[2m]))',
    'e2e_api_shortlived',
    'histogram_quantile(0.5, sum by (le) '
    '(rate(e2e_api_latency_seconds_bucket[2m])))',
    'avg_over_time(e2e_api_temperature[1m]) > 19',
    'time() - timestamp(e2e_api_info)',
]

# (path, params, method): answered with the same status and errorType.
ERRORS = [
    ("/api/v1/query", [], "GET"),
    ("/api/v1/query", [("query", "sum(")], "GET"),
    ("/api/v1/query", [("query", "up"), ("time", "notatime")], "GET"),
    ("/api/v1/query", [("query", "{}")], "GET"),
    ("/api/v1/query", [("query", 'x{a=~"("}')], "POST"),
    ("/api/v1/query", [("query", "rate(e2e_api_temperature)")], "GET"),
    ("/api/v1/query", [("query", 'e2e_api_requests_total + on() '
                        'e2e_api_requests_total')], "GET"),
    ("/api/v1/query_range", [("query", "up"), ("start", "10"),
                             ("end", "5"), ("step", "1")], "GET"),
    ("/api/v1/query_range", [("query", "up"), ("start", "1"),
                             ("end", "5"), ("step", "0")], "GET"),
    ("/api/v1/query_range", [("query", "up"), ("start", "0"),
                             ("end", "100000"), ("step", "1")], "GET"),
    ("/api/v1/query_range", [("query", "up"), ("start", "1")], "POST"),
    ("/api/v1/series", [], "GET"),
    ("/api/v1/series", [("match[]", "sum(up)")], "GET"),
    ("/api/v1/series", [("match[]", '{a=~"("}')], "GET"),
    ("/api/v1/labels", [("match[]", "{")], "GET"),
    ("/api/v1/label/__name__/values", [("match[]", "!!")], "GET"),
    ("/api/v1/label/__name__/values", [("start", "x")], "GET"),
]


def tstr(t):
    return "%.3f" % t


def load(server):
    st, _, body = lib.remote_write(server.url, lib.write_request(dataset()))
    check(st in (200, 204), "%s: remote write -> %d %r" % (
        server.kind, st, body[:300]))


def series_set(base, m):
    data = lib.api_data(base, "/api/v1/series",
                        [("match[]", x) for x in m] +
                        [("start", tstr(START_MS / 1000)),
                         ("end", tstr(END_MS / 1000 + 1))])
    return set(lib.label_set(x) for x in data)


def case_series(v, p, m):
    a, b = series_set(v.url, m), series_set(p.url, m)
    check(b, "prometheus: no series for %r" % m)
    check(a == b, lib.diff_sets(a, b))


def case_labels(v, p):
    for params in ([], [("match[]", "e2e_api_requests_total")],
                   [("match[]", 'e2e_api_temperature{room!=""}'),
                    ("match[]", "e2e_api_info")]):
        a = lib.api_data(v.url, "/api/v1/labels", params)
        b = lib.api_data(p.url, "/api/v1/labels", params)
        check(b, "prometheus: no labels for %r" % params)
        check_eq(a, b, "labels %r" % params)
    for name, params in (("room", []), ("code", []),
                         ("__name__", [("match[]", '{job="api"}')]),
                         ("instance", [("match[]", '{code="500"}')])):
        path = "/api/v1/label/%s/values" % name
        a = lib.api_data(v.url, path, params)
        b = lib.api_data(p.url, path, params)
        check(b, "prometheus: no values for %s" % name)
        check_eq(a, b, "values of %s %r" % (name, params))


def norm(data):
    """Comparable form of a query result."""
    rt = data.get("resultType")
    res = data.get("result")
    if rt in ("scalar", "string"):
        return rt, tuple(res)
    if rt == "vector":
        return rt, {lib.label_set(e["metric"]): tuple(e["value"])
                    for e in res}
    if rt == "matrix":
        return rt, {lib.label_set(e["metric"]): tuple(tuple(x)
                                                       for x in e["values"])
                    for e in res}
    raise lib.Failure("unknown resultType %r" % rt)


def close(x, y):
    """Two sample values (JSON strings) agree: equal, or both finite and
    within 1e-12 relative.  Prometheus 2.x adds plainly where 3.x (and
    varve) use compensated sums, which moves the last bits of sums and
    averages."""
    if x == y:
        return True
    try:
        fx, fy = float(x), float(y)
    except ValueError:
        return False
    if fx != fx or fy != fy or abs(fx) == float("inf") or \
            abs(fy) == float("inf"):
        return False
    return abs(fx - fy) <= 1e-12 * max(abs(fx), abs(fy))


def same_points(a, b):
    """Equal (t, v) point lists, values compared with close()."""
    if len(a) != len(b):
        return False
    return all(pa[0] == pb[0] and close(pa[1], pb[1])
               for pa, pb in zip(a, b))


def same(na, nb):
    """Query results (from norm) agree."""
    if na[0] != nb[0]:
        return False
    if na[0] == "string":
        return na[1] == nb[1]
    if na[0] == "scalar":
        return same_points([na[1]], [nb[1]])
    if set(na[1]) != set(nb[1]):
        return False
    if na[0] == "vector":
        return all(same_points([na[1][k]], [nb[1][k]]) for k in na[1])
    return all(same_points(na[1][k], nb[1][k]) for k in na[1])


def differ(a, b):
    lines = []
    if a[0] != b[0]:
        return "resultType varve %r, prometheus %r" % (a[0], b[0])
    if isinstance(a[1], dict):
        lines.append(lib.diff_sets(set(a[1]), set(b[1])))
        for k in sorted(set(a[1]) & set(b[1])):
            pa = a[1][k] if a[0] == "matrix" else [a[1][k]]
            pb = b[1][k] if b[0] == "matrix" else [b[1][k]]
            if not same_points(pa, pb):
                lines.append("  %s:\n    varve      %r\n    prometheus %r" % (
                    lib.fmt_labels(dict(k)), a[1][k][:6], b[1][k][:6]))
                if len(lines) > 8:
                    break
    else:
        lines.append("varve %r, prometheus %r" % (a[1], b[1]))
    return "\n".join(x for x in lines if x)


def case_query(v, p, path, params, sort_matters=False, empty=False):
    a = lib.api_data(v.url, path, params, "POST")
    b = lib.api_data(p.url, path, params, "POST")
    na, nb = norm(a), norm(b)
    q = params[0][1]
    if empty:
        check(not nb[1], "prometheus: %s should be empty" % q)
    else:
        check(nb[1] or nb[0] in ("scalar", "string"),
              "prometheus gave an empty result; the case proves nothing")
    check(same(na, nb), differ(na, nb))
    if sort_matters:
        check_eq([e["metric"] for e in a["result"]],
                 [e["metric"] for e in b["result"]], "order")


def case_errors(v, p):
    bad = []
    for path, params, method in ERRORS:
        sa, ja = lib.api_get(v.url, path, params, method)
        sb, jb = lib.api_get(p.url, path, params, method)
        check(sb >= 400, "prometheus accepted %s %r" % (path, params))
        ta = (ja or {}).get("errorType")
        tb = (jb or {}).get("errorType")
        ok = sa == sb and ta == tb and (ja or {}).get("status") == "error" \
            and (ja or {}).get("error")
        if not ok:
            bad.append("%s %s %r: varve %d %s, prometheus %d %s (%s)" % (
                method, path, params, sa, ta, sb, tb,
                (jb or {}).get("error", "")[:80]))
    check(not bad, "\n".join(bad))


def body(r):
    v = lib.start_varve()
    r.add_log(v)
    p = lib.start_prometheus("global: {}\n", extra_args=[
        "--web.enable-remote-write-receiver"], kind="reference prometheus")
    r.add_log(p)
    r.case("load data into varve", load, v)
    r.case("load data into prometheus", load, p)
    for m in SERIES:
        r.case("series %s" % " ".join(m), case_series, v, p, m)
    r.case("labels and label values", case_labels, v, p)
    for q in INSTANT:
        r.case("instant %s" % q, case_query, v, p, "/api/v1/query",
               [("query", q), ("time", tstr(T_EVAL))],
               q.startswith("sort"), q in EMPTY)
    for q in ("e2e_api_shortlived", "absent(e2e_api_shortlived)",
              "rate(e2e_api_requests_total[1m])"):
        r.case("instant (middle) %s" % q, case_query, v, p, "/api/v1/query",
               [("query", q), ("time", tstr(T_MID))], False,
               q.startswith("absent"))
    for q in RANGE:
        r.case("range %s" % q, case_query, v, p, "/api/v1/query_range",
               [("query", q), ("start", tstr(START_MS / 1000 + 61.3)),
                ("end", tstr(T_EVAL)), ("step", "29.5")])
    r.case("error answers", case_errors, v, p)


if __name__ == "__main__":
    lib.main(body)
