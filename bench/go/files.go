package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// W7 file_read: read F files of 16 KiB each from a temporary directory, at
// most 64 in flight (a semaphore), each with os.ReadFile (open, read, close:
// blocking calls, which Go's runtime hands off to other threads); check the
// total bytes. The files are made before the timed part, removed after it.
func fileRead(n int, r *report) {
	const fileSize = 16384
	const limit = 64
	dir, err := os.MkdirTemp("", "spool_w7_go_")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer os.RemoveAll(dir)
	data := make([]byte, fileSize)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	paths := make([]string, n)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("%06d", i))
		if err := os.WriteFile(paths[i], data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return
		}
	}

	sem := make(chan struct{}, limit)
	sizes := make([]int, n)
	var inFlight, maxInFlight int64
	t0 := r.start()
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			sem <- struct{}{}
			f := atomic.AddInt64(&inFlight, 1)
			for {
				m := atomic.LoadInt64(&maxInFlight)
				if f <= m || atomic.CompareAndSwapInt64(&maxInFlight, m, f) {
					break
				}
			}
			b, err := os.ReadFile(paths[i])
			if err == nil {
				sizes[i] = len(b)
			}
			atomic.AddInt64(&inFlight, -1)
			<-sem
			wg.Done()
		}(i)
	}
	wg.Wait()
	r.wall = time.Since(t0)
	total := 0
	ok := true
	for _, s := range sizes {
		total += s
		ok = ok && s == fileSize
	}
	r.ok = ok && total == n*fileSize && maxInFlight <= limit
	filesPerS := 0.0
	if r.wall > 0 {
		filesPerS = round1(float64(n) / r.wall.Seconds())
	}
	r.extra["files_per_s"] = filesPerS
	r.extra["max_in_flight"] = maxInFlight
}
