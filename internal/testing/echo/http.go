package echo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request headers that steer the echo backend. They are read from the request
// as the backend receives it, i.e. after the gateway's header rewriting.
const (
	// HeaderStatus sets the status code of the answer (e.g. "503").
	HeaderStatus = "X-Echo-Status"
	// HeaderDelay delays the answer by a Go duration (e.g. "200ms").
	HeaderDelay = "X-Echo-Delay"
	// HeaderFailTimes with HeaderFailKey: the first N requests carrying the
	// same key are answered 503, later ones normally (retry tests).
	HeaderFailTimes = "X-Echo-Fail-Times"
	// HeaderFailKey names the counter HeaderFailTimes consumes.
	HeaderFailKey = "X-Echo-Fail-Key"
	// HeaderResponseHeader adds "name=value" to the answer; repeatable.
	HeaderResponseHeader = "X-Echo-Response-Header"
	// HeaderBodySize answers with N bytes of payload instead of JSON, streamed
	// in chunks.
	HeaderBodySize = "X-Echo-Body-Size"
	// HeaderClose "1" aborts the answer after its headers and part of its
	// body: the connection is closed (HTTP/1.1) or the stream reset (HTTP/2).
	HeaderClose = "X-Echo-Close"
	// HeaderBackend is set on every answer (except in FixedBodySize mode) to
	// Options.Name.
	HeaderBackend = "X-Echo-Backend"
)

// Paths with a fixed meaning; every other path is echoed.
const (
	PathHealth      = "/healthz"
	PathAdminHealth = "/admin/health"
	PathWebSocket   = "/ws"
)

// maxEchoedBody is the largest body Reply.Body carries; larger bodies are
// described by their length and digest only.
const maxEchoedBody = 64 << 10

const streamChunk = 32 << 10

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		w.Header().Set("Connection", "close")
		http.Error(w, "echo backend closing", http.StatusServiceUnavailable)
		return
	}
	defer s.leave()

	switch {
	case r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc"):
		s.grpcSrv.ServeHTTP(w, r)
		return
	case isH2CUpgrade(r):
		s.serveH2CUpgrade(w, r)
		return
	case r.URL.Path == PathHealth:
		s.serveHealth(w)
		return
	}
	if s.payload != nil {
		s.nHTTP.Add(1)
		h := w.Header()
		h["Content-Type"] = []string{"application/octet-stream"}
		h["Content-Length"] = []string{strconv.Itoa(len(s.payload))}
		h["Date"] = nil // suppress, as nginx/haproxy benchmarks' backends do
		_, _ = w.Write(s.payload)
		return
	}
	switch r.URL.Path {
	case PathAdminHealth:
		s.serveAdminHealth(w, r)
	case PathWebSocket:
		s.serveWebSocket(w, r)
	default:
		s.nHTTP.Add(1)
		s.serveEcho(w, r)
	}
}

func (s *Server) serveHealth(w http.ResponseWriter) {
	s.nHealth.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.healthy.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "unhealthy\n")
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// serveAdminHealth: GET reports, POST ?status=200|503 (or healthy=true|false)
// switches /healthz, so a test driving a separate ksgw-echo process can flip it.
func (s *Server) serveAdminHealth(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost, http.MethodPut:
		q := r.URL.Query()
		switch v := q.Get("status") + q.Get("healthy"); v {
		case "200", "true", "1":
			s.SetHealthy(true)
		case "503", "false", "0":
			s.SetHealthy(false)
		default:
			http.Error(w, fmt.Sprintf("status %q: want 200 or 503", v), http.StatusBadRequest)
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]bool{"healthy": s.healthy.Load()})
}

