#!/usr/bin/python3
"""Concurrent writers and readers against one varve.

Eight writer threads remote-write disjoint series, one sample per series
per request, in time order, while four reader threads keep querying
(instant and range queries, series, label values) and check that every
answer is well-formed and that what they see only grows.  At the end
every sample must be there exactly once, and varve must still stop
cleanly (and, under the sanitizers, without reports).
"""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

WRITERS = 8
READERS = 4
SERIES_PER_WRITER = 100
REQUESTS = 250                  # per writer; one sample per series each
NOW_MS = int(time.time() * 1000)
T0 = NOW_MS - REQUESTS * 1000 - 120000
T_END = T0 + (REQUESTS - 1) * 1000


class Shared:
    def __init__(self):
        self.errors = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.reads = 0
        self.writes = 0

    def fail(self, msg):
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(msg)


def writer(v, w, sh):
    for i in range(REQUESTS):
        t = T0 + i * 1000
        series = [({"__name__": "e2e_conc", "w": str(w), "s": "%02d" % s},
                   [(float(i * 1000 + s), t)])
                  for s in range(SERIES_PER_WRITER)]
        try:
            st, _, body = lib.remote_write(v.url, lib.write_request(series))
        except OSError as e:
            sh.fail("writer %d request %d: %s" % (w, i, e))
            return
        if st != 204:
            sh.fail("writer %d request %d: HTTP %d %r" % (w, i, st,
                                                          body[:200]))
            return
        with sh.lock:
            sh.writes += 1


def reader(v, k, sh):
    last_count = 0
    n = 0
    while not sh.done.is_set():
        n += 1
        kind = (n + k) % 4
        try:
            if kind == 0:
                st, js = lib.api_get(v.url, "/api/v1/query", [
                    ("query", "count(last_over_time(e2e_conc[1h]))"),
                    ("time", "%.3f" % (T_END / 1000 + 1))])
                if st == 200 and js["data"]["result"]:
                    c = int(js["data"]["result"][0]["value"][1])
                    if c < last_count:
                        sh.fail("reader %d: series count fell %d -> %d" % (
                            k, last_count, c))
                    last_count = c
            elif kind == 1:
                st, js = lib.api_get(v.url, "/api/v1/query_range", [
                    ("query", 'sum by (w) (rate(e2e_conc[10s]))'),
                    ("start", "%.3f" % (T0 / 1000)),
                    ("end", "%.3f" % (T_END / 1000)), ("step", "5")],
                    "POST")
            elif kind == 2:
                st, js = lib.api_get(v.url, "/api/v1/series", [
                    ("match[]", 'e2e_conc{s=~"0.*"}')])
            else:
                st, js = lib.api_get(v.url, "/api/v1/label/s/values", [])
        except OSError as e:
            sh.fail("reader %d: %s" % (k, e))
            return
        if st != 200 or not isinstance(js, dict) or \
                js.get("status") != "success":
            sh.fail("reader %d kind %d: HTTP %d %r" % (k, kind, st,
                                                       str(js)[:200]))
            return
        with sh.lock:
            sh.reads += 1


def case_concurrent(v):
    sh = Shared()
    ws = [threading.Thread(target=writer, args=(v, w, sh))
          for w in range(WRITERS)]
    rs = [threading.Thread(target=reader, args=(v, k, sh))
          for k in range(READERS)]
    t0 = time.time()
    for t in rs + ws:
        t.start()
    for t in ws:
        t.join(90)
    sh.done.set()
    for t in rs:
        t.join(30)
    took = time.time() - t0
    lib.log("%d write requests, %d reads in %.1fs" % (sh.writes, sh.reads,
                                                     took))
    check(not sh.errors, "\n".join(sh.errors))
    check_eq(sh.writes, WRITERS * REQUESTS, "write requests answered 204")
    check(sh.reads > 0, "no reads completed")
    check(v.proc.poll() is None, "varve died")


def case_all_there(v):
    at = "%.3f" % (T_END / 1000 + 1)
    data = lib.api_data(v.url, "/api/v1/query", [
        ("query", "count_over_time(e2e_conc[%ds])" % (REQUESTS + 5)),
        ("time", at)])
    res = data["result"]
    check_eq(len(res), WRITERS * SERIES_PER_WRITER, "series")
    bad = [r for r in res if r["value"][1] != str(REQUESTS)]
    check(not bad, "%d series miss samples, e.g. %r" % (len(bad), bad[:3]))
    data = lib.api_data(v.url, "/api/v1/query", [
        ("query", 'sum(e2e_conc)'), ("time", at)])
    # Last sample of every series: (REQUESTS-1)*1000 + s.
    want = WRITERS * sum((REQUESTS - 1) * 1000 + s
                         for s in range(SERIES_PER_WRITER))
    check_eq(data["result"][0]["value"][1], str(want), "sum of last values")


def body(r):
    v = lib.start_varve()
    r.add_log(v)
    r.case("8 writers and 4 readers at once", case_concurrent, v)
    r.case("every sample stored once", case_all_there, v)
    code = v.stop(15)
    r.case("varve stops with status 0", check_eq, code, 0, "exit status")


if __name__ == "__main__":
    lib.main(body)
