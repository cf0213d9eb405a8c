//! W1–W5 and W8: tasks, joins, semaphores, sleeps and timeouts.

use crate::report::Report;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// W1 spawn_join: N tasks each return their index; join them all; check
/// the sum.
pub async fn spawn_join(n: u64) -> Report {
    let mut r = Report { ops: n, ..Default::default() };
    let t0 = r.start();
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
    let mut sum = 0u64;
    for h in handles {
        sum += h.await.unwrap_or(u64::MAX / 2);
    }
    r.wall = t0.elapsed();
    r.ok = n == 0 || sum == n * (n - 1) / 2;
    r
}

/// fib(n) spawns fib(n-1) and fib(n-2) as tasks and joins both (no cutoff).
fn fib(n: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if n < 2 {
            return n;
        }
        let a = tokio::spawn(fib(n - 1));
        let b = tokio::spawn(fib(n - 2));
        a.await.unwrap_or(0) + b.await.unwrap_or(0)
    })
}

fn fib_iter(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

/// W2 fib_fork: the root call is a task too, so fib(n) makes 2*F(n+1) - 1
/// tasks; "n" is that count, "fib_n" the argument.
pub async fn fib_fork(fib_n: u64) -> Report {
    let tasks = 2 * fib_iter(fib_n + 1) - 1;
    let mut r = Report { n: Some(tasks), ops: tasks, ..Default::default() };
    r.extra.push(format!("\"fib_n\":{fib_n}"));
    let t0 = r.start();
    let result = tokio::spawn(fib(fib_n)).await.unwrap_or(0);
    r.wall = t0.elapsed();
    r.ok = result == fib_iter(fib_n);
    r
}

/// W3 ping_pong: two tasks hand a token back and forth through two
/// semaphores that start at 0; M round trips, 2 M hand-offs.
pub async fn ping_pong(m: u64) -> Report {
    let mut r = Report { ops: 2 * m, ..Default::default() };
    let s1 = Arc::new(Semaphore::new(0));
    let s2 = Arc::new(Semaphore::new(0));
    let token = Arc::new(AtomicU64::new(0));
    let t0 = r.start();
    let (a1, a2, at) = (s1.clone(), s2.clone(), token.clone());
    let a = tokio::spawn(async move {
        for _ in 0..m {
            at.fetch_add(1, Ordering::Relaxed);
            a2.add_permits(1);
            a1.acquire().await.expect("open").forget();
        }
    });
    let (b1, b2, bt) = (s1.clone(), s2.clone(), token.clone());
    let b = tokio::spawn(async move {
        for _ in 0..m {
            b2.acquire().await.expect("open").forget();
            bt.fetch_add(1, Ordering::Relaxed);
            b1.add_permits(1);
        }
    });
    let ok = a.await.is_ok() & b.await.is_ok();
    r.wall = t0.elapsed();
    r.ok = ok
        && token.load(Ordering::Relaxed) == 2 * m
        && s1.available_permits() == 0
        && s2.available_permits() == 0;
    r
}

/// W4 sleep_many: N tasks each sleep 1.0 s concurrently; join them all.
pub async fn sleep_many(n: u64) -> Report {
    const SLEEP: Duration = Duration::from_secs(1);
    let mut r = Report { ops: n, ..Default::default() };
    let t0 = r.start();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                tokio::time::sleep(SLEEP).await;
                i
            })
        })
        .collect();
    let mut sum = 0u64;
    for h in handles {
        sum += h.await.unwrap_or(u64::MAX / 2);
    }
    r.wall = t0.elapsed();
    r.ok = n == 0 || (sum == n * (n - 1) / 2 && r.wall >= SLEEP);
    r
}

/// Raises `max` to at least `v`.
pub fn raise_max(max: &AtomicU64, v: u64) {
    max.fetch_max(v, Ordering::Relaxed);
}

/// W5 semaphore_limit: N tasks behind Semaphore(100), each holding it for a
/// 1 ms sleep; checks that every one ran and no more than 100 held it.
pub async fn semaphore_limit(n: u64) -> Report {
    const LIMIT: u64 = 100;
    let mut r = Report { ops: n, ..Default::default() };
    let sem = Arc::new(Semaphore::new(LIMIT as usize));
    let held = Arc::new(AtomicU64::new(0));
    let max_held = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let t0 = r.start();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (sem, held, max_held, done) = (sem.clone(), held.clone(), max_held.clone(), done.clone());
            tokio::spawn(async move {
                let _permit = sem.acquire().await.expect("open");
                raise_max(&max_held, held.fetch_add(1, Ordering::Relaxed) + 1);
                tokio::time::sleep(Duration::from_millis(1)).await;
                held.fetch_sub(1, Ordering::Relaxed);
                done.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    let mut ok = true;
    for h in handles {
        ok &= h.await.is_ok();
    }
    r.wall = t0.elapsed();
    let max = max_held.load(Ordering::Relaxed);
    r.ok = ok
        && done.load(Ordering::Relaxed) == n
        && held.load(Ordering::Relaxed) == 0
        && max <= LIMIT
        && (n < LIMIT || max == LIMIT);
    r
}

/// W8 timeout_cancel: N tasks each wait on an event that never fires (a
/// Notify nobody notifies) under a 10 ms timeout (tokio::time::timeout);
/// all time out, and the dropped wait cancels cleanly.
pub async fn timeout_cancel(n: u64) -> Report {
    const TIMEOUT: Duration = Duration::from_millis(10);
    let mut r = Report { ops: n, ..Default::default() };
    let event = Arc::new(Notify::new());
    let t0 = r.start();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let event = event.clone();
            tokio::spawn(async move { tokio::time::timeout(TIMEOUT, event.notified()).await.is_err() })
        })
        .collect();
    let mut timed_out = 0u64;
    for h in handles {
        timed_out += h.await.unwrap_or(false) as u64;
    }
    r.wall = t0.elapsed();
    r.ok = timed_out == n && (n == 0 || r.wall >= TIMEOUT);
    r
}
