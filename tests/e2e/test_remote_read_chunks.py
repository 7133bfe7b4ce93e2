#!/usr/bin/python3
"""remote_read STREAMED_XOR_CHUNKS both ways, decoded by varve's decoder.

The same data (a dozen series of several hundred samples each, one with a
stale marker) is remote-written to varve and to a reference Prometheus.
Both are asked for STREAMED_XOR_CHUNKS over the whole range and over a
window whose bounds fall inside chunks; every frame is length- and
CRC-checked and every chunk is decoded by varve's own decoder
(tests/e2e/xor_dump), then:

- Prometheus's chunks and varve's chunks decode to the same samples, and
  those are exactly the samples written in the window;
- varve ships its stored chunks: over the whole range the chunks hold the
  samples between the head's cuts (120 samples, or a block boundary),
  and a chunk's bytes are what the encoder writes for its samples; in
  the window the boundary chunks are trimmed to it;
- frames respect --remote-read.max-bytes-in-frame (set small here, so
  series span several frames, in time order, with the same labels);
- SAMPLES answers over --remote-read.sample-limit fail with 400 naming
  the flag, while the streamed answer for the same query succeeds.
"""

import os
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

STALE_BITS = 0x7ff0000000000002
STEP = 15000
N = 600                      # samples per series: 5 chunks of 120
END = (int(time.time()) - 60) * 1000 + 123
START = END - (N - 1) * STEP
FRAME_BYTES = 1500
SAMPLE_LIMIT = 2000
NSERIES = 12

READ_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Read-Version": "0.1.0",
}


def dataset():
    out = []
    for i in range(NSERIES):
        labels = {"__name__": "e2e_rrc_value", "job": "rrc",
                  "instance": "host-%02d" % i}
        pts = []
        for k in range(N):
            t = START + k * STEP
            if i == 3 and k == N // 2:
                pts.append((("bits", STALE_BITS), t))
            else:
                pts.append((float((k * (i + 3)) % 97) + i / 8.0, t))
        out.append((labels, pts))
    return out


def expected(start, end):
    out = {}
    for labels, pts in dataset():
        sel = []
        for v, t in pts:
            if start <= t <= end:
                sel.append((t, v[1] if isinstance(v, tuple) else lib.f64_bits(v)))
        if sel:
            out[tuple(sorted(labels.items()))] = sel
    return out


def load(server):
    st, _, body = lib.remote_write(server.url, lib.write_request(dataset()))
    check(st in (200, 204), "%s: remote write -> %d %r" % (server.kind, st, body[:300]))


def xor_dump(datas):
    tool = os.path.join(lib.build_dir(), "tests", "e2e", "xor_dump")
    inp = "".join(d.hex() + "\n" for d in datas).encode()
    r = subprocess.run([tool], input=inp, stdout=subprocess.PIPE, check=True)
    lines = r.stdout.decode().splitlines()
    check_eq(len(lines), len(datas), "xor_dump lines")
    res = []
    for line in lines:
        parts = line.split()
        check_eq(parts[0], "ok", "varve's decoder on a chunk: %s" % line[:200])
        samples = [(int(t), int(v, 16)) for t, v in
                   (p.split(":") for p in parts[3:])]
        check_eq(len(samples), int(parts[2]), "sample count")
        res.append((bytes.fromhex(parts[1]), samples))
    return res


def streamed(server, start, end):
    """{labels: [(mint, maxt, data), ...]} and the frames' message sizes
    and chunk byte totals of one streamed read."""
    req = lib.read_request([(start, end, [("job", "=", "rrc")])], [1])
    st, h, body = lib.http("POST", server.url + "/api/v1/read",
                           lib.snappy_encode(req), READ_HEADERS)
    check_eq(st, 200, "%s: status (%r)" % (server.kind, body[:200]))
    check(not h.get("content-encoding"), "content-encoding on a stream")
    # length and CRC of every frame (lib.read_frames raises on a bad one)
    msgs = lib.read_frames(body)
    series = {}
    frames = []
    last = None
    for msg in msgs:
        check(len(msg) < 50 * 1024 * 1024, "frame over the clients' 50 MB cap")
        f = lib.pb_decode(msg)
        check_eq(len(f.get(1, [])), 1, "series per frame")
        cf = lib.pb_decode(f[1][0])
        labels = tuple(lib.pb_labels(cf))
        check_eq(list(labels), sorted(labels), "labels sorted")
        if last is not None and labels != last:
            check(labels not in series, "series %r split over non-adjacent frames"
                  % (labels,))
        last = labels
        total = 0
        for ch in cf.get(2, []):
            chf = lib.pb_decode(ch)
            check_eq(chf.get(3, [0])[0], 1, "chunk type XOR")
            data = chf[4][0]
            total += len(data)
            series.setdefault(labels, []).append(
                (lib.pb_int64(chf.get(1, [0])[0]), lib.pb_int64(chf.get(2, [0])[0]),
                 data))
        frames.append((len(msg), total, len(cf.get(2, []))))
    return series, frames


