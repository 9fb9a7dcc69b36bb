package server_test

import (
	"bufio"
	"bytes"
	"net"
	"testing"

	"github.com/ksgw/ksgw/internal/proxy/server"
	"github.com/ksgw/ksgw/internal/proxy/upstream/pool"
)

const benchResp = "HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n\r\n" +
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"

// allocation-free backend: answers every request head with benchResp.
func fixedBackend(b *testing.B) string {
	ln := listen(b)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				resp := []byte(benchResp)
				for {
					// Requests from the pool have no body: a head ends at
					// the first empty line.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkForward measures one keep-alive GET through server + pool with
// a 64-byte response; allocs/op counts every goroutine (client and backend
// are allocation-free), so it is the engine's per-request allocation.
func BenchmarkForward(b *testing.B) {
	backend := fixedBackend(b)
	addr, _, _ := startProxy(b, backend, server.Config{}, pool.Config{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
	buf := make([]byte, 4096)
	marker := []byte("\r\n\r\n")
	readResp := func() {
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
			if i := bytes.Index(buf[:n], marker); i >= 0 && n-i-4 >= 64 {
				return
			}
		}
	}
	c.Write(req)
	readResp()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		readResp()
	}
}
