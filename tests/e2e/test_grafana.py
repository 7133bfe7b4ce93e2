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
    t = compat.END_MS - 30000
    for s in (v, p):    # both, so that later comparisons still hold
        st, _, _ = lib.remote_write(s.url, lib.write_request(
            [({"__name__": "e2e_escape", "k_x": "v1", "job": "api"}, [(1.0, t)])]))
        check(st in (200, 204), "write -> %d" % st)
    want = ok(v, "GET", "/api/v1/label/k_x/values", [])
    check_eq(want, ["v1"], "values of k_x")
    for esc in ("U__k__x", "U__k_5f_x", "U__k_5F_x"):
        check_eq(ok(v, "GET", "/api/v1/label/%s/values" % esc, []), want, esc)


# ------------------------------------------------------------ every call, GET and POST

RNG = lambda: [("start", compat.tstr(START_S)), ("end", compat.tstr(END_S))]  # noqa: E731

# (path, params, POST accepted by Prometheus, what the data must be)
CALLS = [
    ("/api/v1/query", [("query", "1+1"), ("time", "4")], True, "scalar"),
    ("/api/v1/status/buildinfo", [], False, "buildinfo"),
    ("/api/v1/rules", [], False, "rules"),
    ("/api/v1/alerts", [], False, "alerts"),
    ("/api/v1/query_exemplars", [("query", "test"), ("start", str(compat.START_MS)),
                                 ("end", str(compat.END_MS))], True, "list"),
    ("/api/v1/label/__name__/values", None, False, "strings"),
    ("/api/v1/labels", [("limit", "40000"),
                        ("match[]", "e2e_api_requests_total")], True, "strings"),
    ("/api/v1/label/instance/values", [("limit", "40000"),
                                       ("match[]", 'e2e_api_requests_total{code="500"}')],
     False, "strings"),
    ("/api/v1/metadata", [("limit", "5")], False, "metadata"),
    ("/api/v1/metadata", [("limit_per_metric", "1"), ("metric", "e2e_api_requests_total")],
     False, "metadata"),
    ("/api/v1/series", [("limit", "40000"), ("match[]", '{__name__!=""}')], True, "maps"),
    ("/api/v1/query", [("query", "e2e_api_temperature"),
                       ("time", compat.tstr(compat.T_EVAL))], True, "vector"),
    ("/api/v1/query_range", [("query", "rate(e2e_api_requests_total[1m])"),
                             ("start", compat.tstr(START_S + 60)),
                             ("end", compat.tstr(compat.T_EVAL)), ("step", "15")],
     True, "matrix"),
    ("/api/v1/query", [("query", 'count(e2e_api_requests_total)'),
                       ("time", compat.tstr(compat.T_EVAL))], True, "vector"),
    ("/api/v1/query", [("query", 'scalar(count(e2e_api_requests_total))'),
                       ("time", compat.tstr(compat.T_EVAL))], True, "scalar"),
    ("/api/v1/query", [("query", '"a string"'), ("time", "4")], True, "string"),
    ("/api/v1/status/tsdb", [], False, "tsdb"),
]


def check_shape(kind, data, what):
    if kind in ("scalar", "string", "vector", "matrix"):
        check_eq(data.get("resultType"), kind, "%s: resultType" % what)
        res = data["result"]
        if kind in ("scalar", "string"):
            check(isinstance(res, list) and len(res) == 2 and
                  isinstance(res[0], (int, float)) and isinstance(res[1], str),
                  "%s: %s result %r" % (what, kind, res))
            return
        check(res, "%s: empty result" % what)
        for e in res:
            check(isinstance(e.get("metric"), dict), "%s: metric" % what)
            pts = [e["value"]] if kind == "vector" else e["values"]
            for t, v in pts:
                check(isinstance(t, (int, float)) and isinstance(v, str),
                      "%s: point %r" % (what, [t, v]))
    elif kind == "buildinfo":
        for k in ("version", "revision", "branch", "buildUser", "buildDate",
                  "goVersion"):
            check(isinstance(data.get(k), str), "%s: %s" % (what, k))
        check("features" not in data, "%s: features" % what)
        ver = [int(x) for x in data["version"].split(".")[:3]]
        check(ver >= [2, 24, 0], "%s: version %s is below 2.24.0: Grafana would not "
              "use the labels API" % (what, data["version"]))
    elif kind in ("rules", "alerts"):
        key = "groups" if kind == "rules" else "alerts"
        check_eq(data, {key: []}, what)
    elif kind == "list":
        check(isinstance(data, list), "%s: %r" % (what, data))
    elif kind == "strings":
        check(data and all(isinstance(x, str) for x in data), "%s: %r" % (what, data))
    elif kind == "maps":
        check(data and all(isinstance(x, dict) for x in data), "%s: %r" % (what, data))
    elif kind == "metadata":
        check(isinstance(data, dict) and data, "%s: %r" % (what, data))
        for fam, ents in data.items():
            for e in ents:
                check(set(e) == {"type", "help", "unit"}, "%s: %r" % (what, e))
    elif kind == "tsdb":
        for k in ("headStats", "seriesCountByMetricName", "labelValueCountByLabelName",
                  "memoryInBytesByLabelName", "seriesCountByLabelValuePair"):
            check(k in data, "%s: no %s" % (what, k))
        check(data["headStats"]["numSeries"] > 0, "%s: numSeries" % what)
        for k in ("seriesCountByMetricName", "seriesCountByLabelValuePair"):
            check(0 < len(data[k]) <= 10, "%s: %s has %d entries" % (what, k, len(data[k])))
            for e in data[k]:
                check(isinstance(e["name"], str) and isinstance(e["value"], int),
                      "%s: %r" % (what, e))


