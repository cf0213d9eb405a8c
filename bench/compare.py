#!/usr/bin/env python3
"""Runs the benchmark workloads of shared/bench/WORKLOADS.md side by side:
Python asyncio, uvloop (where the interpreter can import it), Go and Tokio
(bench/go, bench/tokio, where bench/build_peers built them into BUILD/peers:
with all threads and with one) and spool (the C programs of bench/, with all
workers and, for W1-W3, W7-W9, with one worker), then prints a table.
Usually started by bench/run, which builds spool and the peers first.

Every spool program (and spool server) runs twice, once on each driver:
SPOOL_BACKEND=io_uring, then SPOOL_BACKEND=epoll in its environment; its
JSON row carries "backend", the driver it says it ran on (a row on the
other driver than asked is a failure). The tables show both, the ratio of
epoll to io_uring, and each driver's ratio against asyncio (and uvloop).
The other sides run once. The servers (W6, HTTP, HTTPS) run in 3 rounds
(1 with --quick), every server once per round, and each keeps its median
round (SERVER_ROUNDS, median_of_rounds). Where io_uring is refused (spool_run fails when
it is forced, -EPERM under a seccomp filter), the io_uring rows are
skipped with a note.

usage: bench/compare.py [--quick] [--only W1,W3] [--json FILE] [--build DIR]
                        [--timeout S] [--emulator PROGRAM]

HTTPS (https_plaintext, not in WORKLOADS.md yet): the HTTP servers over TLS
(spool's examples/http_server --tls, the asyncio and uvloop Protocol servers
with create_server(ssl=)), under wrk over https, with a self-signed EC P-256
certificate made by `openssl req` for the run; skipped without wrk or
openssl, or when spool was built without TLS. Issue 13's target: spool
>= 1.3x uvloop protocol in req/s at 100 connections (the full size).

--emulator runs every program of the build through PROGRAM: a cross build
under qemu-user (bench/run --arch aarch64), whose figures mean nothing (only
that everything runs and checks out does).

Every program prints one JSON line; each line received is appended to
--json FILE (truncated first); of a server, only its median round's. A program that is missing, fails, times out or
reports ok:false makes this script exit 1, after everything has been printed.
"""
import argparse
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# id -> (name, default size, quick size, figure); for W2 the size is fib's n.
WORKLOADS = {
    "W1": ("spawn_join", 1_000_000, 20_000, "per_op"),
    "W2": ("fib_fork", 25, 15, "per_op"),
    "W3": ("ping_pong", 1_000_000, 20_000, "per_op"),
    "W4": ("sleep_many", 100_000, 2_000, "wall"),
    "W5": ("semaphore_limit", 100_000, 2_000, "wall"),
    "W6": ("tcp_echo", 5, 1, "w6"),  # size: D seconds; driven by run_w6 (server + bench/echo_client)
    "W7": ("file_read", 10_000, 500, "per_op"),  # the table shows files/s (files_per_s)
    "W8": ("timeout_cancel", 100_000, 2_000, "per_op"),
    "W9": ("queue_pipe", 1_000_000, 20_000, "per_op"),  # defined in bench/w9_queue_pipe.c
    "HTTP": ("http_plaintext", 5, 1, "http"),  # size: wrk seconds; driven by run_http (servers + wrk)
    "HTTPS": ("https_plaintext", 5, 1, "http"),  # HTTP over TLS (a throwaway self-signed cert): run_https
}
ONE_WORKER = ("W1", "W2", "W3", "W7", "W8", "W9")  # the C side also runs with --workers 1
DRIVERS = ("io_uring", "epoll")  # every spool row runs on each (SPOOL_BACKEND)
EXAMPLES = ("hello", "gather", "semaphore")
# The other runtimes (bench/go, bench/tokio; impl "go", "tokio"), built by
# bench/build_peers into BUILD/peers/spool_IMPL; their W1-W5, W7, W8 take the
# workload's name as first argument, and both have the W6 and HTTP servers.
PEERS = ("go", "tokio")
PEER_WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W7", "W8")


def out(*a):
    print(*a, flush=True)


def pick_python():
    if os.path.exists("/usr/bin/python3"):
        return "/usr/bin/python3"
    return shutil.which("python3") or sys.executable


