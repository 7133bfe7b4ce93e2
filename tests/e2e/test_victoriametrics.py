#!/usr/bin/python3
"""Side by side with VictoriaMetrics (Debian's victoria-metrics package).

The same InfluxDB line protocol (1.x /write with db= and each precision,
2.x /api/v2/write, gzip, UDP) and the same text exposition format
(/api/v1/import/prometheus: counters, gauges, a histogram, escaped label
values, with and without timestamps) go to a VictoriaMetrics and to
varve.  /api/v1/series and /api/v1/query must then give the same series
names, labels and values on both, except where varve differs on purpose
(README, "InfluxDB line protocol"); those differences are applied to
VictoriaMetrics' answers here before comparing, and each is also checked
on its own:

- a field named `value` gives `measurement` in varve, `measurement_value`
  in VictoriaMetrics;
- varve sanitises metric and label names to Prometheus's syntax,
  VictoriaMetrics keeps them as written;
- varve skips string fields, VictoriaMetrics stores a number parsed from
  the string (0 when it is not one);
- a bad line makes varve answer 400 naming it, VictoriaMetrics answers 204
  and logs it; both store the good lines.
"""

import gzip
import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

VM_BIN = os.environ.get("VICTORIA_METRICS", "/usr/bin/victoria-metrics")
NOW_S = int(time.time())
T0 = NOW_S // 60 * 60 - 180  # whole minute, three minutes ago
PREFIX = "e2evm"


# ------------------------------------------------------------ servers

def free_udp_port():
    for _ in range(50):
        port = lib.free_port()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free UDP port")


def start_vm(udp_port):
    workdir = lib.tmpdir("varve-e2e-vm-")
    for attempt in range(3):
        port = lib.free_port()
        argv = [VM_BIN, "-httpListenAddr=127.0.0.1:%d" % port,
                "-storageDataPath=" + os.path.join(workdir, "data"),
                "-influxListenAddr=127.0.0.1:%d" % udp_port,
                "-retentionPeriod=1y", "-search.latencyOffset=0",
                "-search.disableCache", "-loggerLevel=INFO"]
        proc = lib.spawn(argv, os.path.join(workdir, "vm-%d.log" % attempt))
        s = lib.Server(proc, port, workdir, "victoria-metrics")
        try:
            lib.wait_ready(s, timeout=60, path="/health")
            return s
        except RuntimeError:
            if attempt < 2 and proc.poll() is not None and \
                    "address already in use" in lib.tail(s.log, 50).lower():
                continue
            raise
    raise AssertionError("unreachable")


def flush(vm):
    st, _, _ = lib.http("GET", vm.url + "/internal/force_flush")
    check_eq(st, 200, "VictoriaMetrics force_flush")


# ------------------------------------------------------------ data

def esc_meas(s):
    return s.replace(",", "\\,").replace(" ", "\\ ")


def esc_key(s):
    return esc_meas(s).replace("=", "\\=")


def fmt_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, tuple):  # ("i", 5) integer, ("u", 5) unsigned
        return "%d%s" % (v[1], v[0])
    return repr(float(v))


def line(meas, tags, fields, ts=None):
    out = esc_meas(meas)
    for k, v in tags:
        out += "," + esc_key(k) + "=" + esc_key(v)
    out += " " + ",".join(esc_key(k) + "=" + fmt_value(v) for k, v in fields)
    if ts is not None:
        out += " %d" % ts
    return out


def sanitize(name, colon):
    out = []
    for ch in name:
        if ch.isascii() and (ch.isalnum() or ch == "_" or (colon and ch == ":")):
            out.append(ch)
        else:
            out.append("_")
    s = "".join(out)
    if s and s[0].isdigit():
        s = "_" + s
    return s


