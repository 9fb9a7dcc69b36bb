package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"
)

//go:embed nginx.conf.tmpl
var nginxConf string

//go:embed haproxy.cfg.tmpl
var haproxyConf string

//go:embed report.lua
var reportLua string

// proxyParams is what a proxy needs to be started in front of a backend.
type proxyParams struct {
	Dir     string // private scratch directory (configs, pid files, logs)
	Listen  string // 127.0.0.1:PORT the proxy must listen on
	Port    int
	Backend string // host:port of the echo backend
	CPU     string // taskset CPU list the proxy is pinned to
	// TLS: listen with HTTPS (TLS 1.3 only) on Cert instead of plain HTTP.
	TLS  bool
	Cert benchCert
	H2   bool // also offer HTTP/2 by ALPN
	// Routing is scenario 5's configuration ("regex" with RegexRules, or
	// "canary"); empty for one catch-all route.
	Routing    string
	RegexRules []regexRule
	// GRPC: plain-text HTTP/2 (prior knowledge) downstream and h2c to the
	// backend, for gRPC.
	GRPC bool
	// Workers is nginx's worker_processes, haproxy's nbthread and ksgw's
	// GOMAXPROCS; 0 means 1.
	Workers int
}

// WorkerCount is p.Workers, at least 1 (the templates read it).
func (p proxyParams) WorkerCount() int { return max(1, p.Workers) }

// proxy is one contender. start returns the started process; benchrun
// measures CPU and memory of it and its descendants, and stops the whole
// process group.
type proxy struct {
	name  string
	start func(ctx context.Context, p proxyParams) (*proc, error)
}

// proc is a started process group; done is closed once Wait returned, and
// the goroutine calling Wait is its only waiter.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// ksgwCmdEnv is the slot for the gateway under development: a shell command
// that starts ksgw listening on a port and forwarding every request to the
// backend. Placeholders {listen}, {port}, {backend}, {dir} are replaced, and
// the same values are exported as KSGW_LISTEN, KSGW_PORT, KSGW_BACKEND,
// KSGW_DIR. Example, once `ksgw standalone` exists:
//
//	KSGW_CMD='bench/ksgw-standalone.sh {dir} {listen} {backend}'
const ksgwCmdEnv = "KSGW_CMD"

// ksgwTLSCmdEnv is KSGW_CMD for the TLS scenarios.
const ksgwTLSCmdEnv = "KSGW_TLS_CMD"

// proxies returns the contenders in the order they alternate in: the
// reference proxies first, then ksgw when KSGW_CMD is set.
func proxies(getenv func(string) string) []proxy {
	ps := []proxy{
		{name: "nginx", start: startNginx},
		{name: "haproxy", start: startHAProxy},
	}
	if cmd := strings.TrimSpace(getenv(ksgwCmdEnv)); cmd != "" {
		// The TLS scenarios need ksgw configured for HTTPS on {port}: a
		// separate command, defaulting to KSGW_CMD (which then gets the
		// certificate in KSGW_TLS_CERT and KSGW_TLS_KEY).
		tlsCmd := cmp.Or(strings.TrimSpace(getenv(ksgwTLSCmdEnv)), cmd)
		ps = append(ps, proxy{name: "ksgw", start: func(ctx context.Context, p proxyParams) (*proc, error) {
			if p.TLS {
				return startKSGW(ctx, tlsCmd, p)
			}
			return startKSGW(ctx, cmd, p)
		}})
	}
	return ps
}

func startNginx(ctx context.Context, p proxyParams) (*proc, error) {
	conf, err := writeTemplate(p, "nginx.conf", nginxConf)
	if err != nil {
		return nil, err
	}
	return startPinned(ctx, p, "nginx", "nginx", "-p", p.Dir, "-c", conf, "-e", filepath.Join(p.Dir, "nginx-error.log"))
}

func startHAProxy(ctx context.Context, p proxyParams) (*proc, error) {
	conf, err := writeTemplate(p, "haproxy.cfg", haproxyConf)
	if err != nil {
		return nil, err
	}
	// -db: stay in the foreground, no master process, so the PID we hold is
	// the one doing the work.
	return startPinned(ctx, p, "haproxy", "haproxy", "-db", "-f", conf)
}

