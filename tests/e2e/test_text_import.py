#!/usr/bin/python3
"""POST /api/v1/import/prometheus: exposition text and OpenMetrics in.

One varve gets Prometheus text format 0.0.4 (with and without
timestamps, every label escape, NaN and infinities, HELP and TYPE),
OpenMetrics text (seconds timestamps, UNIT, _created lines, exemplars,
# EOF), the extra_label and timestamp parameters, a gzip body, and bad
lines between good ones; what it stores must read back through
/api/v1/series, /api/v1/query and /api/v1/metadata.
"""

import gzip
import os
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

NOW_MS = int(time.time() * 1000)
T0 = NOW_MS - 60000


def post(v, body, params=None, headers=None):
    url = v.url + "/api/v1/import/prometheus"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return lib.http("POST", url, body, headers or {})


def series(v, match):
    return lib.api_data(v.url, "/api/v1/series", [("match[]", match)])


def instant(v, expr, t_ms):
    res = lib.api_data(v.url, "/api/v1/query",
                       [("query", expr), ("time", "%.3f" % (t_ms / 1000))])
    return sorted((lib.label_set(r["metric"]), r["value"][1])
                  for r in res["result"])


def case_exposition(v):
    body = (
        "# HELP e2e_ti_requests_total Requests served.\n"
        "# TYPE e2e_ti_requests_total counter\n"
        'e2e_ti_requests_total{method="post",code="200"} 1027 %d\n'
        'e2e_ti_requests_total{method="post",code="400"}    3 %d\n'
        "\n# a comment\n"
        'e2e_ti_special{k="nan"} NaN %d\n'
        'e2e_ti_special{k="pinf"} +Inf %d\n'
        'e2e_ti_special{k="ninf"} -Inf %d\n'
        'e2e_ti_special{k="exp"} 1.5e-3 %d\r\n'
        % ((T0,) * 6))
    st, _, data = post(v, body)
    check_eq(st, 204, "status (%r)" % data[:200])
    check_eq(instant(v, "e2e_ti_requests_total", T0 + 1000), sorted([
        (lib.label_set({"__name__": "e2e_ti_requests_total",
                        "method": "post", "code": "200"}), "1027"),
        (lib.label_set({"__name__": "e2e_ti_requests_total",
                        "method": "post", "code": "400"}), "3")]), "counter")
    got = dict((dict(k)["k"], val) for k, val in
               instant(v, "e2e_ti_special", T0 + 1000))
    check_eq(got, {"nan": "NaN", "pinf": "+Inf", "ninf": "-Inf",
                   "exp": "0.0015"}, "special values")
    md = lib.api_data(v.url, "/api/v1/metadata",
                      [("metric", "e2e_ti_requests_total")])
    check_eq(md, {"e2e_ti_requests_total": [
        {"type": "counter", "help": "Requests served.", "unit": ""}]},
        "metadata")


def case_escapes(v):
    body = ('e2e_ti_esc{a="back\\\\slash",b="quo\\"te",c="new\\nline",'
            'd="kept\\tas is",e="日本"} 1 %d\n' % T0)
    st, _, data = post(v, body)
    check_eq(st, 204, "status (%r)" % data[:200])
    got = series(v, "e2e_ti_esc")
    check_eq(got, [{"__name__": "e2e_ti_esc", "a": "back\\slash",
                    "b": 'quo"te', "c": "new\nline", "d": "kept\\tas is",
                    "e": "日本"}], "labels")


def case_no_timestamp(v):
    before = int(time.time() * 1000)
    st, _, _ = post(v, "e2e_ti_now 7\n")
    check_eq(st, 204, "status")
    after = int(time.time() * 1000)
    res = lib.api_data(v.url, "/api/v1/query",
                       [("query", "timestamp(e2e_ti_now)"),
                        ("time", "%.3f" % (after / 1000 + 1))])
    ts = float(res["result"][0]["value"][1]) * 1000
    check(before - 1000 <= ts <= after + 1000,
          "server time %r not in [%d, %d]" % (ts, before, after))
    # the timestamp parameter sets it instead
    st, _, _ = post(v, "e2e_ti_param 8\n", [("timestamp", "%.3f" % (T0 / 1000))])
    check_eq(st, 204, "status with timestamp=")
    check_eq(instant(v, "e2e_ti_param", T0), [
        (lib.label_set({"__name__": "e2e_ti_param"}), "8")], "value at T0")


