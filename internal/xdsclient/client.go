// Package xdsclient is the proxy's ADS client: one SotW stream to the
// control plane, wildcard subscriptions to CDS, EDS, SDS, LDS and RDS,
// decode-then-apply per response, ACK/NACK per the xDS protocol, and
// reconnection with backoff. The last accepted configuration stays applied
// while the control plane is unreachable (DESIGN §3).
//
// Decoders are passed in (internal/dpconfig provides them); this package
// knows no resource schema.
package xdsclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

// Decoder turns one resource into its validated data-plane value (for
// example *dpconfig.Cluster for CDS). An error makes the whole response a
// NACK; it should name the field at fault.
type Decoder func(*anypb.Any) (name string, value any, err error)

// Applier installs a complete candidate snapshot. An error rejects it: the
// client NACKs and keeps the previous snapshot as the accepted one.
type Applier interface {
	Apply(ctx context.Context, snap *dpconfig.Snapshot) error
}

// Backoff is the delay between reconnection attempts: Initial, multiplied
// by Multiplier after each failed attempt up to Max, each delay spread by
// ±Jitter (a fraction) so that proxies restarted together do not reconnect
// in lockstep (gRPC connection-backoff.md).
type Backoff struct {
	Initial    time.Duration // default 250ms
	Max        time.Duration // default 10s
	Multiplier float64       // default 2
	Jitter     float64       // default 0.2
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 250 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier < 1 {
		b.Multiplier = 2
	}
	if b.Jitter < 0 || b.Jitter > 1 {
		b.Jitter = 0.2
	}
	if b.Jitter == 0 {
		b.Jitter = 0.2
	}
	return b
}

// delay is the wait before attempt n (0-based).
func (b Backoff) delay(n int) time.Duration {
	d := float64(b.Initial)
	for i := 0; i < n && d < float64(b.Max); i++ {
		d *= b.Multiplier
	}
	d = min(d, float64(b.Max))
	d *= 1 + b.Jitter*(2*rand.Float64()-1)
	return time.Duration(d)
}

// Options configure a Client.
type Options struct {
	Server string // gRPC target, e.g. "127.0.0.1:18000"
	NodeID string // "namespace/name" of the Gateway
	Token  string // bearer token for the authorization metadata; "" sends none
	// TokenFile, when set, is read at every stream start and replaces
	// Token: a Kubernetes projected ServiceAccount token is rotated by the
	// kubelet (about hourly), so a token read once would be refused at the
	// next reconnect.
	TokenFile string
	// Decoders by type URL. The client subscribes to every type it has a
	// decoder for, the five of the contract in CDS, EDS, SDS, LDS, RDS order.
	Decoders map[string]Decoder
	Applier  Applier
	Backoff  Backoff
	// DialOptions replace the default transport credentials (insecure,
	// for loopback in standalone mode); keepalive and backoff are set
	// already.
	DialOptions []grpc.DialOption
	Logger      *slog.Logger
}

// ConnState is the state of the ADS stream.
type ConnState int

const (
	Idle             ConnState = iota // Run not started or returned
	Connecting                        // stream being opened, no response yet
	Connected                         // stream open and a response was received
	TransientFailure                  // stream failed; waiting to reconnect
)

func (s ConnState) String() string {
	switch s {
	case Idle:
		return "IDLE"
	case Connecting:
		return "CONNECTING"
	case Connected:
		return "CONNECTED"
	case TransientFailure:
		return "TRANSIENT_FAILURE"
	}
	return fmt.Sprintf("ConnState(%d)", int(s))
}

// Status is a copy of the client's state for /ready and the admin page.
type Status struct {
	State ConnState
	// LastError is the last stream failure or NACK reason, "" if none.
	LastError   string
	LastErrorAt time.Time
	// Versions holds the accepted version per type URL.
	Versions map[string]string
	// Synced is true once every subscribed type has been accepted at least
	// once (since process start; it stays true while disconnected, because
	// the last good config keeps serving).
	Synced bool
}

// Client is an ADS client. Create it with New and run it with Run.
type Client struct {
	// Immutable after New.
	opts  Options
	log   *slog.Logger
	types []string // subscription order

	// Owned by the Run goroutine.
	acceptedRaw map[string]map[string][]byte // type URL → name → Any.value

	current atomic.Pointer[dpconfig.Snapshot] // last accepted snapshot

	mu     sync.Mutex // guards status and accepted
	status Status
	// accepted holds the resources last accepted per type URL, as received,
	// for the admin /config_dump page. Replaced, never mutated.
	accepted map[string][]*anypb.Any
	runs     atomic.Bool
}

