#!/usr/bin/python3
"""Restarts read the write-ahead log back: everything written before a clean
stop is there again (in-order, out-of-order and backfilled samples), and a
data directory whose WAL segment was cut short or has garbage at its end
still starts, with the loss reported in the log. Deletes through the admin
API (tombstones) survive restarts and hide series from the label APIs;
snapshots open as data directories."""

import json

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

NOW_MS = int(time.time() * 1000)
T0 = NOW_MS - 3600 * 1000          # an hour ago
OLD = NOW_MS - 3 * 86400 * 1000    # three days ago (backfill)


def write(v, series):
    st, _, body = lib.remote_write(v.url, lib.write_request(series))
    check_eq(st, 204, "remote_write (%r)" % body[:200])


def samples(v, name, at_ms, span_s):
    """Raw samples of every series called name in (at - span, at]."""
    data = lib.api_data(v.url, "/api/v1/query", [
        ("query", "%s[%ds]" % (name, span_s)), ("time", "%.3f" % (at_ms / 1000))])
    return {tuple(sorted(e["metric"].items())): [(int(round(float(t) * 1000)), x)
                                                  for t, x in e["values"]]
            for e in data["result"]}


def wal_files(data_dir):
    """Segments and checkpoints, oldest first (a checkpoint folds every
    segment up to its number, so it sorts after them)."""
    d = os.path.join(data_dir, "wal")
    out = []
    for f in os.listdir(d):
        if f.isdigit():
            out.append((int(f), 0, os.path.join(d, f)))
        elif f.startswith("checkpoint.") and f[11:].isdigit():
            out.append((int(f[11:]), 1, os.path.join(d, f)))
    return [p for _, _, p in sorted(out)]


def newest_nonempty_segment(data_dir):
    """The file holding the last record written: the newest segment with
    data, or the checkpoint when blocks were cut meanwhile and folded the
    segments into it."""
    segs = [s for s in wal_files(data_dir) if os.path.getsize(s) > 0]
    check(segs, "no WAL file with data in %s" % data_dir)
    return segs[-1]


def write_dataset(v):
    # in order: 3 series x 60 samples, one request per 20 samples
    for k in range(3):
        for part in range(3):
            write(v, [({"__name__": "e2e_wal_inorder", "k": str(k)},
                       [(float(k * 1000 + i), T0 + i * 15000)
                        for i in range(part * 20, part * 20 + 20)])])
    # out of order: newest first, one request per sample
    for i in range(30, 0, -1):
        write(v, [({"__name__": "e2e_wal_ooo"}, [(float(i), T0 + i * 1000)])])
    # backfill into a new series, days old
    write(v, [({"__name__": "e2e_wal_backfill"},
               [(float(i), OLD + i * 60000) for i in range(50)])])


def check_dataset(v):
    got = samples(v, "e2e_wal_inorder", T0 + 60 * 15000, 3600)
    check_eq(len(got), 3, "in-order series")
    for key, vals in got.items():
        k = int(dict(key)["k"])
        check_eq(vals, [(T0 + i * 15000, str(k * 1000 + i)) for i in range(60)],
                 "samples of e2e_wal_inorder{k=%d}" % k)
    got = samples(v, "e2e_wal_ooo", T0 + 31000, 60)
    check_eq(list(got.values()), [[(T0 + i * 1000, str(i)) for i in range(1, 31)]],
             "out-of-order samples")
    got = samples(v, "e2e_wal_backfill", OLD + 50 * 60000, 3600)
    check_eq(list(got.values()), [[(OLD + i * 60000, str(i)) for i in range(50)]],
             "backfilled samples")


