package apikey

import (
	"context"
	"strings"
	"testing"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

func TestAPIKey(t *testing.T) {
	listener := &dpconfig.APIKeyAuth{}
	perRoute := &dpconfig.APIKeyAuth{
		Credentials:     []dpconfig.APIKeyCredential{{Key: "k-alice-123", Client: "alice"}, {Key: "k-bob-456", Client: "bob"}},
		Sources:         []dpconfig.APIKeySource{{Header: "x-api-key"}, {Query: "api_key"}, {Cookie: "key"}},
		HasForwarding:   true,
		ForwardHeader:   "x-client-id",
		HideCredentials: true,
	}
	restricted := *perRoute
	restricted.AllowedClients = []string{"bob"}
	snap := &dpconfig.Snapshot{Routes: map[string]*dpconfig.RouteConfig{"r": {VirtualHosts: []*dpconfig.VirtualHost{{Routes: []*dpconfig.Route{{PerFilter: map[string]any{"ak": perRoute}}}}}}}}
	f, err := Factory{}.Build(context.Background(), filter.BuildParams{Name: "ak", Config: listener, Snapshot: snap})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cfg       *dpconfig.APIKeyAuth
		header    string
		query     string
		cookie    string
		status    int
		client    string
		wantQuery string
	}{
		{"header key passes and is stripped", perRoute, "k-alice-123", "", "", 0, "alice", ""},
		{"query key passes and is stripped", perRoute, "", "a=1&api_key=k-bob-456&b=2", "", 0, "bob", "a=1&b=2"},
		{"cookie key passes", perRoute, "", "", "s=1; key=k-bob-456", 0, "bob", ""},
		{"wrong key is 401", perRoute, "k-alice-124", "", "", 401, "", ""},
		{"prefix of a key is 401", perRoute, "k-alice", "", "", 401, "", ""},
		{"missing key is 401", perRoute, "", "", "", 401, "", ""},
		{"client not allowed on route is 403", &restricted, "k-alice-123", "", "", 403, "", ""},
		{"allowed client passes", &restricted, "k-bob-456", "", "", 0, "bob", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &httpmsg.Request{Method: "GET", Path: "/", RawQuery: tt.query}
			if tt.header != "" {
				r.Header.Set("x-api-key", tt.header)
			}
			if tt.cookie != "" {
				r.Header.Set("cookie", tt.cookie)
			}
			s := &filter.State{Request: r, Route: &dpconfig.Route{PerFilter: map[string]any{"ak": tt.cfg}}}
			rep := f.OnRequest(context.Background(), s)
			got := 0
			if rep != nil {
				got = rep.Status
				for _, k := range []string{"k-alice-123", "k-bob-456", "k-alice"} {
					if strings.Contains(rep.Body, k) {
						t.Error("key leaked into the answer")
					}
				}
			}
			if got != tt.status {
				t.Fatalf("status %d, want %d", got, tt.status)
			}
			if got != 0 {
				return
			}
			if s.Identity.APIKeyClient != tt.client || r.Header.Get("x-client-id") != tt.client {
				t.Errorf("client = %q header %q", s.Identity.APIKeyClient, r.Header.Get("x-client-id"))
			}
			if r.Header.Has("x-api-key") || strings.Contains(r.RawQuery, "api_key") || strings.Contains(r.Header.Get("cookie"), "key=") {
				t.Errorf("key not stripped: %v %q", r.Header.Fields(), r.RawQuery)
			}
			if tt.wantQuery != "" && r.RawQuery != tt.wantQuery {
				t.Errorf("query = %q, want %q", r.RawQuery, tt.wantQuery)
			}
		})
	}
}
