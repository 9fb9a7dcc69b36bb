package runtime

import (
	"net/netip"
	"time"
)

// AccessLogEntry is one request, with Envoy's access-log fields. It is only
// valid during the AccessLogger.Log call: loggers copy what they keep.
type AccessLogEntry struct {
	StartTime        time.Time
	Duration         time.Duration
	Method           string
	Path             string
	Protocol         string
	ResponseCode     int
	Flags            string // Envoy response flags: NR, UH, UF, UT, UC, UO, NC, DI, FI, UPE, DC, or "-"
	BytesSent        int64
	Authority        string
	RequestID        string
	UserAgent        string
	ForwardedFor     string
	DownstreamRemote netip.AddrPort
	UpstreamHost     string
	UpstreamCluster  string
	RouteName        string
	Listener         string
	// TraceID is the request's trace (W3C / B3 from the caller, or the
	// proxy's own when it sampled); all zero when there is none.
	TraceID [16]byte
}

// AccessLogger consumes access-log entries. Log is called on the request
// path and must not block: implementations queue and write elsewhere.
type AccessLogger interface {
	Log(e *AccessLogEntry)
}
