// Command spool_go is the Go side of the benchmark workloads of
// shared/bench/WORKLOADS.md: goroutines and the standard library only, with
// the same semantics as the C (bench/w*.c) and asyncio (bench/asyncio/)
// programs. bench/compare.py builds it with Debian's golang-go when that is
// installed and adds its rows (impl "go").
//
//	spool_go WORKLOAD [--n N] [--workers W]
//	spool_go echo_server [--host H] [--port P] [--workers W]
//	spool_go http_server [--host H] [--port P] [--workers W]
//
// WORKLOAD is spawn_join, fib_fork, ping_pong, sleep_many, semaphore_limit,
// file_read or timeout_cancel. --workers sets GOMAXPROCS (0, the default:
// one per CPU). A workload prints one JSON line on stdout and exits 1 when
// its result does not check out; a server prints "listening on HOST:PORT"
// on stderr once it accepts connections and exits 0 on SIGINT or SIGTERM.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// A workload runs with size n and fills in the report.
type workload struct {
	defaultN int
	run      func(n int, r *report)
}

var workloads = map[string]workload{
	"spawn_join":      {1_000_000, spawnJoin},
	"fib_fork":        {25, fibFork},
	"ping_pong":       {1_000_000, pingPong},
	"sleep_many":      {100_000, sleepMany},
	"semaphore_limit": {100_000, semaphoreLimit},
	"file_read":       {10_000, fileRead},
	"timeout_cancel":  {100_000, timeoutCancel},
}

// report is the JSON line of WORKLOADS.md. A workload sets n (when it
// differs from --n), ops, wall, baseRSS, ok and extra.
type report struct {
	n       int
	ops     int
	wall    time.Duration
	baseRSS int64
	ok      bool
	extra   map[string]interface{}
}

// start records the RSS before the timed part and returns the start time.
func (r *report) start() time.Time {
	r.baseRSS = rssKiB()
	return time.Now()
}

// statusKiB reads a "Field:  N kB" line of /proc/self/status.
func statusKiB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line[len(field)+1:])
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

func rssKiB() int64     { return statusKiB("VmRSS") }
func peakRSSKiB() int64 { return statusKiB("VmHWM") }

func usage() {
	fmt.Fprintf(os.Stderr, "usage: spool_go WORKLOAD [--n N] [--workers W]\n"+
		"       spool_go echo_server|http_server [--host H] [--port P] [--workers W]\n"+
		"workloads: spawn_join fib_fork ping_pong sleep_many semaphore_limit file_read timeout_cancel\n")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	name := os.Args[1]
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	n := fs.Int("n", -1, "workload size (default: the workload's)")
	workers := fs.Int("workers", 0, "GOMAXPROCS (0: one per CPU)")
	host := fs.String("host", "127.0.0.1", "server address")
	port := fs.Int("port", 8888, "server port (0: any free port)")
	fs.Parse(os.Args[2:])
	if *workers < 0 {
		usage()
	}
	if *workers > 0 {
		runtime.GOMAXPROCS(*workers)
	}
	switch name {
	case "echo_server":
		os.Exit(echoServer(*host, *port))
	case "http_server":
		os.Exit(httpServer(*host, *port))
	}
	w, found := workloads[name]
	if !found {
		usage()
	}
	size := w.defaultN
	if *n >= 0 {
		size = *n
	}
	r := report{n: size, ops: size, extra: map[string]interface{}{}}
	w.run(size, &r)

	perOp := 0.0
	if r.ops > 0 {
		perOp = float64(r.wall.Nanoseconds()) / float64(r.ops)
	}
	row := map[string]interface{}{
		"workload": name, "impl": "go", "backend": "", "variant": "",
		"n": r.n, "wall_s": r.wall.Seconds(), "per_op_ns": round1(perOp),
		"peak_rss_kib": peakRSSKiB(), "base_rss_kib": r.baseRSS,
		"workers": runtime.GOMAXPROCS(0), "ok": r.ok,
	}
	for k, v := range r.extra {
		row[k] = v
	}
	line, _ := json.Marshal(row)
	fmt.Println(string(line))
	if !r.ok {
		os.Exit(1)
	}
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
