// Package e2e starts the real `ksgw` binary in standalone mode on a
// temporary directory, with real echo backends on 127.0.0.x addresses, and
// checks its behaviour with real requests. Nothing is mocked: the control
// plane, the ADS stream and the proxy are the ones users run.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/testing/echo"
)

var ksgwBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ksgw-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ksgwBin = filepath.Join(dir, "ksgw")
	build := exec.Command("go", "build", "-race", "-o", ksgwBin, "github.com/ksgw/ksgw/cmd/ksgw")
	if os.Getenv("KSGW_E2E_NORACE") != "" {
		build = exec.Command("go", "build", "-o", ksgwBin, "github.com/ksgw/ksgw/cmd/ksgw")
	}
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building ksgw:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a TCP port that was free on ip a moment ago.
func freePort(t testing.TB, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// gateway is a running `ksgw standalone`.
type gateway struct {
	t         testing.TB
	dir       string
	cmd       *exec.Cmd
	adminBase int
	logs      *syncBuffer
	accessLog string
	done      chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGateway runs ksgw standalone on dir. The process is stopped (SIGINT,
// then SIGKILL after a grace) at the end of the test; its logs are printed
// if the test failed.
func startGateway(t testing.TB, dir string, extra ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, dir: dir, adminBase: freePort(t, "127.0.0.1"), logs: &syncBuffer{}, done: make(chan error, 1)}
	g.accessLog = filepath.Join(t.TempDir(), "access.log")
	args := append([]string{"standalone", "--config", dir,
		"--xds-address", "127.0.0.1:0",
		"--admin-base-port", fmt.Sprint(g.adminBase),
		"--update-interval", "100ms",
		"--drain-timeout", "5s",
		"--access-log", g.accessLog,
		"--log-level", "debug",
	}, extra...)
	g.cmd = exec.Command(ksgwBin, args...)
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.done <- g.cmd.Wait() }()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("ksgw logs:\n%s", tail(g.logs.String(), 200))
		}
	})
	return g
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// stop interrupts the process and waits for a clean exit.
func (g *gateway) stop() error {
	if g.cmd.ProcessState != nil {
		return nil
	}
	g.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-g.done:
		return err
	case <-time.After(15 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
		return errors.New("ksgw did not exit within 15s of SIGINT")
	}
}

// admin returns the admin URL of the i-th gateway's proxy (in order of
// first appearance).
func (g *gateway) admin(i int) string {
	return fmt.Sprintf("http://127.0.0.1:%d", g.adminBase+i)
}

// waitReady waits until the i-th proxy's /ready answers 200.
func (g *gateway) waitReady(i int) {
	g.t.Helper()
	eventually(g.t, 20*time.Second, func() error {
		resp, err := http.Get(g.admin(i) + "/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("/ready = %d", resp.StatusCode)
		}
		return nil
	})
}

// write writes a file into the config directory atomically (rename), as
// editors and ConfigMap volumes do.
func write(t testing.TB, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// eventually retries fn until it succeeds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// backend starts an echo backend on addr for the test's lifetime.
func backend(t testing.TB, name, addr string) *echo.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := echo.Start(ctx, echo.Options{Name: name, Addr: addr})
	if err != nil {
		cancel()
		t.Fatalf("backend %s on %s: %v", name, addr, err)
	}
	t.Cleanup(func() { s.Close(); cancel() })
	return s
}

// client is an HTTP/1.1 client that never follows redirects and keeps
// connections alive.
var client = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
}

// get sends a request with the given Host and headers.
func do(t testing.TB, method, url, host string, hdr map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, url, host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, b
}

// echoReply decodes an echo backend's answer.
func echoReply(t testing.TB, b []byte) echo.Reply {
	t.Helper()
	r, err := echo.DecodeReply(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not an echo reply: %v: %q", err, b)
	}
	return r
}
