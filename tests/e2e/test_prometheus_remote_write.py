#!/usr/bin/python3
"""A real Prometheus remote-writes into varve; both must then answer alike.

Prometheus scrapes itself and varve every second and remote-writes every
sample (and metadata) to varve.  Once samples arrive, the test picks a time
window that both sides hold completely (it starts after the first sample
reached varve, so Prometheus's remote-write queue was already running, and
ends a few seconds ago, so every sample in it has been delivered) and
compares, Prometheus's own API against varve's: series, label names, label
values, instant queries at a past time, range queries, metadata, and the
same through promtool.  Every comparison requires a non-empty answer.
"""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

SCRAPE = 1.0            # seconds between scrapes
FIRST_WAIT = 60.0       # longest wait for the first samples to reach varve
SETTLE = 14.0           # seconds of data to collect after that
LAG = 4.0               # the window ends this long before "now"

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:%(prom)d']
  - job_name: varve
    static_configs:
      - targets: ['127.0.0.1:%(varve)d']
  - job_name: synthetic
    static_configs:
      - targets: ['127.0.0.1:%(synth)d']
remote_write:
  - url: http://127.0.0.1:%(varve)d/api/v1/write
    remote_timeout: 10s
    queue_config:
      batch_send_deadline: 1s
      max_samples_per_send: 500
      min_shards: 4
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send: true
      send_interval: 1s
