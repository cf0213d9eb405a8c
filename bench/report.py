#!/usr/bin/env python3
"""Turns the JSON lines of one benchmark run (bench/compare.py --json FILE)
into a report: report.md, a Markdown table per workload, and one SVG chart
per figure (plain SVG written here: no plotting package needed), with the
machine, the date and the command on it. bench/run calls it after every run.

usage: bench/report.py RESULTS.jsonl [--out DIR] [--command "bench/run ..."]
                       [--date YYYY-MM-DD]

Each chart sets every side of a workload beside the others: asyncio, uvloop,
Go and Tokio (all threads and one, where the run had them), spool on one worker and on all of them, on each driver (and, for W6, the raw
single-threaded floors); log scale where the largest bar is over 20 times the
smallest. Bars are labelled with their value and unit, and say whether lower
or higher is better.
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import sys
from xml.sax.saxutils import escape

# workload name -> (id, title, [(figure key, unit, label, better, scale)]).
# scale multiplies the JSON value into the unit shown.
FIGURES = {
    "spawn_join": ("W1", "spawn and join", [("per_op_ns", "ns/task", "time per task", "lower", 1)]),
    "fib_fork": ("W2", "recursive fork-join (fib)", [("per_op_ns", "ns/task", "time per task", "lower", 1)]),
    "ping_pong": ("W3", "ping-pong hand-offs", [("per_op_ns", "ns/hand-off", "time per hand-off", "lower", 1)]),
    "sleep_many": ("W4", "many sleepers", [("wall_s", "s", "wall time", "lower", 1)]),
    "semaphore_limit": ("W5", "semaphore-limited fan-out", [("wall_s", "s", "wall time", "lower", 1)]),
    "tcp_echo": ("W6", "TCP echo", [("msgs_per_s", "msgs/s", "throughput", "higher", 1),
                                    ("p99_us", "ms", "p99 latency", "lower", 1e-3)]),
    "file_read": ("W7", "file reads", [("files_per_s", "files/s", "throughput", "higher", 1)]),
    "timeout_cancel": ("W8", "timeouts that fire", [("per_op_ns", "ns/wait", "time per wait", "lower", 1)]),
    "queue_pipe": ("W9", "queue pipeline", [("per_op_ns", "ns/item", "time per item", "lower", 1)]),
    "http_plaintext": ("HTTP", "plaintext server under wrk", [("req_per_s", "req/s", "throughput", "higher", 1),
                                                        ("p99_us", "ms", "p99 latency", "lower", 1e-3)]),
    "https_plaintext": ("HTTPS", "plaintext server over TLS under wrk",
                        [("req_per_s", "req/s", "throughput", "higher", 1),
                         ("p99_us", "ms", "p99 latency", "lower", 1e-3)]),
}
COLOURS = {"asyncio": "#9e9e9e", "uvloop": "#616161", "io_uring": "#1565c0", "epoll": "#2e7d32",
           "floor": "#ef6c00", "go": "#00838f", "tokio": "#8d6e63"}
PEERS = ("go", "tokio")  # the other runtimes' sides (bench/go, bench/tokio)


def side_label(r):
    """How a row is named in tables and charts."""
    impl = r.get("impl", "?")
    variant = r.get("variant") or ""
    if impl in ("asyncio", "uvloop"):
        return f"{impl} {variant}".strip()
    if impl.startswith("raw_"):
        return f"raw {impl[4:]} floor (1 thread)"
    w = r.get("workers", 0)
    if impl in PEERS:
        return f"{'Go' if impl == 'go' else 'Tokio'}, {w} thread{'s' if w != 1 else ''}"
    return f"spool {r.get('backend', '')}, {w} worker{'s' if w != 1 else ''}"


def colour(r):
    impl = r.get("impl", "")
    if impl in ("asyncio", "uvloop") or impl in PEERS:
        return COLOURS[impl]
    if impl.startswith("raw_"):
        return COLOURS["floor"]
    return COLOURS.get(r.get("backend", ""), "#1565c0")


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def nice_ticks(lo, hi, log):
    if log:
        a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        return [10 ** e for e in range(a, b + 1)], 10 ** a, 10 ** b
    step = 10 ** math.floor(math.log10(hi / 4)) if hi > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if hi / (step * m) <= 5:
            step *= m
            break
    top = math.ceil(hi / step) * step
    return [i * step for i in range(int(round(top / step)) + 1)], 0, top


def svg_chart(title, subtitle, bars, unit, better):
    """A horizontal bar chart: bars = [(label, value, colour)]."""
    left, right, bar_h, gap, top = 250, 110, 22, 8, 64
    width = 900
    plot_w = width - left - right
    height = top + len(bars) * (bar_h + gap) + 44
    values = [v for _, v, _ in bars if v > 0]
    lo, hi = min(values), max(values)
    log = hi / lo > 20
    ticks, a, b = nice_ticks(lo, hi, log)

    def x(v):
        if log:
            return left + plot_w * (math.log10(v) - math.log10(a)) / (math.log10(b) - math.log10(a))
        return left + plot_w * (v - a) / (b - a)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="16" font-weight="bold">{escape(title)}</text>',
           f'<text x="{left}" y="42" fill="#444">{escape(subtitle)}</text>']
    axis_y = top + len(bars) * (bar_h + gap)
    for t in ticks:
        tx = x(t) if (not log or t > 0) else left
        out.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{axis_y}" stroke="#ddd"/>')
        out.append(f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle" fill="#444">{fmt(t)}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{axis_y + 36}" text-anchor="middle" fill="#222">'
               f'{escape(unit)}{" (log scale)" if log else ""}, {better} is better</text>')
    for i, (label, v, col) in enumerate(bars):
        y = top + i * (bar_h + gap)
        out.append(f'<text x="{left - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{escape(label)}</text>')
        if v > 0:
            x0 = left if not log else x(a)
            w = max(1.0, x(v) - x0)
            out.append(f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{col}"/>')
            out.append(f'<text x="{x0 + w + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{fmt(v)} {escape(unit)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            model = m.group(1).strip() if m else ""
    except OSError:
        pass
    return f"{model or platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}"


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


def baseline(rows, key):
    """asyncio's row, the reference of the ratio column (streams for W6,
    the protocol server for HTTP: the sides WORKLOADS.md compares with)."""
    for want in ("streams", "protocol", ""):
        for r in rows:
            if r.get("impl") == "asyncio" and (r.get("variant") or "") == want and r.get(key):
                return r
    return None


def main():
    ap = argparse.ArgumentParser(description="report.md and SVG charts from bench/compare.py's JSON lines")
    ap.add_argument("results")
    ap.add_argument("--out", default="bench-report")
    ap.add_argument("--command", default="bench/run")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    a = ap.parse_args()
    rows = load(a.results)
    os.makedirs(a.out, exist_ok=True)
    who = machine()
    md = ["# spool benchmark report", "",
          f"- machine: {who}",
          f"- date: {a.date}",
          f"- command: `{a.command}`",
          "", "Ratios compare sides of this one run only; see docs/benchmarks.md for what each "
          "workload measures and what bounds it.", ""]
    written = []
    for name, (wid, title, figures) in FIGURES.items():
        wrows = [r for r in rows if r.get("workload") == name and r.get("ok") is True]
        if not wrows:
            continue
        md += [f"## {wid}: {title}", ""]
        for key, unit, what, better, scale in figures:
            frows = [r for r in wrows if isinstance(r.get(key), (int, float)) and r[key] > 0]
            if not frows:
                continue
            base_row = baseline(frows, key)
            base = base_row[key] if base_row else None
            vs = f"vs {side_label(base_row)}" if base_row else "vs asyncio"
            md += [f"| side | {what} ({unit}) | {vs} | peak RSS |", "|---|---|---|---|"]
            bars = []
            for r in frows:
                v = r[key] * scale
                ratio = ""
                if base and r is not base_row:
                    q = (base / r[key]) if better == "lower" else (r[key] / base)
                    ratio = f"{q:.2f}x"
                rss = r.get("peak_rss_kib")
                md.append(f"| {side_label(r)} | {fmt(v)} | {ratio} | "
                          f"{f'{rss / 1024:.1f} MiB' if rss else ''} |")
                bars.append((side_label(r), v, colour(r)))
            fname = f"{wid.lower()}_{key}.svg"
            with open(os.path.join(a.out, fname), "w") as f:
                f.write(svg_chart(f"{wid} {title}: {what}", f"{who} · {a.date} · {a.command}", bars, unit,
                                    better))
            written.append(fname)
            md += ["", f"![{wid} {what}]({fname})", ""]
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write("\n".join(md).rstrip() + "\n")
    print(f"report: {os.path.join(a.out, 'report.md')} and {len(written)} charts")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
