package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/upstream/lb"
	"github.com/ksgw/ksgw/internal/testing/echo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakePool records Close calls.
type fakePool struct {
	addr   netip.AddrPort
	closed atomic.Int32
}

func (p *fakePool) Close() error { p.closed.Add(1); return nil }

type pools struct {
	mu  sync.Mutex
	all []*fakePool
}

func (ps *pools) newPool(_ *dpconfig.Cluster, addr netip.AddrPort) io.Closer {
	p := &fakePool{addr: addr}
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
	return p
}

// of returns every pool made for addr, oldest first.
func (ps *pools) of(addr string) []*fakePool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []*fakePool
	for _, p := range ps.all {
		if p.addr.String() == addr {
			out = append(out, p)
		}
	}
	return out
}

func newManager(t *testing.T) (*Manager, *pools) {
	t.Helper()
	ps := &pools{}
	m := NewManager(Options{NewPool: ps.newPool})
	t.Cleanup(func() { _ = m.Close() })
	return m, ps
}

func assignment(addrs ...string) *dpconfig.ClusterLoadAssignment {
	cla := &dpconfig.ClusterLoadAssignment{}
	for _, a := range addrs {
		healthy := true
		if s, ok := strings.CutSuffix(a, "!"); ok { // "addr!" = EDS UNHEALTHY
			a, healthy = s, false
		}
		cla.Endpoints = append(cla.Endpoints, dpconfig.Endpoint{Address: netip.MustParseAddrPort(a), Healthy: healthy, Weight: 1})
	}
	return cla
}

func syncOne(m *Manager, cfg *dpconfig.Cluster, cla *dpconfig.ClusterLoadAssignment) *Cluster {
	return m.Sync(map[string]*dpconfig.Cluster{cfg.Name: cfg}, func(string) *dpconfig.ClusterLoadAssignment { return cla })[cfg.Name]
}

// pickReport picks once and reports status.
func pickReport(t *testing.T, c *Cluster, status int) string {
	t.Helper()
	h, err := c.Pick(&lb.Context{})
	if err != nil {
		t.Fatalf("Pick: %v", err)
	}
	h.ReportResult(status, nil)
	return h.Address().String()
}