"""

SERIES_MATCHERS = [
    ["up"],
    ['{__name__=~"prometheus_http_requests_total|go_goroutines"}'],
    ['{job="varve"}'],
    ['{job="prometheus"}'],
    ['prometheus_tsdb_head_series', 'scrape_duration_seconds'],
    ['{__name__=~"prometheus_tsdb_.*", job="prometheus", quantile!="0.5"}'],
]

INSTANT_QUERIES = [
    'up',
    'prometheus_tsdb_head_series',
    'go_goroutines{job="prometheus"}',
    'prometheus_http_requests_total{handler="/metrics"}',
    'scrape_samples_scraped',
    '{__name__=~"prometheus_http_requests_total|go_memstats_alloc_bytes"}',
]

ENGINE_QUERIES = [
    'sum by (job) (up)',
    'rate(prometheus_http_requests_total{handler="/metrics"}[5s])',
    'count(up) by (job)',
    'scrape_samples_scraped > 0',
]

RANGE_QUERIES = [
    'up',
    'go_goroutines{job="prometheus"}',
    'prometheus_http_requests_total{handler="/metrics"}',
]

METADATA_FAMILIES = [
    'prometheus_http_requests_total',
    'go_goroutines',
    'prometheus_tsdb_head_series',
]


SYNTH_SERIES = 3000     # series of the synthetic target, written per second


def synth_render():
    """Exposition text of the synthetic target: counters, gauges with
    awkward values, a histogram; values change with every scrape."""
    n = int(time.time() * 1000)
    out = ["# HELP e2e_synth_requests_total Requests of the synthetic target.",
           "# TYPE e2e_synth_requests_total counter"]
    per = SYNTH_SERIES // 3
    for i in range(per):
        out.append('e2e_synth_requests_total{shard="%d",path="/p/%d"} %d' % (
            i % 16, i, (n // 1000) * (i + 1) + i))
    out += ["# HELP e2e_synth_level A gauge with awkward values.",
            "# TYPE e2e_synth_level gauge"]
    # No "-0": Prometheus's remote write drops a zero double field, so the
    # sign of -0 never reaches any receiver.
    special = ["NaN", "+Inf", "-Inf", "-1.5e-310", "1e-300",
               "1.7976931348623157e+308"]
    for i in range(per):
        if i < len(special):
            val = special[i]
        else:
            val = repr(((n // 1000) % 97) * 0.1 + i / 7.0 - 50)
        out.append('e2e_synth_level{unit_id="u%05d",zone="z%d"} %s' % (
            i, i % 5, val))
    out += ["# HELP e2e_synth_latency_seconds A histogram.",
            "# TYPE e2e_synth_latency_seconds histogram"]
    buckets = ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"]
    groups = (SYNTH_SERIES - 2 * per) // (len(buckets) + 2)
    for g in range(groups):
        c = 0
        for j, le in enumerate(buckets):
            c += (n // 1000 % 13) + j + g
            out.append('e2e_synth_latency_seconds_bucket{op="o%d",le="%s"} %d'
                       % (g, le, c))
        out.append('e2e_synth_latency_seconds_sum{op="o%d"} %r' % (g, c * 0.37))
        out.append('e2e_synth_latency_seconds_count{op="o%d"} %d' % (g, c))
    return "\n".join(out) + "\n"


class Ctx:
    """What the cases share: the two servers and the agreed window."""
    varve = None
    prom = None
    start = None        # window start, float seconds
    end = None          # window end, float seconds
    t = None            # instant-query time inside the window
    samples_seen = 0    # raw samples compared by case_raw_samples


def tstr(t):
    return "%.3f" % t


def series_sets(base, matchers, start, end):
    data = lib.api_data(base, "/api/v1/series",
                        [("match[]", m) for m in matchers] +
                        [("start", tstr(start)), ("end", tstr(end))])
    check(isinstance(data, list), "series data is not a list: %r" % data)
    return set(lib.label_set(m) for m in data)


def wait_first_samples(c):
    """Poll varve until `up` of both jobs is there; returns that time."""
    deadline = time.time() + FIRST_WAIT
    last = None
    while time.time() < deadline:
        if c.varve.proc.poll() is not None:
            raise RuntimeError("varve died: %s" % c.varve.log_tail())
        try:
            st, js = lib.api_get(c.varve.url, "/api/v1/series",
                                 [("match[]", "up")])
            last = (st, js)
            if st == 200 and js and js.get("status") == "success":
                jobs = set(m.get("job") for m in js["data"])
                if {"prometheus", "varve", "synthetic"} <= jobs:
                    return time.time()
        except OSError as e:
            last = str(e)
        time.sleep(0.25)
    raise RuntimeError("no `up` series reached varve in %.0fs; last answer "
                       "%r; prometheus log:\n%s" % (
                           FIRST_WAIT, last, c.prom.log_tail(15)))


def setup(c, r):
    c.varve = lib.start_varve()
    r.add_log(c.varve)
    c.synth = lib.Exporter(synth_render)
    c.prom = lib.start_prometheus(lambda port: CONFIG % {
        "prom": port, "varve": c.varve.port, "synth": c.synth.port})
    r.add_log(c.prom)
    first = wait_first_samples(c)
    lib.log("first samples at varve after start; collecting %.0fs" % SETTLE)
    time.sleep(SETTLE)
    now = time.time()
    c.start = first + 2 * SCRAPE
    c.end = now - LAG
    c.t = c.end - 1.0
    lib.log("window %.3f .. %.3f (%.1fs)" % (c.start, c.end, c.end - c.start))


def case_series(c, matchers):
    v = series_sets(c.varve.url, matchers, c.start, c.end)
    p = series_sets(c.prom.url, matchers, c.start, c.end)
    check(len(p) > 0, "prometheus returned no series for %r" % matchers)
    check(v == p, "series for %r differ:\n%s" % (matchers,
                                                  lib.diff_sets(v, p)))


# Label names and values: Prometheus 2.x answers these for the head as a
# whole, not per sample time, so its answer also holds series created after
# the window (for instance by this test's own API calls, once scraped).
# The exact expectation D is derived from the series that have samples in
# the window; varve's answer V must hold all of D and nothing Prometheus
# does not know: D <= V <= P, with P fetched after V.


def window_series(c, matcher):
    data = lib.api_data(c.prom.url, "/api/v1/series", [
        ("match[]", matcher), ("start", tstr(c.start)),
        ("end", tstr(c.end))])
    check(data, "prometheus has no series for %s in the window" % matcher)
    return data


def check_between(d, v, p, what):
    d, v, p = set(d), set(v), set(p)
    check(d, "%s: nothing expected; the case proves nothing" % what)
    check(d <= v, "%s: varve lacks %r" % (what, sorted(d - v)))
    check(v <= p, "%s: varve has %r, unknown to prometheus" % (
        what, sorted(v - p)))


def case_labels(c):
    m = '{job="prometheus"}'
    d = set()
    for s in window_series(c, m):
        d |= set(s)
    params = [("match[]", m), ("start", tstr(c.start)), ("end", tstr(c.end))]
    v = lib.api_data(c.varve.url, "/api/v1/labels", params)
    p = lib.api_data(c.prom.url, "/api/v1/labels", params)
    check_eq(v, sorted(v), "varve's label names are sorted")
    check_between(d, v, p, "label names")


def case_label_values(c, name, matcher):
    d = set(s[name] for s in window_series(c, matcher or '{%s=~".+"}' % name)
            if name in s)
    params = [("start", tstr(c.start)), ("end", tstr(c.end))]
    if matcher:
        params.append(("match[]", matcher))
    path = "/api/v1/label/%s/values" % name
    v = lib.api_data(c.varve.url, path, params)
    p = lib.api_data(c.prom.url, path, params)
    check_eq(v, sorted(v), "varve's values are sorted")
    check_between(d, v, p, "values of %s (match %r)" % (name, matcher))


def vector(base, expr, t):
    data = lib.api_data(base, "/api/v1/query",
                        [("query", expr), ("time", tstr(t))])
    check(isinstance(data, dict), "data is not an object: %r" % data)
    return data


def case_instant(c, expr, method="GET"):
    params = [("query", expr), ("time", tstr(c.t))]
    v = lib.api_data(c.varve.url, "/api/v1/query", params, method)
    p = lib.api_data(c.prom.url, "/api/v1/query", params, method)
    check_eq(v.get("resultType"), p.get("resultType"), "resultType")
    check(p["resultType"] == "vector" and len(p["result"]) > 0,
          "prometheus gave no samples for %s: %r" % (expr, p))
    vm = {lib.label_set(e["metric"]): tuple(e["value"]) for e in v["result"]}
    pm = {lib.label_set(e["metric"]): tuple(e["value"]) for e in p["result"]}
    check_eq(len(vm), len(v["result"]), "distinct series in varve result")
    if vm != pm:
        lines = ["%s at %s differs:" % (expr, tstr(c.t)),
                 lib.diff_sets(set(vm), set(pm))]
        for k in sorted(set(vm) & set(pm)):
            if vm[k] != pm[k]:
                lines.append("  %s: varve %r, prometheus %r" % (
                    lib.fmt_labels(dict(k)), vm[k], pm[k]))
        raise lib.Failure("\n".join(lines))


def case_range(c, expr):
    start = c.start + 1.0
    params = [("query", expr), ("start", tstr(start)),
              ("end", tstr(c.end)), ("step", "1")]
    v = lib.api_data(c.varve.url, "/api/v1/query_range", params)
    p = lib.api_data(c.prom.url, "/api/v1/query_range", params)
    check_eq(v.get("resultType"), "matrix", "resultType")
    check(len(p["result"]) > 0, "prometheus gave no series for %s" % expr)
    vm = {lib.label_set(e["metric"]): [tuple(x) for x in e["values"]]
          for e in v["result"]}
    pm = {lib.label_set(e["metric"]): [tuple(x) for x in e["values"]]
          for e in p["result"]}
    check(set(vm) == set(pm), "series differ:\n" +
          lib.diff_sets(set(vm), set(pm)))
    for k in pm:
        check(len(pm[k]) >= 5, "prometheus range too short: %r" % pm[k])
        check(vm[k] == pm[k], "%s: varve %r\nprometheus %r" % (
            lib.fmt_labels(dict(k)), vm[k][:8], pm[k][:8]))


def case_raw_samples(c, selector):
    """Every raw sample of selector in the window, through a range selector
    at the window's end: the proof that each sample arrived intact."""
    rng = int(c.end - c.start)
    edge_ms = int(round(c.end * 1000)) - rng * 1000
    params = [("query", "%s[%ds]" % (selector, rng)), ("time", tstr(c.end))]
    v = lib.api_data(c.varve.url, "/api/v1/query", params)
    p = lib.api_data(c.prom.url, "/api/v1/query", params)
    check_eq(v.get("resultType"), "matrix", "resultType")

    def points(data):
        # Prometheus 2.x includes a sample exactly on the left edge, 3.x and
        # varve do not: leave that one instant out on both sides.
        out = {}
        for e in data["result"]:
            pts = tuple((x[0], x[1]) for x in e["values"]
                        if int(round(x[0] * 1000)) != edge_ms)
            out[lib.label_set(e["metric"])] = pts
        return out

    vm, pm = points(v), points(p)
    total = sum(len(x) for x in pm.values())
    check(len(pm) > 0 and total >= 3 * len(pm),
          "prometheus returned too little: %d series, %d samples" % (
              len(pm), total))
    check(set(vm) == set(pm), "series differ:\n" +
          lib.diff_sets(set(vm), set(pm)))
    bad = [k for k in pm if vm[k] != pm[k]]
    check(not bad, "%d of %d series differ, e.g. %s:\nvarve      %r\n"
          "prometheus %r" % (len(bad), len(pm), lib.fmt_labels(dict(bad[0])),
                             vm[bad[0]], pm[bad[0]]) if bad else "")
    c.samples_seen += total
    lib.log("%s: %d series, %d samples identical" % (selector, len(pm),
                                                     total))


