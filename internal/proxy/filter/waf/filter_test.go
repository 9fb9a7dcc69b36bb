package waf

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/filter/typedstruct"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// typedConfig wraps a JSON config as the control plane sends it.
func typedConfig(t testing.TB, cfg any) *anypb.Any {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var st structpb.Struct
	if err := st.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(&xdstypev3.TypedStruct{TypeUrl: TypeURL, Value: &st})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func buildFilter(t testing.TB, cfg any, log *slog.Logger) filter.Filter {
	t.Helper()
	fac, err := typedstruct.New(NewKind())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := fac.ParseConfig(typedConfig(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	f, err := fac.Build(context.Background(), filter.BuildParams{Name: "ksgw.waf", Listener: "l", Config: parsed, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func seedConfig(t testing.TB) map[string]any {
	return map[string]any{"rego": map[string]any{"modules": []any{map[string]any{"name": "tenant-a/waf/waf.rego", "source": seedPolicy(t).Source}}}}
}

func state(method, target, body string) *filter.State {
	path, query, _ := strings.Cut(target, "?")
	r := &httpmsg.Request{Method: method, Path: path, RawQuery: query, Authority: "shop.example.com", Proto: httpmsg.HTTP11,
		ContentLength: int64(len(body)), Body: strings.NewReader(body),
		RemoteAddr: netip.MustParseAddrPort("192.0.2.10:40000"), LocalAddr: netip.MustParseAddrPort("127.0.8.1:8080")}
	r.Header.Add("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0")
	r.Header.Add("accept", "text/html")
	return &filter.State{Request: r, Route: &dpconfig.Route{Name: "r"}, Listener: "l", Client: r.RemoteAddr.Addr()}
}

func TestFilterSeedPolicyThroughTypedStruct(t *testing.T) {
	var logs bytes.Buffer
	f := buildFilter(t, seedConfig(t), slog.New(slog.NewJSONHandler(&logs, nil)))
	tests := []struct {
		name   string
		s      *filter.State
		status int
	}{
		{"POST /login?password=x is refused", state("POST", "/login?password=x", ""), 403},
		{"GET passes", state("GET", "/login?password=x", ""), 0},
		{"POST /login passes", state("POST", "/login", "user=a"), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := f.OnRequest(context.Background(), tc.s)
			if tc.status == 0 {
				if rep != nil {
					t.Fatalf("refused: %d %s", rep.Status, rep.Body)
				}
				// The body the policy did not need is untouched for the upstream.
				if b, _ := io.ReadAll(tc.s.Request.Body); int64(len(b)) != tc.s.Request.ContentLength {
					t.Fatalf("upstream would get %d body bytes, want %d", len(b), tc.s.Request.ContentLength)
				}
				return
			}
			if rep == nil || rep.Status != tc.status || !strings.Contains(rep.Body, "Potential credential leakage detected") {
				t.Fatalf("got %+v, want %d with the policy's message", rep, tc.status)
			}
		})
	}
	if !strings.Contains(logs.String(), `"msg":"waf deny"`) {
		t.Fatalf("deny not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), "password=x") {
		t.Fatalf("the WAF log carries the secret: %s", logs.String())
	}
}

func TestFilterCRSReadsBodyAndRestoresIt(t *testing.T) {
	f := buildFilter(t, map[string]any{"crs": map[string]any{"paranoiaLevel": 1}}, nil)
	s := state("POST", "/login", "user=admin%27--&password=x")
	s.Request.Header.Add("content-type", "application/x-www-form-urlencoded")
	if rep := f.OnRequest(context.Background(), s); rep == nil || rep.Status != 403 {
		t.Fatalf("SQL injection in the body passed: %+v", rep)
	}
	ok := state("POST", "/login", "user=alice&remember=on")
	ok.Request.Header.Add("content-type", "application/x-www-form-urlencoded")
	if rep := f.OnRequest(context.Background(), ok); rep != nil {
		t.Fatalf("benign form refused: %d %s", rep.Status, rep.Body)
	}
	if b, _ := io.ReadAll(ok.Request.Body); string(b) != "user=alice&remember=on" {
		t.Fatalf("upstream body = %q", b)
	}
}

func TestFilterConfigErrorsAreNACKs(t *testing.T) {
	fac, _ := typedstruct.New(NewKind())
	tests := []struct {
		name string
		cfg  any
		want string
	}{
		{"policy that does not compile names module and line", map[string]any{"rego": map[string]any{"modules": []any{
			map[string]any{"name": "ns/cm/bad.rego", "source": "package kubesphere.gateway.waf\ndeny[msg] {\n"}}}}, "ns/cm/bad.rego:"},
		{"unknown field", map[string]any{"rego": map[string]any{"modulez": []any{}}}, `unknown field "modulez"`},
		{"empty", map[string]any{}, "rego, crs: at least one is required"},
		{"bad version", map[string]any{"rego": map[string]any{"modules": []any{map[string]any{"name": "a", "source": "package x", "version": "v2"}}}}, "rego.modules[0].version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fac.ParseConfig(typedConfig(t, tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// BenchmarkRegoRelativeToPlainHandler serves real HTTP/1.1 requests over
// loopback with a trivial handler, with and without the seed policy
// evaluated per request, and reports requests/s of each and their ratio:
// an estimate of the share of plain throughput the Rego path costs.
func BenchmarkRegoRelativeToPlainHandler(b *testing.B) {
	f := buildFilter(b, seedConfig(b), nil)
	for _, withWAF := range []bool{false, true} {
		name := "plain"
		if withWAF {
			name = "rego"
		}
		b.Run(name, func(b *testing.B) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if withWAF {
					s := state(r.Method, r.URL.RequestURI(), "")
					if rep := f.OnRequest(r.Context(), s); rep != nil {
						w.WriteHeader(rep.Status)
						return
					}
				}
				w.Write([]byte("ok"))
			})
			ln, err := net.Listen("tcp", "127.0.8.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: h}
			go srv.Serve(ln)
			defer srv.Close()
			url := "http://" + ln.Addr().String() + "/api/v1/orders?id=42"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(url, "application/json", nil)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
