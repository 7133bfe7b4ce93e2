#!/usr/bin/python3
"""The calls Grafana's Prometheus data source makes, against varve and a
reference Prometheus holding the same data.

Grafana (11-12) sends form-encoded POSTs by default, float-second times,
`limit` on the metric browser's calls, `Accept-Encoding: gzip`, and probes
buildinfo, rules and exemplars at start.  Each call below must succeed
with the shape Grafana parses, and where the answer depends on data it
must equal the reference Prometheus's.
"""

import gzip
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402
import test_api_compat as compat  # noqa: E402

START_S = compat.START_MS / 1000
END_S = compat.END_MS / 1000 + 1


def call(server, method, path, params, headers=None):
    """(status, headers, JSON) of one Grafana-style call."""
    h = {"User-Agent": "Grafana/12.0.0"}
    h.update(headers or {})
    if method == "POST":
        body = lib.urllib.parse.urlencode(params, doseq=True).encode()
        h["Content-Type"] = "application/x-www-form-urlencoded"
        st, rh, data = lib.http("POST", server.url + path, body, h)
    else:
        st, rh, data = lib.http("GET", lib.url_with(server.url, path, params),
                                None, h)
    if rh.get("content-encoding") == "gzip":
        data = gzip.decompress(data)
    try:
        js = json.loads(data.decode("utf-8"))
    except ValueError:
        js = None
    return st, rh, js


def ok(server, method, path, params, headers=None):
    st, _, js = call(server, method, path, params, headers)
    check(st == 200 and isinstance(js, dict) and
          js.get("status") == "success",
          "%s %s %r on %s -> %d %r" % (method, path, params, server.kind, st,
                                       json.dumps(js)[:300]))
    return js["data"]


def case_save_and_test(v, p):
    a = ok(v, "POST", "/api/v1/query", [("query", "1+1"), ("time", "4")])
    b = ok(p, "POST", "/api/v1/query", [("query", "1+1"), ("time", "4")])
    check_eq(a, b, "1+1 at 4")
    check_eq(a, {"resultType": "scalar", "result": [4, "2"]}, "1+1 at 4")
    info = ok(v, "GET", "/api/v1/status/buildinfo", [])
    for k in ("version", "revision", "branch", "buildUser", "buildDate",
              "goVersion"):
        check(k in info and isinstance(info[k], str),
              "buildinfo lacks %s: %r" % (k, info))
    check("features" not in info, "buildinfo has features (Grafana would "
          "take varve for Mimir)")


def case_startup(v, p):
    a = ok(v, "GET", "/api/v1/rules", [])
    check(isinstance(a, dict) and a.get("groups") == [],
          "rules: %r" % (a,))
    params = [("query", "test"), ("start", str(compat.START_MS)),
              ("end", str(compat.END_MS))]
    a = ok(v, "GET", "/api/v1/query_exemplars", params)
    b = ok(p, "GET", "/api/v1/query_exemplars", params)
    check_eq(a, b, "exemplars of an unknown metric")
    check_eq(a, [], "exemplars")


def same_data(v, p, method, path, params, what, headers=None):
    a = ok(v, method, path, params, headers)
    b = ok(p, method, path, params, headers)
    check(b, "reference returned nothing for %s" % what)
    if isinstance(a, list) and a and isinstance(a[0], dict):
        a = sorted(lib.label_set(x) for x in a)
        b = sorted(lib.label_set(x) for x in b)
    check_eq(a, b, what)


def case_metric_browser(v, p):
    rng = [("start", compat.tstr(START_S)), ("end", compat.tstr(END_S))]
    same_data(v, p, "GET", "/api/v1/label/__name__/values",
              rng + [("limit", "40000")], "metric names")
    same_data(v, p, "GET", "/api/v1/labels", rng + [("limit", "40000")],
              "label names (GET)")
    same_data(v, p, "POST", "/api/v1/labels",
              rng + [("limit", "40000"),
                     ("match[]", "e2e_api_requests_total")],
              "label names of a metric (POST)")
    same_data(v, p, "GET", "/api/v1/label/instance/values",
              rng + [("limit", "40000"),
                     ("match[]", 'e2e_api_requests_total{code="500"}')],
              "label values with match[]")
    same_data(v, p, "GET", "/api/v1/series",
              rng + [("limit", "40000"), ("match[]", '{__name__!=""}')],
              "series fallback")