// New validates opts and returns a Client.
func New(opts Options) (*Client, error) {
	switch {
	case opts.Server == "":
		return nil, errors.New("xdsclient: Server is required")
	case opts.NodeID == "":
		return nil, errors.New("xdsclient: NodeID is required")
	case opts.Applier == nil:
		return nil, errors.New("xdsclient: Applier is required")
	case len(opts.Decoders) == 0:
		return nil, errors.New("xdsclient: Decoders are required")
	}
	var order []string
	for _, t := range subscribeOrder {
		if _, ok := opts.Decoders[t]; ok {
			order = append(order, t)
		}
	}
	for _, t := range slices.Sorted(maps.Keys(opts.Decoders)) {
		if !slices.Contains(subscribeOrder, t) {
			return nil, fmt.Errorf("xdsclient: decoder for %s: not a type of the data-plane snapshot", t)
		}
	}
	opts.Backoff = opts.Backoff.withDefaults()
	opts.Decoders = maps.Clone(opts.Decoders)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Client{
		opts:        opts,
		log:         opts.Logger.With("component", "xds-client", "node", opts.NodeID),
		types:       order,
		acceptedRaw: make(map[string]map[string][]byte),
	}
	c.current.Store(emptySnapshot())
	c.status.Versions = map[string]string{}
	return c, nil
}

// Snapshot returns the last accepted snapshot (empty before the first).
func (c *Client) Snapshot() *dpconfig.Snapshot { return c.current.Load() }

// Accepted returns the raw resources last accepted, by type URL. The
// returned messages are shared and must not be modified.
func (c *Client) Accepted() map[string][]*anypb.Any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.accepted)
}

// Status returns a copy of the connection state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Versions = maps.Clone(s.Versions)
	return s
}

func (c *Client) setState(s ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.State = s
}

func (c *Client) setError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.LastError = err.Error()
	c.status.LastErrorAt = time.Now()
}

// MaxMessageBytes bounds one xDS response the client accepts.
const MaxMessageBytes = 256 << 20

