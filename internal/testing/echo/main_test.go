package echo_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package if goroutines of a server or client outlive the
// tests: Close must join everything it started, including hijacked h2c and
// WebSocket connections that http.Server does not track.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

var leakMarkers = []string{
	"ksgw/internal/testing/echo.",
	"net/http.(*conn).serve",
	"net/http.(*persistConn)",
	"google.golang.org/grpc.",
	"golang.org/x/net/http2.",
	"github.com/coder/websocket.",
}

// waitForLeaks polls, as there is no event for a goroutine's exit; connection
// goroutines need a moment to observe their closed sockets.
func waitForLeaks(limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		leaked := suspectGoroutines()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func suspectGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "suspectGoroutines") {
			continue
		}
		for _, m := range leakMarkers {
			if strings.Contains(g, m) {
				out = append(out, g)
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}