def case_metadata(c):
    if lib.standin():
        lib.log("stand-in Prometheus keeps no received metadata; skipped")
        return
    # Metadata travels every send_interval (1s), and a family that a target
    # exposes for the first time right now may not have been sent yet:
    # retry for a while before judging.
    deadline = time.time() + 10
    while True:
        pm = lib.api_data(c.prom.url, "/api/v1/metadata")
        vm = lib.api_data(c.varve.url, "/api/v1/metadata")
        missing = [f for f in METADATA_FAMILIES if f not in (vm or {})]
        if isinstance(vm, dict) and isinstance(pm, dict):
            missing += sorted(set(pm) - set(vm))
        if not missing or time.time() > deadline:
            break
        time.sleep(0.5)
    check(isinstance(pm, dict) and len(pm) > 20,
          "prometheus metadata too small: %r" % (pm,))
    check(isinstance(vm, dict), "varve metadata is not an object: %r" % vm)
    for fam in METADATA_FAMILIES:
        check(fam in pm, "prometheus has no metadata for %s" % fam)
        check(fam in vm, "varve has no metadata for %s (has %d families)" % (
            fam, len(vm)))
        pe = [(e.get("type"), e.get("help"), e.get("unit")) for e in pm[fam]]
        ve = [(e.get("type"), e.get("help"), e.get("unit")) for e in vm[fam]]
        check(set(ve) & set(pe), "%s: varve %r, prometheus %r" % (fam, ve, pe))
    missing = sorted(set(pm) - set(vm))
    check(not missing, "%d families in prometheus's metadata missing in "
          "varve's, e.g. %r" % (len(missing), missing[:10]))
    # Every family: varve holds (one of) the entries Prometheus has.
    bad = []
    for fam in sorted(pm):
        pe = set((e.get("type"), e.get("help"), e.get("unit"))
                 for e in pm[fam])
        ve = set((e.get("type"), e.get("help"), e.get("unit"))
                 for e in vm[fam])
        if not pe & ve:
            bad.append("%s: varve %r, prometheus %r" % (fam, ve, pe))
    check(not bad, "%d families differ:\n%s" % (len(bad), "\n".join(bad[:8])))
    lib.log("metadata: %d families agree" % len(pm))
    # The limit parameter is honoured.
    one = lib.api_data(c.varve.url, "/api/v1/metadata", [("limit", "1")])
    check_eq(len(one), 1, "families with limit=1")
    fam = lib.api_data(c.varve.url, "/api/v1/metadata",
                       [("metric", "go_goroutines")])
    check_eq(sorted(fam), ["go_goroutines"], "families with metric=")