func pickedSet(t *testing.T, c *Cluster, n int) []string {
	t.Helper()
	seen := map[string]bool{}
	for range n {
		seen[pickReport(t, c, 200)] = true
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

func hostOf(t *testing.T, c *Cluster, addr string) *Host {
	t.Helper()
	for _, h := range c.Hosts() {
		if h.Address().String() == addr {
			return h
		}
	}
	t.Fatalf("no host %s in %s", addr, c.Name())
	return nil
}

// report sends one result to a specific host, as if Pick had chosen it.
func report(t *testing.T, h *Host, status int, err error) {
	t.Helper()
	if !h.acquire() {
		t.Fatalf("host %s has left its cluster", h.Address())
	}
	h.ReportResult(status, err)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPickRoundRobinCyclesInAddressOrder(t *testing.T) {
	m, _ := newManager(t)
	c := syncOne(m, &dpconfig.Cluster{Name: "ns/svc/80"}, assignment("127.0.0.3:80", "127.0.0.1:80", "127.0.0.2:80"))
	want := []string{"127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80"}
	for cycle := range 3 {
		for i, w := range want {
			if got := pickReport(t, c, 200); got != w {
				t.Fatalf("cycle %d pick %d = %s, want %s", cycle, i, got, w)
			}
		}
	}
}

func TestPickWithoutEndpoints(t *testing.T) {
	tests := []struct {
		name string
		cla  *dpconfig.ClusterLoadAssignment
	}{
		{"assignment not received yet", nil},
		{"assignment with no endpoints", &dpconfig.ClusterLoadAssignment{ClusterName: "ns/svc/80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newManager(t)
			c := syncOne(m, &dpconfig.Cluster{Name: "ns/svc/80", NoEndpointsReason: "Service ns/svc has no ready endpoints"}, tt.cla)
			if _, err := c.Pick(&lb.Context{}); !errors.Is(err, ErrNoHealthyUpstream) {
				t.Fatalf("Pick err = %v, want ErrNoHealthyUpstream", err)
			}
			if c.Config().NoEndpointsReason == "" {
				t.Fatal("reason lost")
			}
		})
	}
}

func TestPanicThreshold(t *testing.T) {
	tests := []struct {
		name      string
		endpoints []string
		wantPanic bool
		want      []string
	}{
		{"all healthy", []string{"127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80", "127.0.0.4:80"}, false,
			[]string{"127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80", "127.0.0.4:80"}},
		{"half healthy is not below 50%: unhealthy hosts skipped", []string{"127.0.0.1:80", "127.0.0.2:80!", "127.0.0.3:80", "127.0.0.4:80!"}, false,
			[]string{"127.0.0.1:80", "127.0.0.3:80"}},
		{"one of four healthy: panic routes to all", []string{"127.0.0.1:80", "127.0.0.2:80!", "127.0.0.3:80!", "127.0.0.4:80!"}, true,
			[]string{"127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80", "127.0.0.4:80"}},
		{"none healthy: panic routes to all", []string{"127.0.0.1:80!", "127.0.0.2:80!"}, true,
			[]string{"127.0.0.1:80", "127.0.0.2:80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newManager(t)
			c := syncOne(m, &dpconfig.Cluster{Name: "c"}, assignment(tt.endpoints...))
			if c.Panic() != tt.wantPanic {
				t.Fatalf("Panic() = %v, want %v", c.Panic(), tt.wantPanic)
			}
			if got := pickedSet(t, c, 40); !slices.Equal(got, tt.want) {
				t.Fatalf("picked %v, want %v", got, tt.want)
			}
			s := c.Stats().Snapshot()
			if (s.LBHealthyPanic > 0) != tt.wantPanic {
				t.Fatalf("lb_healthy_panic = %d", s.LBHealthyPanic)
			}
		})
	}
}

func TestCircuitBreakerMaxRequests(t *testing.T) {
	tests := []struct {
		name string
		max  uint32
		want int
	}{
		{"configured limit", 2, 2},
		{"Envoy default 1024", 0, 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newManager(t)
			c := syncOne(m, &dpconfig.Cluster{Name: "c", MaxRequests: tt.max}, assignment("127.0.0.1:80"))
			for i := range tt.want {
				if err := c.Acquire(); err != nil {
					t.Fatalf("Acquire %d: %v", i, err)
				}
			}
			if err := c.Acquire(); !errors.Is(err, ErrOverflow) {
				t.Fatalf("Acquire over the limit = %v, want ErrOverflow", err)
			}
			s := c.Stats().Snapshot()
			if s.RqOverflow != 1 || s.RqActive != int64(tt.want) {
				t.Fatalf("overflow %d active %d", s.RqOverflow, s.RqActive)
			}
			c.Release()
			if err := c.Acquire(); err != nil {
				t.Fatalf("Acquire after Release: %v", err)
			}
			for range tt.want {
				c.Release()
			}
		})
	}
}

func TestReportResultCounts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	_, dialErr := net.Dial("tcp", closedAddr)
	if dialErr == nil {
		t.Fatal("dial to a closed port succeeded")
	}

	m, _ := newManager(t)
	c := syncOne(m, &dpconfig.Cluster{Name: "c"}, assignment("127.0.0.1:80"))
	h := c.Hosts()[0]
	for _, r := range []struct {
		status int
		err    error
	}{
		{200, nil}, {204, nil}, {302, nil}, {404, nil}, {503, nil},
		{0, dialErr},                     // connect failure, charged 503
		{0, context.DeadlineExceeded},    // timeout, charged 504
		{0, context.Canceled},            // downstream went away: not counted
		{0, ErrOverflow},                 // circuit breaker: not counted
		{0, errors.New("reset by peer")}, // reset, charged 503
	} {
		report(t, h, r.status, r.err)
	}
	want := HostStatsSnapshot{RqTotal: 8, RqXX: [6]uint64{0, 0, 2, 1, 1, 4}, CxConnectFail: 1, RqTimeout: 1}
	if got := h.Stats(); got != want {
		t.Errorf("host stats = %+v, want %+v", got, want)
	}
	cs := c.Stats().Snapshot()
	if cs.RqTotal != 8 || cs.RqXX != want.RqXX || cs.CxConnectFail != 1 || cs.RqTimeout != 1 {
		t.Errorf("cluster stats = %+v", cs)
	}
	c.Stats().RetryInc()
	if got := c.Stats().Snapshot().RqRetry; got != 1 {
		t.Errorf("retries = %d", got)
	}
}

func TestDefaultClassifyError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want ErrorKind
	}{
		{"cancelled", fmt.Errorf("wrapped: %w", context.Canceled), ErrorLocal},
		{"deadline", context.DeadlineExceeded, ErrorTimeout},
		{"dial", &net.OpError{Op: "dial", Err: errors.New("refused")}, ErrorConnect},
		{"read timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, ErrorTimeout},
		{"other", io.ErrUnexpectedEOF, ErrorReset},
	}
	for _, tt := range tests {
		if got := DefaultClassifyError(tt.err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestLeastRequestPrefersIdleHost(t *testing.T) {
	m, _ := newManager(t)
	c := syncOne(m, &dpconfig.Cluster{Name: "c", LBPolicy: dpconfig.LeastRequest}, assignment("127.0.0.1:80", "127.0.0.2:80"))
	busy, err := c.Pick(&lb.Context{})
	if err != nil {
		t.Fatal(err)
	}
	if busy.Stats().RqActive != 1 {
		t.Fatalf("active = %d, want 1", busy.Stats().RqActive)
	}
	for range 200 {
		if got := pickReport(t, c, 200); got == busy.Address().String() {
			t.Fatalf("picked the busy host %s", got)
		}
	}
	busy.ReportResult(200, nil)
}

func TestActiveHealthCheckEjectsAndRecovers(t *testing.T) {
	ctx := t.Context()
	var servers []*echo.Server
	var addrs []string
	for i := range 3 {
		s, err := echo.Start(ctx, echo.Options{Name: fmt.Sprint("b", i), Addr: fmt.Sprintf("127.0.0.%d:0", 11+i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		servers = append(servers, s)
		addrs = append(addrs, s.Addr())
	}
	m, _ := newManager(t)
	c := syncOne(m, &dpconfig.Cluster{Name: "c", HealthCheck: &dpconfig.HealthCheck{
		Path: echo.PathHealth, Interval: 20 * time.Millisecond, Timeout: time.Second,
		UnhealthyThreshold: 3, HealthyThreshold: 2,
	}}, assignment(addrs...))
	sick := hostOf(t, c, addrs[1])

	waitFor(t, "first probes", func() bool { return servers[1].Counts().Health > 0 })
	servers[1].SetHealthy(false)
	waitFor(t, "host to leave rotation", func() bool { return c.Stats().Snapshot().MembershipHealthy == 2 })
	if got := sick.HealthFlags(); got != "/failed_active_hc" {
		t.Fatalf("flags = %q", got)
	}
	if got := pickedSet(t, c, 30); slices.Contains(got, addrs[1]) {
		t.Fatalf("unhealthy host still picked: %v", got)
	}
	if s := c.Stats().Snapshot(); s.MembershipHealthy != 2 || s.MembershipTotal != 3 || s.HCFailure == 0 {
		t.Fatalf("stats = %+v", s)
	}

	servers[1].SetHealthy(true)
	waitFor(t, "host to rejoin rotation", func() bool { return c.Stats().Snapshot().MembershipHealthy == 3 })
	if got := pickedSet(t, c, 30); len(got) != 3 {
		t.Fatalf("picked %v after recovery", got)
	}
}

func TestActiveHealthCheckDeadHost(t *testing.T) {
	s, err := echo.Start(t.Context(), echo.Options{Addr: "127.0.0.21:0"})
	if err != nil {
		t.Fatal(err)
	}
	live := s.Addr()
	ln, err := net.Listen("tcp", "127.0.0.22:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // connection refused from now on
	t.Cleanup(func() { _ = s.Close() })

	m, _ := newManager(t)
	c := syncOne(m, &dpconfig.Cluster{Name: "c", HealthCheck: &dpconfig.HealthCheck{
		Path: echo.PathHealth, Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond,
		UnhealthyThreshold: 2, HealthyThreshold: 1,
	}}, assignment(live, dead))
	h := hostOf(t, c, dead)
	waitFor(t, "dead host to leave rotation", func() bool { return c.Stats().Snapshot().MembershipHealthy == 1 })
	if h.Healthy() {
		t.Fatal("dead host healthy")
	}
	if !hostOf(t, c, live).Healthy() {
		t.Fatal("live host failed")
	}
	if got := pickedSet(t, c, 10); !slices.Equal(got, []string{live}) {
		t.Fatalf("picked %v", got)
	}
}

func TestHealthCheckThresholds(t *testing.T) {
	type probe struct{ ok, network bool }
	var (
		pass    = probe{ok: true}
		timeout = probe{network: true}
		status  = probe{} // unexpected status
	)
	tests := []struct {
		name   string
		probes []probe
		want   []bool // healthy after each probe
	}{
		{"network failures count to unhealthy_threshold", []probe{timeout, timeout, timeout}, []bool{true, true, false}},
		{"a success resets the failure count", []probe{timeout, timeout, pass, timeout, timeout}, []bool{true, true, true, true, true}},
		{"unexpected status fails at once", []probe{status}, []bool{false}},
		{"healthy_threshold successes recover", []probe{status, pass, pass}, []bool{false, false, true}},
		{"a failure resets the success count", []probe{status, pass, timeout, pass, pass}, []bool{false, false, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newManager(t)
			// Interval long enough that the checker's own probes (to a
			// port nobody listens on) do not interfere.
			c := syncOne(m, &dpconfig.Cluster{Name: "c", HealthCheck: &dpconfig.HealthCheck{
				Interval: time.Hour, Timeout: time.Millisecond, UnhealthyThreshold: 3, HealthyThreshold: 2,
			}}, assignment("127.0.0.1:1"))
			h := c.Hosts()[0]
			m.mu.Lock()
			c.stopChecker()
			m.mu.Unlock()
			h.state.flags.Store(0)
			h.state.hcFailures, h.state.hcSuccesses = 0, 0
			for i, p := range tt.probes {
				c.hcResult(h, p.ok, p.network)
				if got := h.state.flags.Load()&flagFailedActiveHC == 0; got != tt.want[i] {
					t.Fatalf("after probe %d healthy = %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestExpectedStatuses(t *testing.T) {
	tests := []struct {
		ranges [][2]int
		status int
		want   bool
	}{
		{nil, 200, true},
		{nil, 204, false},
		{[][2]int{{200, 300}}, 204, true},
		{[][2]int{{200, 300}}, 300, false},
		{[][2]int{{200, 201}, {404, 405}}, 404, true},
	}
	for _, tt := range tests {
		if got := expectedStatus(tt.ranges, tt.status); got != tt.want {
			t.Errorf("expectedStatus(%v, %d) = %v", tt.ranges, tt.status, got)
		}
	}
}

func TestOutlierEjectionAndUnejection(t *testing.T) {
	m, _ := newManager(t)
	c := syncOne(m, &dpconfig.Cluster{Name: "c", Outlier: &dpconfig.OutlierDetection{
		Consecutive5xx: 3, Interval: 5 * time.Millisecond, BaseEjectionTime: 40 * time.Millisecond, MaxEjectionPercent: 100,
	}}, assignment("127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80"))
	h := hostOf(t, c, "127.0.0.2:80")

	report(t, h, 500, nil)
	report(t, h, 500, nil)
	report(t, h, 200, nil) // resets the count
	report(t, h, 500, nil)
	report(t, h, 500, nil)
	if !h.Healthy() {
		t.Fatal("ejected before 3 consecutive 5xx")
	}
	ejectedAt := time.Now()
	report(t, h, 503, nil)
	if got := h.HealthFlags(); got != "/failed_outlier_check" {
		t.Fatalf("flags = %q after 3 consecutive 5xx", got)
	}
	if got := pickedSet(t, c, 30); slices.Contains(got, "127.0.0.2:80") {
		t.Fatalf("ejected host picked: %v", got)
	}
	if s := c.Stats().Snapshot(); s.OutlierEjections != 1 || s.OutlierEjectedNow != 1 {
		t.Fatalf("stats = %+v", s)
	}
	waitFor(t, "un-ejection", h.Healthy)
	if d := time.Since(ejectedAt); d < 40*time.Millisecond {
		t.Fatalf("un-ejected after %v, want ≥ base_ejection_time", d)
	}
	if got := pickedSet(t, c, 30); len(got) != 3 {
		t.Fatalf("picked %v after un-ejection", got)
	}

	// A second ejection lasts base × 2 (unless the multiplier decayed).
	h.state.mu.Lock()
	n := h.state.ejections
	h.state.mu.Unlock()
	for range 3 {
		report(t, h, 502, nil)
	}
	h.state.mu.Lock()
	got := h.state.ejections
	h.state.mu.Unlock()
	if got != n+1 {
		t.Fatalf("ejection multiplier %d → %d, want +1", n, got)
	}
}

func TestOutlierDetectors(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	tests := []struct {
		name    string
		od      dpconfig.OutlierDetection
		results []int // status; 0 = connect failure
		ejected bool
	}{
		{"500s count as 5xx", dpconfig.OutlierDetection{Consecutive5xx: 3}, []int{500, 500, 500}, true},
		{"4xx resets 5xx", dpconfig.OutlierDetection{Consecutive5xx: 3}, []int{500, 500, 404, 500}, false},
		{"connect failures count as 5xx", dpconfig.OutlierDetection{Consecutive5xx: 2}, []int{0, 0}, true},
		{"500 is not a gateway failure", dpconfig.OutlierDetection{ConsecutiveGatewayFailure: 2}, []int{500, 500, 500}, false},
		{"502 and 504 are gateway failures", dpconfig.OutlierDetection{ConsecutiveGatewayFailure: 2}, []int{502, 504}, true},
		{"500 resets gateway failures", dpconfig.OutlierDetection{ConsecutiveGatewayFailure: 2}, []int{503, 500, 503}, false},
		{"connect failure is a gateway failure", dpconfig.OutlierDetection{ConsecutiveGatewayFailure: 2}, []int{0, 503}, true},
		{"0 disables both", dpconfig.OutlierDetection{}, []int{503, 503, 503, 503, 503, 503}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newManager(t)
			od := tt.od
			od.Interval = time.Hour
			c := syncOne(m, &dpconfig.Cluster{Name: "c", Outlier: &od}, assignment("127.0.0.1:80", "127.0.0.2:80"))
			h := c.Hosts()[0]
			for _, st := range tt.results {
				if st == 0 {
					report(t, h, 0, dialErr)
				} else {
					report(t, h, st, nil)
				}
			}
			if got := !h.Healthy(); got != tt.ejected {
				t.Fatalf("ejected = %v, want %v", got, tt.ejected)
			}
		})
	}
}

func TestMaxEjectionPercent(t *testing.T) {
	tests := []struct {
		name string
		pct  uint32
		want int // hosts ejected after all four fail
	}{
		{"default 10% still ejects one host", 0, 1},
		{"50% of four", 50, 2},
		{"100%", 100, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newManager(t)
			c := syncOne(m, &dpconfig.Cluster{Name: "c", Outlier: &dpconfig.OutlierDetection{
				Consecutive5xx: 1, Interval: time.Hour, MaxEjectionPercent: tt.pct,
			}}, assignment("127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80", "127.0.0.4:80"))
			for _, h := range c.Hosts() {
				report(t, h, 503, nil)
			}
			if got := c.Stats().Snapshot().OutlierEjectedNow; got != int64(tt.want) {
				t.Fatalf("ejected %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSyncEndpointChangeKeepsHostsAndState(t *testing.T) {
	m, ps := newManager(t)
	cfg := &dpconfig.Cluster{Name: "c", Outlier: &dpconfig.OutlierDetection{Consecutive5xx: 1, Interval: time.Hour, MaxEjectionPercent: 100}}
	c1 := syncOne(m, cfg, assignment("127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80"))
	a := hostOf(t, c1, "127.0.0.1:80")
	report(t, a, 503, nil) // eject A
	inflight, gone := hostOf(t, c1, "127.0.0.3:80"), hostOf(t, c1, "127.0.0.3:80")
	if !inflight.acquire() { // a request to C is still running
		t.Fatal("acquire")
	}

	c2 := syncOne(m, cfg, assignment("127.0.0.1:80", "127.0.0.2:80", "127.0.0.4:80"))
	if c2 != c1 {
		t.Fatal("endpoint-only change rebuilt the cluster")
	}
	if hostOf(t, c2, "127.0.0.1:80") != a || a.Healthy() {
		t.Fatal("host A lost its identity or its ejection")
	}
	if got := pickedSet(t, c2, 20); !slices.Equal(got, []string{"127.0.0.2:80", "127.0.0.4:80"}) {
		t.Fatalf("picked %v", got)
	}
	if n := ps.of("127.0.0.3:80")[0].closed.Load(); n != 0 {
		t.Fatal("removed host's pool closed under an in-flight request")
	}
	gone.ReportResult(200, nil)
	if n := ps.of("127.0.0.3:80")[0].closed.Load(); n != 1 {
		t.Fatalf("removed host's pool closed %d times after the request ended, want 1", n)
	}
	for _, addr := range []string{"127.0.0.1:80", "127.0.0.2:80"} {
		if p := ps.of(addr); len(p) != 1 || p[0].closed.Load() != 0 {
			t.Fatalf("%s: pools %d, closed %d", addr, len(p), p[0].closed.Load())
		}
	}
	if s := c2.Stats().Snapshot(); s.MembershipTotal != 3 || s.MembershipHealthy != 2 {
		t.Fatalf("membership %+v", s)
	}
}

func TestSyncReusesEqualConfig(t *testing.T) {
	m, _ := newManager(t)
	cfg := &dpconfig.Cluster{Name: "c", HealthCheck: &dpconfig.HealthCheck{Path: "/h", Interval: time.Hour, ExpectedStatuses: [][2]int{{200, 300}}}}
	cla := assignment("127.0.0.1:1")
	c1 := syncOne(m, cfg, cla)
	cp := *cfg
	hc := *cfg.HealthCheck
	hc.ExpectedStatuses = [][2]int{{200, 300}}
	cp.HealthCheck = &hc
	if c2 := syncOne(m, &cp, cla); c2 != c1 {
		t.Fatal("an equal, re-decoded config rebuilt the cluster")
	}
	cp2 := cp
	cp2.LBPolicy = dpconfig.Maglev
	if c3 := syncOne(m, &cp2, cla); c3 == c1 {
		t.Fatal("a changed config reused the cluster")
	}
}

func TestSyncConfigChangeCarriesHealthAndDrainsOldPools(t *testing.T) {
	m, ps := newManager(t)
	od := &dpconfig.OutlierDetection{Consecutive5xx: 1, Interval: time.Hour, MaxEjectionPercent: 100}
	cla := assignment("127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80")
	old := syncOne(m, &dpconfig.Cluster{Name: "c", Outlier: od}, cla)
	report(t, hostOf(t, old, "127.0.0.1:80"), 503, nil) // eject A
	held, err := old.Pick(&lb.Context{})                // a request of the old generation in flight
	if err != nil {
		t.Fatal(err)
	}
	report(t, hostOf(t, old, "127.0.0.2:80"), 200, nil)

	cur := syncOne(m, &dpconfig.Cluster{Name: "c", Outlier: od, MaxRequests: 10}, cla)
	if cur == old {
		t.Fatal("config change reused the cluster")
	}
	if hostOf(t, cur, "127.0.0.1:80").Healthy() {
		t.Fatal("ejection not carried over to the new incarnation")
	}
	if got := hostOf(t, cur, "127.0.0.2:80").Stats().RqTotal; got != 1 {
		t.Fatalf("host counters reset: rq_total %d", got)
	}
	// Until the caller publishes and calls Retire, the old incarnation
	// still serves.
	if h, err := old.Pick(&lb.Context{}); err != nil || h.Cluster() != old {
		t.Fatalf("old incarnation Pick before Retire: %v", err)
	} else {
		h.ReportResult(200, nil)
	}

	m.Retire(nil)
	for _, addr := range []string{"127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80"} {
		p := ps.of(addr)
		if len(p) != 2 {
			t.Fatalf("%s: %d pools, want old and new", addr, len(p))
		}
		wantOld := int32(1)
		if addr == held.Address().String() {
			wantOld = 0
		}
		if p[0].closed.Load() != wantOld || p[1].closed.Load() != 0 {
			t.Fatalf("%s: old pool closed %d (want %d), new %d", addr, p[0].closed.Load(), wantOld, p[1].closed.Load())
		}
	}
	held.ReportResult(200, nil)
	if p := ps.of(held.Address().String()); p[0].closed.Load() != 1 {
		t.Fatal("old pool not closed after its last request")
	}
	// A request that still holds the old incarnation is sent to the new one.
	h, err := old.Pick(&lb.Context{})
	if err != nil || h.Cluster() != cur {
		t.Fatalf("Pick on a replaced incarnation: host of %v, err %v", h, err)
	}
	h.ReportResult(200, nil)
}

func TestRetire(t *testing.T) {
	m, ps := newManager(t)
	cfgA := &dpconfig.Cluster{Name: "a", HealthCheck: &dpconfig.HealthCheck{Interval: time.Hour, Timeout: time.Millisecond}}
	cfgB := &dpconfig.Cluster{Name: "b"}
	cla := func(name string) *dpconfig.ClusterLoadAssignment {
		if name == "a" {
			return assignment("127.0.0.1:1")
		}
		return assignment("127.0.0.2:1")
	}
	gen1 := m.Sync(map[string]*dpconfig.Cluster{"a": cfgA, "b": cfgB}, cla)
	a := gen1["a"]
	held, err := a.Pick(&lb.Context{})
	if err != nil {
		t.Fatal(err)
	}

	// The next generation drops "a" from CDS and routes; "b" stays.
	gen2 := m.Sync(map[string]*dpconfig.Cluster{"b": cfgB}, cla)
	if len(gen2) != 1 {
		t.Fatalf("gen2 = %v", gen2)
	}
	if h, err := a.Pick(&lb.Context{}); err != nil {
		t.Fatal("cluster removed before Retire")
	} else {
		h.ReportResult(200, nil)
	}
	m.Retire([]string{"a", "b"}) // "b" is still in use: ignored
	if _, err := a.Pick(&lb.Context{}); !errors.Is(err, ErrNoHealthyUpstream) {
		t.Fatalf("Pick on a retired cluster = %v", err)
	}
	select {
	case <-a.done:
	default:
		t.Fatal("health checker still running after Retire")
	}
	if ps.of("127.0.0.1:1")[0].closed.Load() != 0 {
		t.Fatal("pool closed under an in-flight request")
	}
	held.ReportResult(200, nil)
	if ps.of("127.0.0.1:1")[0].closed.Load() != 1 {
		t.Fatal("pool not closed after the in-flight request")
	}
	if _, err := gen2["b"].Pick(&lb.Context{}); err != nil {
		t.Fatalf("b retired although in use: %v", err)
	}
	if names := clusterNames(m); !slices.Equal(names, []string{"b"}) {
		t.Fatalf("clusters = %v", names)
	}
}

func clusterNames(m *Manager) []string {
	var out []string
	for _, c := range m.Clusters() {
		out = append(out, c.Name())
	}
	return out
}

func TestCloseClosesEveryPoolOnce(t *testing.T) {
	ps := &pools{}
	m := NewManager(Options{NewPool: ps.newPool})
	cfg := &dpconfig.Cluster{Name: "c", LBPolicy: dpconfig.LeastRequest,
		Outlier: &dpconfig.OutlierDetection{Consecutive5xx: 2, Interval: time.Millisecond, BaseEjectionTime: time.Millisecond}}
	sets := [][]string{
		{"127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80"},
		{"127.0.0.2:80", "127.0.0.4:80"},
		{"127.0.0.1:80", "127.0.0.4:80", "127.0.0.5:80"},
	}
	c := syncOne(m, cfg, assignment(sets[0]...))
	var (
		wg   sync.WaitGroup
		stop atomic.Bool
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				h, err := c.Pick(&lb.Context{})
				if err != nil {
					continue
				}
				h.ReportResult([]int{200, 503}[(i+w)%2], nil)
			}
		}()
	}
	for i := range 300 {
		cp := *cfg
		if i%7 == 0 {
			cp.MaxRequests = uint32(i) // a config change now and then
			cfg = &cp
		}
		syncOne(m, cfg, assignment(sets[i%len(sets)]...))
		if i%5 == 0 {
			m.Retire(nil)
		}
	}
	stop.Store(true)
	wg.Wait()
	_ = m.Close()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.all {
		if n := p.closed.Load(); n != 1 {
			t.Fatalf("pool of %s closed %d times", p.addr, n)
		}
	}
}

func TestRemovingHealthCheckReadmitsHosts(t *testing.T) {
	m, _ := newManager(t)
	cla := assignment("127.0.0.1:1", "127.0.0.2:1")
	withHC := &dpconfig.Cluster{Name: "c", HealthCheck: &dpconfig.HealthCheck{Interval: time.Hour, Timeout: 50 * time.Millisecond, UnhealthyThreshold: 1}}
	c := syncOne(m, withHC, cla)
	h := c.Hosts()[0]
	waitFor(t, "refused probes to fail the host", func() bool { return !h.Healthy() })
	waitFor(t, "the set to be rebuilt", func() bool { return c.Stats().Snapshot().MembershipHealthy < 2 })
	c2 := syncOne(m, &dpconfig.Cluster{Name: "c"}, cla)
	if !hostOf(t, c2, "127.0.0.1:1").Healthy() {
		t.Fatal("host still failed after its health check was removed")
	}
	m.Retire(nil)
}

func BenchmarkClusterPick(b *testing.B) {
	policies := []dpconfig.LBPolicy{dpconfig.RoundRobin, dpconfig.LeastRequest, dpconfig.Random, dpconfig.RingHash, dpconfig.Maglev}
	names := []string{"round_robin", "least_request", "random", "ring_hash", "maglev"}
	for i, pol := range policies {
		for _, n := range []int{3, 100} {
			b.Run(fmt.Sprintf("%s/hosts=%d", names[i], n), func(b *testing.B) {
				m := NewManager(Options{})
				defer m.Close()
				var addrs []string
				for j := range n {
					addrs = append(addrs, fmt.Sprintf("10.0.%d.%d:8080", j/250, j%250+1))
				}
				c := syncOne(m, &dpconfig.Cluster{Name: "c", LBPolicy: pol}, assignment(addrs...))
				ctx := &lb.Context{HasHash: true}
				b.ReportAllocs()
				for b.Loop() {
					ctx.Hash += 0x9e3779b97f4a7c15
					h, err := c.Pick(ctx)
					if err != nil {
						b.Fatal(err)
					}
					h.ReportResult(200, nil)
				}
			})
		}
	}
}