def decode(series):
    """{labels: [(t, bits)]} through varve's decoder, checking each chunk's
    min/max time against its samples and the time order across chunks."""
    out = {}
    for labels, chunks in series.items():
        dec = xor_dump([c[2] for c in chunks])
        pts = []
        for (mint, maxt, _), (_, samples) in zip(chunks, dec):
            check(samples, "empty chunk")
            check_eq((mint, maxt), (samples[0][0], samples[-1][0]),
                     "chunk min/max time vs its samples")
            check(not pts or samples[0][0] > pts[-1][0], "chunks out of time order")
            pts.extend(samples)
        out[labels] = pts
    return out


def case_same(v, p, start, end):
    sv, _ = streamed(v, start, end)
    sp, _ = streamed(p, start, end)
    dv, dp = decode(sv), decode(sp)
    want = expected(start, end)
    check_eq(sorted(dp), sorted(want), "prometheus's series")
    check_eq(sorted(dv), sorted(want), "varve's series")
    for labels in want:
        check_eq(dp[labels], want[labels], "prometheus's samples of %r" % (labels,))
        check_eq(dv[labels], want[labels], "varve's samples of %r" % (labels,))


BLOCK_MS = 2 * 3600 * 1000  # varve's default --storage.block-duration


def head_cuts():
    """Sample indexes at which the head starts a chunk for this data set:
    after 120 samples, and where a sample falls into another block range
    than its chunk's first sample (the head cuts at block boundaries, as
    Prometheus's does, so where the cuts fall depends on the clock)."""
    starts = []
    first = None
    for k in range(N):
        t = START + k * STEP
        if first is None or k - starts[-1] >= 120 or t // BLOCK_MS != first // BLOCK_MS:
            starts.append(k)
            first = t
    return starts


def case_stored_chunks(v):
    sv, _ = streamed(v, START, END)
    starts = head_cuts()
    want = [b - a for a, b in zip(starts, starts[1:] + [N])]
    for labels, chunks in sv.items():
        dec = xor_dump([c[2] for c in chunks])
        counts = [struct.unpack(">H", c[2][:2])[0] for c in chunks]
        check_eq(counts, want, "stored chunks of %r" % (labels,))
        for (_, _, data), (reenc, _) in zip(chunks, dec):
            check_eq(data, reenc, "chunk bytes vs the encoder's")


def case_trimmed(v):
    start, end = START + 130 * STEP + 7, END - 200 * STEP - 3
    sv, _ = streamed(v, start, end)
    check_eq(len(sv), NSERIES, "series in the window")
    for labels, chunks in sv.items():
        check(chunks[0][0] >= start and chunks[-1][1] <= end,
              "chunk outside the window: %r" % ((chunks[0][0], chunks[-1][1]),))
        # the first chunk is the trimmed rest of a stored one, the next
        # starts where the head cut
        check_eq(chunks[0][0], START + 131 * STEP, "first sample in the window")
        cut = min(k for k in head_cuts() if k > 131)
        check_eq(chunks[1][0], START + cut * STEP, "second chunk starts at a cut")


def case_frames(v):
    _, frames = streamed(v, START, END)
    check(len(frames) > NSERIES, "no series was split over frames (%d frames)"
          % len(frames))
    for size, chunk_bytes, nchunks in frames:
        check(nchunks == 1 or chunk_bytes <= FRAME_BYTES,
              "frame with %d chunks and %d chunk bytes over the %d limit"
              % (nchunks, chunk_bytes, FRAME_BYTES))


