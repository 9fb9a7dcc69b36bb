package upstream

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults for fields Envoy requires but a hand-written config may omit.
const (
	defaultHCInterval      = 5 * time.Second
	defaultHCTimeout       = time.Second
	defaultOutlierInterval = 10 * time.Second
	defaultBaseEjection    = 30 * time.Second
	// maxConcurrentProbes bounds one round's fan-out: a large cluster is
	// probed in parallel, but not with thousands of sockets at once.
	maxConcurrentProbes = 64
)

// startChecker starts the incarnation's one goroutine, which runs the
// active health check and the outlier detector's interval timer, if either
// is configured. Called with Manager.mu held.
func (c *Cluster) startChecker(log *slog.Logger) {
	// A check that is no longer configured must not keep hosts out.
	var clear uint32
	if c.cfg.HealthCheck == nil {
		clear |= flagFailedActiveHC
	}
	if c.cfg.Outlier == nil {
		clear |= flagFailedOutlier
	}
	if clear != 0 {
		changed := false
		for _, h := range c.Hosts() {
			if h.state.flags.Load()&clear != 0 {
				h.state.flags.And(^clear)
				changed = true
			}
		}
		if changed {
			c.e.healthChanged()
		}
	}
	if c.cfg.HealthCheck == nil && c.cfg.Outlier == nil {
		return
	}
	if hc := c.cfg.HealthCheck; hc != nil && (strings.ContainsAny(hc.Path, "\r\n ") || strings.ContainsAny(hc.Host, "\r\n ")) {
		log.Error("health check disabled: path or host would break the request line", "cluster", c.cfg.Name)
		if c.cfg.Outlier == nil {
			return
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stop, c.done = cancel, make(chan struct{})
	go c.runChecker(ctx, c.done)
}

// cancelChecker asks the goroutine to stop without waiting (Manager.mu held).
func (c *Cluster) cancelChecker() {
	if c.stop != nil {
		c.stop()
	}
}

// stopChecker stops the goroutine and waits for it (Manager.mu held; the
// goroutine never takes Manager.mu).
func (c *Cluster) stopChecker() {
	if c.stop != nil {
		c.stop()
		<-c.done
		c.stop = nil
	}
}

func (c *Cluster) runChecker(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	var hcTick, odTick <-chan time.Time
	hc := c.cfg.HealthCheck
	if hc != nil && !strings.ContainsAny(hc.Path, "\r\n ") && !strings.ContainsAny(hc.Host, "\r\n ") {
		t := time.NewTicker(positive(hc.Interval, defaultHCInterval))
		defer t.Stop()
		hcTick = t.C
		c.probeAll(ctx) // first round at once, as Envoy without initial_jitter
	}
	if od := c.cfg.Outlier; od != nil {
		t := time.NewTicker(positive(od.Interval, defaultOutlierInterval))
		defer t.Stop()
		odTick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hcTick:
			c.probeAll(ctx)
		case now := <-odTick:
			c.outlierSweep(now)
		}
	}
}

// probeAll runs one health-check round over the current hosts, in parallel,
// and waits for it. A host's transition takes effect as soon as its own
// probe completes, not at the end of the round.
func (c *Cluster) probeAll(ctx context.Context) {
	hosts := c.Hosts()
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, maxConcurrentProbes)
	)
	for _, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ok, network := c.probe(ctx, h)
			if ctx.Err() != nil {
				return // stopping: a cancelled probe says nothing about the host
			}
			if c.hcResult(h, ok, network) {
				c.e.healthChanged()
			}
		}()
	}
	wg.Wait()
}

// probe sends one HTTP/1.1 GET (Envoy's HTTP health checker speaks
// HTTP/1.1 unless codec_client_type says otherwise). ok: the status was
// expected; network: the failure was a connect error or timeout rather
// than an unexpected status.
func (c *Cluster) probe(ctx context.Context, h *Host) (ok, network bool) {
	hc := c.cfg.HealthCheck
	ctx, cancel := context.WithTimeout(ctx, positive(hc.Timeout, defaultHCTimeout))
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", h.key)
	if err != nil {
		return false, true
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	path := hc.Path
	if path == "" {
		path = "/"
	}
	host := hc.Host
	if host == "" {
		host = c.cfg.Name // Envoy: the cluster name when host is empty
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Envoy/HC\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return false, true
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return false, true
	}
	_ = resp.Body.Close()
	return expectedStatus(hc.ExpectedStatuses, resp.StatusCode), false
}

func expectedStatus(ranges [][2]int, status int) bool {
	if len(ranges) == 0 {
		return status == 200
	}
	for _, r := range ranges {
		if status >= r[0] && status < r[1] {
			return true
		}
	}
	return false
}

// hcResult applies one probe result with Envoy's thresholds and reports
// whether the host's health changed.
func (c *Cluster) hcResult(h *Host, ok, network bool) bool {
	hc := c.cfg.HealthCheck
	st := h.state
	st.mu.Lock()
	defer st.mu.Unlock()
	failed := st.flags.Load()&flagFailedActiveHC != 0
	if ok {
		c.e.stats.hcSuccess.Add(1)
		st.hcFailures = 0
		if !failed {
			return false
		}
		st.hcSuccesses++
		if st.hcSuccesses < max(hc.HealthyThreshold, 1) {
			return false
		}
		st.hcSuccesses = 0
		st.flags.And(^flagFailedActiveHC)
		return true
	}
	c.e.stats.hcFailure.Add(1)
	st.hcSuccesses = 0
	if failed {
		return false
	}
	st.hcFailures++
	// health_check.proto: an unexpected HTTP status ignores
	// unhealthy_threshold and fails the host at once; only network
	// failures and timeouts are counted.
	if network && st.hcFailures < max(hc.UnhealthyThreshold, 1) {
		return false
	}
	st.hcFailures = 0
	st.flags.Or(flagFailedActiveHC)
	return true
}

func positive(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
