#!/usr/bin/python3
"""Blocks on disk: with a short --storage.block-duration the head is
persisted into blocks (and compacted) while data keeps coming; everything
stays queryable across a clean restart; a block with a flipped byte is
moved aside and reported while the rest is served; a half-written block
directory left by a crash is removed at start; a delete through the
admin API reaches the blocks and outlives a restart."""

import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

NOW_MS = int(time.time() * 1000) // 1000 * 1000
STEP = 30000                       # 30 s between samples
N = 300                            # 2.5 h of samples per series
T0 = NOW_MS - N * STEP - 60000
SERIES = 4
ARGS = ["--storage.block-duration=10m"]
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def expected(k):
    return [(T0 + i * STEP, "%d" % (k * 100000 + i)) for i in range(N)]


def write_dataset(v):
    for part in range(0, N, 50):
        series = []
        for k in range(SERIES):
            series.append(({"__name__": "e2e_blk", "k": str(k)},
                           [(float(k * 100000 + i), T0 + i * STEP)
                            for i in range(part, min(N, part + 50))]))
        st, _, body = lib.remote_write(v.url, lib.write_request(series))
        check_eq(st, 204, "remote_write (%r)" % body[:200])


def samples(v):
    data = lib.api_data(v.url, "/api/v1/query", [
        ("query", "e2e_blk[%ds]" % ((N * STEP + 120000) // 1000)),
        ("time", "%.3f" % (NOW_MS / 1000))])
    return {int(e["metric"]["k"]): [(int(round(float(t) * 1000)), x)
                                    for t, x in e["values"]]
            for e in data["result"]}


def blocks(data_dir):
    return sorted(d for d in os.listdir(data_dir)
                  if ULID.match(d) and os.path.isdir(os.path.join(data_dir, d)))


def check_all(v):
    got = samples(v)
    check_eq(sorted(got), list(range(SERIES)), "series")
    for k in range(SERIES):
        check_eq(got[k], expected(k), "samples of e2e_blk{k=%d}" % k)
    vals = lib.api_data(v.url, "/api/v1/label/k/values", [
        ("start", "%.3f" % (T0 / 1000)), ("end", "%.3f" % (NOW_MS / 1000))])
    check_eq(vals, [str(k) for k in range(SERIES)], "label values of k")


def wait_blocks(data_dir, want_min_time):
    """Wait until the blocks cover everything before want_min_time."""
    deadline = time.time() + 30
    while time.time() < deadline:
        bl = blocks(data_dir)
        ends = []
        for b in bl:
            try:  # a block may go away under us (compaction)
                with open(os.path.join(data_dir, b, "meta.json")) as f:
                    ends.append(json.load(f)["maxTime"])
            except (OSError, ValueError):
                pass
        if ends and max(ends) >= want_min_time:
            return bl
        time.sleep(0.2)
    check(False, "no blocks covering up to %d in %s: %r" % (
        want_min_time, data_dir, os.listdir(data_dir)))


def body(r):
    v = lib.start_varve(ARGS)
    r.add_log(v)
    data_dir = v.data_dir
    r.case("write 2.5 h of samples", write_dataset, v)
    # the head keeps at most 1.5 ranges: everything older goes to blocks
    r.case("the head is persisted into blocks",
           lambda: wait_blocks(data_dir, T0 + N * STEP - 30 * 60000))
    r.case("everything queryable across head and blocks", check_all, v)
    r.case("clean stop", lambda: check_eq(v.stop(), 0, "exit status"))

    v2 = lib.start_varve(ARGS, data_dir=data_dir)
    r.add_log(v2)
    r.case("everything queryable after a restart", check_all, v2)
    r.case("clean stop", lambda: check_eq(v2.stop(), 0, "exit status"))

    victim = {}

    def flip_byte():
        bl = blocks(data_dir)
        check(len(bl) >= 1, "want a block, have %r" % bl)
        b = bl[0]
        meta = json.load(open(os.path.join(data_dir, b, "meta.json")))
        victim.update(id=b, mint=meta["minTime"], maxt=meta["maxTime"])
        seg = os.path.join(data_dir, b, "chunks", "000001")
        with open(seg, "r+b") as f:
            f.seek(os.path.getsize(seg) // 2)
            c = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([c[0] ^ 0x10]))
    r.case("flip a byte in a block's chunks", flip_byte)

    v3 = lib.start_varve(ARGS, data_dir=data_dir)
    r.add_log(v3)

    def corrupt_reported():
        text = open(v3.log, encoding="utf-8", errors="replace").read()
        check("moved aside" in text and victim["id"] in text,
              "no report of the corrupt block:\n" + v3.log_tail(10))
        check(os.path.isdir(os.path.join(data_dir, "corrupted", victim["id"])),
              "block not moved to corrupted/")
        check(victim["id"] not in blocks(data_dir), "corrupt block still in place")
    r.case("corrupt block reported and moved aside", corrupt_reported)

    def rest_served():
        got = samples(v3)
        check_eq(sorted(got), list(range(SERIES)), "series")
        for k in range(SERIES):
            want = [s for s in expected(k)
                    if not victim["mint"] <= s[0] < victim["maxt"]]
            have = [s for s in got[k]
                    if not victim["mint"] <= s[0] < victim["maxt"]]
            check_eq(have, want, "samples outside the lost block, k=%d" % k)
    r.case("the other blocks and the head still served", rest_served)
    r.case("clean stop", lambda: check_eq(v3.stop(), 0, "exit status"))

    tmp = {}

    def half_written():
        bl = blocks(data_dir)
        src = os.path.join(data_dir, bl[-1], "index")
        name = "01" + "Z" * 24 + ".tmp"
        d = os.path.join(data_dir, name)
        os.makedirs(os.path.join(d, "chunks"))
        with open(src, "rb") as f:
            data = f.read()
        with open(os.path.join(d, "index"), "wb") as f:
            f.write(data[:len(data) // 2])
        tmp["path"] = d
    r.case("leave a half-written block directory", half_written)

    v4 = lib.start_varve(ARGS, data_dir=data_dir)
    r.add_log(v4)

    def tmp_removed():
        check(not os.path.exists(tmp["path"]), "half-written block still there")
        text = open(v4.log, encoding="utf-8", errors="replace").read()
        check("half-written" in text, "no report of the removal:\n" + v4.log_tail(10))
    r.case("half-written block removed at start", tmp_removed)
    r.case("data still served after the cleanup", rest_served_again, v4, victim)
    r.case("clean stop", lambda: check_eq(v4.stop(), 0, "exit status"))

    # a delete reaches the blocks (they are rewritten) and outlives restarts
    v5 = lib.start_varve(ARGS + ["--enable-admin-api"], data_dir=data_dir)
    r.add_log(v5)
    mid = T0 + N // 2 * STEP

    def delete():
        st, _, body = lib.http("POST", v5.url + "/api/v1/admin/tsdb/delete_series",
                               "match[]=e2e_blk%7Bk%3D%222%22%7D&start=0&end=" +
                               "%.3f" % (mid / 1000),
                               {"Content-Type": "application/x-www-form-urlencoded"})
        check_eq(st, 204, "delete_series (%r)" % body)
    r.case("delete the first half of one series", delete)

    def deleted(v):
        got = samples(v)
        for k in range(SERIES):
            want = [s for s in expected(k)
                    if not victim["mint"] <= s[0] < victim["maxt"]
                    and not (k == 2 and s[0] <= mid)]
            have = [s for s in got.get(k, [])
                    if not victim["mint"] <= s[0] < victim["maxt"]]
            check_eq(have, want, "samples of k=%d after the delete" % k)
            if k == 2:
                check(all(s[0] > mid for s in got.get(k, [])), "deleted samples returned")
    r.case("deleted samples gone, the rest kept", deleted, v5)
    r.case("clean stop", lambda: check_eq(v5.stop(), 0, "exit status"))
    v6 = lib.start_varve(ARGS, data_dir=data_dir)
    r.add_log(v6)
    r.case("the delete outlives a restart", deleted, v6)
    r.case("clean stop", lambda: check_eq(v6.stop(), 0, "exit status"))


def rest_served_again(v, victim):
    got = samples(v)
    for k in range(SERIES):
        want = [s for s in expected(k) if not victim["mint"] <= s[0] < victim["maxt"]]
        have = [s for s in got.get(k, []) if not victim["mint"] <= s[0] < victim["maxt"]]
        check_eq(have, want, "samples outside the lost block, k=%d" % k)


if __name__ == "__main__":
    lib.main(body)