def points(tag):
    """(measurement, tags, fields) of the line-protocol data set; tag makes
    the measurement names of one request unique."""
    m = PREFIX + "_" + tag
    return [
        (m + "_cpu", [("host", "a"), ("region", "us west")],
         [("usage", 1.5), ("idle", ("i", 97)), ("ok", True), ("down", False),
          ("big", ("u", 18446744073709551615)), ("neg", -0.001)]),
        (m + "_mem", [("host", "b")], [("value", 4096.0)]),
        (m + "_esc,p x", [("t,a=g", "v,a=l ue")], [("f", 1.0)]),
        (m + "_escaped", [("tag key", "a,b=c"), ("k2", "x y")],
         [("field key", 2.0), ("f,2", 3.0)]),
        (m + "_dots.and-dashes", [("data.center", "dc-1"), ("rack", "r1")],
         [("load.avg", 0.5), ("value", 9.0)]),
        (m + "_str", [("h", "s")], [("num", 1.0), ("text", "hello, world"),
                                    ("numtext", "12.5")]),
        (m + "_exp", [], [("a", 1e3), ("b", -1.5e-3), ("c", 1.7976931348623157e308)]),
        (m + "_utf8", [("city", "Zürich")], [("temp", 21.5)]),
        (m + "_db", [("db", "fromtag")], [("value", 1.0)]),
    ]


def vm_to_varve(metric, fields_of):
    """What varve stores for a series VictoriaMetrics stored: applies the
    documented differences. None when varve stores no such series."""
    name = metric.get("__name__", "")
    meas, field = fields_of.get(name, (None, None))
    if meas is None:
        return None
    if isinstance(field[1], str):
        return None  # string field: skipped by varve
    out = {}
    for k, v in metric.items():
        if k == "__name__":
            continue
        out[sanitize(k, False)] = v
    if field[0] == "value":
        out["__name__"] = sanitize(meas, True)
    else:
        out["__name__"] = sanitize(meas, True) + "_" + sanitize(field[0], True)
    return out


def fields_index(pts):
    """VictoriaMetrics' metric name -> (measurement, (field, value))."""
    idx = {}
    for meas, _, fields in pts:
        for f in fields:
            idx[meas + "_" + f[0]] = (meas, f)
    return idx


# ------------------------------------------------------------ reading

def series(base, match, start, end):
    data = lib.api_data(base, "/api/v1/series", [
        ("match[]", match), ("start", str(start)), ("end", str(end))])
    return [dict(m) for m in data]


def matrix(base, match, at, window="10m"):
    data = lib.api_data(base, "/api/v1/query", [
        ("query", "%s[%s]" % (match, window)), ("time", str(at)),
        ("nocache", "1")])
    check_eq(data["resultType"], "matrix", "result type")
    return {frozenset(s["metric"].items()): [(float(t), float(v))
                                              for t, v in s["values"]]
            for s in data["result"]}


def same_samples(a, b):
    """Same timestamps, values equal up to VictoriaMetrics' rounding: it
    keeps a value as a decimal of about 15 significant digits where varve
    keeps the float64 as sent (README)."""
    if a is None or b is None or len(a) != len(b):
        return False
    for (ta, va), (tb, vb) in zip(a, b):
        if ta != tb:
            return False
        if va != vb and abs(va - vb) > 1e-14 * max(abs(va), abs(vb)):
            return False
    return True