def case_every_call(v, p):
    """Each call of GRAFANA.md as GET, and as form POST where Prometheus
    takes POST (elsewhere a POST must get what Prometheus answers: 405,
    on which Grafana retries with GET)."""
    md = [("e2e_api_requests_total", "counter", "Requests.", ""),
          ("e2e_api_temperature", "gauge", "Temperature.", "celsius")]
    st, _, b = lib.remote_write(v.url, lib.write_request([], md))
    check(st in (200, 204), "metadata write -> %d %r" % (st, b[:200]))
    for path, params, post, kind in CALLS:
        params = RNG() + [("limit", "40000")] if params is None else params
        if path not in ("/api/v1/query", "/api/v1/query_range", "/api/v1/status/tsdb",
                        "/api/v1/query_exemplars", "/api/v1/rules", "/api/v1/alerts",
                        "/api/v1/status/buildinfo", "/api/v1/metadata"):
            params = RNG() + params
        data = ok(v, "GET", path, params, {"Accept-Encoding": "gzip"})
        check_shape(kind, data, "GET %s" % path)
        if post:
            d2 = ok(v, "POST", path, params, {"Accept-Encoding": "gzip"})
            check_eq(d2, data, "POST %s vs GET" % path)
        else:
            sv, _, _ = call(v, "POST", path, params)
            sp, _, _ = call(p, "POST", path, params)
            check_eq(sv, sp, "POST %s status, varve vs prometheus" % path)


def case_flags_404(v, p):
    """A success on status/flags makes Grafana take the source for Thanos."""
    for method in ("GET", "POST"):
        st, _, _ = call(v, method, "/api/v1/status/flags", [])
        check_eq(st, 404, "%s status/flags" % method)


def case_gzip_encoded(v, p):
    params = RNG() + [("match[]", '{__name__!=""}')]
    h = {"User-Agent": "Grafana/12.0.0", "Accept-Encoding": "gzip"}
    st, rh, raw = lib.http("GET", lib.url_with(v.url, "/api/v1/series", params), None, h)
    check_eq(st, 200, "status")
    check_eq(rh.get("content-encoding"), "gzip", "Content-Encoding")
    js = json.loads(gzip.decompress(raw))
    check(js["status"] == "success" and js["data"], "gzipped body")
    st, rh, raw = lib.http("GET", lib.url_with(v.url, "/api/v1/series", params), None,
                           {"Accept-Encoding": "identity"})
    check(rh.get("content-encoding") in (None, "identity"), "identity answered with %r"
          % rh.get("content-encoding"))
    check_eq(json.loads(raw), js, "same document with and without gzip")