def has_uvloop(py):
    try:
        r = subprocess.run([py, "-c", "import uvloop"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        return r.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def driver_env(driver):
    """The environment of a spool program that must run on driver."""
    return dict(os.environ, SPOOL_BACKEND=driver)


def usable_drivers(build, timeout):
    """DRIVERS, or only epoll where io_uring is refused: a spool program forced
    onto it (SPOOL_BACKEND=io_uring) then fails in spool_run (-EPERM under a
    seccomp filter or kernel.io_uring_disabled; -ENOSYS without io_uring)."""
    exe = os.path.join(build, "bench", "spool_w1_spawn_join")
    if not os.path.exists(exe):
        return DRIVERS  # every spool row says MISSING anyway
    try:
        rc, _, se = run_capture([exe, "--n", "1", "--workers", "1"], timeout, env=driver_env("io_uring"))
    except (OSError, subprocess.SubprocessError):
        return DRIVERS
    m = re.search(r"spool_run: (.*)", se)
    if rc == 0 or not m:
        return DRIVERS
    why = m.group(1).strip()
    if why == os.strerror(errno.EPERM):
        why += " (EPERM)"
    out(f"note: io_uring is refused here (with SPOOL_BACKEND=io_uring, spool_run fails: {why}); "
        "the io_uring rows and the raw io_uring floor are skipped, spool runs on epoll only")
    return tuple(d for d in DRIVERS if d != "io_uring")


# What runs the programs of the spool build (--emulator; [] to run them
# directly), and that build's directory, set by main().
EMULATOR = []
BUILD = None
# "[k/N] ": which of the run's workloads is running, in the headers.
PROGRESS = ""


def peer_sides():
    """{impl: program} of the peers built in BUILD/peers; none under an
    emulator (they are native programs, compared only with native spool)."""
    if EMULATOR or not BUILD:
        return {}
    exes = {impl: os.path.join(BUILD, "peers", f"spool_{impl}") for impl in PEERS}
    return {impl: exe for impl, exe in exes.items() if os.access(exe, os.X_OK)}


def peer_keys(r):
    """The keys of r's peer rows ("go", "go --workers 1", "tokio", ...)."""
    return [k for k in r if k.split(" ")[0] in PEERS]


def launch(argv):
    """argv as started: behind the emulator when argv[0] is in the build."""
    if EMULATOR and BUILD and os.path.abspath(argv[0]).startswith(BUILD + os.sep):
        return EMULATOR + argv
    return argv


def run_capture(argv, timeout, merge_stderr=False, env=None):
    """subprocess.run in its own process group, so that a timeout kills the
    program and anything it started. Returns (returncode, stdout, stderr)."""
    p = subprocess.Popen(launch(argv), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                         text=True, errors="replace", cwd=ROOT, start_new_session=True, env=env)
    try:
        so, se = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        so, se = p.communicate()
        raise subprocess.TimeoutExpired(argv, timeout, output=so, stderr=se)
    return p.returncode, so, se or ""


class Run:
    """One program's outcome: row is its last JSON line (or None); status is
    'ok', 'missing', 'failed', 'timeout' or 'not ok'."""

    def __init__(self, label, status, row=None, detail=""):
        self.label, self.status, self.row, self.detail = label, status, row, detail


def last_json(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if isinstance(v, dict):
                return line, v
    return None, None


def tail(text, lines=15):
    t = text.rstrip().splitlines()
    return "\n".join("      | " + x for x in t[-lines:])


def run_program(label, argv, timeout, json_file, env=None):
    """Runs argv (in env), prints a one-line summary, appends its JSON line to json_file."""
    if not os.path.exists(argv[0]):
        out(f"  {label:<26} MISSING: {argv[0]} (not built?)")
        return Run(label, "missing", detail=f"{argv[0]} not found")
    t0 = time.perf_counter()
    try:
        rc, stdout, stderr = run_capture(argv, timeout, env=env)
    except subprocess.TimeoutExpired as e:
        so, se = e.stdout or "", e.stderr or ""
        out(f"  {label:<26} TIMEOUT after {timeout:g} s: {' '.join(argv)}")
        if so.strip() or se.strip():
            out(tail(so + se))
        return Run(label, "timeout", detail=f"timed out after {timeout:g} s")
    except OSError as e:
        out(f"  {label:<26} FAILED to start: {e}")
        return Run(label, "failed", detail=str(e))
    elapsed = time.perf_counter() - t0
    line, row = last_json(stdout)
    if line is not None and json_file is not None:
        json_file.write(line + "\n")
        json_file.flush()
    if rc != 0 or row is None or row.get("ok") is not True:
        why = []
        if rc != 0:
            why.append(f"exit {rc}" if rc > 0 else f"signal {-rc}")
        if row is None:
            why.append("no JSON line")
        elif row.get("ok") is not True:
            why.append("ok:false")
        status = "not ok" if (row is not None and row.get("ok") is False) else "failed"
        out(f"  {label:<26} FAILED ({', '.join(why)}): {' '.join(argv)}")
        if line:
            out(f"      {line}")
        rest = "\n".join(x for x in stdout.splitlines() if x.strip() != (line or "").strip())
        if rest.strip() or stderr.strip():
            out(tail(rest + "\n" + stderr))
        return Run(label, status, row, ", ".join(why))
    out(f"  {label:<26} {describe(row)}  (process {elapsed:.2f} s)")
    if stderr.strip():
        out(tail(stderr, 5))
    return Run(label, "ok", row)


def describe(row):
    parts = [f"wall {row.get('wall_s', 0):.3f} s"]
    if row.get("per_op_ns") is not None:
        parts.append(f"{fmt_ns(row['per_op_ns'])}/op")
    if row.get("peak_rss_kib") is not None:
        parts.append(f"peak RSS {fmt_kib(row['peak_rss_kib'])}")
    parts.append(f"n {row.get('n')}")
    parts.append(f"workers {row.get('workers')}")
    return ", ".join(parts)


def fmt_ns(ns):
    ns = float(ns)
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} us"
    if ns >= 100:
        return f"{ns:.0f} ns"
    return f"{ns:.1f} ns"


def fmt_kib(kib):
    kib = float(kib)
    if kib >= 1024 * 1024:
        return f"{kib / 1024 / 1024:.2f} GiB"
    if kib >= 1024:
        return f"{kib / 1024:.0f} MiB"
    return f"{kib:.0f} KiB"


def cell(run, figure):
    if run is None:
        return "-"
    if run.status != "ok":
        return run.status.upper() if run.status != "not ok" else "NOT OK"
    r = run.row
    main = fmt_ns(r.get("per_op_ns", 0)) if figure == "per_op" else f"{r.get('wall_s', 0):.3f} s"
    if r.get("files_per_s") is not None:  # W7
        main = f"{r['files_per_s'] / 1e3:.1f}k files/s"
    return f"{main}, {fmt_kib(r.get('peak_rss_kib', 0))}"


def ratio(a, b, field="wall_s", digits=1):
    """a's field / b's field ("2.0x"): with wall_s, asyncio's against spool's
    is spool's speed-up. "-" unless both ran ok and b's field is not 0."""
    if a is None or b is None or a.status != "ok" or b.status != "ok":
        return "-"
    den = b.row.get(field) or 0
    if den <= 0:
        return "-"
    return f"{(a.row.get(field) or 0) / den:.{digits}f}x"


def print_grid(head, rows, note):
    """Prints head and rows (lists of strings) as a markdown table, then note."""
    widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    for cols in [head, None] + rows:
        if cols is None:
            out("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        else:
            out("| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |")
    out(note)


def vs_io_uring(drivers, figure):
    """The header of the epoll-against-io_uring column of figure: [] unless both ran."""
    return [f"{figure} epoll / io_uring"] if len(drivers) > 1 else []


def print_table(results, ids, drivers):
    head = (["workload", "asyncio", "uvloop"]
            + [c for d in drivers for c in (f"spool {d} (1 worker)", f"spool {d} (all)")]
            + vs_io_uring(drivers, "wall") + [f"{d} vs asyncio" for d in drivers])
    rows = []
    for wid in ids:
        if wid in ("W6", "HTTP", "HTTPS"):  # their own tables: print_w6_table, print_http_table
            continue
        name, _, _, figure = WORKLOADS[wid]
        r = results.get(wid, {})
        rows.append([f"{wid} {name}", cell(r.get("asyncio"), figure), cell(r.get("uvloop"), figure)]
                    + [cell(r.get(f"{k} {d}"), figure) for d in drivers for k in ("spool1", "spool")]
                    + [ratio(r.get(f"spool {d}"), r.get("spool io_uring"), digits=2) for d in drivers[1:]]
                    + [ratio(r.get("asyncio"), r.get(f"spool {d}")) for d in drivers])
    print_grid(head, rows,
               "W1-W3: time per op (W1, W2: per task; W3: per hand-off), peak RSS; "
               "W4, W5: wall time (ideal 1.000 s), peak RSS; W8: per cancelled wait (wall / N); "
               "W7: files read per second; W9: per item through the queue. "
               "wall epoll / io_uring: spool's wall time on epoll / on io_uring, all workers (1.10x: "
               "epoll 10% slower). vs asyncio: asyncio wall / spool (all) wall on that driver.")


def speed(run):
    """How fast a workload row went (higher is better): W7's files/s, W6's
    msgs/s, HTTP's req/s, else 1 / wall. None unless it ran ok."""
    if run is None or run.status != "ok":
        return None
    x = run.row
    for k in ("files_per_s", "msgs_per_s", "req_per_s"):
        if x.get(k):
            return x[k]
    return 1.0 / x["wall_s"] if x.get("wall_s") else None


def best_peer(r):
    """The fastest Go or Tokio row of r (any thread count), or None."""
    runs = [r[k] for k in peer_keys(r) if speed(r[k]) is not None]
    return max(runs, key=speed) if runs else None


def vs_best_peer(run, r):
    """run's speed over the best peer's ("1.52x go"), or "-"."""
    top = best_peer(r)
    if top is None or speed(run) is None:
        return "-"
    return f"{speed(run) / speed(top):.2f}x {top.row['impl']}"


def print_peer_table(results, ids, drivers):
    """Go and Tokio (all threads and one) against spool (all workers) on
    each driver, for the workloads the peers have."""
    keys = [f"{impl}{w}" for impl in PEERS for w in ("", " --workers 1")]
    wids = [w for w in ids if w in PEER_WORKLOADS and any(k in results.get(w, {}) for k in keys)]
    if not wids:
        return
    head = (["workload"] + [k.replace(" --workers 1", " (1 thread)") for k in keys]
            + [f"spool {d} (all)" for d in drivers] + [f"spool {d} vs best peer" for d in drivers])
    rows = []
    for wid in wids:
        name, _, _, figure = WORKLOADS[wid]
        r = results[wid]
        rows.append([f"{wid} {name}"] + [cell(r.get(k), figure) for k in keys]
                    + [cell(r.get(f"spool {d}"), figure) for d in drivers]
                    + [vs_best_peer(r.get(f"spool {d}"), r) for d in drivers])
    out("")
    print_grid(head, rows,
               "Peers: Go (goroutines, standard library) and Tokio (multi-thread runtime), with all "
               "threads (GOMAXPROCS, worker_threads = CPUs) and with one. vs best peer: spool's speed "
               "(1 / wall; files/s for W7) over the fastest Go or Tokio row (1.50x: spool 50% faster).")


# ---- W6 tcp_echo: each server driven by bench/echo_client (WORKLOADS.md) ----
W6_SIZES = {"full": (5.0, 100), "quick": (1.0, 20)}  # (D seconds, C connections)
# The same for every server. With one client thread the client was the
# ceiling (~140-160k msg/s for spool and uvloop alike); with two, the
# single-threaded Python servers measured the same within the noise
# (asyncio streams 86.5k -> 92.7k, uvloop protocol 137.7k -> 130.8k) and
# spool's two workers showed their throughput (140.5k -> 175.0k).
W6_CLIENT_THREADS = 2


def proc_cpu_s(pid):
    """utime + stime of process pid (all its threads), in seconds; None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
        fields = st[st.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def proc_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def w6_echo_once(port, timeout=5.0):
    """Opens one connection, echoes 64 bytes, closes it. Returns True if the echo matched."""
    import socket
    msg = b"warm-up " + b"x" * 55 + b"\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            chunk = s.recv(len(msg) - len(got))
            if not chunk:
                break
            got += chunk
    return got == msg


def w6_stop(p, grace=10.0):
    """SIGINT, then SIGKILL (the whole process group) after grace seconds.
    Returns the exit status, or None if it had to be killed."""
    if p.poll() is not None:
        return p.returncode
    try:
        p.send_signal(signal.SIGINT)
        return p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    except OSError:
        pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    return None


def run_w6_server(label, impl, variant, argv, client, dur, conns, timeout, json_file, env=None):
    """Starts argv (in env; a server taking --port 0 and printing "listening on
    H:P" on stderr), waits until it accepts, warms it with one connection, runs
    the client for dur seconds with conns connections, measures the server's
    CPU from /proc/PID/stat around the client's run, stops it. Returns a Run."""
    import tempfile
    if not os.path.exists(argv[0]):
        out(f"  {label:<26} MISSING: {argv[0]} (not built?)")
        return Run(label, "missing", detail=f"{argv[0]} not found")
    if not os.path.exists(client):
        out(f"  {label:<26} MISSING: {client} (not built?)")
        return Run(label, "missing", detail=f"{client} not found")
    err = tempfile.TemporaryFile(mode="w+", errors="replace")
    p = None
    try:
        p = subprocess.Popen(launch(argv + ["--port", "0"]), stdout=subprocess.DEVNULL, stderr=err,
                             cwd=ROOT, start_new_session=True, env=env)
        port = None
        deadline = time.monotonic() + min(30.0, timeout)
        while port is None and time.monotonic() < deadline and p.poll() is None:
            err.seek(0)
            for line in err.read().splitlines():
                if line.startswith("listening on "):
                    port = int(line.rsplit(":", 1)[1])
            if port is None:
                time.sleep(0.02)
        if port is None:
            err.seek(0)
            why = "exited" if p.poll() is not None else "no 'listening on' line"
            out(f"  {label:<26} FAILED (server {why}): {' '.join(argv)}")
            out(tail(err.read()))
            return Run(label, "failed", detail=f"server {why}")
        if not w6_echo_once(port):  # waits until it accepts; warms it (WORKLOADS.md)
            out(f"  {label:<26} FAILED (warm-up echo wrong)")
            return Run(label, "failed", detail="warm-up echo wrong")
        hwm0 = proc_hwm_kib(p.pid)
        cpu0 = proc_cpu_s(p.pid)
        cargv = [client, "--port", str(port), "--connections", str(conns),
                 "--threads", str(W6_CLIENT_THREADS), "--duration", str(dur)]
        try:
            rc, so, se = run_capture(cargv, min(timeout, dur + 60))
        except subprocess.TimeoutExpired:
            out(f"  {label:<26} TIMEOUT: {' '.join(cargv)}")
            return Run(label, "timeout", detail="client timed out")
        cpu1 = proc_cpu_s(p.pid)
        hwm = proc_hwm_kib(p.pid)
        line, crow = last_json(so)
        src = w6_stop(p)
        err.seek(0)
        serr = err.read()
        ok = rc == 0 and crow is not None and crow.get("ok") is True and src == 0
        msgs = (crow or {}).get("msgs", 0) or 0
        wall = (crow or {}).get("wall_s", 0) or 0
        row = {"workload": "tcp_echo", "impl": impl, "variant": variant, "n": msgs,
               "wall_s": wall, "per_op_ns": round(wall * 1e9 / msgs, 1) if msgs else 0.0,
               "peak_rss_kib": hwm, "base_rss_kib": hwm0,
               "workers": server_workers(impl, argv),
               "connections": conns, "duration_s": dur,
               "msgs_per_s": (crow or {}).get("msgs_per_s", 0),
               "p50_us": (crow or {}).get("p50_us", 0), "p99_us": (crow or {}).get("p99_us", 0),
               "p999_us": (crow or {}).get("p999_us", 0),
               "server_cpu_us_per_msg": round((cpu1 - cpu0) * 1e6 / msgs, 2) if msgs and None not in (cpu0, cpu1) else 0.0,
               "ok": bool(ok)}
        row = with_backend(row, serr)
        if json_file is not None:
            json_file.write(json.dumps(row) + "\n")
            json_file.flush()
        if not ok:
            why = []
            if rc != 0:
                why.append(f"client exit {rc}")
            if src != 0:
                why.append("server did not stop on SIGINT" if src is None else f"server exit {src}")
            out(f"  {label:<26} FAILED ({', '.join(why) or 'ok:false'}): {' '.join(cargv)}")
            out(tail((so or "") + (se or "") + serr))
            return Run(label, "not ok" if crow is not None else "failed", row, ", ".join(why))
        out(f"  {label:<26} {row['msgs_per_s'] / 1e3:.1f}k msgs/s, p50 {row['p50_us']:.0f} us, "
            f"p99 {row['p99_us']:.0f} us, server CPU {row['server_cpu_us_per_msg']:.2f} us/msg, "
            f"peak RSS {fmt_kib(hwm)}")
        return Run(label, "ok", row)
    except OSError as e:
        out(f"  {label:<26} FAILED: {e}")
        return Run(label, "failed", detail=str(e))
    finally:
        if p is not None and p.poll() is None:
            w6_stop(p, grace=2.0)
        err.close()


def server_workers(impl, argv):
    """The threads a server runs tasks on: its --workers, else one per CPU
    for spool and the peers; 1 for the Python servers and the raw floors."""
    if "--workers" in argv:
        return int(argv[argv.index("--workers") + 1])
    return (os.cpu_count() or 1) if impl == "spool" or impl in PEERS else 1


def with_backend(row, server_stderr):
    """A spool server's row with "backend" after "impl": the driver its
    "backend: DRIVER" line on stderr names (examples/*_server.c). Other rows
    as they are."""
    if row.get("impl") != "spool":
        return row
    m = re.search(r"^backend: (\S+)$", server_stderr, re.M)
    out_row = {}
    for k, v in row.items():
        out_row[k] = v
        if k == "impl":
            out_row["backend"] = m.group(1) if m else ""
    return out_row


def on_driver(run, driver):
    """run, failed if it ran on another driver than SPOOL_BACKEND asked."""
    got = (run.row or {}).get("backend")
    if run.status == "ok" and got != driver:
        out(f"  {run.label:<26} FAILED: SPOOL_BACKEND={driver}, but it ran on {got or '?'}")
        run.status, run.detail = "failed", f"ran on {got or '?'}"
    return run


# Rounds of the server workloads (W6, HTTP, HTTPS). The machines are shared
# and noisy: one 5 s sample of a server moved by up to 2x between two runs
# of bench/run (Tokio's W6: 70.7k and 141k msgs/s the same day). So every
# server runs once per round, the rounds one after the other (each round
# runs every server, so a slow spell of the machine hits them all alike),
# and each server's row is its median round by throughput (the whole row
# of that round: its latencies and CPU go with it).
SERVER_ROUNDS = {"full": 3, "quick": 1}


def median_of_rounds(servers, rounds, metric, json_file):
    """Runs servers (key -> fn(json_file) -> Run) `rounds` times, all of
    them in each round, in order. Returns {key: Run}: the round with the
    median `metric` of a server whose every round was ok (its row gets
    "rounds" and "<metric>_rounds", every round's figure), else its first
    round that was not ok. Writes the rows returned to json_file."""
    runs = {key: [] for key in servers}
    for i in range(rounds):
        if rounds > 1:
            out(f"  -- round {i + 1} of {rounds}")
        for key, fn in servers.items():
            runs[key].append(fn(None))
    r = {}
    for key, rs in runs.items():
        bad = [x for x in rs if x.status != "ok"]
        if bad:
            r[key] = bad[0]
        else:
            rs = sorted(rs, key=lambda x: x.row.get(metric, 0))
            r[key] = rs[(len(rs) - 1) // 2]
            if rounds > 1:
                r[key].row["rounds"] = rounds
                r[key].row[f"{metric}_rounds"] = [x.row.get(metric, 0) for x in runs[key]]
        if r[key].row is not None and json_file is not None:
            json_file.write(json.dumps(r[key].row) + "\n")
            json_file.flush()
    if rounds > 1:
        out(f"  (each row below: the server's median round of {rounds}, by {metric})")
    return r


# The kernel floor of each driver: a raw single-threaded server (bench/echo_floor.c)
# doing only the recv and the send of each message, so every run shows how
# much of the servers' CPU per message is loopback TCP that no server avoids.
W6_FLOORS = {"io_uring": ("raw_uring", "uring-recv"), "epoll": ("raw_epoll", "epoll")}  # impl, --mode


def run_w6(build, py, uv, quick, timeout, json_file, drivers):
    """W6 for every server: spool on each driver (all workers, then one),
    the raw floor of each driver, asyncio streams/protocol, uvloop
    streams/protocol (when importable), Go and Tokio (when built: all
    threads, then one). Returns {key: Run}."""
    dur, conns = W6_SIZES["quick" if quick else "full"]
    out(f"== {PROGRESS}W6 tcp_echo (C {conns} connections, D {dur:g} s, 64-byte messages, "
        f"client {W6_CLIENT_THREADS} thread)")
    client = os.path.join(build, "bench", "echo_client")
    script = os.path.join(HERE, "asyncio", "w6_echo_server.py")
    echo = os.path.join(build, "examples", "echo_server")
    servers = {}  # key -> fn(json_file) -> Run
    for workers in ([], ["--workers", "1"]):
        for d in drivers:
            key = " ".join(["spool", d] + workers)
            servers[key] = (lambda jf, key=key, workers=workers, d=d: on_driver(
                run_w6_server(key, "spool", "", [echo] + workers, client, dur, conns, timeout, jf,
                              driver_env(d)), d))
    for d in drivers:
        impl, mode = W6_FLOORS[d]
        key = f"raw {d} (floor)"
        servers[key] = (lambda jf, key=key, impl=impl, mode=mode: run_w6_server(
            key, impl, "recv", [os.path.join(build, "bench", "echo_floor"), "--mode", mode],
            client, dur, conns, timeout, jf))
    for loop in ("asyncio", "uvloop") if uv else ("asyncio",):
        for v in ("streams", "protocol"):
            servers[f"{loop} {v}"] = (lambda jf, loop=loop, v=v: run_w6_server(
                f"{loop} {v}", loop, v, [py, script, "--variant", v, "--loop", loop],
                client, dur, conns, timeout, jf))
    for impl, exe in peer_sides().items():
        for workers in ([], ["--workers", "1"]):
            key = " ".join([impl] + workers)
            servers[key] = (lambda jf, key=key, impl=impl, exe=exe, workers=workers: run_w6_server(
                key, impl, "", [exe, "echo_server"] + workers, client, dur, conns, timeout, jf))
    return median_of_rounds(servers, SERVER_ROUNDS["quick" if quick else "full"], "msgs_per_s", json_file)


def io_uring_twin(r, key):
    """The row a row on epoll is set against: the same server on io_uring
    ("spool epoll --workers 1" -> "spool io_uring --workers 1"); else None."""
    return r.get(key.replace("epoll", "io_uring")) if "epoll" in key else None


def print_w6_table(r, drivers):
    base = r.get("asyncio streams")
    both = len(drivers) > 1
    head = (["W6 tcp_echo server", "msgs/s", "p50 us", "p99 us", "p999 us", "server CPU us/msg",
             "msgs/s vs asyncio streams", "CPU/msg vs asyncio streams"]
            + vs_io_uring(drivers, "msgs/s") + vs_io_uring(drivers, "CPU/msg")
            + (["msgs/s vs best peer"] if peer_keys(r) else []))
    rows = []
    for key, run in r.items():
        twin = io_uring_twin(r, key)
        sides = [base, twin] if both else [base]
        vs = [ratio(run, b, f, 2) for b in sides for f in ("msgs_per_s", "server_cpu_us_per_msg")]
        if peer_keys(r):
            vs.append(vs_best_peer(run, r))
        if run.status != "ok":
            rows.append([key, run.status.upper()] + ["-"] * (4 + len(vs)))
            continue
        x = run.row
        rows.append([key, f"{x['msgs_per_s']:.0f}", f"{x['p50_us']:.0f}", f"{x['p99_us']:.0f}",
                     f"{x.get('p999_us', 0):.0f}", f"{x['server_cpu_us_per_msg']:.2f}"] + vs)
    print_grid(head, rows,
               "W6: one load client (bench/echo_client) for every server; server CPU = its utime+stime "
               "over the client's run / messages echoed. epoll / io_uring: a row on epoll against the "
               "same server on io_uring. best peer: the fastest Go or Tokio server (any thread count).")


# ---- HTTP http_plaintext: each server driven by wrk (WORKLOADS.md) ----------
HTTP_SIZES = {"full": (5, 100), "quick": (1, 20)}  # (wrk seconds, connections)
HTTP_WRK_THREADS = 2
HTTP_REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def http_free_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, timeout=5.0, cafile=None):
    """One GET /plaintext on a raw socket (over TLS, verifying the server
    against cafile, if given). Returns None if the response is a 200 with
    the body "Hello, World!", else what was wrong."""
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            s = raw
            if cafile:
                import ssl
                ctx = ssl.create_default_context(cafile=cafile)
                s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            s.settimeout(timeout)
            s.sendall(HTTP_REQUEST)
            data = b""
            while b"\r\n\r\n" not in data or len(data) - data.index(b"\r\n\r\n") - 4 < 13:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return f"request failed: {e}"
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.1 200 ") or body[:13] != b"Hello, World!":
        return f"unexpected response: {data[:200]!r}"
    return None


def http_wait_ready(p, port, limit=15.0):
    """Waits until the server accepts a connection. Returns None or why not."""
    import socket
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if p.poll() is not None:
            return f"server exited with {p.returncode} before accepting"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return None
        except OSError:
            time.sleep(0.05)
    return f"server not accepting after {limit:g} s"


def http_stop(p, grace=10.0):
    """SIGTERM, then SIGKILL after grace seconds; the whole process group."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # anything left in the group
    except OSError:
        pass
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    return p.returncode


def http_latency_us(text, pct):
    import re
    m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return None
    return round(float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)], 1)


def http_parse_wrk(text):
    """(req_per_s, p50_us, p99_us, requests, errors) from wrk --latency output."""
    import re
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in", text, re.M)
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += int(m.group(1)) + int(m.group(3))  # read errors: closes at the end of the run
    return (float(rps.group(1)) if rps else None, http_latency_us(text, 50),
            http_latency_us(text, 99), int(total.group(1)) if total else 0, errors)


def run_http_server(label, impl, variant, argv, workers, wrk, dur, conns, timeout, json_file, env=None,
                    tls=None):
    """Starts one server (in env), checks one response, warms it, runs wrk
    against it, stops it. Returns a Run whose row is the JSON line of
    WORKLOADS.md. tls: (cert, key) to serve and measure HTTPS instead
    (the server gets --tls CERT KEY; the workload is https_plaintext)."""
    import tempfile
    scheme, workload, cafile = "http", "http_plaintext", None
    if tls:
        scheme, workload, cafile = "https", "https_plaintext", tls[0]
        argv = argv + ["--tls", tls[0], tls[1]]
    if not os.path.exists(argv[0]):
        out(f"  {label:<26} MISSING: {argv[0]} (not built?)")
        return Run(label, "missing", detail=f"{argv[0]} not found")
    port = http_free_port()
    argv = argv + ["--port", str(port)]
    err = tempfile.TemporaryFile(mode="w+")
    try:
        p = subprocess.Popen(launch(argv), stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT,
                             start_new_session=True, env=env)
    except OSError as e:
        err.close()
        out(f"  {label:<26} FAILED to start: {e}")
        return Run(label, "failed", detail=str(e))
    status, detail, row = "ok", "", None
    try:
        why = http_wait_ready(p, port) or http_get(port, cafile=cafile)
        if why:
            status, detail = "failed", why
        else:
            base = http_proc_rss_kib(p.pid)
            http_get(port, cafile=cafile)  # warm: one connection opened and closed (WORKLOADS.md)
            if dur > 1:     # and a short load, so that both sides reach their steady state
                run_capture([wrk, "-t", str(HTTP_WRK_THREADS), "-c", str(conns), "-d", "1s",
                             f"{scheme}://127.0.0.1:{port}/plaintext"], min(timeout, 60))
            cpu0 = proc_cpu_s(p.pid)
            cmd = [wrk, "-t", str(HTTP_WRK_THREADS), "-c", str(conns), "-d", f"{dur}s", "--latency",
                   "-s", os.path.join(HERE, "wrk_latency.lua"), f"{scheme}://127.0.0.1:{port}/plaintext"]
            t0 = time.perf_counter()
            rc, text, wrk_err = run_capture(cmd, min(timeout, dur + 60))
            wall = time.perf_counter() - t0
            cpu1 = proc_cpu_s(p.pid)
            rps, p50, p99, total, errors = http_parse_wrk(text)
            if rc != 0 or rps is None:
                status, detail = "failed", f"wrk exit {rc}: {tail(text + wrk_err)}"
            elif p.poll() is not None:
                status, detail = "failed", f"server died during the run ({p.returncode})"
            else:
                row = {"workload": workload, "impl": impl, "variant": variant,
                       "n": total, "wall_s": round(wall, 6),
                       "per_op_ns": round(1e9 / rps, 1) if rps else 0.0,
                       "peak_rss_kib": proc_hwm_kib(p.pid), "base_rss_kib": base,
                       "workers": workers, "ok": errors == 0 and http_get(port, cafile=cafile) is None,
                       "req_per_s": round(rps, 1), "p50_us": p50, "p99_us": p99}
                m = re.search(r"^p999_us (\d+)$", text, re.M)  # bench/wrk_latency.lua
                if m:
                    row["p999_us"] = float(m.group(1))
                if cpu0 is not None and cpu1 is not None and total:
                    row["server_cpu_us_per_req"] = round((cpu1 - cpu0) * 1e6 / total, 2)
                if errors:
                    detail = f"{errors} errors or non-2xx responses"
                status = "ok" if row["ok"] else "not ok"
    except subprocess.TimeoutExpired:
        status, detail = "timeout", f"wrk timed out after {min(timeout, dur + 60):g} s"
    finally:
        rc = http_stop(p)
    err.seek(0)
    err_text = err.read()
    err.close()
    if row is not None:
        row = with_backend(row, err_text)
    if row is not None and json_file is not None:
        json_file.write(json.dumps(row) + "\n")
        json_file.flush()
    if status == "ok":
        out(f"  {label:<26} {row['req_per_s']:,.0f} req/s, p50 {row['p50_us']} us, "
            f"p99 {row['p99_us']} us, server CPU {row.get('server_cpu_us_per_req', '-')} us/req, "
            f"peak RSS {fmt_kib(row['peak_rss_kib'])}")
    else:
        out(f"  {label:<26} {status.upper()}: {detail}: {' '.join(argv)}")
        if err_text.strip():
            out(tail(err_text, 8))
    if rc not in (0, -signal.SIGTERM, None) and status == "ok":
        out(f"  {label:<26} note: the server exited with {rc} when stopped")
    return Run(label, status, row, detail)


def http_proc_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def run_http(build, py, uv, quick, timeout, json_file, drivers):
    """HTTP plaintext for every server: spool (examples/http_server, all
    workers) on each driver, asyncio Protocol, uvloop Protocol, Go and Tokio
    (when built: all threads, then one). Skipped if wrk is missing.
    Returns {key: Run}."""
    dur, conns = HTTP_SIZES["quick" if quick else "full"]
    wrk = shutil.which("wrk")
    out(f"== {PROGRESS}HTTP http_plaintext (wrk -t{HTTP_WRK_THREADS} -c{conns} -d{dur}s --latency "
        "http://127.0.0.1:PORT/plaintext)")
    if not wrk:
        out("  skipped: wrk is not installed (bench/run installs it as root; else: "
            "sudo apt-get install -y wrk)")
        return {}
    servers = {}  # key -> fn(json_file) -> Run
    script = os.path.join(HERE, "asyncio", "http_server.py")
    ncpu = os.cpu_count() or 1
    for d in drivers:
        servers[f"spool {d}"] = (lambda jf, d=d: on_driver(run_http_server(
            f"spool {d}", "spool", "", [os.path.join(build, "examples", "http_server")], ncpu,
            wrk, dur, conns, timeout, jf, driver_env(d)), d))
    for loop in ("asyncio", "uvloop") if uv else ("asyncio",):
        servers[f"{loop} protocol"] = (lambda jf, loop=loop: run_http_server(
            f"{loop} protocol", loop, "protocol", [py, script, "--loop", loop], 1, wrk, dur, conns,
            timeout, jf))
    for impl, exe in peer_sides().items():
        for workers in ([], ["--workers", "1"]):
            key = " ".join([impl] + workers)
            servers[key] = (lambda jf, key=key, impl=impl, exe=exe, workers=workers: run_http_server(
                key, impl, "", [exe, "http_server"] + workers, server_workers(impl, workers), wrk, dur,
                conns, timeout, jf))
    return median_of_rounds(servers, SERVER_ROUNDS["quick" if quick else "full"], "req_per_s", json_file)


def https_cert(tmpdir):
    """A throwaway self-signed certificate for 127.0.0.1 (EC P-256), made
    with the openssl command in tmpdir. Returns (cert, key), or None (and
    says why) if openssl cannot make one."""
    cert, key = os.path.join(tmpdir, "cert.pem"), os.path.join(tmpdir, "key.pem")
    openssl = shutil.which("openssl")
    if not openssl:
        out("  skipped: no openssl command (bench/run installs it as root; else: "
            "sudo apt-get install -y openssl)")
        return None
    rc, text, err = run_capture([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                 "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                                 "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], 60)
    if rc != 0:
        out(f"  skipped: openssl req failed: {tail(text + err)}")
        return None
    return cert, key


def run_https(build, py, uv, quick, timeout, json_file, drivers):
    """HTTPS plaintext: run_http's servers over TLS 1.3 (spool's
    examples/http_server --tls, the asyncio and uvloop Protocol servers with
    create_server(ssl=)), each driven by wrk over https with a throwaway
    self-signed certificate. Skipped without wrk or openssl, or when spool
    was built without TLS. Returns {key: Run}."""
    import tempfile
    dur, conns = HTTP_SIZES["quick" if quick else "full"]
    wrk = shutil.which("wrk")
    out(f"== {PROGRESS}HTTPS https_plaintext (wrk -t{HTTP_WRK_THREADS} -c{conns} -d{dur}s --latency "
        "https://127.0.0.1:PORT/plaintext)")
    if not wrk:
        out("  skipped: wrk is not installed (bench/run installs it as root; else: "
            "sudo apt-get install -y wrk)")
        return {}
    r = {}
    with tempfile.TemporaryDirectory(prefix="spool-https-") as tmp:
        tls = https_cert(tmp)
        if not tls:
            return {}
        script = os.path.join(HERE, "asyncio", "http_server.py")
        ncpu = os.cpu_count() or 1
        server = os.path.join(build, "examples", "http_server")
        if os.path.exists(server):
            # --tls before --help: the context is made (and fails in a
            # build without TLS) before the usage is printed.
            rc, text, err = run_capture([server, "--tls", tls[0], tls[1], "--help"], 30,
                                        merge_stderr=True)
            if rc != 0:
                out(f"  skipped: {server} cannot serve TLS (spool built without OpenSSL 3? "
                    f"apt-get install libssl-dev): {tail(text + err, 3)}")
                return {}
        servers = {}  # key -> fn(json_file) -> Run
        for d in drivers:
            servers[f"spool {d}"] = (lambda jf, d=d: on_driver(run_http_server(
                f"spool {d}", "spool", "", [server], ncpu, wrk, dur, conns, timeout, jf, driver_env(d),
                tls=tls), d))
        for loop in ("asyncio", "uvloop") if uv else ("asyncio",):
            servers[f"{loop} protocol"] = (lambda jf, loop=loop: run_http_server(
                f"{loop} protocol", loop, "protocol", [py, script, "--loop", loop], 1, wrk, dur, conns,
                timeout, jf, tls=tls))
        r = median_of_rounds(servers, SERVER_ROUNDS["quick" if quick else "full"], "req_per_s", json_file)
    return r


def print_http_table(r, drivers, workload="HTTP http_plaintext"):
    bases = [k for k in ("asyncio protocol", "uvloop protocol", "go", "tokio") if k in r]
    both = len(drivers) > 1
    head = ([f"{workload} server", "req/s", "p50 us", "p99 us", "p999 us", "server CPU us/req", "peak RSS"]
            + [f"vs {b}" for b in bases] + vs_io_uring(drivers, "req/s"))
    rows = []
    for key, run in r.items():
        sides = [r[b] for b in bases] + ([io_uring_twin(r, key)] if both else [])
        vs = [ratio(run, b, "req_per_s", 2) for b in sides]
        if run.status != "ok":
            rows.append([key, run.status.upper()] + ["-"] * 5 + vs)
            continue
        x = run.row
        rows.append([key, f"{x['req_per_s']:,.0f}", str(x["p50_us"]), str(x["p99_us"]), str(x.get("p999_us", "-")),
                     str(x.get("server_cpu_us_per_req", "-")), fmt_kib(x["peak_rss_kib"])] + vs)
    if rows:
        print_grid(head, rows,
                   f"{workload.split()[0]}: wrk -t{HTTP_WRK_THREADS} on the same machine as the server; vs X = this "
                   "server's req/s / X's req/s; req/s epoll / io_uring: spool's on epoll / on io_uring "
                   "(0.90x: epoll serves 10% fewer).")


def run_examples(build, timeout):
    out("== examples")
    failed = []
    for ex in EXAMPLES:
        path = os.path.join(build, "examples", ex)
        if not os.path.exists(path):
            out(f"-- {ex}: skipped, {path} not built")
            continue
        t0 = time.perf_counter()
        try:
            rc, text, _ = run_capture([path], timeout, merge_stderr=True)
        except subprocess.TimeoutExpired:
            out(f"-- {ex}: TIMEOUT after {timeout:g} s")
            failed.append(ex)
            continue
        except OSError as e:
            out(f"-- {ex}: FAILED to start: {e}")
            failed.append(ex)
            continue
        dt = time.perf_counter() - t0
        status = "ok" if rc == 0 else f"FAILED ({'exit ' + str(rc) if rc > 0 else 'signal ' + str(-rc)})"
        out(f"-- {ex}: {status}, {dt:.3f} s")
        for x in text.rstrip().splitlines()[:40]:
            out(f"   {x}")
        if rc != 0:
            failed.append(ex)
    return failed


def run_workload(wid, build, py, uv, quick, timeout, json_file, drivers):
    """One of W1-W5, W7-W9: asyncio, uvloop (when importable), Go and Tokio
    (when built: all threads, then one), then spool on each driver (with one
    worker where ONE_WORKER says, then with all). Returns {key: Run}:
    "asyncio", "uvloop", "go", "go --workers 1", "tokio", "tokio --workers 1",
    "spool1 DRIVER", "spool DRIVER"."""
    name, full, small, _ = WORKLOADS[wid]
    size = small if quick else full
    stem = f"w{wid[1:]}_{name}"
    out(f"== {PROGRESS}{wid} {name} (--n {size})")
    r = {}
    script = os.path.join(HERE, "asyncio", stem + ".py")
    if not os.path.exists(script):
        out(f"  {'asyncio':<26} MISSING: {script}")
        r["asyncio"] = Run("asyncio", "missing")
    else:
        for loop in ("asyncio", "uvloop") if uv else ("asyncio",):
            r[loop] = run_program(loop, [py, script, "--n", str(size), "--loop", loop], timeout, json_file)
    if wid in PEER_WORKLOADS:
        for impl, exe in peer_sides().items():
            for workers in ([], ["--workers", "1"]):
                key = " ".join([impl] + workers)
                r[key] = run_program(key, [exe, name, "--n", str(size)] + workers, timeout, json_file)
    exe = os.path.join(build, "bench", "spool_" + stem)
    for key, workers in (("spool1", ["--workers", "1"]), ("spool", [])):
        if key == "spool1" and wid not in ONE_WORKER:
            continue
        for d in drivers:
            label = " ".join(["spool", d] + workers)
            r[f"{key} {d}"] = on_driver(run_program(label, [exe, "--n", str(size)] + workers, timeout,
                                                    json_file, driver_env(d)), d)
    return r


def main():
    ap = argparse.ArgumentParser(description="asyncio vs uvloop vs spool (on io_uring and on epoll) "
                                             "on the WORKLOADS.md workloads")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes (W1 20000, W2 fib 15, W3 20000, W4 2000, W5 2000, W7 500, W8 2000, W9 20000) for CI")
    ap.add_argument("--only", default="", help="comma-separated workload ids, e.g. W1,W3 (default: all)")
    ap.add_argument("--json", metavar="FILE", help="write every JSON line received to FILE (truncated first)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"),
                    help="spool build directory (default build/release)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds before a program is killed (default 600; 120 with --quick)")
    ap.add_argument("--emulator", default="",
                    help="run the build's programs through this program (qemu-aarch64-static for a "
                         "cross build); figures under emulation mean nothing")
    a = ap.parse_args()

    if a.only:
        ids = []
        for w in a.only.split(","):
            w = w.strip().upper()
            if not w:
                continue
            if w not in WORKLOADS:
                ap.error(f"unknown workload {w!r} (choose from {', '.join(WORKLOADS)})")
            if w not in ids:
                ids.append(w)
    else:
        ids = list(WORKLOADS)
    timeout = a.timeout if a.timeout else (120.0 if a.quick else 600.0)
    build = os.path.abspath(a.build)
    global BUILD, EMULATOR
    BUILD = build
    EMULATOR = [a.emulator] if a.emulator else []
    py = pick_python()
    uv = has_uvloop(py)
    json_file = open(a.json, "w") if a.json else None

    if EMULATOR:
        out(f"note: the build's programs run under {a.emulator}: the figures below measure the "
            "emulator, not spool; what counts is that every program runs and checks out")
    out(f"spool bench: build {build}; python {py} "
        f"({'with' if uv else 'without'} uvloop); {os.cpu_count()} CPUs; "
        f"{'quick' if a.quick else 'full'} sizes")
    bad = []
    bad_examples = run_examples(build, timeout)
    bad += [f"example {e}" for e in bad_examples]
    if not uv:
        out(f"note: {py} cannot import uvloop; the uvloop column is skipped "
            "(apt-get install python3-uvloop)")

    drivers = usable_drivers(build, timeout)
    results = {}
    global PROGRESS
    for k, wid in enumerate(ids, 1):
        PROGRESS = f"[{k}/{len(ids)}] "
        if wid in ("W6", "HTTP", "HTTPS"):
            runner = {"W6": run_w6, "HTTP": run_http, "HTTPS": run_https}[wid]
            r = results[wid] = runner(build, py, uv, a.quick, timeout, json_file, drivers)
        else:
            r = results[wid] = run_workload(wid, build, py, uv, a.quick, timeout, json_file, drivers)
        bad += [f"{wid} {x.label} {x.status}" for x in r.values() if x.status != "ok"]

    if json_file is not None:
        json_file.close()
    out("")
    if any(w not in ("W6", "HTTP", "HTTPS") for w in ids):
        print_table(results, ids, drivers)
        print_peer_table(results, ids, drivers)
    if results.get("HTTP"):
        out("")
        print_http_table(results["HTTP"], drivers)
    if results.get("HTTPS"):
        out("")
        print_http_table(results["HTTPS"], drivers, "HTTPS https_plaintext")
    if "W6" in results:
        out("")
        print_w6_table(results["W6"], drivers)
    if a.json:
        out(f"JSON lines: {a.json}")
    if bad:
        out(f"FAILED ({len(bad)}): " + "; ".join(bad))
        return 1
    out("all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
