package upstream

import "time"

// outlierResult feeds one request outcome to Envoy's consecutive_5xx and
// consecutive_gateway_failure detectors. The hot path is two atomic
// operations; the cluster lock is taken only when a threshold is reached.
func (c *Cluster) outlierResult(h *Host, is5xx, isGateway bool) {
	od := c.cfg.Outlier
	st := h.state
	eject := false
	if is5xx {
		// Envoy resets the counter on reaching the threshold whether or
		// not the ejection is then allowed.
		if od.Consecutive5xx > 0 && st.cons5xx.Add(1) >= od.Consecutive5xx {
			st.cons5xx.Store(0)
			eject = true
		}
	} else if st.cons5xx.Load() != 0 {
		st.cons5xx.Store(0)
	}
	if isGateway {
		if od.ConsecutiveGatewayFailure > 0 && st.consGW.Add(1) >= od.ConsecutiveGatewayFailure {
			st.consGW.Store(0)
			eject = true
		}
	} else if st.consGW.Load() != 0 {
		st.consGW.Store(0)
	}
	if eject && c.eject(h, time.Now()) {
		c.e.healthChanged()
	}
}

// eject applies Envoy's DetectorImpl::ejectHost: at most
// max_ejection_percent of the hosts may be ejected, but one always can.
func (c *Cluster) eject(h *Host, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released || h.refs.Load()&1 == 0 {
		return false // the host left meanwhile (Envoy ignores it too)
	}
	if h.state.flags.Load()&flagFailedOutlier != 0 {
		return false
	}
	ejected := 0
	for _, x := range c.hosts {
		if x.state.flags.Load()&flagFailedOutlier != 0 {
			ejected++
		}
	}
	maxPct := c.cfg.Outlier.MaxEjectionPercent
	if maxPct == 0 {
		maxPct = defaultMaxEjectPct
	}
	if ejected > 0 && uint64(100*(ejected+1)) > uint64(min(maxPct, 100))*uint64(len(c.hosts)) {
		return false
	}
	st := h.state
	st.mu.Lock()
	st.ejections++
	st.ejectedAt = now
	st.mu.Unlock()
	st.flags.Or(flagFailedOutlier)
	c.e.stats.ejections.Add(1)
	return true
}

// outlierSweep is the detector's interval timer: it un-ejects hosts whose
// ejection time (base × ejections, capped at 300s) has passed and decays
// the multiplier of hosts that stayed in rotation, as Envoy's
// DetectorImpl::onIntervalTimer.
func (c *Cluster) outlierSweep(now time.Time) {
	od := c.cfg.Outlier
	base := positive(od.BaseEjectionTime, defaultBaseEjection)
	maxEject := max(base, time.Duration(defaultMaxEjectionNs))
	changed := false
	for _, h := range c.Hosts() {
		st := h.state
		st.mu.Lock()
		if st.flags.Load()&flagFailedOutlier != 0 {
			if now.Sub(st.ejectedAt) >= min(base*time.Duration(st.ejections), maxEject) {
				st.flags.And(^flagFailedOutlier)
				st.cons5xx.Store(0)
				st.consGW.Store(0)
				changed = true
			}
		} else if st.ejections > 0 {
			st.ejections--
		}
		st.mu.Unlock()
	}
	if changed {
		c.e.healthChanged()
	}
}