def body(r):
    v = lib.start_varve()
    r.add_log(v)
    data_dir = v.data_dir
    r.case("write in-order, out-of-order and backfilled samples", write_dataset, v)
    r.case("all readable before the restart", check_dataset, v)

    def clean_stop():
        check_eq(v.stop(), 0, "exit status after SIGTERM")
    r.case("clean stop", clean_stop)

    v2 = lib.start_varve(data_dir=data_dir)
    r.add_log(v2)
    r.case("everything there after a clean restart", check_dataset, v2)

    # a last request, then its segment is cut in the middle of its record
    marker = {"__name__": "e2e_wal_marker"}

    def write_then_stop():
        write(v2, [(marker, [(1.0, NOW_MS - 1000)])])
        check_eq(v2.stop(), 0, "exit status after SIGTERM")
    r.case("write a marker and stop", write_then_stop)

    cut = {}

    def truncate():
        seg = newest_nonempty_segment(data_dir)
        size = os.path.getsize(seg)
        check(size > 12, "segment %s too small (%d)" % (seg, size))
        os.truncate(seg, size - 5)
        cut["seg"], cut["size"] = seg, size - 5
    r.case("truncate the newest WAL segment by 5 bytes", truncate)

    v3 = lib.start_varve(data_dir=data_dir)
    r.add_log(v3)

    def loss_reported():
        text = open(v3.log, encoding="utf-8", errors="replace").read()
        check("torn" in text and "cut back" in text,
              "no report of the cut WAL tail in the log:\n" + v3.log_tail(10))
        check("bytes_lost=" in text, "loss not counted in the log")
        check(os.path.getsize(cut["seg"]) < cut["size"],
              "segment not cut back to its last good record")
    r.case("starts with the torn tail reported", loss_reported)
    r.case("data before the torn record is intact", check_dataset, v3)

    def marker_gone():
        got = samples(v3, "e2e_wal_marker", NOW_MS, 60)
        check_eq(sum(len(x) for x in got.values()), 0,
                 "samples of the torn record")
    r.case("the torn record's sample is gone", marker_gone)

    def garbage():
        write(v3, [(marker, [(2.0, NOW_MS - 500)])])
        check_eq(v3.stop(), 0, "exit status after SIGTERM")
        seg = newest_nonempty_segment(data_dir)
        with open(seg, "ab") as f:
            f.write(b"\x10\x00\x00\x00garbage-after-the-last-record")
    r.case("append garbage to the newest segment", garbage)

    v4 = lib.start_varve(data_dir=data_dir)
    r.add_log(v4)

    def garbage_reported():
        text = open(v4.log, encoding="utf-8", errors="replace").read()
        check("cut back" in text, "no report of the damaged tail:\n" + v4.log_tail(10))
        got = samples(v4, "e2e_wal_marker", NOW_MS, 60)
        check_eq(list(got.values()), [[(NOW_MS - 500, "2")]],
                 "the record before the garbage")
    r.case("garbage tail cut, the record before it kept", garbage_reported)
    r.case("dataset intact after both repairs", check_dataset, v4)
    r.case("admin API off by default", admin_disabled, v4)
    r.case("stop", lambda: check_eq(v4.stop(), 0, "exit status"))

    v5 = lib.start_varve(["--enable-admin-api"], data_dir=data_dir)
    r.add_log(v5)
    r.case("delete_series: a range of one series, all of another", delete, v5)
    r.case("deleted samples and series are gone", check_deleted, v5)
    snap = {}
    r.case("snapshot", snapshot, v5, data_dir, snap)
    r.case("stop", lambda: check_eq(v5.stop(), 0, "exit status"))
    v6 = lib.start_varve(data_dir=data_dir)
    r.add_log(v6)
    r.case("deletes survive a restart", check_deleted, v6)
    r.case("stop", lambda: check_eq(v6.stop(), 0, "exit status"))
    if snap.get("dir"):
        v7 = lib.start_varve(data_dir=snap["dir"])
        r.add_log(v7)
        r.case("the snapshot opens with the data of its time", check_deleted, v7)
        r.case("stop", lambda: check_eq(v7.stop(), 0, "exit status"))


def admin(v, path, params=()):
    return lib.http("POST", lib.url_with(v.url, "/api/v1/admin/tsdb/" + path, list(params)))


def admin_disabled(v):
    st, _, body = admin(v, "delete_series", [("match[]", "e2e_wal_ooo")])
    check_eq(st, 503, "status without --enable-admin-api")
    doc = json.loads(body)
    check_eq((doc["errorType"], doc["error"]), ("unavailable", "admin APIs disabled"),
             "error")


def delete(v):
    st, _, body = admin(v, "delete_series", [])
    check_eq(st, 400, "no match[] (%r)" % body)
    check("no match[] parameter provided" in body.decode(), "error text %r" % body)
    # samples 1..10 of the out-of-order series
    st, _, body = admin(v, "delete_series", [
        ("match[]", "e2e_wal_ooo"), ("start", "%.3f" % ((T0 + 1000) / 1000)),
        ("end", "%.3f" % ((T0 + 10000) / 1000))])
    check_eq(st, 204, "delete a range (%r)" % body)
    # the whole backfilled series
    st, _, body = admin(v, "delete_series", [("match[]", '{__name__="e2e_wal_backfill"}')])
    check_eq(st, 204, "delete a series (%r)" % body)
    st, _, body = admin(v, "clean_tombstones")
    check_eq(st, 204, "clean_tombstones (%r)" % body)


def check_deleted(v):
    got = samples(v, "e2e_wal_ooo", T0 + 31000, 60)
    check_eq(list(got.values()), [[(T0 + i * 1000, str(i)) for i in range(11, 31)]],
             "out-of-order series after deleting 1..10")
    got = samples(v, "e2e_wal_backfill", OLD + 50 * 60000, 3600)
    check_eq(got, {}, "deleted series")
    names = lib.api_data(v.url, "/api/v1/label/__name__/values")
    check("e2e_wal_backfill" not in names, "deleted series in label values: %r" % names)
    check("e2e_wal_ooo" in names, "partly deleted series missing: %r" % names)
    ser = lib.api_data(v.url, "/api/v1/series", [("match[]", "e2e_wal_backfill")])
    check_eq(ser, [], "series of a deleted series")
    got = samples(v, "e2e_wal_inorder", T0 + 60 * 15000, 3600)
    check_eq(len(got), 3, "untouched series")


def snapshot(v, data_dir, snap):
    st, _, body = admin(v, "snapshot", [("skip_head", "maybe")])
    check_eq(st, 400, "bad skip_head (%r)" % body)
    st, _, body = admin(v, "snapshot")
    check_eq(st, 200, "snapshot (%r)" % body)
    doc = json.loads(body)
    check_eq(doc["status"], "success", "status")
    name = doc["data"]["name"]
    check(len(name) == 33 and name[8] == "T" and name[15] == "Z" and name[16] == "-",
          "name %r" % name)
    d = os.path.join(data_dir, "snapshots", name)
    check(os.path.isdir(os.path.join(d, "wal")), "no wal/ in the snapshot %s" % d)
    snap["dir"] = d


if __name__ == "__main__":
    lib.main(body)
