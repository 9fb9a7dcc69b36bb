package server

import (
	"context"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// streamState is what the server knows of one open stream. Guarded by
// Server.mu.
type streamState struct {
	ctx         context.Context // the gRPC stream context: metadata, peer
	defaultType string          // "" for ADS, the type of a per-type stream
	delta       bool
	nodeID      string // "" until the first request was authenticated
	types       map[string]*typeState
}

// typeState follows the xDS ACK/NACK protocol for one type on one stream
// (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#ack-nack-and-resource-type-instance-version).
type typeState struct {
	sentNonce    string // nonce of the last response sent
	sentVersion  string // its version_info (SotW) or system_version_info (delta)
	answered     bool   // a request carrying sentNonce arrived (or nothing was sent)
	nacked       bool   // that request carried error_detail
	ackedVersion string // last version the proxy reported as applied
}

// settled reports whether the proxy has answered the response carrying
// version: ACKed it, or NACKed it (it will not move until the next
// version, so waiting longer would only stall its peers).
func (t *typeState) settled(version string) bool {
	return t.answered && (t.ackedVersion == version || (t.nacked && t.sentVersion == version))
}

type nodeCounters struct {
	acks, nacks uint64
	pushes      uint64
	lastNACK    map[string]NACK // by type URL
}

// callbacks adapts go-control-plane's synchronous callbacks to the Server.
// They run on the stream goroutines, so they only take mu and never call
// the cache.
type callbacks struct{ s *Server }

var _ serverv3.Callbacks = callbacks{}

func (c callbacks) OnStreamOpen(ctx context.Context, id int64, typeURL string) error {
	c.s.openStream(ctx, id, typeURL, false)
	return nil
}

func (c callbacks) OnDeltaStreamOpen(ctx context.Context, id int64, typeURL string) error {
	c.s.openStream(ctx, id, typeURL, true)
	return nil
}

func (c callbacks) OnStreamClosed(id int64, _ *core.Node)      { c.s.closeStream(id) }
func (c callbacks) OnDeltaStreamClosed(id int64, _ *core.Node) { c.s.closeStream(id) }

func (c callbacks) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	rejected, err := c.s.onRequest(id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetVersionInfo(), req.GetErrorDetail())
	if err != nil {
		return err
	}
	if rejected != "" {
		// A NACK repeats the previous version, and go-control-plane's cache
		// answers any request whose version differs from the snapshot at
		// once: the rejected response would be resent in a tight loop for
		// as long as the config stays bad. Presenting the rejected version
		// makes the watch wait for the next snapshot of this type instead,
		// which is what Envoy expects (xDS protocol: the server should not
		// resend a NACKed version).
		req.VersionInfo = rejected
	}
	return nil
}

func (c callbacks) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	// Delta requests carry no version: an ACK acknowledges the
	// system_version_info of the response whose nonce it echoes.
	_, err := c.s.onRequest(id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), "", req.GetErrorDetail())
	return err
}

