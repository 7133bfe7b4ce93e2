#!/usr/bin/python3
"""The varve process itself: flags, health, signals, the data-dir lock and
restarts (clean and after SIGKILL) keeping acknowledged samples."""

import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402


def run(args, timeout=10):
    p = subprocess.run([lib.varve_path()] + args, capture_output=True,
                       timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def case_help():
    rc, out = run(["--help"])
    check_eq(rc, 0, "--help exit status")
    for word in ("--listen", "--data-dir", "--remote-write.max-decoded-bytes"):
        check(word in out, "--help does not mention %s:\n%s" % (word, out))


def case_version():
    rc, out = run(["--version"])
    check_eq(rc, 0, "--version exit status")
    check("varve" in out.lower() and any(ch.isdigit() for ch in out),
          "--version output not sensible: %r" % out)
    check(len(out.strip().splitlines()) <= 5, "--version too long: %r" % out)


def case_bad_flag():
    d = lib.tmpdir()
    rc, out = run(["--no-such-flag", "--data-dir=" + d,
                   "--listen=127.0.0.1:%d" % lib.free_port()])
    check(rc != 0, "unknown flag accepted (exit 0): %r" % out)
    check("no-such-flag" in out, "error does not name the flag: %r" % out)
    rc, out = run(["--listen=not-an-address:xyz", "--data-dir=" + d])
    check(rc != 0, "bad --listen accepted: %r" % out)


def case_health(v):
    for path in ("/-/healthy", "/-/ready"):
        st, _, _ = lib.http("GET", v.url + path)
        check_eq(st, 200, "GET " + path)
    st, _, body = lib.http("GET", v.url + "/metrics")
    check_eq(st, 200, "GET /metrics")
    check(b"# TYPE" in body, "/metrics has no TYPE lines")
    info = lib.api_data(v.url, "/api/v1/status/buildinfo")
    check(isinstance(info, dict) and info.get("version"),
          "buildinfo without version: %r" % info)
    st, _, _ = lib.http("GET", v.url + "/no/such/path")
    check_eq(st, 404, "unknown path")


def case_metrics_lint(v):
    """/metrics passes promtool's exposition-format linter, after some
    traffic has created the per-endpoint series."""
    lib.remote_write(v.url, lib.write_request(
        [({"__name__": "e2e_lint", "job": "e2e"},
          [(1.0, int(time.time() * 1000) - 1000)])]))
    lib.api_get(v.url, "/api/v1/query", [("query", "e2e_lint")])
    lib.api_get(v.url, "/api/v1/query", [("query", "sum(")])
    text = lib.metrics_text(v.url)
    p = subprocess.run([lib.promtool_path(), "check", "metrics"],
                       input=text.encode(), capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode("utf-8", "replace").strip()
    check(p.returncode == 0 and not out,
          "promtool check metrics: exit %d\n%s" % (p.returncode, out[:1500]))
    rows = lib.parse_metrics(text)
    check(len(rows) >= 5, "only %d samples in /metrics" % len(rows))


def case_lock(v):
    port = lib.free_port()
    p = subprocess.Popen([lib.varve_path(), "--listen=127.0.0.1:%d" % port,
                          "--data-dir=" + v.data_dir],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        lib.stop(p)
        raise lib.Failure("second varve on the same data dir kept running")
    text = out.decode("utf-8", "replace")
    check(p.returncode != 0, "second varve exited 0: %r" % text)
    check("lock" in text.lower(), "message does not mention the lock: %r"
          % text)
    st, _, _ = lib.http("GET", v.url + "/-/ready")
    check_eq(st, 200, "first varve still ready")


def write_marker(v, name, value, t_ms):
    st, _, body = lib.remote_write(v.url, lib.write_request(
        [({"__name__": name, "job": "e2e"}, [(value, t_ms)])]))
    check_eq(st, 204, "write %s (%r)" % (name, body[:200]))


def read_marker(v, name, t_ms):
    data = lib.api_data(v.url, "/api/v1/query",
                        [("query", name), ("time", "%.3f" % (t_ms / 1000))])
    res = data["result"]
    check_eq(len(res), 1, "series %s after restart (%r)" % (name, res))
    return res[0]["value"][1]


def stop_with(v, sig, within):
    t0 = time.time()
    v.proc.send_signal(sig)
    try:
        code = v.proc.wait(within)
    except subprocess.TimeoutExpired:
        raise lib.Failure("varve still running %.0fs after signal %d" % (
            within, sig))
    return code, time.time() - t0


CRASH_T0 = int(time.time() * 1000) - 600000
CRASH_WRITERS = 4


def kill_under_load(v, acked):
    """Writers send one sample per request, in order, until varve is
    killed; acked[w] is the number of requests answered 204."""
    import threading
    stop = threading.Event()

    def writer(w):
        acked[w] = 0
        i = 0
        while not stop.is_set():
            body = lib.write_request([({"__name__": "e2e_crash",
                                        "w": str(w)},
                                       [(float(i), CRASH_T0 + i * 100)])])
            try:
                st, _, _ = lib.remote_write(v.url, body)
            except OSError:
                return
            if st != 204:
                return
            i += 1
            acked[w] = i

    ts = [threading.Thread(target=writer, args=(w,))
          for w in range(CRASH_WRITERS)]
    for t in ts:
        t.start()
    time.sleep(1.5)
    v.proc.kill()
    v.proc.wait(10)
    stop.set()
    for t in ts:
        t.join(20)
    lib.log("acknowledged before SIGKILL: %r" % acked)
    check(all(acked.get(w, 0) > 0 for w in range(CRASH_WRITERS)),
          "some writer got nothing acknowledged: %r" % acked)


def check_acked(v, acked):
    check(acked, "no writes were made")
    span = max(acked.values()) * 100 // 1000 + 10
    at = (CRASH_T0 + span * 1000) / 1000
    data = lib.api_data(v.url, "/api/v1/query", [
        ("query", "e2e_crash[%ds]" % (span + 5)), ("time", "%.3f" % at)])
    got = {e["metric"]["w"]: [float(x[1]) for x in e["values"]]
           for e in data["result"]}
    for w, n in acked.items():
        vals = got.get(str(w), [])
        check(len(vals) >= n, "writer %d: %d acknowledged, %d found" % (
            w, n, len(vals)))
        check_eq(vals[:n], [float(i) for i in range(n)],
                 "writer %d samples" % w)


def body(r):
    if lib.standin():
        lib.log("varve-only test; nothing to do with a stand-in")
        r.case("skipped with stand-in", lambda: None)
        return
    r.case("--help", case_help)
    r.case("--version", case_version)
    r.case("bad flags are refused", case_bad_flag)

    v = lib.start_varve()
    r.add_log(v)
    data_dir = v.data_dir
    t = int(time.time() * 1000) - 2000
    r.case("health, ready, metrics, buildinfo", case_health, v)
    r.case("/metrics passes promtool check metrics", case_metrics_lint, v)
    r.case("second varve on the same data dir refuses (lock)", case_lock, v)
    r.case("write before SIGTERM", write_marker, v, "e2e_restart_a", 11.5, t)

    def sigterm():
        code, took = stop_with(v, signal.SIGTERM, 10)
        check_eq(code, 0, "exit status after SIGTERM")
        lib.log("SIGTERM stop took %.2fs" % took)
    r.case("SIGTERM stops with exit 0", sigterm)

    # Same port right away: connections the old server closed linger in
    # TIME_WAIT, which must not stop the new one from listening.
    try:
        v2 = lib.start_varve(data_dir=data_dir, port=v.port)
        r.case("restart on the same port right after stop", lambda: None)
    except RuntimeError as e:
        r.case("restart on the same port right after stop", check, False,
               str(e))
        v2 = lib.start_varve(data_dir=data_dir)
    r.add_log(v2)
    r.case("sample survives a clean restart", lambda: check_eq(
        read_marker(v2, "e2e_restart_a", t), "11.5", "value"))
    r.case("write before SIGKILL", write_marker, v2, "e2e_restart_b", 22.25,
           t + 1)

    def sigkill():
        v2.proc.kill()
        v2.proc.wait(10)
    r.case("SIGKILL", sigkill)

    v3 = lib.start_varve(data_dir=data_dir)
    r.add_log(v3)
    r.case("acknowledged sample survives SIGKILL", lambda: check_eq(
        read_marker(v3, "e2e_restart_b", t + 1), "22.25", "value"))
    r.case("older sample still there", lambda: check_eq(
        read_marker(v3, "e2e_restart_a", t), "11.5", "value"))

    acked = {}
    r.case("SIGKILL in the middle of concurrent writes", kill_under_load,
           v3, acked)
    v4 = lib.start_varve(data_dir=data_dir)
    r.add_log(v4)
    r.case("every acknowledged write survives SIGKILL under load",
           check_acked, v4, acked)

    def sigint():
        code, _ = stop_with(v4, signal.SIGINT, 10)
        check_eq(code, 0, "exit status after SIGINT")
    r.case("SIGINT stops with exit 0", sigint)


if __name__ == "__main__":
    lib.main(body)
