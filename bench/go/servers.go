package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

// listen opens a TCP listener on host:port and says so on stderr.
func listen(host string, port int) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "listening on %s:%d\n", host, ln.Addr().(*net.TCPAddr).Port)
	return ln, nil
}

// untilSignal blocks until SIGINT or SIGTERM.
func untilSignal() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}

// echoServer is W6's server: a goroutine per connection reading up to
// 64 KiB and writing it back.
func echoServer(host string, port int) int {
	ln, err := listen(host, port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					continue
				}
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				buf := make([]byte, 65536)
				for {
					k, err := c.Read(buf)
					if k > 0 {
						if _, werr := c.Write(buf[:k]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}(c)
		}
	}()
	untilSignal()
	ln.Close()
	return 0
}

var hello = []byte("Hello, World!")

// plaintext answers TechEmpower's plaintext test the way the C and asyncio
// servers do: GET or HEAD of / or /plaintext is 200 "Hello, World!"; other
// paths 404, other methods 405. net/http adds Date and Content-Length and
// keeps connections alive.
func plaintext(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/" && req.URL.Path != "/plaintext" {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h["Server"] = []string{"go"}
	h["Content-Type"] = []string{"text/plain"}
	w.Write(hello)
}

// httpServer is the HTTP plaintext workload's server on net/http.
func httpServer(host string, port int) int {
	ln, err := listen(host, port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: http.HandlerFunc(plaintext)}
	go srv.Serve(ln)
	untilSignal()
	srv.Close()
	return 0
}
