#!/usr/bin/python3
"""Ingestion over HTTP: varve and VictoriaMetrics side by side, same run.

    bench/bench_ingest_http.py BUILD_DIR

Both servers get the same requests from this client, one after the other:

  - InfluxDB line protocol to /write (precision=ms): 10,000 series shaped
    like Telegraf's host metrics, 100 hosts x 10 lines x 10 fields (cpu
    per core and total, mem, disk and net per device, system), requests of
    1,000 lines (Telegraf's default metric_batch_size), one round = every
    line once, 10 s after the previous round;
  - remote_write 1.0 to /api/v1/write: the same 10,000 series as
    Prometheus would send them (names `<measurement>_<field>`, the same
    tags as labels, sorted), 2,000 series per request (Prometheus's
    max_samples_per_send), snappy-compressed.

The first round of each load creates the series; ROUNDS more rounds
append to them. For every server, load and phase the CPU time the
server process spent (all threads: the run time of
/proc/PID/task/*/schedstat, nanoseconds) from
just before the first request until it is idle again (less than 2 ms of
CPU in 0.5 s after the last answer, so VictoriaMetrics' background
merging is counted) gives samples per CPU-second. Building and compressing the
requests happens before the clock starts. Exits 77 when
victoria-metrics is missing.

Output: one `load phase varve=... victoriametrics=... ratio=...` line per
load and phase (samples per CPU-second; ratio = varve / VictoriaMetrics,
above 1 varve is faster), then key=value lines.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.dont_write_bytecode = True
import lib  # noqa: E402

try:
    import snappy  # Debian's python3-snappy: much faster than lib's encoder

    def compress(b):
        return snappy.compress(b)
except ImportError:
    def compress(b):
        return lib.snappy_encode(b, copies=False)

VM_BIN = os.environ.get("VICTORIA_METRICS", "/usr/bin/victoria-metrics")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
HOSTS = 100
LP_BATCH = 1000
RW_BATCH = 2000
STEP_MS = 10000
CLK_TCK = os.sysconf("SC_CLK_TCK")


def host_lines(h):
    """(measurement, tags, field names) of one host's 10 lines."""
    host = [("host", "host%03d" % h), ("dc", "dc%d" % (h % 4))]
    out = []
    for cpu in ["cpu-total", "cpu0", "cpu1", "cpu2", "cpu3"]:
        out.append(("cpu", host + [("cpu", cpu)],
                    ["usage_user", "usage_system", "usage_idle", "usage_iowait",
                     "usage_irq", "usage_softirq", "usage_steal", "usage_nice",
                     "usage_guest", "usage_guest_nice"]))
    out.append(("mem", host, ["total", "available", "used", "free", "cached",
                              "buffered", "active", "inactive", "used_percent",
                              "available_percent"]))
    for dev in ["sda", "sdb"]:
        out.append(("diskio", host + [("name", dev)],
                    ["reads", "writes", "read_bytes", "write_bytes", "read_time",
                     "write_time", "io_time", "weighted_io_time", "iops_in_progress",
                     "merged_reads"]))
    out.append(("net", host + [("interface", "eth0")],
                ["bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "err_in",
                 "err_out", "drop_in", "drop_out", "tcp_inerrs", "udp_indatagrams"]))
    out.append(("system", host, ["load1", "load5", "load15", "n_users", "n_cpus",
                                 "uptime", "n_procs", "n_threads", "ctx", "forks"]))
    return out


def value(i, r):
    # counters rise by a few units, gauges wander; a few decimals as real data has
    return float((i * 7919) % 100000) / 100.0 + r * ((i % 5) + 0.25)


def lp_bodies(prefix, t0):
    """Per round, the line-protocol request bodies."""
    lines = [l for h in range(HOSTS) for l in host_lines(h)]
    rounds = []
    for r in range(ROUNDS + 1):
        ts = t0 + r * STEP_MS
        out, bodies, k = [], [], 0
        for m, tags, fields in lines:
            s = prefix + m + "," + ",".join("%s=%s" % kv for kv in tags) + " "
            s += ",".join("%s=%r" % (f, value(k + j, r)) for j, f in enumerate(fields))
            out.append(s + " %d" % ts)
            k += len(fields)
            if len(out) == LP_BATCH:
                bodies.append(("\n".join(out) + "\n").encode())
                out = []
        if out:
            bodies.append(("\n".join(out) + "\n").encode())
        rounds.append(bodies)
    return rounds


