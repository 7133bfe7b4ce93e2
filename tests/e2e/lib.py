"""Helpers for varve's end-to-end tests (Python standard library only).

Every test script imports this module.  It provides:

- process control: free ports, starting varve and a real Prometheus on
  127.0.0.1 in temporary directories, waiting for /-/ready, and stopping
  every process started here by its PID (SIGTERM, then SIGKILL after a
  timeout), also at interpreter exit;
- HTTP helpers that never raise on a non-2xx answer;
- a snappy block-format encoder (literals plus simple back-references) and
  a complete decoder;
- a minimal protobuf encoder for remote_write 1.0 WriteRequest messages;
- a tiny test runner: named cases, each either passes or fails with a
  reason, a summary line, and the exit status of the script.

Configuration comes from the command line of each test script
(`test_x.py BUILD_DIR [PROMETHEUS]`) or the environment: BUILD_DIR,
PROMETHEUS (default /usr/bin/prometheus), PROMTOOL (default: next to
PROMETHEUS), E2E_KEEP=1 keeps temporary directories for inspection, and
VARVE_STANDIN=prometheus runs a second Prometheus (with its remote-write
receiver on) wherever a test asks for varve, to debug the harness itself.
"""

import atexit
import http.client as httpclient
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

# ------------------------------------------------------------ configuration


def build_dir():
    """The build directory holding the varve binary."""
    if len(sys.argv) > 1 and sys.argv[1]:
        return sys.argv[1]
    return os.environ.get("BUILD_DIR", ".")


def prometheus_path():
    """Path of the prometheus binary."""
    if len(sys.argv) > 2 and sys.argv[2]:
        return sys.argv[2]
    return os.environ.get("PROMETHEUS", "/usr/bin/prometheus")


def promtool_path():
    """Path of promtool: $PROMTOOL, else beside prometheus."""
    env = os.environ.get("PROMTOOL")
    if env:
        return env
    return os.path.join(os.path.dirname(prometheus_path()), "promtool")


def varve_path():
    """Path of the varve binary in the build directory."""
    return os.path.join(build_dir(), "varve")


def standin():
    """True when a Prometheus stands in for varve (harness debugging)."""
    return os.environ.get("VARVE_STANDIN", "") == "prometheus"


def log(msg):
    """Progress line on stderr, prefixed with the script name."""
    name = os.path.basename(sys.argv[0])
    sys.stderr.write("[%s %s] %s\n" % (time.strftime("%H:%M:%S"), name, msg))
    sys.stderr.flush()


# ------------------------------------------------------------ processes

_procs = []
_tmpdirs = []


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Taken below the kernel's ephemeral range when possible: a port from
    that range can be grabbed as the source port of any outgoing
    connection between this probe and the server's bind, and its
    TIME_WAIT then blocks the bind.
    """
    import random
    low = _ephemeral_low()
    if low > 12000:
        rnd = random.Random(os.getpid() ^ int(time.time() * 1e6))
        for _ in range(50):
            port = rnd.randrange(10000, low)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
            finally:
                s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def tmpdir(prefix="varve-e2e-"):
    """A fresh temporary directory, removed at exit unless E2E_KEEP=1."""
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def stop(proc, timeout=10.0):
    """Stop a process by PID: SIGTERM, then SIGKILL after timeout seconds.

    Returns the exit status (negative signal number if killed by one).
    """
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log("pid %d ignored SIGTERM for %.0fs, killing" % (proc.pid, timeout))
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        return proc.wait(10)


def _cleanup():
    for p in reversed(_procs):
        try:
            stop(p, 5.0)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    if os.environ.get("E2E_KEEP") == "1":
        for d in _tmpdirs:
            log("kept %s" % d)
        return
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def _on_signal(signum, frame):
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)


def _die_with_parent():
    """In the child before exec: be killed if the test process dies
    without cleaning up (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort only
        pass


def spawn(argv, log_path):
    """Start argv with stdout+stderr to log_path; stopped at exit, and
    killed by the kernel should this process die first.  Call from the
    main thread: the kernel ties that kill to the thread that forked."""
    f = open(log_path, "wb")
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL,
                         preexec_fn=_die_with_parent)
    f.close()
    p.log_path = log_path
    _procs.append(p)
    return p


