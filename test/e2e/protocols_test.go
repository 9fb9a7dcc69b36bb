package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/ksgw/ksgw/internal/testing/echo"
)

// protoEnv serves host proto.example: "/" to an HTTP/1.1 service and
// gRPC to a service whose port is named grpc (so its cluster speaks h2c).
func protoEnv(t *testing.T) (*env, *echo.Server) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t, "127.0.0.1")
	bport := freePort(t, "127.0.0.61")
	backend(t, "web", fmt.Sprintf("127.0.0.61:%d", bport))
	g := backend(t, "grpc", fmt.Sprintf("127.0.0.62:%d", bport))
	write(t, dir, "gateway.yaml", gatewayYAML("proto", "gw", port, "proto.example"))
	write(t, dir, "services.yaml", serviceYAML("proto", "web", bport, "http", pod{name: "web-0", ip: "127.0.0.61", ready: true})+"---\n"+
		serviceYAML("proto", "grpc", bport, "grpc", pod{name: "grpc-0", ip: "127.0.0.62", ready: true}))
	write(t, dir, "route.yaml", `apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: r, namespace: proto}
spec:
  http:
  - match: [{headers: {content-type: {prefix: application/grpc}}}]
    route: [{destination: {host: grpc}}]
  - route: [{destination: {host: web}}]
`)
	e := &env{t: t, dir: dir, port: port}
	e.gw = startGateway(t, dir)
	e.gw.waitReady(0)
	waitRoute(t, e, "proto.example", "/", "web")
	return e, g
}

func TestProtocols(t *testing.T) {
	e, _ := protoEnv(t)

	t.Run("h2c prior knowledge", func(t *testing.T) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}}
		for i := 0; i < 5; i++ { // several streams on one connection
			req, _ := http.NewRequest("GET", e.url("/h2"), nil)
			req.Host = "proto.example"
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 || echoReply(t, b).Name != "web" {
				t.Fatalf("h2c: %s status %d: %s", resp.Proto, resp.StatusCode, b)
			}
		}
	})

	t.Run("large chunked upload and download stream through", func(t *testing.T) {
		const size = 8 << 20
		payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
		sum := sha256.Sum256(payload)
		req, _ := http.NewRequest("POST", e.url("/upload"), io.MultiReader(bytes.NewReader(payload))) // unknown length: chunked
		req.Host = "proto.example"
		req.ContentLength = -1
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := echoReply(t, b)
		if r.BodyLength != size || r.BodySHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("backend got %d bytes sha %s, want %d", r.BodyLength, r.BodySHA256, size)
		}
		resp2, body := do(t, "GET", e.url("/download"), "proto.example", map[string]string{"x-echo-body-size": fmt.Sprint(size)}, nil)
		if resp2.StatusCode != 200 || len(body) != size {
			t.Fatalf("download: status %d, %d bytes, want %d", resp2.StatusCode, len(body), size)
		}
	})

	t.Run("websocket echo", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, e.url("/ws"), &websocket.DialOptions{Host: "proto.example"})
		if err != nil {
			t.Fatalf("dial: %v (resp %v)", err, resp)
		}
		defer c.CloseNow()
		for i := 0; i < 20; i++ {
			msg := fmt.Sprintf("hello %d", i)
			if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			_, got, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != msg {
				t.Fatalf("echo = %q, want %q", got, msg)
			}
		}
		if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("close: %v", err)
		}
	})

	t.Run("grpc unary and bidi streaming with trailers", func(t *testing.T) {
		cc, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", e.port),
			grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("proto.example"))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gc := echo.NewGRPCClient(cc)
		var trailer metadata.MD
		out, err := gc.Unary(ctx, []byte("ping"), grpc.Trailer(&trailer))
		if err != nil {
			t.Fatalf("unary: %v", err)
		}
		if !bytes.Contains(out, []byte("ping")) {
			t.Fatalf("unary answer %q", out)
		}
		st, err := gc.Stream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			msg := []byte(fmt.Sprintf("m%d", i))
			if err := st.Send(msg); err != nil {
				t.Fatal(err)
			}
			got, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(got, msg) {
				t.Fatalf("stream echo %q, want %q", got, msg)
			}
		}
		st.CloseSend()
		if _, err := st.Recv(); err != io.EOF {
			t.Fatalf("stream end: %v, want EOF (grpc-status 0 in trailers)", err)
		}
	})

	t.Run("malformed requests get 400 and never reach a backend", func(t *testing.T) {
		for _, raw := range []string{
			"GET / HTTP/1.1\r\nHost: proto.example\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: proto.example\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
			"GET / HTTP/1.1\r\nHost: proto.example\r\nX-Folded: a\r\n b\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: proto.example\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
			"GET / HTTP/1.1\r\n\r\n",
		} {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", e.port), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(conn, raw)
			b, _ := io.ReadAll(conn)
			conn.Close()
			if !strings.HasPrefix(string(b), "HTTP/1.1 400") {
				t.Errorf("request %q: answer %.80q, want 400", raw, b)
			}
		}
	})
}