def case_template_variables(v, p):
    """label_names(), label_values(l), label_values(m, l), metrics(re),
    query_result(e) and a bare selector, as Grafana turns them into calls."""
    rng = RNG()
    same_data(v, p, "GET", "/api/v1/labels", rng, "label_names()")
    same_data(v, p, "GET", "/api/v1/label/room/values", rng, "label_values(room)")
    same_data(v, p, "GET", "/api/v1/label/code/values",
              rng + [("match[]", "e2e_api_requests_total")],
              "label_values(e2e_api_requests_total, code)")
    names = ok(v, "GET", "/api/v1/label/__name__/values", rng)
    check([n for n in names if n.startswith("e2e_api_")], "metrics(e2e_api_.*)")
    a = compat.norm(ok(v, "POST", "/api/v1/query",
                       [("query", "topk(2, e2e_api_temperature)"),
                        ("time", compat.tstr(compat.T_EVAL))]))
    b = compat.norm(ok(p, "POST", "/api/v1/query",
                       [("query", "topk(2, e2e_api_temperature)"),
                        ("time", compat.tstr(compat.T_EVAL))]))
    check(compat.same(a, b), compat.differ(a, b))
    same_data(v, p, "POST", "/api/v1/series",
              rng + [("match[]", 'e2e_api_requests_total{code="200"}')],
              "bare selector variable")


def exemplar_pb(labels, value, ts):
    out = b""
    for n, val in labels:
        out += lib.pb_bytes(1, lib.pb_label(n, val))
    return out + lib.pb_double(2, value) + lib.pb_varint(3, ts)


def case_exemplars_held(v, p):
    """Exemplars sent with remote_write 1.0 come back from query_exemplars,
    whatever the unit of start/end."""
    t0 = compat.END_MS - 60000
    ts = lib.pb_timeseries([("__name__", "e2e_ex_requests_total"), ("job", "api")],
                           [(1.0, t0), (2.0, t0 + 15000)])
    ts += lib.pb_bytes(3, exemplar_pb([("trace_id", "4bf92f")], 0.25, t0))
    ts += lib.pb_bytes(3, exemplar_pb([("trace_id", "00f067")], 1.5, t0 + 15000))
    st, _, b = lib.remote_write(v.url, lib.pb_bytes(1, ts))
    check(st in (200, 204), "remote write with exemplars -> %d %r" % (st, b[:200]))
    want = [{"seriesLabels": {"__name__": "e2e_ex_requests_total", "job": "api"},
             "exemplars": [
                 {"labels": {"trace_id": "4bf92f"}, "value": "0.25", "timestamp": t0 / 1000},
                 {"labels": {"trace_id": "00f067"}, "value": "1.5",
                  "timestamp": (t0 + 15000) / 1000}]}]
    for start, end in ((str(t0 - 1000), str(t0 + 60000)),
                       (compat.tstr((t0 - 1000) / 1000), compat.tstr((t0 + 60000) / 1000))):
        for method in ("GET", "POST"):
            got = ok(v, method, "/api/v1/query_exemplars",
                     [("query", "rate(e2e_ex_requests_total[5m])"),
                      ("start", start), ("end", end)])
            check_eq(got, want, "exemplars (%s, start %s)" % (method, start))
    got = ok(v, "GET", "/api/v1/query_exemplars",
             [("query", "e2e_api_temperature"), ("start", str(t0 - 1000)),
              ("end", str(t0 + 60000))])
    check_eq(got, [], "exemplars of a series without any")


def case_exemplars_bounded(r):
    """--storage.exemplars.max bounds the ring: the oldest go first."""
    v2 = lib.start_varve(["--storage.exemplars.max=3"])
    r.add_log(v2)
    try:
        t0 = compat.END_MS - 120000
        ts = lib.pb_timeseries([("__name__", "e2e_ex_bounded"), ("job", "api")],
                               [(1.0, t0)])
        for k in range(5):
            ts += lib.pb_bytes(3, exemplar_pb([("trace_id", "t%d" % k)], k, t0 + k * 1000))
        st, _, b = lib.remote_write(v2.url, lib.pb_bytes(1, ts))
        check(st in (200, 204), "remote write -> %d %r" % (st, b[:200]))
        got = ok(v2, "GET", "/api/v1/query_exemplars",
                 [("query", "e2e_ex_bounded"), ("start", str(t0 - 1000)),
                  ("end", str(t0 + 60000))])
        check_eq([e["labels"]["trace_id"] for e in got[0]["exemplars"]],
                 ["t2", "t3", "t4"], "exemplars kept")
    finally:
        v2.stop()


# ------------------------------------------------------------ provisioned dashboards

DASH_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                        "grafana")
NODE_END_MS = compat.END_MS
# Prometheus takes remote-written samples down to an hour behind its newest
NODE_START_MS = NODE_END_MS - 50 * 60 * 1000
NODE_STEP_MS = 15000