def case_selfmetrics(c):
    if lib.standin():
        lib.log("stand-in has no varve metrics; skipped")
        return
    rows = lib.parse_metrics(lib.metrics_text(c.varve.url))
    got = [v for n, _, v in rows if n == "varve_samples_ingested_total"]
    check(got, "no varve_samples_ingested_total in /metrics; names: %r"
          % sorted(set(n for n, _, _ in rows))[:40])
    # At least every raw sample compared above went through it.
    check(got[0] >= max(c.samples_seen, 1), "samples ingested %r, but %d "
          "samples were compared" % (got[0], c.samples_seen))


def case_sender_counters(c):
    """Prometheus's own view of the remote write: samples and metadata
    sent, nothing failed, retried or dropped."""
    rows = lib.parse_metrics(lib.metrics_text(c.prom.url))
    got = {}
    for n, _, val in rows:
        if n.startswith("prometheus_remote_storage_"):
            got[n] = got.get(n, 0.0) + val
    for n in ("samples_total", "metadata_total"):
        full = "prometheus_remote_storage_" + n
        check(got.get(full, 0) > 0, "%s is %r" % (full, got.get(full)))
    for n in ("samples_failed_total", "samples_retried_total",
              "samples_dropped_total", "metadata_failed_total",
              "metadata_retried_total"):
        full = "prometheus_remote_storage_" + n
        check(full in got, "prometheus exports no %s" % full)
        check_eq(got[full], 0.0, full)


