package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ksgwInstance is a `ksgw standalone` that benchrun started itself on a
// config directory it generated, for the scenarios that edit that directory
// while ksgw runs (reload, control-plane scale, upstream failure).
type ksgwInstance struct {
	*proc
	conf   string // the watched config directory
	log    string // stdout+stderr: the JSON log (--log-level info)
	listen string // 127.0.0.1:PORT of the Gateway's http port
	port   int
}

// ksgwPorts picks the Gateway's http and https ports and the admin port.
func ksgwPorts() (http, https, admin int, err error) {
	p, err := freePorts(3, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	return p[0], p[1], p[2], nil
}

// startKSGWStandalone writes files into p.Dir/conf and starts ksgw on it,
// pinned to p.CPU with GOMAXPROCS p.Workers like every contender. It does
// not wait for readiness: the caller knows which URL must answer. extra
// flags come last, so they override the defaults (e.g. --access-log).
func startKSGWStandalone(ctx context.Context, cfg config, p proxyParams, admin int, files map[string]string, extra ...string) (*ksgwInstance, error) {
	dir := p.Dir
	if cfg.ksgwBin == "" {
		return nil, errors.New("ksgw binary unknown: set --ksgw-bin or KSGW_BIN (bench/run.sh does)")
	}
	conf := filepath.Join(dir, "conf")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		return nil, err
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(conf, name), []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	argv := append([]string{cfg.ksgwBin, "standalone",
		"--config", conf, "--access-log", "off", "--log-level", "info",
		"--xds-address", "127.0.0.1:0", "--admin-base-port", strconv.Itoa(admin),
		"--update-interval", cfg.updateInterval.String()}, extra...)
	pr, err := startPinned(ctx, proxyParams{Dir: dir, CPU: p.CPU, Workers: p.Workers}, "ksgw", argv...)
	if err != nil {
		return nil, err
	}
	return &ksgwInstance{proc: pr, conf: conf, log: filepath.Join(dir, "ksgw.log")}, nil
}

// writeAtomic replaces conf/name the way a careful editor (or a ConfigMap
// volume) does: the new content is written next to, not inside, the watched
// directory and renamed over the old file, so the watcher never sees a
// half-written file and the batch window opens at the rename, not before.
func writeAtomic(conf, name, body string) error {
	tmp, err := os.CreateTemp(filepath.Dir(conf), ".bench-*.tmp")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(body); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(conf, name))
}

// Messages of ksgw's JSON log that benchrun times.
const (
	msgConfigPublished = "configuration published" // internal/controlplane: a translation was published
	msgProviderLoaded  = "published"               // internal/provider/file: the directory was (re)loaded
)

// publishEvent is one line of ksgw's JSON log: a control-plane publish
// ("configuration published") or a file provider load ("published").
type publishEvent struct {
	Time        time.Time `json:"time"`
	Msg         string    `json:"msg"`
	Provider    string    `json:"provider,omitempty"`
	Objects     int       `json:"objects,omitempty"`
	TranslateMS int64     `json:"translate_ms"`
	Resources   int       `json:"resources"`
	Problems    int       `json:"problems"`
}

// publishEvents reads every "configuration published" event logged so far.
func publishEvents(logPath string) ([]publishEvent, error) {
	return logEvents(logPath, msgConfigPublished)
}

// logEvents reads the events of one message from a log file.
func logEvents(logPath, msg string) ([]publishEvent, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseLogEvents(f, msg)
}

// parseLogEvents returns the JSON log lines whose msg is exactly msg, in
// order; other lines (other messages, text output) are skipped.
func parseLogEvents(r io.Reader, msg string) ([]publishEvent, error) {
	var out []publishEvent
	quoted := strconv.Quote(msg)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(quoted)) {
			continue
		}
		var ev publishEvent
		if err := json.Unmarshal(line, &ev); err != nil || ev.Msg != msg {
			continue
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}

// waitPublishes waits until at least n publish events are in the log.
func waitPublishes(ctx context.Context, k *ksgwInstance, n int, timeout time.Duration) ([]publishEvent, error) {
	deadline := time.Now().Add(timeout)
	for {
		evs, err := publishEvents(k.log)
		if err == nil && len(evs) >= n {
			return evs, nil
		}
		if time.Now().After(deadline) {
			return evs, fmt.Errorf("ksgw logged %d of %d \"configuration published\" events after %v", len(evs), n, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-k.done:
			return nil, errors.New("ksgw exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// yamlGateway is the bench Gateway on the given ports; no hosts means any.
func yamlGateway(ns string, http, https int, hosts ...string) string {
	h := ""
	if len(hosts) > 0 {
		h = fmt.Sprintf("\n  hosts: [%s]", strings.Join(hosts, ", "))
	}
	return fmt.Sprintf(`apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata: {name: bench, namespace: %s}
spec:
  ports: {http: %d, https: %d}%s
`, ns, http, https, h)
}

// yamlServicePods is a Service selecting app=LABEL plus one Ready Pod per
// backend address (host:port), the way ksgw-standalone.sh declares the echo
// backend. The Service port is named http: ksgw speaks HTTP/1.1 to it.
func yamlServicePods(ns, svc, label string, backends []string) string {
	return yamlServicePodsPort(ns, svc, label, "http", backends)
}

// yamlServicePodsPort is yamlServicePods with the Service port named
// portName; "grpc" makes ksgw speak h2c to the backend (Istio's protocol
// selection by port name, internal/translate protocolOf).
func yamlServicePodsPort(ns, svc, label, portName string, backends []string) string {
	var b strings.Builder
	port := backends[0][strings.LastIndexByte(backends[0], ':')+1:]
	fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: %s, namespace: %s}
spec:
  selector: {app: %s}
  ports: [{name: %s, port: 80, targetPort: %s}]
`, svc, ns, label, portName, port)
	for i, be := range backends {
		ip, p, _ := strings.Cut(be, ":")
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata: {name: %s-%d, namespace: %s, labels: {app: %s}}
spec: {containers: [{name: backend, image: ksgw-echo, ports: [{containerPort: %s}]}]}
status: {podIP: %s, conditions: [{type: Ready, status: "True"}]}
`, label, i, ns, label, p, ip)
	}
	return b.String()
}
