#!/usr/bin/python3
"""A real Prometheus keeps remote-writing while varve is stopped and
restarted (once with SIGTERM, once with SIGKILL) on the same port and data
directory.

Prometheus retries what failed while varve was away, so once it has
caught up varve must hold every sample Prometheus scraped in a window
spanning both restarts: samples acknowledged before each stop survive it
(write-ahead log), batches Prometheus sends again are taken without error
(duplicates), and nothing is dropped or failed on Prometheus's side.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:%(prom)d']
  - job_name: synthetic
    static_configs:
      - targets: ['127.0.0.1:%(synth)d']
remote_write:
  - url: http://127.0.0.1:%(varve)d/api/v1/write
    remote_timeout: 5s
    queue_config:
      batch_send_deadline: 1s
      max_samples_per_send: 500
      min_shards: 2
      min_backoff: 100ms
      max_backoff: 1s
"""

SYNTH = 500


def synth_render():
    n = int(time.time())
    out = ["# TYPE e2e_restart_total counter"]
    for i in range(SYNTH):
        out.append('e2e_restart_total{i="%03d"} %d' % (i, n * (i + 1)))
    return "\n".join(out) + "\n"


class Ctx:
    varve = None
    prom = None
    port = None
    data_dir = None
    start = None
    end = None


def wait_up(c, timeout=60):
    """Until varve has `up` of both jobs; returns that time."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            st, js = lib.api_get(c.varve.url, "/api/v1/series",
                                 [("match[]", "up")])
            if st == 200 and js and js.get("status") == "success" and \
                    {"prometheus", "synthetic"} <= set(
                        m.get("job") for m in js["data"]):
                return time.time()
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError("no samples reached varve in %ds" % timeout)


def caught_up(c, since, timeout=60):
    """Until varve holds an `up` sample newer than `since` (seconds)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            st, js = lib.api_get(c.varve.url, "/api/v1/query", [
                ("query", 'timestamp(up{job="synthetic"})'),
                ("time", "%.3f" % time.time())])
            if st == 200 and js["data"]["result"] and \
                    float(js["data"]["result"][0]["value"][1]) > since:
                return
        except (OSError, KeyError, ValueError, TypeError):
            pass
        time.sleep(0.25)
    raise lib.Failure("varve did not catch up within %ds" % timeout)


def restart(c, how):
    if how == "SIGTERM":
        code = c.varve.stop(15)
        check_eq(code, 0, "exit status after SIGTERM")
    else:
        c.varve.proc.kill()
        c.varve.proc.wait(10)
    down = time.time()
    time.sleep(3)          # Prometheus's sends fail meanwhile
    c.varve = lib.start_varve(data_dir=c.data_dir, port=c.port)
    c.logs.add_log(c.varve)
    caught_up(c, down + 3)
    lib.log("varve back after %s; Prometheus caught up" % how)


def case_samples(c, selector):
    rng = int(c.end - c.start)
    edge_ms = int(round(c.end * 1000)) - rng * 1000
    params = [("query", "%s[%ds]" % (selector, rng)),
              ("time", "%.3f" % c.end)]
    v = lib.api_data(c.varve.url, "/api/v1/query", params)
    p = lib.api_data(c.prom.url, "/api/v1/query", params)

    def points(data):
        return {lib.label_set(e["metric"]):
                tuple((x[0], x[1]) for x in e["values"]
                      if int(round(x[0] * 1000)) != edge_ms)
                for e in data["result"]}

    vm, pm = points(v), points(p)
    total = sum(len(x) for x in pm.values())
    check(pm and total >= 10 * len(pm),
          "prometheus returned too little: %d series, %d samples" % (
              len(pm), total))
    check(set(vm) == set(pm), "series differ:\n" +
          lib.diff_sets(set(vm), set(pm)))
    bad = []
    for k in pm:
        if vm[k] != pm[k]:
            vt = set(x[0] for x in vm[k])
            lost = [x[0] for x in pm[k] if x[0] not in vt]
            bad.append("%s: %d of %d samples missing, first at %r" % (
                lib.fmt_labels(dict(k)), len(lost), len(pm[k]),
                lost[:1]))
    check(not bad, "%d of %d series differ:\n%s" % (
        len(bad), len(pm), "\n".join(bad[:8])))
    lib.log("%s: %d series, %d samples identical across restarts" % (
        selector, len(pm), total))


def case_sender(c):
    got = {}
    for n, _, val in lib.parse_metrics(lib.metrics_text(c.prom.url)):
        if n.startswith("prometheus_remote_storage_"):
            got[n] = got.get(n, 0.0) + val
    check(got.get("prometheus_remote_storage_samples_total", 0) > 0,
          "nothing sent")
    for n in ("samples_failed_total", "samples_dropped_total"):
        full = "prometheus_remote_storage_" + n
        check_eq(got.get(full), 0.0, full)
    lib.log("retried while varve was away: %r samples" % got.get(
        "prometheus_remote_storage_samples_retried_total"))


def body(r):
    if lib.standin():
        r.case("skipped with stand-in", lambda: None)
        return
    c = Ctx()
    c.logs = r
    c.port = lib.free_port()
    c.varve = lib.start_varve(port=c.port)
    c.data_dir = c.varve.data_dir
    r.add_log(c.varve)
    synth = lib.Exporter(synth_render)
    c.prom = lib.start_prometheus(lambda port: CONFIG % {
        "prom": port, "synth": synth.port, "varve": c.port})
    r.add_log(c.prom)
    first = wait_up(c)
    c.start = first + 2
    time.sleep(4)
    ok = r.case("restart with SIGTERM while Prometheus writes", restart, c,
                "SIGTERM")
    time.sleep(2)
    ok = r.case("restart with SIGKILL while Prometheus writes", restart, c,
                "SIGKILL") and ok
    time.sleep(6)
    c.end = time.time() - 4
    lib.log("window %.1fs spans both restarts" % (c.end - c.start))
    if ok:
        for sel in ('{job="prometheus"}', '{job="synthetic"}'):
            r.case("every sample of %s across restarts" % sel,
                   case_samples, c, sel)
        r.case("Prometheus failed and dropped nothing", case_sender, c)
    c.prom.stop(15)
    code = c.varve.stop(15)
    r.case("varve stops with status 0", check_eq, code, 0, "exit status")


if __name__ == "__main__":
    lib.main(body)
