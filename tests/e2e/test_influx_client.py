#!/usr/bin/python3
"""InfluxDB line protocol from a real client: Debian's python3-influxdb.

InfluxDBClient talks to varve as it would to InfluxDB 1.x: ping(), then
write_points over HTTP (each time precision, plain and gzip, batches,
global tags) and over UDP (use_udp=True, varve started with
--influx-udp-listen).  varve's /api/v1/query must return every point under
the documented names (measurement_field, `measurement` for a field named
value, names sanitised, the database as the `db` label) with the values
and millisecond timestamps written; string fields are skipped; a bad line
fails the write with InfluxDB's 400 while the good lines are stored.
"""

import datetime
import gzip
import json
import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

try:
    from influxdb import InfluxDBClient
    from influxdb.exceptions import InfluxDBClientError
except ImportError:  # pragma: no cover - reported as a failure below
    InfluxDBClient = None

DB = "e2edb"
# whole seconds, a minute ago, so that every precision can express it
BASE_S = int(time.time()) // 60 * 60 - 60
MULT = {"n": 10**9, "u": 10**6, "ms": 10**3, "s": 1}


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


def samples(v, match, at_s, window="5m"):
    """{frozenset(labels): [(ts_seconds, value), ...]} of match over the
    window ending at at_s, exact timestamps from a range selector."""
    data = lib.api_data(v.url, "/api/v1/query", [
        ("query", "%s[%s]" % (match, window)), ("time", "%.3f" % at_s)])
    check_eq(data["resultType"], "matrix", "result type")
    out = {}
    for s in data["result"]:
        out[frozenset(s["metric"].items())] = [
            (round(float(t), 3), float(x)) for t, x in s["values"]]
    return out


def key(**labels):
    return frozenset(labels.items())


def case_ping(cli):
    check_eq(cli.ping(), "1.8.10", "ping() version")


def case_precision(v, cli, prec):
    m = "e2e_lp_%s" % prec
    # 123 ms past the base second where the precision can say it
    frac_ms = 0 if prec == "s" else 123
    ts = BASE_S * MULT[prec] + frac_ms * MULT[prec] // 1000
    points = [{
        "measurement": m,
        "tags": {"host": "h1", "region": "eu west"},
        "time": ts,
        "fields": {"value": 1.5, "count": 42, "ok": True, "note": "text, \"q\"",
                   "neg": -0.25},
    }, {
        "measurement": m,
        "tags": {"host": "h2", "data.center": "dc-1"},
        "time": ts,
        "fields": {"load": 7, "off": False},
    }]
    check(cli.write_points(points, time_precision=prec) is True, "write_points")
    t = BASE_S + frac_ms / 1000.0
    got = samples(v, '{__name__=~"%s.*"}' % m, BASE_S + 60)
    want = {
        key(__name__=m, db=DB, host="h1", region="eu west"): [(t, 1.5)],
        key(__name__=m + "_count", db=DB, host="h1", region="eu west"): [(t, 42.0)],
        key(__name__=m + "_ok", db=DB, host="h1", region="eu west"): [(t, 1.0)],
        key(__name__=m + "_neg", db=DB, host="h1", region="eu west"): [(t, -0.25)],
        key(__name__=m + "_load", db=DB, host="h2", data_center="dc-1"): [(t, 7.0)],
        key(__name__=m + "_off", db=DB, host="h2", data_center="dc-1"): [(t, 0.0)],
    }
    check_eq(got, want, "series of precision %s" % prec)


def case_datetime(v, cli):
    when = datetime.datetime.fromtimestamp(BASE_S + 1.5, datetime.timezone.utc)
    cli.write_points([{"measurement": "e2e_lp_dt", "time": when,
                       "fields": {"value": 3}}], time_precision="ms")
    got = samples(v, "e2e_lp_dt", BASE_S + 60)
    check_eq(got, {key(__name__="e2e_lp_dt", db=DB): [(BASE_S + 1.5, 3.0)]},
             "datetime point")