func (s *Server) serveEcho(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	reply, err := s.describe(r)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}

	status := http.StatusOK
	if v := r.Header.Get(HeaderStatus); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 999 {
			http.Error(w, fmt.Sprintf("%s %q: want a status code", HeaderStatus, v), http.StatusBadRequest)
			return
		}
		status = n
	}
	if v := r.Header.Get(HeaderDelay); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			http.Error(w, fmt.Sprintf("%s %q: want a duration", HeaderDelay, v), http.StatusBadRequest)
			return
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return // the client (or gateway timeout) gave up
		}
	}
	if v := r.Header.Get(HeaderFailTimes); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			http.Error(w, fmt.Sprintf("%s %q: want a count", HeaderFailTimes, v), http.StatusBadRequest)
			return
		}
		if s.shouldFail(r.Header.Get(HeaderFailKey), n) {
			status = http.StatusServiceUnavailable
		}
	}

	h := w.Header()
	h.Set(HeaderBackend, s.opts.Name)
	for _, v := range r.Header.Values(HeaderResponseHeader) {
		name, value, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(name) == "" {
			http.Error(w, fmt.Sprintf("%s %q: want name=value", HeaderResponseHeader, v), http.StatusBadRequest)
			return
		}
		h.Add(strings.TrimSpace(name), value)
	}
	abort := r.Header.Get(HeaderClose) == "1"

	if v := r.Header.Get(HeaderBodySize); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			http.Error(w, fmt.Sprintf("%s %q: want a byte count", HeaderBodySize, v), http.StatusBadRequest)
			return
		}
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(n, 10))
		w.WriteHeader(status)
		s.streamPayload(w, n, abort)
		return
	}

	body, err := json.Marshal(reply)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if abort {
		body = body[:len(body)/2]
	}
	_, _ = w.Write(body)
	if abort {
		abortResponse(w)
	}
}

// streamPayload writes n bytes in chunks, flushing each so the client sees a
// stream rather than one buffered write.
func (s *Server) streamPayload(w http.ResponseWriter, n int64, abort bool) {
	var chunk [streamChunk]byte
	for i := range chunk {
		chunk[i] = 'a' + byte(i%26)
	}
	rc := http.NewResponseController(w)
	if abort {
		n /= 2
	}
	for n > 0 {
		k := min(n, int64(len(chunk)))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		_ = rc.Flush()
		n -= k
	}
	if abort {
		abortResponse(w)
	}
}

// abortResponse flushes what was written and then tears the response down:
// net/http closes an HTTP/1.1 connection, and resets an HTTP/2 stream, when a
// handler panics with http.ErrAbortHandler, which is what an upstream dying
// mid-response looks like to a proxy.
func abortResponse(w http.ResponseWriter) {
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// shouldFail consumes one failure of key if fewer than n were served.
func (s *Server) shouldFail(key string, n int) bool {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.failures[key] >= n {
		return false
	}
	s.failures[key]++
	return true
}

func (s *Server) describe(r *http.Request) (Reply, error) {
	h := sha256.New()
	var kept strings.Builder
	n, err := io.Copy(io.MultiWriter(h, &limitWriter{w: &kept, n: maxEchoedBody}), r.Body)
	if err != nil {
		return Reply{}, err
	}
	headers := make(map[string][]string, len(r.Header)+1)
	for k, v := range r.Header {
		headers[k] = v
	}
	// net/http moves Host out of the header map; a gateway test wants to see
	// it with the rest (HTTP/2's :authority arrives here too).
	headers["Host"] = []string{r.Host}
	rep := Reply{
		Name:       s.opts.Name,
		Addr:       s.addr,
		Protocol:   r.Proto,
		Method:     r.Method,
		Host:       r.Host,
		Path:       r.URL.Path,
		RawQuery:   r.URL.RawQuery,
		Headers:    headers,
		BodyLength: n,
		BodySHA256: hex.EncodeToString(h.Sum(nil)),
		RemoteAddr: r.RemoteAddr,
	}
	if n < maxEchoedBody {
		rep.Body = kept.String()
	}
	if r.URL.RawPath != "" {
		rep.RawPath = r.URL.RawPath
	}
	if len(r.Trailer) > 0 {
		rep.Trailers = r.Trailer
	}
	return rep, nil
}

// limitWriter keeps the first n bytes and silently drops the rest.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(l.n, len(p))
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
