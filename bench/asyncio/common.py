"""Shared helpers for the asyncio/uvloop side of the benchmarks.

Each workload program (bench/asyncio/wN_*.py) calls main() with its workload
name, its default size and an async function ``work(n) -> (ok, extra)``.
main() parses ``--n`` and ``--loop``, measures the RSS before the workload,
times only the workload (inside the event loop, after it has started), and
prints one JSON line in the format of shared/bench/WORKLOADS.md.

``work`` returns ``(ok, n_ops, extra)`` where ``n_ops`` is the count that
``per_op_ns`` divides the wall time by and ``extra`` is a dict of fields to
add (or override, e.g. ``n`` for W2) in the JSON line.
"""
import argparse
import asyncio
import json
import os
import resource
import sys
import time


def rss_kib():
    """Resident set size of this process now, in KiB."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_rss_kib():
    """Peak RSS of this process: VmHWM, the high-water mark of this image
    (ru_maxrss is carried across exec on Linux, so it can report the parent's
    peak). Never less than the RSS read precisely now."""
    hwm = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                    break
    except OSError:
        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(hwm, rss_kib())


def parse_args(default_n, description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--n", type=int, default=default_n,
                   help=f"workload size (default {default_n})")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                   help="event loop implementation (default asyncio)")
    a = p.parse_args()
    if a.n < 0:
        p.error("--n must be >= 0")
    return a


def loop_factory(name):
    """A callable that makes a new event loop of the named implementation."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError as e:
            sys.stderr.write(f"uvloop is not importable by {sys.executable}: {e}\n")
            sys.exit(2)
        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run_in_loop(name, coro_fn):
    """Runs coro_fn() to completion in a new loop of the named implementation."""
    factory = loop_factory(name)
    if hasattr(asyncio, "Runner"):  # Python 3.11+
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro_fn())
    loop = factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro_fn())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def main(workload, default_n, work, description=""):
    """Runs `work(n)` in the chosen loop, prints the JSON line, exits 1 if not ok."""
    args = parse_args(default_n, description or workload)
    base = rss_kib()

    async def timed():
        t0 = time.perf_counter()
        ok, n_ops, extra = await work(args.n)
        t1 = time.perf_counter()
        return t1 - t0, ok, n_ops, extra

    wall, ok, n_ops, extra = run_in_loop(args.loop, timed)
    row = {
        "workload": workload,
        "impl": args.loop,
        "variant": "",
        "n": args.n,
        "wall_s": round(wall, 6),
        "per_op_ns": round(wall * 1e9 / n_ops, 1) if n_ops else 0.0,
        "peak_rss_kib": peak_rss_kib(),
        "base_rss_kib": base,
        "workers": 1,
        "ok": bool(ok),
    }
    row.update(extra)
    sys.stdout.write(json.dumps(row) + "\n")
    sys.stdout.flush()
    sys.exit(0 if ok else 1)
