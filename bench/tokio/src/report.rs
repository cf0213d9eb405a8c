//! The one JSON line of WORKLOADS.md, and the RSS readings in it.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// A workload's future, as main's table holds it.
pub type BoxFut = Pin<Box<dyn Future<Output = Report>>>;

/// What a workload measured. `n` overrides --n when set (W2's task count);
/// `ops` divides the wall time for per_op_ns; `extra` holds more members,
/// already JSON ("\"fib_n\":25").
#[derive(Default)]
pub struct Report {
    pub n: Option<u64>,
    pub ops: u64,
    pub wall: Duration,
    pub base_rss_kib: u64,
    pub ok: bool,
    pub extra: Vec<String>,
}

/// A "Field:  N kB" line of /proc/self/status.
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

impl Report {
    /// Records the RSS before the timed part; returns the start time.
    pub fn start(&mut self) -> Instant {
        self.base_rss_kib = status_kib("VmRSS");
        Instant::now()
    }

    pub fn print(&self, workload: &str, n: u64, workers: usize) {
        let per_op = if self.ops > 0 { self.wall.as_nanos() as f64 / self.ops as f64 } else { 0.0 };
        let mut line = format!(
            "{{\"workload\":\"{}\",\"impl\":\"tokio\",\"backend\":\"\",\"variant\":\"\",\"n\":{},\
             \"wall_s\":{:.6},\"per_op_ns\":{:.1},\"peak_rss_kib\":{},\"base_rss_kib\":{},\
             \"workers\":{},\"ok\":{}",
            workload,
            self.n.unwrap_or(n),
            self.wall.as_secs_f64(),
            per_op,
            status_kib("VmHWM"),
            self.base_rss_kib,
            workers,
            self.ok
        );
        for e in &self.extra {
            line.push(',');
            line.push_str(e);
        }
        line.push('}');
        println!("{line}");
    }
}