def node_dataset():
    """Two node-exporter targets, 50 minutes at 15 s."""
    out = []
    n = (NODE_END_MS - NODE_START_MS) // NODE_STEP_MS + 1
    times = [NODE_START_MS + i * NODE_STEP_MS for i in range(n)]
    for h, inst in enumerate(("node-a:9100", "node-b:9100")):
        base = {"job": "node", "instance": inst}

        def add(name, f, **extra):
            labels = dict(base, __name__=name, **extra)
            out.append((labels, [(float(f(i)), t) for i, t in enumerate(times)]))
        add("node_uname_info", lambda i: 1, nodename="node-%d" % h, sysname="Linux")
        add("node_boot_time_seconds", lambda i: NODE_START_MS / 1000 - 86400 * (h + 1))
        for cpu in ("0", "1"):
            for k, mode in enumerate(("idle", "user", "system", "iowait")):
                add("node_cpu_seconds_total",
                    lambda i, k=k: i * 15 * (0.6 if k == 0 else 0.4 / 3) + k, cpu=cpu,
                    mode=mode)
        add("node_memory_MemTotal_bytes", lambda i: 8 << 30)
        add("node_memory_MemAvailable_bytes", lambda i: (3 << 30) + (i % 17) * (1 << 20))
        add("node_memory_Cached_bytes", lambda i: 1 << 30)
        add("node_memory_Buffers_bytes", lambda i: 1 << 27)
        for mp, fs, dev in (("/", "ext4", "/dev/sda1"), ("/run", "tmpfs", "tmpfs")):
            add("node_filesystem_size_bytes", lambda i: 100 << 30, mountpoint=mp,
                fstype=fs, device=dev)
            add("node_filesystem_avail_bytes", lambda i: (60 << 30) - i * (1 << 20),
                mountpoint=mp, fstype=fs, device=dev)
        add("node_disk_read_bytes_total", lambda i: i * 4096 * 30, device="sda")
        add("node_disk_written_bytes_total", lambda i: i * 4096 * 70, device="sda")
        add("node_disk_io_time_seconds_total", lambda i: i * 1.5, device="sda")
        for dev in ("eth0", "lo"):
            add("node_network_receive_bytes_total", lambda i: i * 150000, device=dev)
            add("node_network_transmit_bytes_total", lambda i: i * 90000, device=dev)
            add("node_network_receive_errs_total", lambda i: i // 40, device=dev)
            add("node_network_transmit_errs_total", lambda i: i // 60, device=dev)
            add("node_network_receive_drop_total", lambda i: i // 30, device=dev)
        for name, f in (("node_load1", lambda i: 0.5 + (i % 7) / 10),
                        ("node_load5", lambda i: 0.6 + (i % 5) / 20),
                        ("node_load15", lambda i: 0.7)):
            add(name, f)
    return out


def varve_dataset(v):
    """varve's own /metrics, as a Prometheus scraping it for an hour would
    have stored them (counters growing, gauges steady)."""
    rows = lib.parse_metrics(lib.metrics_text(v.url))
    types = {}
    for line in lib.metrics_text(v.url).splitlines():
        if line.startswith("# TYPE "):
            _, _, name, t = line.split(None, 3)
            types[name] = t
    out = []
    n = (NODE_END_MS - NODE_START_MS) // NODE_STEP_MS + 1
    for name, labels, val in rows:
        fam = name
        for suf in ("_bucket", "_sum", "_count", "_total"):
            if name.endswith(suf) and name[:-len(suf)] in types:
                fam = name[:-len(suf)]
        counter = types.get(fam, types.get(name)) in ("counter", "histogram")
        lab = dict(labels, __name__=name, job="varve", instance="varve:9201")
        pts = [(float(val + (i * (1 + len(name) % 5) if counter else 0)),
                NODE_START_MS + i * NODE_STEP_MS) for i in range(n)]
        out.append((lab, pts))
    return out


def load_dashboard_data(v, p):
    data = node_dataset() + varve_dataset(v)
    for s in (v, p):
        st, _, b = lib.remote_write(s.url, lib.write_request(data))
        check(st in (200, 204), "%s: remote write -> %d %r" % (s.kind, st, b[:300]))


def interpolate(expr, values):
    """Grafana's variable substitution for the dashboards' queries: one
    value per variable, $__interval 15s and $__rate_interval 1m (15 s
    scrape interval)."""
    for k, val in (("$__rate_interval", "1m"), ("$__interval", "15s"),
                   ("$__range", "1h")):
        expr = expr.replace(k, val)
    for k in sorted(values, key=len, reverse=True):
        expr = expr.replace("${%s}" % k, values[k]).replace("$" + k, values[k])
    return expr


def variable_values(server, dash, rng):
    """Resolve the dashboard's query variables in order, as Grafana does
    with the labels API: label_values(metric, label) ->
    label/<label>/values?match[]=metric. Returns {name: first value}."""
    import re
    values = {}
    for var in dash["templating"]["list"]:
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        q = interpolate(q, values)
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q)
        check(m, "variable %s: unsupported query %r" % (var["name"], q))
        got = ok(server, "GET", "/api/v1/label/%s/values" % m.group(2),
                 rng + [("match[]", m.group(1))])
        check(got, "variable %s (%s) has no values" % (var["name"], q))
        values[var["name"]] = got[0]
    return values


def case_dashboard(v, p, fname):
    with open(os.path.join(DASH_DIR, "dashboards", fname)) as f:
        dash = json.load(f)
    rng = [("start", compat.tstr(NODE_START_MS / 1000)),
           ("end", compat.tstr(NODE_END_MS / 1000))]
    values = variable_values(v, dash, rng)
    check_eq(variable_values(p, dash, rng), values, "variables vs prometheus")
    nq = 0
    for panel in dash["panels"]:
        check_eq(panel["datasource"]["uid"], "varve", "panel data source")
        for t in panel["targets"]:
            expr = interpolate(t["expr"], values)
            check("$" not in expr, "uninterpolated variable in %r" % expr)
            what = "%s / %s: %s" % (fname, panel["title"], expr)
            if t.get("instant"):
                # off the sample grid: Prometheus 2 closes ranges on the
                # left, 3 (and varve) leave them open
                params = [("query", expr), ("time", compat.tstr(NODE_END_MS / 1000 - 7.531))]
                path, kind = "/api/v1/query", "vector"
            else:
                params = [("query", expr),
                          ("start", compat.tstr(NODE_START_MS / 1000 + 300.237)),
                          ("end", compat.tstr(NODE_END_MS / 1000)), ("step", "15")]
                path, kind = "/api/v1/query_range", "matrix"
            a = ok(v, "POST", path, params)
            check_shape(kind, a, what)
            b = ok(p, "POST", path, params)
            na, nb = compat.norm(a), compat.norm(b)
            check(compat.same(na, nb), "%s\n%s" % (what, compat.differ(na, nb)))
            nq += 1
    check(nq >= 10, "%s: only %d queries" % (fname, nq))


def case_provisioning(v, p):
    """The data source file names varve's URL, POST and a Prometheus
    version Grafana reads as having the labels API, the one buildinfo
    reports."""
    with open(os.path.join(DASH_DIR, "provisioning", "datasources", "varve.yaml")) as f:
        text = f.read()
    for want in ("type: prometheus", "url: http://localhost:9201", "httpMethod: POST",
                 "prometheusType: Prometheus", "uid: varve"):
        check(want in text, "datasource provisioning lacks %r" % want)
    import re
    m = re.search(r"prometheusVersion: *([0-9.]+)", text)
    check(m, "no prometheusVersion")
    info = ok(v, "GET", "/api/v1/status/buildinfo", [])
    check_eq(m.group(1), info["version"], "prometheusVersion vs buildinfo")
    with open(os.path.join(DASH_DIR, "provisioning", "dashboards", "varve.yaml")) as f:
        text = f.read()
    check("type: file" in text, "dashboard provider is not a file provider")


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
    r.case("every call, GET and form POST", case_every_call, v, p)
    r.case("status/flags stays 404", case_flags_404, v, p)
    r.case("gzip when accepted", case_gzip_encoded, v, p)
    r.case("template variable queries", case_template_variables, v, p)
    r.case("exemplars written are served", case_exemplars_held, v, p)
    r.case("exemplar ring bounded by --storage.exemplars.max", case_exemplars_bounded, r)
    r.case("provisioning files", case_provisioning, v, p)
    r.case("load dashboard data", load_dashboard_data, v, p)
    for fname in ("node-exporter.json", "varve.json"):
        r.case("dashboard %s: every panel and variable" % fname, case_dashboard, v, p,
               fname)


if __name__ == "__main__":
    lib.main(body)