func (c callbacks) OnStreamResponse(_ context.Context, id int64, req *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
	c.s.onResponse(id, resp.GetTypeUrl(), req.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
}

func (c callbacks) OnStreamDeltaResponse(id int64, req *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
	c.s.onResponse(id, resp.GetTypeUrl(), req.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
}

func (c callbacks) OnFetchRequest(ctx context.Context, req *discovery.DiscoveryRequest) error {
	id := req.GetNode().GetId()
	if id == "" {
		return status.Error(codes.InvalidArgument, "node.id is required")
	}
	return c.s.authenticate(ctx, id)
}

func (c callbacks) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}

func (s *Server) openStream(ctx context.Context, id int64, typeURL string, delta bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[id] = &streamState{ctx: ctx, defaultType: typeURL, delta: delta, types: make(map[string]*typeState)}
}

func (s *Server) closeStream(id int64) {
	s.mu.Lock()
	if st, ok := s.streams[id]; ok && st.nodeID != "" {
		s.log.Info("proxy disconnected", "node", st.nodeID, "stream", id)
	}
	delete(s.streams, id)
	s.notifyLocked()
	s.mu.Unlock()
	// A closed stream no longer holds back a make-before-break step.
	s.wake()
}

func (s *Server) authenticate(ctx context.Context, nodeID string) error {
	err := s.auth.Authenticate(ctx, nodeID)
	if err == nil {
		return nil
	}
	s.log.Warn("xDS client refused", "node", nodeID, "error", err)
	if st, ok := status.FromError(err); ok && (st.Code() == codes.Unauthenticated || st.Code() == codes.PermissionDenied) {
		return err
	}
	return status.Errorf(codes.PermissionDenied, "node %q: %v", nodeID, err)
}

// onRequest authenticates and accounts a request. rejected is the version a
// NACK rejected, "" otherwise.
func (s *Server) onRequest(id int64, node *core.Node, typeURL, nonce, version string, errDetail *rpcstatus.Status) (rejected string, err error) {
	s.mu.Lock()
	st, ok := s.streams[id]
	if !ok {
		s.mu.Unlock()
		return "", status.Error(codes.Internal, "unknown stream")
	}
	claimed := node.GetId()
	if st.nodeID == "" && claimed == "" {
		s.mu.Unlock()
		return "", status.Error(codes.InvalidArgument, "the first request of a stream must carry node.id")
	}
	if claimed != "" && claimed != st.nodeID {
		// First request, or the node ID changed mid-stream: a proxy must
		// not switch to another Gateway's configuration on a stream that
		// was authenticated for its own.
		ctx := st.ctx
		s.mu.Unlock()
		if err := s.authenticate(ctx, claimed); err != nil {
			return "", err
		}
		s.mu.Lock()
		if st, ok = s.streams[id]; !ok {
			s.mu.Unlock()
			return "", status.Error(codes.Internal, "unknown stream")
		}
		if st.nodeID == "" {
			s.log.Info("proxy connected", "node", claimed, "stream", id, "delta", st.delta)
		}
		st.nodeID = claimed
	}
	defer s.mu.Unlock()
	if typeURL == "" {
		typeURL = st.defaultType
	}
	ts, ok := st.types[typeURL]
	if !ok {
		ts = &typeState{}
		st.types[typeURL] = ts
	}
	switch {
	case nonce == "":
		// Initial request (or reconnect): the proxy tells which version it
		// already has; nothing is outstanding.
		if ts.sentNonce == "" {
			ts.answered, ts.nacked, ts.ackedVersion = true, false, version
		}
	case nonce != ts.sentNonce:
		// Stale nonce: an answer to a response that was superseded.
		// go-control-plane ignores it too.
		return "", nil
	default:
		c := s.countersLocked(st.nodeID)
		ts.answered = true
		if errDetail != nil {
			ts.nacked = true
			rejected = ts.sentVersion
			c.nacks++
			c.lastNACK[typeURL] = NACK{TypeURL: typeURL, Version: ts.sentVersion, Nonce: nonce, Detail: errDetail.GetMessage(), At: time.Now()}
			s.log.Warn("proxy rejected configuration (NACK)",
				"node", st.nodeID, "type", typeURL, "rejected_version", ts.sentVersion,
				"kept_version", version, "nonce", nonce, "error", errDetail.GetMessage())
		} else {
			ts.nacked = false
			c.acks++
			if st.delta {
				ts.ackedVersion = ts.sentVersion
			} else {
				ts.ackedVersion = version
			}
		}
	}
	s.notifyLocked()
	s.wake() // never blocks: capacity-1 channel
	return rejected, nil
}

func (s *Server) onResponse(id int64, respType, reqType, nonce, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[id]
	if !ok {
		return
	}
	typeURL := respType
	if typeURL == "" {
		typeURL = reqType
	}
	if typeURL == "" {
		typeURL = st.defaultType
	}
	ts, ok := st.types[typeURL]
	if !ok {
		ts = &typeState{}
		st.types[typeURL] = ts
	}
	ts.sentNonce, ts.sentVersion, ts.answered, ts.nacked = nonce, version, false, false
	if st.nodeID != "" {
		s.countersLocked(st.nodeID).pushes++
	}
}

func (s *Server) countersLocked(node string) *nodeCounters {
	c, ok := s.counters[node]
	if !ok {
		c = &nodeCounters{lastNACK: make(map[string]NACK)}
		s.counters[node] = c
	}
	return c
}