def case_limit(v, p):
    """Prometheus 2.42 ignores `limit`; varve must honour it."""
    rng = [("start", compat.tstr(START_S)), ("end", compat.tstr(END_S))]
    for path, extra in (("/api/v1/label/__name__/values", []),
                        ("/api/v1/labels", []),
                        ("/api/v1/series", [("match[]", '{job="api"}')])):
        full = ok(v, "GET", path, rng + extra)
        check(len(full) > 2, "%s: too little data (%d)" % (path, len(full)))
        two = ok(v, "GET", path, rng + extra + [("limit", "2")])
        check_eq(len(two), 2, "%s with limit=2" % path)


def case_panels(v, p):
    params = [("query", "sum by (code) (rate(e2e_api_requests_total[1m]))"),
              ("start", compat.tstr(START_S + 120.25)),
              ("end", compat.tstr(compat.T_EVAL)), ("step", "15")]
    a = compat.norm(ok(v, "POST", "/api/v1/query_range", params))
    b = compat.norm(ok(p, "POST", "/api/v1/query_range", params))
    check(b[1], "reference range result empty")
    check(compat.same(a, b), compat.differ(a, b))
    params = [("query", "e2e_api_temperature"),
              ("time", compat.tstr(compat.T_EVAL))]
    h = {"FromAlert": "true"}
    a = compat.norm(ok(v, "POST", "/api/v1/query", params, h))
    b = compat.norm(ok(p, "POST", "/api/v1/query", params, h))
    check(b[1], "reference instant result empty")
    check(compat.same(a, b), compat.differ(a, b))


def case_gzip(v, p):
    params = [("match[]", '{job="api"}'), ("start", compat.tstr(START_S)),
              ("end", compat.tstr(END_S))]
    st, h, js = call(v, "GET", "/api/v1/series", params,
                     {"Accept-Encoding": "gzip"})
    check_eq(st, 200, "status with Accept-Encoding: gzip")
    check(js and js.get("status") == "success" and js["data"],
          "answer with Accept-Encoding: gzip does not parse: %r" % (
              h.get("content-encoding"),))


def case_errors_shape(v, p):
    st, _, js = call(v, "POST", "/api/v1/query", [("query", "sum(")])
    check_eq(st, 400, "status of a parse error")
    check(js and js.get("status") == "error" and
          js.get("errorType") == "bad_data" and js.get("error"),
          "error shape: %r" % (js,))


def case_escaped_label(v, p):
    """Label names in the path may use Prometheus 3's U__ escaping."""
    a = ok(v, "GET", "/api/v1/label/U__instance/values", [])
    b = ok(v, "GET", "/api/v1/label/instance/values", [])
    check(b, "no instance values")
    check_eq(a, b, "U__instance vs instance")


def body(r):
    v = lib.start_varve()
    r.add_log(v)
    p = lib.start_prometheus("global: {}\n", extra_args=[
        "--web.enable-remote-write-receiver"], kind="reference prometheus")
    r.add_log(p)
    r.case("load data into varve", compat.load, v)
    r.case("load data into prometheus", compat.load, p)
    r.case("save & test: 1+1, buildinfo", case_save_and_test, v, p)
    r.case("data source start: rules, exemplars", case_startup, v, p)
    r.case("metric browser calls", case_metric_browser, v, p)
    r.case("limit on names, labels, series", case_limit, v, p)
    r.case("panels and alerting queries", case_panels, v, p)
    r.case("Accept-Encoding: gzip", case_gzip, v, p)
    r.case("error shape", case_errors_shape, v, p)
    r.case("U__ escaped label name", case_escaped_label, v, p)


if __name__ == "__main__":
    lib.main(body)
