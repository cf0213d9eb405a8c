package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// W1 spawn_join: N goroutines each return their index; gather them all
// (a WaitGroup, each result in its own slot); check the sum.
func spawnJoin(n int, r *report) {
	t0 := r.start()
	results := make([]int, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			results[i] = i
			wg.Done()
		}(i)
	}
	wg.Wait()
	r.wall = time.Since(t0)
	sum := 0
	for _, v := range results {
		sum += v
	}
	r.ok = sum == n*(n-1)/2
}

// fib spawns fib(n-1) and fib(n-2) as goroutines and waits for both (no
// cutoff).
func fib(n int) int {
	if n < 2 {
		return n
	}
	var a, b int
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { a = fib(n - 1); wg.Done() }()
	go func() { b = fib(n - 2); wg.Done() }()
	wg.Wait()
	return a + b
}

func fibIter(n int) int {
	a, b := 0, 1
	for i := 0; i < n; i++ {
		a, b = b, a+b
	}
	return a
}

// W2 fib_fork: the root call is a goroutine too, so fib(n) makes
// 2*F(n+1) - 1 of them; "n" is that count, "fib_n" the argument.
func fibFork(fibN int, r *report) {
	tasks := 2*fibIter(fibN+1) - 1
	t0 := r.start()
	done := make(chan int)
	go func() { done <- fib(fibN) }()
	result := <-done
	r.wall = time.Since(t0)
	r.n, r.ops = tasks, tasks
	r.extra["fib_n"] = fibN
	r.ok = result == fibIter(fibN)
}

// W3 ping_pong: two goroutines hand a token back and forth through two
// semaphores that start at 0 (channels of capacity 1: release is a send,
// acquire a receive); M round trips, 2 M hand-offs.
func pingPong(m int, r *report) {
	s1 := make(chan struct{}, 1)
	s2 := make(chan struct{}, 1)
	token := 0 // touched only by the token's holder: the channels order it
	t0 := r.start()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		for i := 0; i < m; i++ {
			token++
			s2 <- struct{}{}
			<-s1
		}
		wg.Done()
	}()
	go func() {
		for i := 0; i < m; i++ {
			<-s2
			token++
			s1 <- struct{}{}
		}
		wg.Done()
	}()
	wg.Wait()
	r.wall = time.Since(t0)
	r.ops = 2 * m
	r.ok = token == 2*m && len(s1) == 0 && len(s2) == 0
}

// W4 sleep_many: N goroutines each sleep 1.0 s concurrently; gather.
func sleepMany(n int, r *report) {
	const sleep = time.Second
	t0 := r.start()
	results := make([]int, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			time.Sleep(sleep)
			results[i] = i
			wg.Done()
		}(i)
	}
	wg.Wait()
	r.wall = time.Since(t0)
	sum := 0
	for _, v := range results {
		sum += v
	}
	r.ok = sum == n*(n-1)/2 && (n == 0 || r.wall >= sleep)
}

// W5 semaphore_limit: N goroutines behind a semaphore of 100 (a buffered
// channel), each holding it for a 1 ms sleep; checks that every one ran and
// that no more than 100 ever held it.
func semaphoreLimit(n int, r *report) {
	const limit = 100
	sem := make(chan struct{}, limit)
	var held, maxHeld, done int64
	t0 := r.start()
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			sem <- struct{}{}
			h := atomic.AddInt64(&held, 1)
			for {
				m := atomic.LoadInt64(&maxHeld)
				if h <= m || atomic.CompareAndSwapInt64(&maxHeld, m, h) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			atomic.AddInt64(&held, -1)
			atomic.AddInt64(&done, 1)
			<-sem
			wg.Done()
		}()
	}
	wg.Wait()
	r.wall = time.Since(t0)
	r.ok = done == int64(n) && held == 0 && maxHeld <= limit && (n < limit || maxHeld == limit)
}

// W8 timeout_cancel: N goroutines each wait on an event that never fires
// (a channel nobody closes) under a 10 ms timeout (context.WithTimeout, the
// standard library's cancellation); all time out and cancel cleanly.
func timeoutCancel(n int, r *report) {
	const timeout = 10 * time.Millisecond
	event := make(chan struct{})
	var timedOut int64
	t0 := r.start()
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			select {
			case <-event:
			case <-ctx.Done():
				atomic.AddInt64(&timedOut, 1)
			}
			cancel()
			wg.Done()
		}()
	}
	wg.Wait()
	r.wall = time.Since(t0)
	r.ok = timedOut == int64(n) && (n == 0 || r.wall >= timeout)
}