def promtool(args):
    p = subprocess.run([lib.promtool_path(), "query"] + args,
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def case_promtool(c, sub, args, pos):
    outs = []
    for s in (c.varve, c.prom):
        rc, out, err = promtool([sub] + args + [s.url] + pos)
        check(rc == 0, "promtool query %s against %s: exit %d: %s" % (
            sub, s.kind, rc, err.strip()[:500]))
        lines = sorted(line for line in out.splitlines() if line.strip())
        outs.append(lines)
    check(len(outs[1]) > 0, "promtool printed nothing against prometheus")
    check(outs[0] == outs[1], "promtool %s output differs:\nvarve:\n%s\n"
          "prometheus:\n%s" % (sub, "\n".join(outs[0][:20]),
                               "\n".join(outs[1][:20])))


def body(r):
    c = Ctx()
    setup(c, r)
    for m in SERIES_MATCHERS:
        r.case("series %s" % " ".join(m), case_series, c, m)
    r.case("labels match job=prometheus", case_labels, c)
    r.case("label job values", case_label_values, c, "job", None)
    r.case("label __name__ values job=varve", case_label_values, c,
           "__name__", '{job="varve"}')
    r.case("label handler values", case_label_values, c, "handler",
           'prometheus_http_requests_total')
    for q in INSTANT_QUERIES:
        r.case("instant %s" % q, case_instant, c, q)
    r.case("instant POST up", case_instant, c, "up", "POST")
    for q in ENGINE_QUERIES:
        r.case("instant %s" % q, case_instant, c, q)
    for sel in ('{job="prometheus"}', '{job="varve"}',
                '{job="synthetic"}'):
        r.case("raw samples %s" % sel, case_raw_samples, c, sel)
    for q in RANGE_QUERIES:
        r.case("range %s" % q, case_range, c, q)
    r.case("metadata", case_metadata, c)
    r.case("self metrics: samples ingested", case_selfmetrics, c)
    r.case("prometheus sent everything, nothing failed",
           case_sender_counters, c)
    r.case("promtool query instant up", case_promtool, c, "instant",
           ["--time=" + tstr(c.t)], ["up"])
    r.case("promtool query series", case_promtool, c, "series",
           ["--match=up", "--match=go_goroutines",
            "--start=" + tstr(c.start), "--end=" + tstr(c.end)], [])
    r.case("promtool query labels job", case_promtool, c, "labels",
           [], ["job"])
    r.case("promtool query range", case_promtool, c, "range",
           ["--start=" + tstr(c.start + 1), "--end=" + tstr(c.end),
            "--step=1s"], ['go_goroutines{job="prometheus"}'])
    # Prometheus first, while varve still takes its last flush.
    c.prom.stop(15)
    code = c.varve.stop(15)
    r.case("varve stops with status 0", check_eq, code, 0, "exit status")


if __name__ == "__main__":
    lib.main(body)