// Run keeps an ADS stream to the server until ctx is done, then returns
// nil. It returns an error only if the client cannot be set up at all. Run
// may be called once at a time.
func (c *Client) Run(ctx context.Context) error {
	if !c.runs.CompareAndSwap(false, true) {
		return errors.New("xdsclient: Run is already running")
	}
	defer c.runs.Store(false)
	defer c.setState(Idle)

	b := c.opts.Backoff
	dial := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// A RouteConfiguration of 50k Routes is one ~6 MB message; gRPC's
		// default 4 MiB receive limit would refuse it for good (Envoy's
		// own xDS client has no such limit).
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes)),
		// Pings keep NAT and load-balancer state alive and detect a dead
		// control plane; the server permits one every 10s.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		// gRPC's own reconnect backoff defaults to a 120s ceiling, which
		// would make our bounded stream backoff meaningless.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: b.Initial, Multiplier: b.Multiplier, Jitter: b.Jitter, MaxDelay: b.Max},
			MinConnectTimeout: 5 * time.Second,
		}),
	}, c.opts.DialOptions...)
	conn, err := grpc.NewClient(c.opts.Server, dial...)
	if err != nil {
		return fmt.Errorf("xdsclient: %w", err)
	}
	defer conn.Close()
	ads := discovery.NewAggregatedDiscoveryServiceClient(conn)

	for attempt := 0; ; attempt++ {
		progressed, err := c.stream(ctx, ads)
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			attempt = 0
		}
		c.setError(err)
		c.setState(TransientFailure)
		d := b.delay(attempt)
		c.log.Warn("ADS stream failed; keeping last accepted config", "error", err, "retry_in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// stream runs one ADS stream. progressed reports whether a response was
// received, which resets the backoff.
func (c *Client) stream(ctx context.Context, ads discovery.AggregatedDiscoveryServiceClient) (progressed bool, err error) {
	c.setState(Connecting)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	token := c.opts.Token
	if c.opts.TokenFile != "" {
		b, err := os.ReadFile(c.opts.TokenFile)
		if err != nil {
			return false, fmt.Errorf("token file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token != "" {
		sctx = metadata.AppendToOutgoingContext(sctx, "authorization", "Bearer "+token)
	}
	s, err := ads.StreamAggregatedResources(sctx)
	if err != nil {
		return false, err
	}
	accepted := c.Snapshot().Versions
	for i, t := range c.types {
		req := &discovery.DiscoveryRequest{
			TypeUrl: t,
			// The last accepted version tells the server what this proxy
			// already runs; nonces belong to a stream and start empty.
			VersionInfo: accepted[t],
		}
		if i == 0 {
			// Only the first request must carry the node (xDS protocol,
			// "Node" in DiscoveryRequest).
			req.Node = &core.Node{Id: c.opts.NodeID, UserAgentName: "ksgw"}
		}
		if err := s.Send(req); err != nil {
			return false, recvErr(s, err)
		}
	}
	for {
		resp, err := s.Recv()
		if err != nil {
			return progressed, err
		}
		if !progressed {
			progressed = true
			c.setState(Connected)
			c.log.Info("ADS stream established", "server", c.opts.Server)
		}
		if err := s.Send(c.handle(ctx, resp)); err != nil {
			return progressed, recvErr(s, err)
		}
	}
}

// recvErr turns a Send error (io.EOF when the server ended the stream) into
// the stream's real status.
func recvErr(s discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient, sendErr error) error {
	if _, err := s.Recv(); err != nil {
		return err
	}
	return sendErr
}

// handle decodes and applies one response and returns the ACK or NACK.
func (c *Client) handle(ctx context.Context, resp *discovery.DiscoveryResponse) *discovery.DiscoveryRequest {
	typeURL := resp.GetTypeUrl()
	prev := c.Snapshot()
	ack := &discovery.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
	nack := func(err error) *discovery.DiscoveryRequest {
		c.log.Warn("rejecting configuration (NACK)", "type", typeURL, "version", resp.GetVersionInfo(), "error", err)
		c.setError(err)
		// A NACK repeats the last accepted version and carries the
		// rejected response's nonce (xDS protocol, "ACK/NACK").
		return &discovery.DiscoveryRequest{
			TypeUrl:       typeURL,
			VersionInfo:   prev.Versions[typeURL],
			ResponseNonce: resp.GetNonce(),
			ErrorDetail:   &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: err.Error()},
		}
	}

	dec, ok := c.opts.Decoders[typeURL]
	if !ok {
		return nack(fmt.Errorf("unsupported type %s", typeURL))
	}
	values := make(map[string]any, len(resp.GetResources()))
	raw := make(map[string][]byte, len(resp.GetResources()))
	for i, a := range resp.GetResources() {
		if a.GetTypeUrl() != typeURL {
			return nack(fmt.Errorf("resource[%d]: type %s in a %s response", i, a.GetTypeUrl(), typeURL))
		}
		name, v, err := dec(a)
		if err != nil {
			if name == "" {
				name = fmt.Sprintf("#%d", i)
			}
			return nack(fmt.Errorf("%s %s: %w", shortType(typeURL), name, err))
		}
		if name == "" {
			return nack(fmt.Errorf("%s #%d: resource has no name", shortType(typeURL), i))
		}
		if _, dup := values[name]; dup {
			return nack(fmt.Errorf("%s %s: duplicate resource name", shortType(typeURL), name))
		}
		values[name], raw[name] = v, a.GetValue()
	}

	// A reconnect makes the server resend what this proxy already runs;
	// re-applying it would rebuild a generation for nothing.
	if v, ok := prev.Versions[typeURL]; ok && v == resp.GetVersionInfo() && sameRaw(c.acceptedRaw[typeURL], raw) {
		return ack
	}

	cand, err := withType(prev, typeURL, resp.GetVersionInfo(), values)
	if err != nil {
		return nack(err)
	}
	if err := c.opts.Applier.Apply(ctx, cand); err != nil {
		return nack(fmt.Errorf("%s version %s: %w", shortType(typeURL), resp.GetVersionInfo(), err))
	}
	c.current.Store(cand)
	c.acceptedRaw[typeURL] = raw
	c.mu.Lock()
	if c.accepted == nil {
		c.accepted = map[string][]*anypb.Any{}
	}
	c.accepted[typeURL] = resp.GetResources()
	c.status.Versions[typeURL] = resp.GetVersionInfo()
	c.status.Synced = len(c.status.Versions) == len(c.types)
	c.mu.Unlock()
	c.log.Debug("configuration accepted", "type", typeURL, "version", resp.GetVersionInfo(), "resources", len(values))
	return ack
}

func sameRaw(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}

func shortType(typeURL string) string {
	switch typeURL {
	case ClusterType:
		return "cluster"
	case EndpointType:
		return "cluster_load_assignment"
	case SecretType:
		return "secret"
	case ListenerType:
		return "listener"
	case RouteType:
		return "route_configuration"
	}
	return typeURL
}