def compare(vm, v, tag, pts):
    """VictoriaMetrics' series (mapped by vm_to_varve) == varve's series,
    and the same values."""
    match = '{__name__=~"%s_%s_.*"}' % (PREFIX, tag)
    idx = fields_index(pts)
    vm_series = series(vm.url, match, T0 - 7200, NOW_S + 600)
    vv_series = series(v.url, match, T0 - 7200, NOW_S + 600)
    mapped, dropped = [], []
    for m in vm_series:
        n = vm_to_varve(m, idx)
        if n is None:
            dropped.append(m["__name__"])
        else:
            mapped.append(n)
    want = sorted(lib.label_set(m) for m in mapped)
    got = sorted(lib.label_set(m) for m in vv_series)
    check(want == got, "series differ (%s):\n%s" % (tag, lib.diff_sets(
        set(got), set(want), "varve", "victoria-metrics (mapped)")))
    check(len(vm_series) > 5, "VictoriaMetrics stored only %d series" % len(vm_series))
    vm_vals = matrix(vm.url, match, NOW_S + 60)
    vv_vals = matrix(v.url, match, NOW_S + 60)
    mapped_vals = {}
    for k, vals in vm_vals.items():
        n = vm_to_varve(dict(k), idx)
        if n is not None:
            mapped_vals[frozenset(n.items())] = vals
    diffs = []
    for k in sorted(set(vv_vals) | set(mapped_vals), key=lambda k: sorted(k)):
        a, b = vv_vals.get(k), mapped_vals.get(k)
        if not same_samples(a, b):
            diffs.append("%s: varve %r, victoria-metrics %r" % (
                lib.fmt_labels(dict(k)), a, b))
    check(not diffs, "values differ (%s):\n%s" % (tag, "\n".join(diffs[:10])))
    return dropped


# ------------------------------------------------------------ cases

def post(base, path, body, headers=None):
    st, _, data = lib.http("POST", base + path, body, headers or {})
    return st, data


def case_lp_http(vm, v, tag, path, prec, mult, ts_offset_ms, gz=False):
    pts = points(tag)
    ts = (T0 * 1000 + ts_offset_ms) * mult // 1000
    body = "\n".join(line(m, t, f, ts) for m, t, f in pts) + "\n"
    data = body.encode()
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if gz:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    url = path + ("&" if "?" in path else "?") + "precision=" + prec
    for s in (vm, v):
        st, resp = post(s.url, url, data, headers)
        check_eq(st, 204, "%s %s: %s" % (s.kind, url, resp[:300]))
    flush(vm)
    dropped = compare(vm, v, tag, pts)
    # string fields: stored by VictoriaMetrics only
    check_eq(sorted(dropped), sorted([
        "%s_%s_str_text" % (PREFIX, tag), "%s_%s_str_numtext" % (PREFIX, tag)]),
        "series only VictoriaMetrics keeps")


def case_differences(vm, v):
    """Each documented difference on its own."""
    tag = "diff"
    m = "%s_%s" % (PREFIX, tag)
    ts = T0 * 10**9
    body = ("%s_m,a.b=c value=1,f=2 %d\n%s_s s=\"7\" %d\n%s_bad value=\n"
            "%s_after value=3 %d\n" % (m, ts, m, ts, m, m, ts)).encode()
    st_vm, _ = post(vm.url, "/write", body)
    st_v, resp = post(v.url, "/write", body)
    check_eq(st_vm, 204, "VictoriaMetrics answer to a bad line")
    check_eq(st_v, 400, "varve answer to a bad line")
    check("unable to parse '%s_bad value=': missing field value (line 3)" % m
          in resp.decode(), "varve's error: %r" % resp)
    flush(vm)
    vm_names = sorted(s["__name__"] for s in series(
        vm.url, '{__name__=~"%s_.*"}' % m, T0 - 60, NOW_S + 600))
    vv = series(v.url, '{__name__=~"%s_.*"}' % m, T0 - 60, NOW_S + 600)
    check_eq(vm_names, sorted([m + "_after_value", m + "_m_f", m + "_m_value",
                               m + "_s_s"]), "VictoriaMetrics' names")
    check_eq(sorted(lib.label_set(s) for s in vv), sorted([
        lib.label_set({"__name__": m + "_after"}),
        lib.label_set({"__name__": m + "_m", "a_b": "c"}),
        lib.label_set({"__name__": m + "_m_f", "a_b": "c"})]), "varve's series")