def case_extra_label(v):
    st, _, _ = post(v, 'e2e_ti_extra{job="orig",a="b"} 1 %d\n' % T0,
                    [("extra_label", "job=imported"), ("extra_label", "env=e2e")])
    check_eq(st, 204, "status")
    check_eq(series(v, "e2e_ti_extra"), [
        {"__name__": "e2e_ti_extra", "a": "b", "job": "imported", "env": "e2e"}],
        "labels")
    st, _, data = post(v, "e2e_ti_extra 1\n", [("extra_label", "novalue")])
    check_eq(st, 400, "bad extra_label (%r)" % data)


def case_openmetrics(v):
    t = T0 / 1000.0
    body = (
        "# TYPE e2e_ti_om counter\n"
        "# UNIT e2e_ti_om seconds\n"
        "# HELP e2e_ti_om An OpenMetrics counter.\n"
        'e2e_ti_om_total{x="1"} 17.5 %.3f # {trace_id="abc"} 0.5\n'
        'e2e_ti_om_created{x="1"} %.3f\n'
        "# EOF\n" % (t, t - 3600))
    st, _, data = post(v, body)
    check_eq(st, 204, "status (%r)" % data[:200])
    check_eq(instant(v, "e2e_ti_om_total", T0), [
        (lib.label_set({"__name__": "e2e_ti_om_total", "x": "1"}), "17.5")],
        "counter at the seconds timestamp")
    check_eq(series(v, "e2e_ti_om_created"), [], "_created skipped")
    md = lib.api_data(v.url, "/api/v1/metadata", [("metric", "e2e_ti_om")])
    check_eq(md, {"e2e_ti_om": [{"type": "counter",
                                 "help": "An OpenMetrics counter.",
                                 "unit": "seconds"}]}, "metadata")
    # the Content-Type alone makes a body OpenMetrics
    st, _, _ = post(v, "e2e_ti_om_ct 3 %.3f\n" % t, headers={
        "Content-Type": "application/openmetrics-text; version=1.0.0"})
    check_eq(st, 204, "status")
    check_eq(instant(v, "e2e_ti_om_ct", T0), [
        (lib.label_set({"__name__": "e2e_ti_om_ct"}), "3")], "seconds")


def case_bad_lines(v):
    body = ("e2e_ti_good_a 1 %d\n"
            "e2e_ti_bad{a=b} 2 %d\n"
            "e2e_ti_good_b 3 %d\n"
            "e2e_ti_bad2 x\n" % (T0, T0, T0))
    st, _, data = post(v, body)
    check_eq(st, 400, "status")
    msg = data.decode("utf-8", "replace")
    check(msg.startswith("line 2: ") and "e2e_ti_bad{a=b}" in msg,
          "message %r" % msg)
    check_eq(len(instant(v, '{__name__=~"e2e_ti_good_.*"}', T0)), 2,
             "good lines stored")


def case_gzip(v):
    body = gzip.compress(("e2e_ti_gz 5 %d\n" % T0).encode())
    st, _, data = post(v, body, headers={"Content-Encoding": "gzip"})
    check_eq(st, 204, "status (%r)" % data[:200])
    check_eq(instant(v, "e2e_ti_gz", T0), [
        (lib.label_set({"__name__": "e2e_ti_gz"}), "5")], "value")
    st, _, _ = post(v, b"\x1f\x8b garbage", headers={"Content-Encoding": "gzip"})
    check_eq(st, 400, "corrupt gzip")
    st, _, _ = post(v, "x 1\n", headers={"Content-Encoding": "br"})
    check_eq(st, 415, "other encoding")


def case_method(v):
    st, h, _ = lib.http("GET", v.url + "/api/v1/import/prometheus")
    check_eq(st, 405, "GET")
    check_eq(h.get("allow"), "POST", "Allow header")


def body(r):
    if lib.standin():
        print("prometheus stand-in has no import endpoint")
        sys.exit(77)
    v = lib.start_varve()
    r.add_log(v)
    r.case("exposition text with HELP, TYPE and special values",
           case_exposition, v)
    r.case("label escapes read back", case_escapes, v)
    r.case("samples without a timestamp: server time or timestamp=",
           case_no_timestamp, v)
    r.case("extra_label", case_extra_label, v)
    r.case("OpenMetrics: seconds, UNIT, _created, exemplars, EOF",
           case_openmetrics, v)
    r.case("bad lines -> 400 naming the first, good lines stored",
           case_bad_lines, v)
    r.case("gzip bodies; other encodings 415", case_gzip, v)
    r.case("other methods -> 405", case_method, v)
    code = v.stop(15)
    r.case("varve stops with status 0", check_eq, code, 0, "exit status")


if __name__ == "__main__":
    lib.main(body)
