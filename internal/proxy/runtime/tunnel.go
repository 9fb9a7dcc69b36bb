package runtime

import (
	"context"
	"io"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/proxy/upstream"
)

// tunnel forwards an upgrade request (WebSocket). If the upstream switches
// protocols, the two connections are spliced until either side closes; the
// route timeout does not apply to the tunnel's lifetime (Envoy disables it
// for upgraded streams), only to the handshake.
func (h *handler) tunnel(ctx context.Context, cl *upstream.Cluster, w httpmsg.ResponseWriter, x *exchange) int {
	host, err := pickHost(cl, 0, false)
	if err != nil {
		status, flag, msg := classifyError(ctx, err)
		x.log.Flags = flag
		return localReply(w, status, msg)
	}
	x.log.UpstreamHost = host.Address().String()
	resp, up, err := hostPool(host).Upgrade(ctx, x.req)
	host.ReportResult(statusOf(resp), err)
	if err != nil {
		status, flag, msg := classifyError(ctx, err)
		x.log.Flags = flag
		return localReply(w, status, msg)
	}
	if up == nil {
		// The upstream refused the upgrade: relay its answer as-is.
		defer resp.Body.Close()
		if err := w.WriteHeader(resp.Status, &resp.Header); err != nil {
			return resp.Status
		}
		n, _ := copyBody(w, resp)
		x.log.BytesSent = n
		return resp.Status
	}
	defer up.Close()
	if err := w.WriteHeader(101, &resp.Header); err != nil {
		return 101
	}
	down, err := w.Hijack()
	if err != nil {
		x.log.Flags = "UPE"
		return 101
	}
	defer down.Close()
	x.log.BytesSent = splice(down, up)
	return 101
}

// splice copies both directions, half-closing each side when its source
// ends so that close frames and EOFs propagate. Once one direction has
// ended, the other gets tunnelDrainGrace to finish before both connections
// are closed, so a peer that never closes cannot pin the handler. It
// returns the bytes sent to the client.
func splice(down, up httpmsg.Tunnel) int64 {
	var toClient int64
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(up, down)
		up.CloseWrite()
		done <- struct{}{}
	}()
	go func() {
		toClient, _ = io.Copy(down, up)
		down.CloseWrite()
		done <- struct{}{}
	}()
	<-done
	t := time.NewTimer(tunnelDrainGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		down.Close()
		up.Close()
		<-done
	}
	return toClient
}

const tunnelDrainGrace = 5 * time.Second
