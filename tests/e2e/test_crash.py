#!/usr/bin/python3
"""Crash test: writers send remote_write requests and note every sample
acknowledged with 204; varve is killed with SIGKILL at random moments (under
load, right after start while it replays its WAL, and while idle, with
10-minute blocks so that block writing and compaction run all the time), at
least 20 times. After every restart each acknowledged sample must be returned by
queries with its value, and no timestamp may show up twice.

Values are a function of series and timestamp, and a timestamp is never sent
twice, so a sample that was in flight at the kill may or may not be there,
but if it is, it is exact."""

import os
import random
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

CYCLES = 22
WRITERS = 3
SERIES_PER_WRITER = 4
NOW_MS = int(time.time() * 1000)
T0 = NOW_MS - 6 * 3600 * 1000   # six hours ago
STEP = 1000                     # ms between a series' samples
SEED = int(os.environ.get("E2E_SEED", str(int(time.time()))))


def value(w, s, t):
    return float((w * 7919 + s * 104729 + t // STEP) % 1000003) / 8


class Writer:
    """Sends requests of SERIES_PER_WRITER series x n samples. Writer 0
    writes backwards in time (out-of-order path), the others forwards."""

    def __init__(self, w):
        self.w = w
        self.next = 0            # next sample index (never reused)
        self.acked = set()       # (series, t) acknowledged

    def ts(self, i):
        if self.w == 0:
            return T0 + 4 * 3600 * 1000 - i * STEP
        return T0 + i * STEP

    def request(self, n):
        idx = list(range(self.next, self.next + n))
        self.next += n
        series = []
        for s in range(SERIES_PER_WRITER):
            labels = {"__name__": "e2e_crash_w%d" % self.w, "s": str(s)}
            series.append((labels, [(value(self.w, s, self.ts(i)), self.ts(i))
                                    for i in idx]))
        return idx, lib.write_request(series)

    def run(self, url, stop):
        rnd = random.Random(SEED * 31 + self.w + self.next)
        while not stop.is_set():
            idx, body = self.request(rnd.randint(1, 20))
            try:
                st, _, _ = lib.remote_write(url, body)
            except OSError:
                return
            if st != 204:
                return
            for s in range(SERIES_PER_WRITER):
                for i in idx:
                    self.acked.add((s, self.ts(i)))


def load(v, writers, seconds):
    stop = threading.Event()
    ts = [threading.Thread(target=wr.run, args=(v.url, stop)) for wr in writers]
    for t in ts:
        t.start()
    time.sleep(seconds)
    v.proc.kill()
    v.proc.wait(10)
    stop.set()
    for t in ts:
        t.join(30)


def verify(v, writers):
    # every timestamp ever sent (acknowledged or not) lies in [lo, hi]
    lo = min(wr.ts(wr.next) if wr.w == 0 else T0 for wr in writers) - STEP
    hi = max(wr.ts(0) if wr.w == 0 else wr.ts(wr.next) for wr in writers) + STEP
    span = (hi - lo) // 1000 + 1
    total = 0
    for wr in writers:
        data = lib.api_data(v.url, "/api/v1/query", [
            ("query", "e2e_crash_w%d[%ds]" % (wr.w, span)),
            ("time", "%.3f" % (hi / 1000))], method="POST")
        got = {}
        for e in data["result"]:
            s = int(e["metric"]["s"])
            pts = [(int(round(float(t) * 1000)), float(x)) for t, x in e["values"]]
            ts = [p[0] for p in pts]
            check(ts == sorted(set(ts)),
                  "writer %d series %d: duplicate or unsorted timestamps" % (wr.w, s))
            for t, x in pts:
                check_eq(x, value(wr.w, s, t),
                         "writer %d series %d value at %d" % (wr.w, s, t))
            got[s] = set(ts)
        for s, t in wr.acked:
            if t not in got.get(s, ()):
                raise lib.Failure("writer %d series %d: acknowledged sample at %d "
                                  "missing (%d acknowledged, %d stored)" % (
                                      wr.w, s, t, len(wr.acked),
                                      sum(len(x) for x in got.values())))
        total += len(wr.acked)
    return total


def body(r):
    rnd = random.Random(SEED)
    lib.log("seed %d (E2E_SEED to repeat)" % SEED)
    writers = [Writer(w) for w in range(WRITERS)]
    workdir = lib.tmpdir("varve-e2e-crash-")
    data_dir = os.path.join(workdir, "data")
    # small blocks: the head is persisted and blocks are compacted while
    # the kills land (the data spans four hours)
    args = ["--log.level=warn", "--storage.block-duration=10m"] + \
        os.environ.get("E2E_CRASH_ARGS", "").split()
    kinds = {"load": 0, "replay": 0, "idle": 0}
    t_start = time.time()
    for cycle in range(CYCLES):
        kind = ["load", "load", "replay", "load", "idle"][cycle % 5]
        if kind == "replay":
            # killed at a random moment of start-up, while replaying
            v = lib.start_varve(args, data_dir=data_dir, ready=False)
            r.add_log(v)
            time.sleep(rnd.uniform(0.0, 0.08))
            v.proc.kill()
            v.proc.wait(10)
            kinds[kind] += 1
            continue
        v = lib.start_varve(args, data_dir=data_dir)
        r.add_log(v)
        if cycle and not r.case("cycle %d: every acknowledged sample after restart" % cycle,
                                verify, v, writers):
            v.proc.kill()
            v.proc.wait(10)
            return
        if kind == "load":
            load(v, writers, rnd.uniform(0.2, 0.9))
        else:
            time.sleep(rnd.uniform(0.0, 0.3))
            v.proc.kill()
            v.proc.wait(10)
        kinds[kind] += 1
    v = lib.start_varve(args, data_dir=data_dir)
    r.add_log(v)
    total = {}

    def final():
        total["n"] = verify(v, writers)
        check(total["n"] > 1000, "too few acknowledged samples: %d" % total["n"])
    r.case("final: every acknowledged sample, nothing twice", final)
    lib.log("%d kills (%r), %d acknowledged samples, %.0fs" % (
        sum(kinds.values()), kinds, total.get("n", 0), time.time() - t_start))
    r.case("kills", lambda: check(sum(kinds.values()) >= 20, "only %r" % kinds))
    r.case("stop", lambda: check_eq(v.stop(), 0, "exit status"))


if __name__ == "__main__":
    lib.main(body)
