package echo

import (
	"net/http"

	"github.com/coder/websocket"
)

// maxWSMessage bounds one echoed WebSocket message.
const maxWSMessage = 1 << 20

// serveWebSocket echoes every message back with its type (text or binary)
// until the client closes or the server is closed. The handshake answer
// carries X-Echo-Backend so a test knows which backend a gateway chose.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(HeaderBackend, s.opts.Name)
	// Origin checks belong to the gateway under test, not to its backend:
	// a proxy may legitimately rewrite Host while keeping Origin.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered the client
	}
	s.nWS.Add(1)
	defer c.CloseNow()
	c.SetReadLimit(maxWSMessage)
	// r.Context derives from the server's base context, so Close ends this
	// loop even though the connection was hijacked from http.Server.
	ctx := r.Context()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}