def case_sample_limit(v):
    req = lib.read_request([(START, END, [("job", "=", "rrc")])], [0])
    st, _, body = lib.http("POST", v.url + "/api/v1/read",
                           lib.snappy_encode(req), READ_HEADERS)
    check_eq(st, 400, "SAMPLES over the limit")
    check(b"--remote-read.sample-limit" in body, "error names the flag: %r" % body)
    req = lib.read_request([(START, START + 10 * STEP, [("job", "=", "rrc")])], [0])
    st, _, body = lib.http("POST", v.url + "/api/v1/read",
                           lib.snappy_encode(req), READ_HEADERS)
    check_eq(st, 200, "SAMPLES under the limit")


def hinted_request(queries, accepted):
    """A ReadRequest whose queries carry ReadHints, as Prometheus sends
    them (step, func, start, end, grouping, by, range)."""
    out = b""
    for start, end, matchers in queries:
        q = lib.pb_varint(1, start) + lib.pb_varint(2, end)
        for name, op, value in matchers:
            q += lib.pb_bytes(3, lib.pb_varint(1, lib.MATCH_TYPES[op]) +
                              lib.pb_bytes(2, name) + lib.pb_bytes(3, value))
        hints = (lib.pb_varint(1, 15000) + lib.pb_bytes(2, "rate") +
                 lib.pb_varint(3, start) + lib.pb_varint(4, end) +
                 lib.pb_bytes(5, "instance") + lib.pb_varint(6, 1) +
                 lib.pb_varint(7, 300000))
        q += lib.pb_bytes(4, hints)
        out += lib.pb_bytes(1, q)
    return out + lib.pb_packed_varints(2, accepted)


def case_matchers_and_hints(v, p):
    """Every matcher type, several queries, hints: both servers answer
    the samples written, per query, in query order."""
    m = [("__name__", "=", "e2e_rrc_value"), ("job", "!=", "other"),
         ("instance", "=~", "host-0[0-7]"), ("instance", "!~", "host-0[2-4]")]
    queries = [(START + 10 * STEP, START + 40 * STEP - 1, m),
               (START, END, [("instance", "=", "host-11"), ("job", "=~", "rr.")])]
    body = hinted_request(queries, [0])
    for s in (v, p):
        st, _, raw = lib.http("POST", s.url + "/api/v1/read", lib.snappy_encode(body),
                              READ_HEADERS)
        check_eq(st, 200, "%s: status (%r)" % (s.kind, raw[:200]))
        got = lib.decode_read_response(lib.snappy_decode(raw))
        check_eq(len(got), 2, "%s: results" % s.kind)
        for i, (start, end, _) in enumerate(queries):
            want = expected(start, end)
            if i == 0:
                want = {k: x for k, x in want.items()
                        if dict(k)["instance"] in ("host-00", "host-01", "host-05",
                                                   "host-06", "host-07")}
            else:
                want = {k: x for k, x in want.items() if dict(k)["instance"] == "host-11"}
            check_eq({tuple(sorted(lab)): pts for lab, pts in got[i]}, want,
                     "%s: query %d" % (s.kind, i))


def body(r):
    v = lib.start_varve(["--remote-read.max-bytes-in-frame=%d" % FRAME_BYTES,
                         "--remote-read.sample-limit=%d" % SAMPLE_LIMIT])
    r.add_log(v)
    p = lib.start_prometheus("global: {}\n", extra_args=[
        "--web.enable-remote-write-receiver"], kind="reference prometheus")
    r.add_log(p)
    r.case("load data into varve", load, v)
    r.case("load data into prometheus", load, p)
    r.case("whole range: same samples both ways", case_same, v, p, START, END)
    r.case("window inside chunks: same samples both ways", case_same, v, p,
           START + 130 * STEP + 7, END - 200 * STEP - 3)
    r.case("four matcher types, two queries, hints", case_matchers_and_hints, v, p)
    r.case("varve ships its stored chunks", case_stored_chunks, v)
    r.case("varve trims boundary chunks to the window", case_trimmed, v)
    r.case("frames within --remote-read.max-bytes-in-frame", case_frames, v)
    r.case("SAMPLES limited by --remote-read.sample-limit", case_sample_limit, v)


if __name__ == "__main__":
    lib.main(body)