def case_gzip_batches(v, port):
    cli = InfluxDBClient("127.0.0.1", port, database="gzdb", gzip=True)
    points = [{"measurement": "e2e_lp_batch", "tags": {"i": str(i % 10)},
               "time": (BASE_S - 300 + i // 10) * 1000,
               "fields": {"value": float(i)}} for i in range(500)]
    cli.write_points(points, time_precision="ms", batch_size=100,
                     tags={"job": "batch"})
    got = samples(v, "e2e_lp_batch", BASE_S, window="10m")
    check_eq(len(got), 10, "series")
    for i in range(10):
        vals = got.get(key(__name__="e2e_lp_batch", db="gzdb", i=str(i), job="batch"))
        check(vals is not None, "series i=%d missing" % i)
        check_eq([x for _, x in vals], [float(i + 10 * k) for k in range(50)],
                 "values of i=%d" % i)


def case_bad_line(v, cli):
    try:
        cli.write_points(["e2e_lp_good value=5 %d" % (BASE_S * 10**9),
                          "e2e_lp_bad value=",
                          "e2e_lp_good2 value=6 %d" % (BASE_S * 10**9)],
                         protocol="line")
    except InfluxDBClientError as e:
        check_eq(e.code, 400, "status")
        check("unable to parse 'e2e_lp_bad value=': missing field value (line 2)"
              in str(e.content), "error: %r" % e.content)
    else:
        check(False, "a bad line was accepted")
    got = samples(v, '{__name__=~"e2e_lp_good.*"}', BASE_S + 60)
    check_eq(got, {key(__name__="e2e_lp_good", db=DB): [(float(BASE_S), 5.0)],
                   key(__name__="e2e_lp_good2", db=DB): [(float(BASE_S), 6.0)]},
             "good lines stored")


def case_udp(v, udp_port):
    cli = InfluxDBClient("127.0.0.1", v.port, use_udp=True, udp_port=udp_port)
    ts = (BASE_S + 2) * 10**9
    points = [{"measurement": "e2e_lp_udp", "tags": {"k": "v%d" % i},
               "time": ts, "fields": {"value": float(i), "n": i}}
              for i in range(20)]
    cli.write_points(points)
    want = {}
    for i in range(20):
        want[key(__name__="e2e_lp_udp", k="v%d" % i)] = [(BASE_S + 2.0, float(i))]
        want[key(__name__="e2e_lp_udp_n", k="v%d" % i)] = [(BASE_S + 2.0, float(i))]
    deadline = time.time() + 10
    got = None
    while time.time() < deadline:
        got = samples(v, '{__name__=~"e2e_lp_udp.*"}', BASE_S + 60)
        if got == want:
            return
        time.sleep(0.2)
    check_eq(got, want, "points sent over UDP")


def case_http_details(v):
    """What clients other than this library meet: form-encoded bodies (curl
    -d), HEAD /ping, /query, 2.x errors, encodings and limits."""
    ts = BASE_S * 10**9
    st, _, resp = lib.http("POST", v.url + "/write?db=curl",
                           b"e2e_lp_form,t=a+b%20c value=1 " + str(ts).encode(),
                           {"Content-Type": "application/x-www-form-urlencoded"})
    check_eq(st, 204, "form-encoded line protocol: %r" % resp)
    got = samples(v, "e2e_lp_form", BASE_S + 60)
    check_eq(got, {key(__name__="e2e_lp_form", db="curl", t="a+b%20c"):
                   [(float(BASE_S), 1.0)]}, "form-encoded body kept raw")
    st, hdrs, _ = lib.http("HEAD", v.url + "/ping")
    check_eq(st, 204, "HEAD /ping")
    check_eq(hdrs.get("x-influxdb-version"), "1.8.10", "version header")
    st, _, resp = lib.http("GET", v.url + "/ping?verbose=true")
    check_eq((st, json.loads(resp)), (200, {"version": "1.8.10"}), "verbose ping")
    st, _, resp = lib.http("GET", lib.url_with(v.url, "/query", [
        ("q", "SHOW DATABASES; CREATE DATABASE x; SELECT * FROM cpu")]))
    check_eq(st, 200, "/query status")
    res = json.loads(resp)["results"]
    check_eq(res[0]["series"][0]["name"], "databases", "SHOW DATABASES")
    check("curl" in [x[0] for x in res[0]["series"][0]["values"]],
          "db label values in SHOW DATABASES: %r" % res[0])
    check_eq(res[1], {"statement_id": 1}, "CREATE DATABASE")
    check("InfluxQL" in res[2].get("error", ""), "SELECT: %r" % res[2])
    st, _, resp = lib.http("POST", v.url + "/api/v2/write?bucket=b&org=o", b"x")
    check_eq(st, 400, "2.x bad line status")
    check_eq(json.loads(resp), {"code": "invalid", "message":
                                "unable to parse 'x': missing fields (line 1)"},
             "2.x error shape")
    st, _, resp = lib.http("POST", v.url + "/api/v2/write?precision=h", b"m f=1 1")
    check_eq(st, 400, "2.x precision h")
    st, _, resp = lib.http("POST", v.url + "/write?precision=xs", b"m f=1 1")
    check_eq((st, json.loads(resp)), (400, {"error": "invalid precision \"xs\" "
                                            "(use n, u, ms, s, m or h)"}), "1.x bad precision")
    st, _, resp = lib.http("POST", v.url + "/write", b"m f=1",
                           {"Content-Encoding": "br"})
    check_eq(st, 415, "unknown content encoding")
    st, _, resp = lib.http("POST", v.url + "/write", b"not gzip",
                           {"Content-Encoding": "gzip"})
    check_eq((st, json.loads(resp)), (400, {"error": "corrupt gzip body"}), "corrupt gzip")
    bomb = gzip.compress(b"#" * (33 << 20))
    st, _, resp = lib.http("POST", v.url + "/write", bomb, {"Content-Encoding": "gzip"})
    check_eq(st, 413, "gzip body inflating past the limit: %r" % resp[:200])
    st, _, _ = lib.http("GET", v.url + "/write")
    check_eq(st, 405, "GET /write")
    st, _, resp = lib.http("POST", v.url + "/write?db=%ff", b"m f=1")
    check_eq((st, json.loads(resp)), (400, {"error": "invalid UTF-8 in parameter \"db\""}),
             "db that is not UTF-8")


def body(r):
    if InfluxDBClient is None:
        r.case("python3-influxdb is installed", check, False,
               "import influxdb failed: apt-get install python3-influxdb")
        return
    udp_port = free_udp_port()
    v = lib.start_varve(["--influx-udp-listen=127.0.0.1:%d" % udp_port])
    r.add_log(v)
    cli = InfluxDBClient("127.0.0.1", v.port, database=DB)
    r.case("ping answers like InfluxDB", case_ping, cli)
    for prec in ("n", "u", "ms", "s"):
        r.case("write_points precision=%s" % prec, case_precision, v, cli, prec)
    r.case("write_points with a datetime", case_datetime, v, cli)
    r.case("gzip, batches and global tags", case_gzip_batches, v, v.port)
    r.case("bad line: 400, good lines stored", case_bad_line, v, cli)
    r.case("write_points over UDP", case_udp, v, udp_port)
    r.case("HTTP details: form bodies, /ping, /query, errors, gzip limit",
           case_http_details, v)
    r.case("SIGTERM stops varve with the UDP listener", lambda: check_eq(
        v.stop(), 0, "exit status"))


if __name__ == "__main__":
    lib.main(body)
