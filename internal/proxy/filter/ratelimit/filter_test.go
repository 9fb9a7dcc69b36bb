package ratelimit

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/filter/typedstruct"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/testing/redisserver"
)

func typedConfig(t testing.TB, cfg any) *anypb.Any {
	t.Helper()
	b, _ := json.Marshal(cfg)
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

// replica is one proxy's rate limit filter, built as the runtime does.
func replica(t testing.TB, cfg any) (*Kind, filter.Filter) {
	t.Helper()
	k := NewKind()
	t.Cleanup(k.Close)
	fac, err := typedstruct.New(k)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := fac.ParseConfig(typedConfig(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	f, err := fac.Build(context.Background(), filter.BuildParams{Name: "ksgw.ratelimit", Listener: "tenant-a/gw/http", Config: parsed})
	if err != nil {
		t.Fatal(err)
	}
	return k, f
}

func reqState(client string, kv ...string) *filter.State {
	r := &httpmsg.Request{Method: "GET", Path: "/", Body: httpmsg.NoBody}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	return &filter.State{Request: r, Route: &dpconfig.Route{Name: "shop"}, Listener: "tenant-a/gw/http", Client: netip.MustParseAddr(client)}
}

func TestFilterLocalLimitPerClient(t *testing.T) {
	_, f := replica(t, map[string]any{"prefix": "tenant-a/limits", "rules": []any{
		map[string]any{"name": "per-client", "key": []any{map[string]any{"source": "clientIP"}}, "requests": 3, "per": "1m"},
		map[string]any{"name": "per-tenant", "key": []any{map[string]any{"source": "header", "name": "x-tenant"}}, "requests": 100, "per": "1s"},
	}})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		s := reqState("192.0.2.1")
		if rep := f.OnRequest(ctx, s); rep != nil {
			t.Fatalf("request %d refused: %d", i, rep.Status)
		}
		if got := s.ResponseHeaders.Get("x-ratelimit-remaining"); got != []string{"2", "1", "0"}[i] {
			t.Fatalf("request %d: x-ratelimit-remaining %q", i, got)
		}
	}
	s := reqState("192.0.2.1")
	rep := f.OnRequest(ctx, s)
	if rep == nil || rep.Status != 429 || s.Flag != "RL" {
		t.Fatalf("4th request: %+v flag %q, want 429 RL", rep, s.Flag)
	}
	if rep.Header.Get("retry-after") != "20" || rep.Header.Get("x-ratelimit-limit") != "3, 3;w=60" {
		t.Fatalf("429 headers: retry-after %q limit %q", rep.Header.Get("retry-after"), rep.Header.Get("x-ratelimit-limit"))
	}
	if rep := f.OnRequest(ctx, reqState("192.0.2.2")); rep != nil {
		t.Fatalf("another client refused: %d", rep.Status)
	}
}

func TestFilterBucketsSurviveRebuild(t *testing.T) {
	cfg := map[string]any{"prefix": "p", "rules": []any{map[string]any{"name": "one", "key": []any{map[string]any{"source": "gateway"}}, "requests": 1, "per": "1h"}}}
	k, f := replica(t, cfg)
	if rep := f.OnRequest(context.Background(), reqState("192.0.2.1")); rep != nil {
		t.Fatal("first request refused")
	}
	fac, _ := typedstruct.New(k)
	parsed, _ := fac.ParseConfig(typedConfig(t, cfg))
	f2, err := fac.Build(context.Background(), filter.BuildParams{Name: "ksgw.ratelimit", Config: parsed})
	if err != nil {
		t.Fatal(err)
	}
	if rep := f2.OnRequest(context.Background(), reqState("192.0.2.1")); rep == nil || rep.Status != 429 {
		t.Fatal("a configuration push reset the bucket")
	}
}

func TestFilterGlobalAcrossTwoReplicas(t *testing.T) {
	srv := redisserver.Start(t)
	cfg := map[string]any{"prefix": "tenant-a/global", "redis": map[string]any{"address": srv.Addr(), "timeout": "1s"},
		"rules": []any{map[string]any{"name": "api", "key": []any{map[string]any{"source": "route"}}, "requests": 600, "per": "1h", "burst": 600, "global": true}}}
	_, a := replica(t, cfg)
	_, b := replica(t, cfg)
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(f filter.Filter) {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				rep := f.OnRequest(context.Background(), reqState("192.0.2.9"))
				switch {
				case rep == nil:
					admitted.Add(1)
				case rep.Status == 429:
					refused.Add(1)
				default:
					t.Errorf("status %d", rep.Status)
					return
				}
			}
		}([]filter.Filter{a, b}[w%2])
	}
	wg.Wait()
	within(t, "600 across two proxies", admitted.Load(), 600)
	if admitted.Load()+refused.Load() != 2000 {
		t.Fatalf("%d + %d answers for 2000 requests", admitted.Load(), refused.Load())
	}
}

func TestFilterRedisDownFailClosed(t *testing.T) {
	srv := redisserver.Start(t)
	_, f := replica(t, map[string]any{"prefix": "p", "redis": map[string]any{"address": srv.Addr(), "failureMode": "closed", "timeout": "2s"},
		"rules": []any{map[string]any{"name": "g", "key": []any{map[string]any{"source": "clientIP"}}, "requests": 100, "per": "1s", "global": true}}})
	if rep := f.OnRequest(context.Background(), reqState("192.0.2.1")); rep != nil {
		t.Fatalf("with redis up: %d", rep.Status)
	}
	srv.Stop()
	s := reqState("192.0.2.1")
	if rep := f.OnRequest(context.Background(), s); rep == nil || rep.Status != 500 || s.Flag != "RLSE" {
		t.Fatalf("with redis down: %+v flag %q, want 500 RLSE", rep, s.Flag)
	}
}

func TestFilterConfigErrors(t *testing.T) {
	k := NewKind()
	defer k.Close()
	fac, _ := typedstruct.New(k)
	rule := func(m map[string]any) map[string]any {
		r := map[string]any{"name": "r", "key": []any{map[string]any{"source": "clientIP"}}, "requests": 1, "per": "1s"}
		for k, v := range m {
			r[k] = v
		}
		return r
	}
	tests := []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"no prefix", map[string]any{"rules": []any{rule(nil)}}, "prefix: required"},
		{"bad period", map[string]any{"prefix": "p", "rules": []any{rule(map[string]any{"per": "soon"})}}, "rules[0].per:"},
		{"unknown source", map[string]any{"prefix": "p", "rules": []any{rule(map[string]any{"key": []any{map[string]any{"source": "cookie"}}})}}, `rules[0].key[0].source: unknown "cookie"`},
		{"header without name", map[string]any{"prefix": "p", "rules": []any{rule(map[string]any{"key": []any{map[string]any{"source": "header"}}})}}, "rules[0].key[0].name: required for header"},
		{"global without redis", map[string]any{"prefix": "p", "rules": []any{rule(map[string]any{"global": true})}}, "redis: required by global rules"},
		{"bad failure mode", map[string]any{"prefix": "p", "rules": []any{rule(nil)}, "redis": map[string]any{"address": "x:1", "failureMode": "maybe"}}, "redis.failureMode"},
		{"unknown field", map[string]any{"prefix": "p", "rules": []any{rule(map[string]any{"rate": 3})}}, `unknown field "rate"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fac.ParseConfig(typedConfig(t, tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
