package runtime

import (
	"context"
	"errors"
	"io"
	"net/netip"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/proxy/upstream"
	"github.com/ksgw/ksgw/internal/proxy/upstream/lb"
	"github.com/ksgw/ksgw/internal/proxy/upstream/pool"
)

// newHostPool creates the connection pool of one upstream host from its
// cluster's settings. The upstream manager calls it when a host appears and
// closes the pool when the host leaves (after in-flight requests finish).
func newHostPool(c *dpconfig.Cluster, addr netip.AddrPort) io.Closer {
	return pool.New(pool.Config{
		Addr:               addr.String(),
		HTTP2:              c.Protocol == dpconfig.HTTP2,
		MaxConns:           int(c.MaxConnections),
		MaxPending:         int(c.MaxPendingRequests),
		MaxRequestsPerConn: int(c.MaxRequestsPerConnection),
		IdleTimeout:        c.IdleTimeout,
		ConnectTimeout:     c.ConnectTimeout,
	})
}

func hostPool(h *upstream.Host) *pool.Pool { return h.Pool().(*pool.Pool) }

func pickHost(c *upstream.Cluster, hash uint64, hasHash bool) (*upstream.Host, error) {
	return c.Pick(&lb.Context{Hash: hash, HasHash: hasHash})
}

func roundTrip(ctx context.Context, h *upstream.Host, r *httpmsg.Request) (*httpmsg.Response, error) {
	return hostPool(h).RoundTrip(ctx, r)
}

func isConnectFailure(err error) bool { return errors.Is(err, pool.ErrConnectFailure) }

func isTimeout(err error) bool {
	return errors.Is(err, pool.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}

// classifyPoolError tells the upstream package how the pool failed, for
// outlier detection and Envoy's connect-failure / timeout counters.
func classifyPoolError(err error) upstream.ErrorKind {
	switch {
	case errors.Is(err, pool.ErrConnectFailure):
		return upstream.ErrorConnect
	case errors.Is(err, pool.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return upstream.ErrorTimeout
	case errors.Is(err, errDownstream), errors.Is(err, pool.ErrCanceled), errors.Is(err, pool.ErrOverflow), errors.Is(err, pool.ErrClosed), errors.Is(err, context.Canceled):
		return upstream.ErrorLocal
	}
	return upstream.ErrorReset
}