func startKSGW(ctx context.Context, cmd string, p proxyParams) (*proc, error) {
	r := strings.NewReplacer("{listen}", p.Listen, "{port}", strconv.Itoa(p.Port), "{backend}", p.Backend, "{dir}", p.Dir)
	return startPinned(ctx, p, "ksgw", "sh", "-c", "exec "+r.Replace(cmd))
}

func writeTemplate(p proxyParams, name, text string) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("%s template: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return "", fmt.Errorf("%s template: %w", name, err)
	}
	path := filepath.Join(p.Dir, name)
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}

// startPinned starts argv under taskset in its own process group, with its
// output in DIR/NAME.log.
func startPinned(ctx context.Context, p proxyParams, name string, argv ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(p.Dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	args := append([]string{"-c", p.CPU}, argv...)
	c := exec.CommandContext(ctx, "taskset", args...)
	c.Dir = p.Dir
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Env = append(os.Environ(),
		"KSGW_LISTEN="+p.Listen, "KSGW_PORT="+strconv.Itoa(p.Port), "KSGW_BACKEND="+p.Backend, "KSGW_DIR="+p.Dir,
		// A Go proxy pinned to N cores should know it has N (Go reads the
		// affinity mask too, but KSGW_CMD may be a wrapper that resets it).
		"GOMAXPROCS="+strconv.Itoa(p.WorkerCount()))
	if p.TLS {
		// For KSGW_TLS_CMD (bench/ksgw-standalone-tls.sh): HTTPS on
		// KSGW_PORT with this certificate; KSGW_HTTP_PORT is a second free
		// port for the Gateway's plain listener (PORT+1 may be taken).
		alt, err := freePort()
		if err != nil {
			return nil, err
		}
		c.Env = append(c.Env, "KSGW_TLS_CERT="+p.Cert.CertFile, "KSGW_TLS_KEY="+p.Cert.KeyFile, "KSGW_HTTP_PORT="+strconv.Itoa(alt))
	}
	// Stop the whole group (sh -c children, nginx workers) on cancellation.
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 5 * time.Second
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	pr := &proc{cmd: c, done: make(chan struct{})}
	go func() { _ = c.Wait(); close(pr.done) }()
	return pr, nil
}

// stop ends the process group: SIGTERM, then SIGKILL after grace. It returns
// once the leader has been reaped.
func (p *proc) stop(grace time.Duration) {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Leftovers in the group (a child that outlived its parent) must not keep
	// the port or the CPU during the next run.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// waitReady polls url until it answers 200: a proxy that is listening but not
// yet connected to its backend must not be measured.
func waitReady(ctx context.Context, url string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		// The run's own self-signed certificate, for the TLS scenarios.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-exited:
			return errors.New("process exited before becoming ready")
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %w", url, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort returns a loopback port nobody listens on. It is drawn at random
// below the kernel's ephemeral range (ip_local_port_range), so that no
// bind to port 0 and no outgoing connection can be handed the same port
// between this check and the proxy's bind: ksgw binds its xDS server to
// 127.0.0.1:0 right before its Gateway listeners, and with a kernel-chosen
// port here it once received the very port the Gateway was to listen on.
func freePort() (int, error) {
	ports, err := freePorts(1, nil)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// lowestPort is the bottom of the range freePorts draws from.
const lowestPort = 10000

// freePorts returns n distinct free ports (see freePort), none of them in
// exclude (ports already handed out but not bound yet).
func freePorts(n int, exclude []int) ([]int, error) {
	hi := ephemeralLow() // exclusive
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries == 1000 || hi-lowestPort < 1000 {
			return nil, fmt.Errorf("no free port in %d-%d after %d tries", lowestPort, hi-1, tries)
		}
		p := lowestPort + rand.IntN(hi-lowestPort)
		if slices.Contains(out, p) || slices.Contains(exclude, p) {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		out = append(out, p)
	}
	return out, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range, 32768
// (Linux's default) when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo <= lowestPort {
		return 32768
	}
	return lo
}
