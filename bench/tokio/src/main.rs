//! spool_tokio: the Tokio side of the benchmark workloads of
//! shared/bench/WORKLOADS.md, with the same semantics as the C
//! (bench/w*.c) and asyncio (bench/asyncio/) programs, on Tokio's
//! multi-thread runtime.
//!
//!     spool_tokio WORKLOAD [--n N] [--workers W]
//!     spool_tokio echo_server|http_server [--host H] [--port P] [--workers W]
//!
//! WORKLOAD is spawn_join, fib_fork, ping_pong, sleep_many,
//! semaphore_limit, file_read or timeout_cancel. --workers sets the
//! runtime's worker threads (0, the default: one per CPU). A workload
//! prints one JSON line on stdout and exits 1 when its result does not
//! check out; a server prints "listening on HOST:PORT" on stderr once it
//! accepts connections and exits 0 on SIGINT or SIGTERM.

mod files;
mod report;
mod servers;
mod tasks;

use report::Report;
use std::process::exit;

/// The parsed command line.
struct Args {
    name: String,
    n: Option<u64>,
    workers: usize,
    host: String,
    port: u16,
}

fn usage() -> ! {
    eprintln!(
        "usage: spool_tokio WORKLOAD [--n N] [--workers W]\n       \
         spool_tokio echo_server|http_server [--host H] [--port P] [--workers W]\n\
         workloads: spawn_join fib_fork ping_pong sleep_many semaphore_limit file_read timeout_cancel"
    );
    exit(2)
}

fn parse() -> Args {
    let mut it = std::env::args().skip(1);
    let name = it.next().unwrap_or_else(|| usage());
    let mut a = Args { name, n: None, workers: 0, host: "127.0.0.1".into(), port: 8888 };
    while let Some(flag) = it.next() {
        let (key, value) = match flag.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (flag.clone(), it.next().unwrap_or_else(|| usage())),
        };
        match key.trim_start_matches('-') {
            "n" => a.n = Some(value.parse().unwrap_or_else(|_| usage())),
            "workers" => a.workers = value.parse().unwrap_or_else(|_| usage()),
            "host" => a.host = value,
            "port" => a.port = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    a
}

fn main() {
    let a = parse();
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.enable_all();
    if a.workers > 0 {
        b.worker_threads(a.workers);
    }
    let workers = if a.workers > 0 {
        a.workers
    } else {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    };
    let rt = b.build().expect("tokio runtime");
    let code = match a.name.as_str() {
        "echo_server" => rt.block_on(servers::echo_server(a.host, a.port)),
        "http_server" => rt.block_on(servers::http_server(a.host, a.port)),
        name => {
            let (default_n, run): (u64, fn(u64) -> report::BoxFut) = match name {
                "spawn_join" => (1_000_000, |n| Box::pin(tasks::spawn_join(n))),
                "fib_fork" => (25, |n| Box::pin(tasks::fib_fork(n))),
                "ping_pong" => (1_000_000, |n| Box::pin(tasks::ping_pong(n))),
                "sleep_many" => (100_000, |n| Box::pin(tasks::sleep_many(n))),
                "semaphore_limit" => (100_000, |n| Box::pin(tasks::semaphore_limit(n))),
                "file_read" => (10_000, |n| Box::pin(files::file_read(n))),
                "timeout_cancel" => (100_000, |n| Box::pin(tasks::timeout_cancel(n))),
                _ => usage(),
            };
            let n = a.n.unwrap_or(default_n);
            let r: Report = rt.block_on(run(n));
            r.print(name, n, workers);
            if r.ok { 0 } else { 1 }
        }
    };
    drop(rt);
    exit(code)
}