def tail(path, n=30):
    """Last n lines of a text file, for error messages."""
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError as e:
        return "(no log: %s)" % e


class Server:
    """A started HTTP server process: .proc, .port, .url, .dir, .log."""

    def __init__(self, proc, port, workdir, kind):
        self.proc = proc
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.dir = workdir
        self.log = proc.log_path
        self.kind = kind

    def stop(self, timeout=10.0):
        """Stop by PID; returns the exit status."""
        return stop(self.proc, timeout)

    def log_tail(self, n=30):
        return tail(self.log, n)


def wait_ready(server, timeout=30.0, path="/-/ready"):
    """Poll server.url+path until 200; raise if the process dies or times out."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError("%s exited with %s before ready; log:\n%s" % (
                server.kind, server.proc.returncode, server.log_tail()))
        try:
            st, _, _ = http("GET", server.url + path, timeout=2)
            if st == 200:
                return
            last = "HTTP %d" % st
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError("%s not ready after %.0fs (%s); log:\n%s" % (
        server.kind, timeout, last, server.log_tail()))


def _in_use(server):
    return "address already in use" in tail(server.log, 200).lower()


def start_varve(args=(), data_dir=None, port=None, ready=True):
    """Start varve on 127.0.0.1:port with --data-dir (a temp dir by default).

    Without an explicit port, a port lost to a race (address in use) is
    retried on another one.  With VARVE_STANDIN=prometheus, starts a
    Prometheus with the remote-write receiver instead (args are then
    ignored).
    """
    if standin():
        return start_prometheus("global: {}\n", extra_args=[
            "--web.enable-remote-write-receiver"], kind="varve-standin")
    workdir = tmpdir("varve-e2e-varve-")
    if data_dir is None:
        data_dir = os.path.join(workdir, "data")
    for attempt in range(3):
        p = port if port is not None else free_port()
        argv = [varve_path(), "--listen=127.0.0.1:%d" % p,
                "--data-dir=%s" % data_dir] + list(args)
        proc = spawn(argv, os.path.join(workdir, "varve-%d.log" % attempt))
        s = Server(proc, p, workdir, "varve")
        s.data_dir = data_dir
        if not ready:
            return s
        try:
            wait_ready(s)
            return s
        except RuntimeError:
            if port is None and attempt < 2 and proc.poll() is not None \
                    and _in_use(s):
                log("port %d was taken; retrying on another" % p)
                continue
            raise
    raise AssertionError("unreachable")


def start_prometheus(config_yaml, extra_args=(), kind="prometheus",
                     port=None):
    """Start Prometheus in a temp dir; wait for /-/ready.

    config_yaml is the configuration text, or a function of the port
    Prometheus will listen on returning it (for self-scraping).  Without
    an explicit port, a port lost to a race is retried on another one.
    """
    workdir = tmpdir("varve-e2e-prom-")
    cfg = os.path.join(workdir, "prometheus.yml")
    for attempt in range(3):
        p = port if port is not None else free_port()
        with open(cfg, "w") as f:
            f.write(config_yaml(p) if callable(config_yaml) else config_yaml)
        argv = [prometheus_path(),
                "--config.file=" + cfg,
                "--storage.tsdb.path=" + os.path.join(workdir, "data"),
                "--web.listen-address=127.0.0.1:%d" % p,
                "--log.level=info"] + list(extra_args)
        proc = spawn(argv, os.path.join(workdir,
                                        "prometheus-%d.log" % attempt))
        s = Server(proc, p, workdir, kind)
        try:
            wait_ready(s, timeout=60)
            return s
        except RuntimeError:
            if port is None and attempt < 2 and proc.poll() is not None \
                    and _in_use(s):
                log("port %d was taken; retrying on another" % p)
                continue
            raise
    raise AssertionError("unreachable")


# ------------------------------------------------------------ exporter


class Exporter:
    """A Prometheus text-format target served from a thread of this
    process on 127.0.0.1: render() is called per scrape and returns the
    exposition text.  .port, .url; stop() shuts it down (also at exit)."""

    def __init__(self, render):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = render().encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type",
                                 "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()
        atexit.register(self.stop)

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


# ------------------------------------------------------------ HTTP


def http(method, url, body=None, headers=None, timeout=15):
    """One HTTP/1.1 request; returns (status, headers dict lowercased, body
    bytes).

    Sends exactly the given headers (plus Host, Content-Length and
    Accept-Encoding: identity): unlike urllib, no default Content-Type.
    Never raises on an HTTP error status; raises OSError on connection
    problems.
    """
    u = urllib.parse.urlsplit(url)
    conn = httpclient.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    except httpclient.HTTPException as e:
        raise OSError("HTTP protocol error: %r" % e)
    finally:
        conn.close()


def url_with(base, path, params=None):
    """base+path with params (dict or list of pairs, repeats allowed)."""
    u = base + path
    if params:
        u += "?" + urllib.parse.urlencode(params, doseq=True)
    return u


def api_get(base, path, params=None, method="GET", timeout=15):
    """Call a Prometheus-style API endpoint; returns (status, parsed JSON).

    method "POST" sends the parameters form-encoded.  The JSON is None if
    the body does not parse.
    """
    if method == "POST":
        body = urllib.parse.urlencode(params or [], doseq=True).encode()
        st, _, data = http("POST", base + path, body, {
            "Content-Type": "application/x-www-form-urlencoded"},
            timeout=timeout)
    else:
        st, _, data = http("GET", url_with(base, path, params),
                           timeout=timeout)
    try:
        return st, json.loads(data.decode("utf-8"))
    except ValueError:
        return st, None


def api_data(base, path, params=None, method="GET"):
    """Like api_get but requires 200 + status success; returns data."""
    st, js = api_get(base, path, params, method)
    if st != 200 or not isinstance(js, dict) or js.get("status") != "success":
        raise AssertionError("%s%s %r -> HTTP %d %s" % (
            base, path, params, st, json.dumps(js)[:500]))
    return js.get("data")


def metrics_text(base):
    """GET /metrics as text; raises unless 200."""
    st, _, body = http("GET", base + "/metrics")
    if st != 200:
        raise AssertionError("GET /metrics -> %d" % st)
    return body.decode("utf-8", "replace")


def parse_metrics(text):
    """Prometheus text format -> list of (name, labels dict, float value)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            lab, rest = rest.rsplit("}", 1)
            labels = {}
            for part in _split_labels(lab):
                k, v = part.split("=", 1)
                labels[k.strip()] = json.loads(v.strip())
        else:
            name, rest = line.split(None, 1)
            labels = {}
        fields = rest.split()
        try:
            val = float(fields[0])
        except (ValueError, IndexError):
            continue
        out.append((name.strip(), labels, val))
    return out


