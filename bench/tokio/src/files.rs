//! W7 file_read.

use crate::report::Report;
use crate::tasks::raise_max;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// W7 file_read: read F files of 16 KiB each from a temporary directory, at
/// most 64 in flight (Semaphore(64)), each with tokio::fs::read (open, read
/// and close on Tokio's blocking threads, the way Tokio users read files);
/// check the total bytes. The files are made before the timed part and
/// removed after it.
pub async fn file_read(n: u64) -> Report {
    const FILE_SIZE: usize = 16384;
    const LIMIT: u64 = 64;
    let mut r = Report { ops: n, ..Default::default() };
    let dir = std::env::temp_dir().join(format!("spool_w7_tokio_{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return r;
    }
    let data: Vec<u8> = (0..FILE_SIZE).map(|i| b'a' + (i % 26) as u8).collect();
    let paths: Vec<_> = (0..n).map(|i| dir.join(format!("{i:06}"))).collect();
    for p in &paths {
        if let Err(e) = std::fs::write(p, &data) {
            eprintln!("{}: {e}", p.display());
            let _ = std::fs::remove_dir_all(&dir);
            return r;
        }
    }
    let sem = Arc::new(Semaphore::new(LIMIT as usize));
    let in_flight = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU64::new(0));
    let t0 = r.start();
    let handles: Vec<_> = paths
        .iter()
        .cloned()
        .map(|p| {
            let (sem, in_flight, max_in_flight) = (sem.clone(), in_flight.clone(), max_in_flight.clone());
            tokio::spawn(async move {
                let _permit = sem.acquire().await.expect("open");
                raise_max(&max_in_flight, in_flight.fetch_add(1, Ordering::Relaxed) + 1);
                let size = tokio::fs::read(&p).await.map(|b| b.len()).unwrap_or(0);
                in_flight.fetch_sub(1, Ordering::Relaxed);
                size
            })
        })
        .collect();
    let mut total = 0usize;
    let mut all_whole = true;
    for h in handles {
        let size = h.await.unwrap_or(0);
        total += size;
        all_whole &= size == FILE_SIZE;
    }
    r.wall = t0.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    let max = max_in_flight.load(Ordering::Relaxed);
    r.ok = all_whole && total as u64 == n * FILE_SIZE as u64 && max <= LIMIT;
    let secs = r.wall.as_secs_f64();
    r.extra.push(format!("\"files_per_s\":{:.1}", if secs > 0.0 { n as f64 / secs } else { 0.0 }));
    r.extra.push(format!("\"max_in_flight\":{max}"));
    r
}
