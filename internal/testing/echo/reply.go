package echo

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// Reply is the JSON body the echo backend answers with: what it received.
type Reply struct {
	// Name is the backend's Options.Name.
	Name string `json:"name"`
	// Addr is the address the backend listens on.
	Addr string `json:"addr"`
	// Protocol is the request's protocol as net/http reports it:
	// "HTTP/1.1", "HTTP/1.0" or "HTTP/2.0".
	Protocol string `json:"protocol"`
	Method   string `json:"method"`
	// Host is the Host header (HTTP/1) or :authority (HTTP/2).
	Host string `json:"host"`
	// Path is the decoded path; RawPath the encoded one when it differs.
	Path     string `json:"path"`
	RawPath  string `json:"rawPath,omitempty"`
	RawQuery string `json:"rawQuery"`
	// Headers holds every request header in canonical form, Host included.
	Headers  map[string][]string `json:"headers"`
	Trailers map[string][]string `json:"trailers,omitempty"`
	// BodyLength and BodySHA256 (hex) describe the request body; Body holds
	// it when shorter than 64 KiB.
	BodyLength int64  `json:"bodyLength"`
	BodySHA256 string `json:"bodySha256"`
	Body       string `json:"body,omitempty"`
	// RemoteAddr is the peer of the backend's connection: the gateway's
	// upstream address, not the client's.
	RemoteAddr string `json:"remoteAddr"`
}

// Header returns the first value of a request header (case-insensitive).
func (r Reply) Header(name string) string {
	v := http.Header(r.Headers).Values(name)
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// HeaderValues returns every value of a request header (case-insensitive).
func (r Reply) HeaderValues(name string) []string {
	return http.Header(r.Headers).Values(name)
}

// DecodeReply decodes one Reply from r.
func DecodeReply(r io.Reader) (Reply, error) {
	var rep Reply
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return Reply{}, fmt.Errorf("decode echo reply: %w", err)
	}
	return rep, nil
}

// ReadReply decodes the echo Reply carried by resp and closes its body. It
// fails when the body is not an echo reply (e.g. a gateway-generated 404 or
// 503), naming the status and content type so a failing test says why.
func ReadReply(resp *http.Response) (Reply, error) {
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Reply{}, fmt.Errorf("not an echo reply: status %d, content-type %q, body %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	rep, err := DecodeReply(resp.Body)
	if err != nil {
		return Reply{}, fmt.Errorf("status %d: %w", resp.StatusCode, err)
	}
	return rep, nil
}