def _split_labels(s):
    parts, cur, inq, esc = [], "", False, False
    for c in s:
        if esc:
            cur += c
            esc = False
            continue
        if c == "\\":
            cur += c
            esc = True
            continue
        if c == '"':
            inq = not inq
        if c == "," and not inq:
            if cur.strip():
                parts.append(cur)
            cur = ""
            continue
        cur += c
    if cur.strip():
        parts.append(cur)
    return parts


# ------------------------------------------------------------ snappy


def uvarint(n):
    """Unsigned LEB128."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_uvarint(data, pos):
    shift = 0
    val = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("bad uvarint")
        b = data[pos]
        pos += 1
        val |= (b & 0x7F) << shift
        if not b & 0x80:
            return val, pos
        shift += 7


def _literal(chunk):
    n = len(chunk) - 1
    if n < 60:
        return bytes([n << 2]) + chunk
    for code, width in ((60, 1), (61, 2), (62, 3), (63, 4)):
        if n < (1 << (8 * width)):
            return bytes([code << 2]) + n.to_bytes(width, "little") + chunk
    raise ValueError("literal too long")


def snappy_encode(data, copies=True):
    """Snappy block format.  copies=False emits literals only."""
    data = bytes(data)
    out = bytearray(uvarint(len(data)))
    if not copies:
        for i in range(0, len(data), 65536):
            out += _literal(data[i:i + 65536])
        return bytes(out)
    table = {}
    i = 0
    lit_start = 0
    n = len(data)
    while i + 4 <= n:
        key = data[i:i + 4]
        cand = table.get(key)
        table[key] = i
        if cand is not None and i - cand <= 65535:
            length = 4
            while i + length < n and data[cand + length] == data[i + length] \
                    and length < 64:
                length += 1
            if lit_start < i:
                out += _literal(data[lit_start:i])
            off = i - cand
            if 4 <= length <= 11 and off < 2048:
                out.append(1 | ((length - 4) << 2) | ((off >> 8) << 5))
                out.append(off & 0xFF)
            else:
                out.append(2 | ((length - 1) << 2))
                out += struct.pack("<H", off)
            i += length
            lit_start = i
        else:
            i += 1
    if lit_start < n:
        for j in range(lit_start, n, 65536):
            out += _literal(data[j:min(n, j + 65536)])
    return bytes(out)


def snappy_decode(data):
    """Decode snappy block format; raises ValueError on corrupt input."""
    data = bytes(data)
    total, pos = _read_uvarint(data, 0)
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            n = tag >> 2
            if n >= 60:
                w = n - 59
                if pos + w > len(data):
                    raise ValueError("truncated literal length")
                n = int.from_bytes(data[pos:pos + w], "little")
                pos += w
            n += 1
            if pos + n > len(data):
                raise ValueError("truncated literal")
            out += data[pos:pos + n]
            pos += n
            continue
        if kind == 1:
            if pos >= len(data):
                raise ValueError("truncated copy")
            length = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            if pos + 2 > len(data):
                raise ValueError("truncated copy")
            length = (tag >> 2) + 1
            off = struct.unpack_from("<H", data, pos)[0]
            pos += 2
        else:
            if pos + 4 > len(data):
                raise ValueError("truncated copy")
            length = (tag >> 2) + 1
            off = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        if off == 0 or off > len(out):
            raise ValueError("bad copy offset")
        for _ in range(length):
            out.append(out[-off])
    if len(out) != total:
        raise ValueError("length mismatch %d != %d" % (len(out), total))
    return bytes(out)


# ------------------------------------------------------------ protobuf


def _key(field, wt):
    return uvarint((field << 3) | wt)


def pb_bytes(field, b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return _key(field, 2) + uvarint(len(b)) + b


def pb_varint(field, v):
    if v < 0:
        v += 1 << 64
    return _key(field, 0) + uvarint(v)


def pb_double(field, v):
    return _key(field, 1) + struct.pack("<d", v)


def pb_label(name, value):
    return pb_bytes(1, name) + pb_bytes(2, value)


def pb_sample(value, ts_ms):
    """Sample{value=1 double, timestamp=2 int64}.  value may be a float or
    raw 64-bit pattern given as ('bits', int)."""
    if isinstance(value, tuple) and value[0] == "bits":
        v = _key(1, 1) + struct.pack("<Q", value[1])
    else:
        v = pb_double(1, value)
    return v + pb_varint(2, ts_ms)


def pb_timeseries(labels, samples):
    """labels: list of (name, value) in the order to send; samples: list of
    (value, ts_ms)."""
    out = b""
    for n, v in labels:
        out += pb_bytes(1, pb_label(n, v))
    for v, t in samples:
        out += pb_bytes(2, pb_sample(v, t))
    return out


METRIC_TYPES = {"unknown": 0, "counter": 1, "gauge": 2, "histogram": 3,
                "gaugehistogram": 4, "summary": 5, "info": 6, "stateset": 7}


def pb_metadata(family, mtype, help_text="", unit=""):
    out = pb_varint(1, METRIC_TYPES[mtype]) + pb_bytes(2, family)
    if help_text:
        out += pb_bytes(4, help_text)
    if unit:
        out += pb_bytes(5, unit)
    return out


def write_request(series, metadata=()):
    """WriteRequest bytes.  series: list of (labels, samples) as for
    pb_timeseries (labels may be a dict: sent sorted by name);
    metadata: list of (family, type, help, unit)."""
    out = b""
    for labels, samples in series:
        if isinstance(labels, dict):
            labels = sorted(labels.items())
        out += pb_bytes(1, pb_timeseries(labels, samples))
    for md in metadata:
        out += pb_bytes(3, pb_metadata(*md))
    return out


def pb_packed_varints(field, values):
    """A packed repeated varint field."""
    payload = b"".join(uvarint(v if v >= 0 else v + (1 << 64))
                       for v in values)
    return pb_bytes(field, payload)


MATCH_TYPES = {"=": 0, "!=": 1, "=~": 2, "!~": 3}


def read_request(queries, accepted=(), packed=True):
    """ReadRequest bytes.  queries: list of (start_ms, end_ms, matchers),
    matchers a list of (name, op, value) with op in = != =~ !~;
    accepted: response types (0 SAMPLES, 1 STREAMED_XOR_CHUNKS)."""
    out = b""
    for start, end, matchers in queries:
        q = pb_varint(1, start) + pb_varint(2, end)
        for name, op, value in matchers:
            q += pb_bytes(3, pb_varint(1, MATCH_TYPES[op]) +
                          pb_bytes(2, name) + pb_bytes(3, value))
        out += pb_bytes(1, q)
    if accepted:
        if packed:
            out += pb_packed_varints(2, accepted)
        else:
            for a in accepted:
                out += pb_varint(2, a)
    return out


def pb_decode(data):
    """Generic protobuf decode: {field: [value, ...]}, where a value is an
    int (varint), bytes (length-delimited) or 8/4 raw bytes (fixed64/32).
    Raises ValueError on malformed input."""
    out = {}
    pos = 0
    data = bytes(data)
    while pos < len(data):
        key, pos = _read_uvarint(data, pos)
        field, wt = key >> 3, key & 7
        if field == 0:
            raise ValueError("field number 0")
        if wt == 0:
            v, pos = _read_uvarint(data, pos)
        elif wt == 1:
            if pos + 8 > len(data):
                raise ValueError("truncated fixed64")
            v = data[pos:pos + 8]
            pos += 8
        elif wt == 2:
            n, pos = _read_uvarint(data, pos)
            if pos + n > len(data):
                raise ValueError("truncated bytes")
            v = data[pos:pos + n]
            pos += n
        elif wt == 5:
            if pos + 4 > len(data):
                raise ValueError("truncated fixed32")
            v = data[pos:pos + 4]
            pos += 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(field, []).append(v)
    return out


def pb_int64(v):
    """A decoded varint as a signed int64."""
    return v - (1 << 64) if v >= 1 << 63 else v


def pb_f64(raw):
    """A decoded fixed64 as a double."""
    return struct.unpack("<d", raw)[0]


def pb_labels(msg_fields):
    """Label messages (field 1 of TimeSeries/ChunkedSeries) -> list of
    (name, value) in wire order."""
    out = []
    for raw in msg_fields.get(1, []):
        lf = pb_decode(raw)
        out.append((lf.get(1, [b""])[0].decode(), lf.get(2, [b""])[0].decode()))
    return out


def decode_read_response(data):
    """ReadResponse -> list (per query) of list of (labels, samples), samples
    as (ts_ms, value bits as int)."""
    results = []
    for qr in pb_decode(data).get(1, []):
        series = []
        for ts in pb_decode(qr).get(1, []):
            f = pb_decode(ts)
            samples = []
            for sm in f.get(2, []):
                sf = pb_decode(sm)
                bits = struct.unpack("<Q", sf[1][0])[0] if 1 in sf else 0
                t = pb_int64(sf[2][0]) if 2 in sf else 0
                samples.append((t, bits))
            series.append((pb_labels(f), samples))
        results.append(series)
    return results


_CRC32C = []


def crc32c(data):
    """CRC-32C (Castagnoli), as Go's crc32.Checksum with that table."""
    if not _CRC32C:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            _CRC32C.append(c)
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def read_frames(data):
    """Split a STREAMED_XOR_CHUNKS body into messages, checking each CRC."""
    pos = 0
    out = []
    while pos < len(data):
        n, pos = _read_uvarint(data, pos)
        if pos + 4 + n > len(data):
            raise ValueError("truncated frame")
        crc = struct.unpack(">I", data[pos:pos + 4])[0]
        msg = data[pos + 4:pos + 4 + n]
        if crc32c(msg) != crc:
            raise ValueError("frame CRC mismatch")
        out.append(msg)
        pos += 4 + n
    return out


