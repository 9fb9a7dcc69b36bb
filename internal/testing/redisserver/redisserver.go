// Package redisserver runs a throwaway redis-server for tests: bound to a
// loopback address, no persistence, stopped by the test's cleanup. Where
// redis-server is missing the test is skipped, except under CI=true where
// it fails (hack/redis.sh install is part of hack/ci-deps.sh).
package redisserver

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Host is the loopback address the servers bind to: 127.0.8.0/24 is the
// range reserved for the security filters' tests.
const Host = "127.0.8.1"

// Server is one redis-server process. Not safe for concurrent Stop/Start.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// Start runs a redis-server on Host and a free port; it is stopped when
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not installed (hack/redis.sh install): %v", err)
		}
		t.Skipf("redis-server not installed (hack/redis.sh install): %v", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(Host, strconv.Itoa(s.port)) }

// Start (re)starts the process on the same port; it returns once the
// server answers PING.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("redisserver: already running")
	}
	cmd := exec.Command(s.bin,
		"--bind", Host, "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--loglevel", "warning",
		"--logfile", filepath.Join(s.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redisserver: start: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		cmd.Wait()
		close(done)
	}(s.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(s.Addr()); err == nil {
			return
		} else if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.Stop()
			s.t.Fatalf("redisserver: not ready after 10s: %v\n%s", err, log)
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.cmd = nil
			s.t.Fatalf("redisserver: exited during start\n%s", log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop kills the process and waits for it to exit. Idempotent.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// freePort asks the kernel for a free port on Host. redis-server cannot be
// given port 0 (it means "no TCP"), so the port is released and handed to
// it; Host's range belongs to these tests alone, so nobody else takes it.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		t.Fatalf("redisserver: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
