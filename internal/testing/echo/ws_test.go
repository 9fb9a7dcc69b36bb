package echo_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ksgw/ksgw/internal/testing/echo"
)

func TestWebSocketEchoesMessages(t *testing.T) {
	s := start(t, echo.Options{Name: "ws-backend"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+s.Addr()+echo.PathWebSocket, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if got := resp.Header.Get(echo.HeaderBackend); got != "ws-backend" {
		t.Errorf("handshake %s = %q", echo.HeaderBackend, got)
	}
	for _, m := range []struct {
		typ  websocket.MessageType
		data string
	}{
		{websocket.MessageText, "hello"},
		{websocket.MessageBinary, "\x00\x01\x02"},
		{websocket.MessageText, ""},
	} {
		if err := c.Write(ctx, m.typ, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != m.typ || string(got) != m.data {
			t.Fatalf("read %v %q %v, want %v %q", typ, got, err, m.typ, m.data)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	if got := s.Counts().WebSocket; got != 1 {
		t.Errorf("WebSocket count %d", got)
	}
}

func TestCloseEndsOpenWebSocket(t *testing.T) {
	s, err := echo.Start(t.Context(), echo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+s.Addr()+echo.PathWebSocket, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	// Close must not wait for the client: it ends the hijacked connection
	// itself, and returns only after the session's handler has.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("read succeeded on a closed server")
	}
}