class _Bits:
    def __init__(self, data):
        self.data = data
        self.pos = 0        # in bits

    def read(self, n):
        v = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ValueError("chunk ends early")
            v = (v << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def uvarint(self):
        shift = v = 0
        while True:
            b = self.read(8)
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
            if shift > 63:
                raise ValueError("bad varint in chunk")

    def varint(self):
        u = self.uvarint()
        return (u >> 1) ^ -(u & 1)


def xor_decode(chunk):
    """Prometheus XOR chunk bytes -> list of (ts_ms, value bits)."""
    if len(chunk) < 2:
        raise ValueError("chunk shorter than its header")
    n = struct.unpack(">H", chunk[:2])[0]
    br = _Bits(chunk[2:])
    out = []
    t = delta = 0
    bits = 0
    lead = trail = 0
    for i in range(n):
        if i == 0:
            t = br.varint()
            bits = br.read(64)
            out.append((t, bits))
            continue
        if i == 1:
            delta = br.uvarint()
        else:
            size = 0
            for sz in (14, 17, 20, 64):
                if br.read(1) == 0:
                    break
                size = sz
            else:
                size = 64
            # prefix 0 -> dod 0; 10 -> 14; 110 -> 17; 1110 -> 20; 1111 -> 64
            dod = 0
            if size:
                dod = br.read(size)
                if size != 64 and dod > (1 << (size - 1)):
                    dod -= 1 << size
                elif size == 64 and dod >= 1 << 63:
                    dod -= 1 << 64
            delta += dod
        t += delta
        if br.read(1):
            if br.read(1):
                lead = br.read(5)
                sig = br.read(6) or 64
                trail = 64 - lead - sig
            sig = 64 - lead - trail
            bits ^= br.read(sig) << trail
        out.append((t, bits))
    return out


def f64_bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def bits_f64(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


RW_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "varve-e2e",
}


def remote_write(base, body, headers=None, compress=True):
    """POST body (a WriteRequest, snappy-compressed here unless
    compress=False) to base/api/v1/write; returns (status, headers, body)."""
    h = dict(RW_HEADERS)
    if headers:
        for k, v in headers.items():
            if v is None:
                h.pop(k, None)
            else:
                h[k] = v
    if compress:
        body = snappy_encode(body)
    return http("POST", base + "/api/v1/write", body, h)


# ------------------------------------------------------------ comparisons


def label_set(m):
    """A hashable form of a label map."""
    return tuple(sorted(m.items()))


def fmt_labels(m):
    items = sorted(m.items())
    name = dict(items).get("__name__", "")
    rest = ",".join('%s="%s"' % (k, v) for k, v in items if k != "__name__")
    return "%s{%s}" % (name, rest)


def diff_sets(a, b, name_a="varve", name_b="prometheus", limit=10):
    """Description of the difference between two sets of label tuples."""
    only_a = sorted(a - b)
    only_b = sorted(b - a)
    lines = []
    for tag, items in ((name_a, only_a), (name_b, only_b)):
        if items:
            lines.append("only in %s (%d):" % (tag, len(items)))
            for it in items[:limit]:
                lines.append("  " + (fmt_labels(dict(it))
                                     if isinstance(it, tuple) else str(it)))
    return "\n".join(lines)


# ------------------------------------------------------------ test runner


class Failure(Exception):
    """Raised by check() to fail the current case."""


def check(cond, msg):
    """Fail the current case with msg unless cond."""
    if not cond:
        raise Failure(msg)


def check_eq(got, want, what):
    if got != want:
        raise Failure("%s: got %r, want %r" % (what, got, want))


class Runner:
    """Runs named cases, prints PASS/FAIL lines and a summary line.

    A case is a callable; it passes if it returns without raising.  Each
    case's message is printed on failure together with the server logs
    registered through add_log().
    """

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.logs = []
        self.failures = []

    def add_log(self, server):
        self.logs.append(server)

    def case(self, name, fn, *args):
        t0 = time.time()
        try:
            fn(*args)
        except Failure as e:
            self._fail(name, str(e), t0)
            return False
        except Exception:  # noqa: BLE001 - any error fails the case
            self._fail(name, traceback.format_exc(), t0)
            return False
        self.passed += 1
        print("PASS: %s (%.1fs)" % (name, time.time() - t0))
        sys.stdout.flush()
        return True

    def _fail(self, name, msg, t0):
        self.failed += 1
        self.failures.append(name)
        print("FAIL: %s (%.1fs)" % (name, time.time() - t0))
        for line in msg.rstrip().splitlines():
            print("    " + line)
        sys.stdout.flush()

    def check_sanitizers(self):
        """Fail if any varve log holds an ASan/UBSan/LSan report."""
        marks = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                 "runtime error:", "ERROR: ThreadSanitizer",
                 "WARNING: ThreadSanitizer")
        bad = []
        for s in self.logs:
            if s.kind != "varve":
                continue
            try:
                with open(s.log, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            for line in text.splitlines():
                if any(m in line for m in marks):
                    bad.append("%s: %s" % (s.log, line.strip()))
        check(not bad, "sanitizer reports:\n" + "\n".join(bad[:20]))

    def finish(self):
        """Print the summary (and server logs on failure); exit status."""
        if any(s.kind == "varve" for s in self.logs):
            # Every varve of this script must have stopped by now.
            for s in self.logs:
                if s.kind == "varve" and s.proc.poll() is None:
                    s.stop()
            self.case("no sanitizer reports in varve logs",
                      self.check_sanitizers)
        if self.failed:
            for s in self.logs:
                print("---- last lines of %s log (%s)" % (s.kind, s.log))
                print(s.log_tail(20))
        if self.passed + self.failed == 0:
            print("no test case ran")
            self.failed = 1
        print("RESULT: %d passed, %d failed" % (self.passed, self.failed))
        sys.stdout.flush()
        return 1 if self.failed else 0


def main(body):
    """Run body(runner) with a Runner; exit with its status.  An exception
    escaping body (e.g. a server that does not start) counts as a failure."""
    r = Runner()
    try:
        body(r)
    except Exception:  # noqa: BLE001
        r.failed += 1
        print("FAIL: setup")
        for line in traceback.format_exc().rstrip().splitlines():
            print("    " + line)
    sys.exit(r.finish())