def case_udp(vm, v, vm_udp, v_udp):
    tag = "udp"
    pts = points(tag)
    ts = T0 * 10**9 + 5 * 10**9
    body = ("\n".join(line(m, t, f, ts) for m, t, f in pts) + "\n").encode()
    for port in (vm_udp, v_udp):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(body, ("127.0.0.1", port))
        s.close()
    deadline = time.time() + 15
    while True:
        try:
            time.sleep(0.5)
            flush(vm)
            compare(vm, v, tag, pts)
            return
        except lib.Failure:
            if time.time() > deadline:
                raise


EXPOSITION = """# HELP {p}_requests_total Requests served.
# TYPE {p}_requests_total counter
{p}_requests_total{{method="get",code="200"}} 1027 {t1}
{p}_requests_total{{method="post",code="400"}} 3 {t1}
{p}_requests_total{{method="get",code="200"}} 1030 {t2}
# TYPE {p}_temp gauge
{p}_temp{{room="a b",esc="q\\"uote\\\\back\\nnl"}} -12.5 {t1}
{p}_temp{{room="c"}} 1e3 {t2}
# TYPE {p}_lat histogram
{p}_lat_bucket{{le="0.1"}} 5 {t1}
{p}_lat_bucket{{le="+Inf"}} 9 {t1}
{p}_lat_sum 1.25 {t1}
{p}_lat_count 9 {t1}
{p}_nots 42
"""


def case_import(vm, v):
    p = PREFIX + "_imp"
    t1, t2 = T0 * 1000 + 1000, T0 * 1000 + 16000
    body = EXPOSITION.format(p=p, t1=t1, t2=t2).encode()
    for s in (vm, v):
        st, resp = post(s.url, "/api/v1/import/prometheus", body)
        check_eq(st, 204, "%s import: %s" % (s.kind, resp[:300]))
    flush(vm)
    match = '{__name__=~"%s_.*"}' % p
    want = sorted(lib.label_set(m) for m in series(vm.url, match, T0 - 600, NOW_S + 600))
    got = sorted(lib.label_set(m) for m in series(v.url, match, T0 - 600, NOW_S + 600))
    check(want == got, "imported series differ:\n" + lib.diff_sets(
        set(got), set(want), "varve", "victoria-metrics"))
    # timestamps given: compare exactly; the one without: present on both
    match_ts = '{__name__=~"%s_.*",__name__!="%s_nots"}' % (p, p)
    check_eq(matrix(v.url, match_ts, NOW_S + 60), matrix(vm.url, match_ts, NOW_S + 60),
             "imported values")


def body(r):
    if not os.access(VM_BIN, os.X_OK):
        r.case("victoria-metrics is installed", check, False,
               "%s missing: apt-get install victoria-metrics" % VM_BIN)
        return
    vm_udp, v_udp = free_udp_port(), free_udp_port()
    vm = start_vm(vm_udp)
    r.add_log(vm)
    v = lib.start_varve(["--influx-udp-listen=127.0.0.1:%d" % v_udp])
    r.add_log(v)
    r.case("1.x /write?db= precision=ns", case_lp_http, vm, v, "ns",
           "/write?db=e2e", "ns", 10**9, 123)
    r.case("1.x /write?db= precision=u", case_lp_http, vm, v, "us",
           "/write?db=e2e&rp=autogen", "u", 10**6, 456)
    r.case("1.x /write precision=ms, gzip", case_lp_http, vm, v, "ms",
           "/write", "ms", 10**3, 789, True)
    r.case("1.x /write?db= precision=s", case_lp_http, vm, v, "s",
           "/write?db=other", "s", 1, 0)
    r.case("2.x /api/v2/write precision=s", case_lp_http, vm, v, "v2",
           "/api/v2/write?org=o&bucket=b", "s", 1, 0)
    r.case("UDP datagram", case_udp, vm, v, vm_udp, v_udp)
    r.case("documented differences", case_differences, vm, v)
    r.case("exposition format /api/v1/import/prometheus", case_import, vm, v)


if __name__ == "__main__":
    lib.main(body)