def rw_bodies(prefix, t0):
    """Per round, the snappy remote_write bodies of the same series."""
    series = []
    for h in range(HOSTS):
        for m, tags, fields in host_lines(h):
            for f in fields:
                labels = sorted([("__name__", prefix + m + "_" + f)] + tags)
                series.append(b"".join(lib.pb_bytes(1, lib.pb_label(n, v))
                                       for n, v in labels))
    rounds = []
    for r in range(ROUNDS + 1):
        ts = t0 + r * STEP_MS
        bodies = []
        for b0 in range(0, len(series), RW_BATCH):
            req = b"".join(
                lib.pb_bytes(1, series[i] + lib.pb_bytes(2, lib.pb_sample(value(i, r), ts)))
                for i in range(b0, min(b0 + RW_BATCH, len(series))))
            bodies.append(compress(req))
        rounds.append(bodies)
    return rounds


def cpu_seconds(pid):
    """CPU time of pid: the sum of its threads' schedstat run time (ns
    resolution; threads live as long as the servers), else utime + stime
    from /proc/PID/stat in clock ticks."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_idle(pid, quiet=0.5, limit=30.0):
    """Wait until pid used no CPU for `quiet` seconds."""
    deadline = time.time() + limit
    last = cpu_seconds(pid)
    while time.time() < deadline:
        time.sleep(quiet)
        now = cpu_seconds(pid)
        if now - last < 0.002:
            return
        last = now


def send(server, path, bodies, headers):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    for b in bodies:
        conn.request("POST", path, body=b, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 204:
            raise RuntimeError("%s %s: HTTP %d %s" % (server.kind, path, resp.status,
                                                      data[:200]))
    conn.close()


def measure(server, path, rounds, headers, samples_per_round):
    """(create, append) samples per CPU-second."""
    pid = server.proc.pid
    wait_idle(pid)
    c0 = cpu_seconds(pid)
    send(server, path, rounds[0], headers)
    wait_idle(pid)
    c1 = cpu_seconds(pid)
    for bodies in rounds[1:]:
        send(server, path, bodies, headers)
    wait_idle(pid)
    c2 = cpu_seconds(pid)
    create = samples_per_round / max(c1 - c0, 1.0 / CLK_TCK)
    append = samples_per_round * (len(rounds) - 1) / max(c2 - c1, 1.0 / CLK_TCK)
    return create, append, c2 - c1


def start_vm():
    workdir = lib.tmpdir("varve-bench-vm-")
    port = lib.free_port()
    argv = [VM_BIN, "-httpListenAddr=127.0.0.1:%d" % port,
            "-storageDataPath=" + os.path.join(workdir, "data"), "-retentionPeriod=1y",
            "-loggerLevel=ERROR"]
    proc = lib.spawn(argv, os.path.join(workdir, "vm.log"))
    s = lib.Server(proc, port, workdir, "victoria-metrics")
    lib.wait_ready(s, timeout=60, path="/health")
    return s


def main():
    if not os.access(VM_BIN, os.X_OK):
        print("victoria-metrics not found (apt-get install victoria-metrics)")
        sys.exit(77)
    series = HOSTS * 10 * 10
    t0 = (int(time.time()) - 3600) * 1000
    sys.stderr.write("building %d rounds of %d series...\n" % (ROUNDS + 1, series))
    lp = lp_bodies("lp_", t0)
    rw = rw_bodies("rw_", t0)
    lp_bytes = sum(len(b) for b in lp[1])
    rw_bytes = sum(len(b) for b in rw[1])
    results = {}
    for kind in ("varve", "victoriametrics"):
        s = lib.start_varve() if kind == "varve" else start_vm()
        lp_hdr = {"Content-Type": "text/plain; charset=utf-8"}
        results[kind, "line_protocol"] = measure(s, "/write?precision=ms", lp, lp_hdr, series)
        results[kind, "remote_write_1.0"] = measure(s, "/api/v1/write", rw, lib.RW_HEADERS,
                                                    series)
        with open("/proc/%d/status" % s.proc.pid) as f:
            rss = [l for l in f if l.startswith("VmRSS:")][0].split()[1]
        results[kind, "rss_kib"] = int(rss)
        s.stop()
    print("series=%d rounds=%d samples_per_load=%d" % (series, ROUNDS, series * ROUNDS))
    print("line_protocol_bytes_per_sample=%.1f remote_write_snappy_bytes_per_sample=%.1f"
          % (lp_bytes / series, rw_bytes / series))
    for load in ("line_protocol", "remote_write_1.0"):
        for i, phase in ((0, "create"), (1, "append")):
            a = results["varve", load][i]
            b = results["victoriametrics", load][i]
            print("%s %s samples_per_cpu_second varve=%.0f victoriametrics=%.0f ratio=%.2f"
                  % (load, phase, a, b, a / b))
    for kind in ("varve", "victoriametrics"):
        print("%s_rss_kib_after=%d" % (kind, results[kind, "rss_kib"]))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        os.environ["BUILD_DIR"] = sys.argv[1]
    main()
