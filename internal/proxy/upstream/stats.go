package upstream

import "sync/atomic"

// ClusterStats are a cluster's counters, named after Envoy's
// cluster.<name>.* statistics. They live as long as the cluster name stays
// in the Manager, across incarnations. All fields are atomic.
type ClusterStats struct {
	rqTotal        atomic.Uint64
	rqActive       atomic.Int64
	rqXX           [6]atomic.Uint64
	cxConnectFail  atomic.Uint64
	rqTimeout      atomic.Uint64
	rqRetry        atomic.Uint64
	rqOverflow     atomic.Uint64
	lbHealthyPanic atomic.Uint64
	ejections      atomic.Uint64
	ejectedNow     atomic.Int64
	hcSuccess      atomic.Uint64
	hcFailure      atomic.Uint64
	healthy        atomic.Int64
	total          atomic.Int64
}

// ClusterStatsSnapshot is a point-in-time copy of ClusterStats.
type ClusterStatsSnapshot struct {
	RqTotal           uint64    // upstream_rq_total
	RqActive          int64     // upstream_rq_active (between Acquire and Release)
	RqXX              [6]uint64 // upstream_rq_<i>xx, index status/100; local 503/504 included, as Envoy charges them
	CxConnectFail     uint64    // upstream_cx_connect_fail
	RqTimeout         uint64    // upstream_rq_timeout
	RqRetry           uint64    // upstream_rq_retry
	RqOverflow        uint64    // upstream_rq_pending_overflow (max_requests circuit breaker)
	LBHealthyPanic    uint64    // lb_healthy_panic: picks made in panic mode
	OutlierEjections  uint64    // outlier_detection.ejections_enforced_total
	OutlierEjectedNow int64     // outlier_detection.ejections_active
	HCSuccess         uint64    // health_check.success
	HCFailure         uint64    // health_check.failure
	MembershipHealthy int64     // membership_healthy
	MembershipTotal   int64     // membership_total
}

// RetryInc counts a retry (upstream_rq_retry); the forwarder calls it.
func (s *ClusterStats) RetryInc() { s.rqRetry.Add(1) }

// Snapshot copies the counters.
func (s *ClusterStats) Snapshot() ClusterStatsSnapshot {
	out := ClusterStatsSnapshot{
		RqTotal:           s.rqTotal.Load(),
		RqActive:          s.rqActive.Load(),
		CxConnectFail:     s.cxConnectFail.Load(),
		RqTimeout:         s.rqTimeout.Load(),
		RqRetry:           s.rqRetry.Load(),
		RqOverflow:        s.rqOverflow.Load(),
		LBHealthyPanic:    s.lbHealthyPanic.Load(),
		OutlierEjections:  s.ejections.Load(),
		OutlierEjectedNow: s.ejectedNow.Load(),
		HCSuccess:         s.hcSuccess.Load(),
		HCFailure:         s.hcFailure.Load(),
		MembershipHealthy: s.healthy.Load(),
		MembershipTotal:   s.total.Load(),
	}
	for i := range s.rqXX {
		out.RqXX[i] = s.rqXX[i].Load()
	}
	return out
}

// HostStats are one host's counters; they survive cluster updates as long
// as the address stays in the cluster. All fields are atomic.
type HostStats struct {
	rqTotal       atomic.Uint64
	rqXX          [6]atomic.Uint64
	cxConnectFail atomic.Uint64
	rqTimeout     atomic.Uint64
}

// HostStatsSnapshot is a point-in-time copy of a host's counters.
type HostStatsSnapshot struct {
	RqTotal       uint64
	RqActive      int64 // picked and not yet reported
	RqXX          [6]uint64
	CxConnectFail uint64
	RqTimeout     uint64
}

func (s *HostStats) snapshot() HostStatsSnapshot {
	out := HostStatsSnapshot{
		RqTotal:       s.rqTotal.Load(),
		CxConnectFail: s.cxConnectFail.Load(),
		RqTimeout:     s.rqTimeout.Load(),
	}
	for i := range s.rqXX {
		out.RqXX[i] = s.rqXX[i].Load()
	}
	return out
}

// countResponse charges one upstream request with status to both levels.
func countResponse(cs *ClusterStats, hs *HostStats, status int) {
	cs.rqTotal.Add(1)
	hs.rqTotal.Add(1)
	if c := status / 100; c >= 1 && c <= 5 {
		cs.rqXX[c].Add(1)
		hs.rqXX[c].Add(1)
	}
}
