package bodymask

import (
	"context"
	"encoding/json"
	"io"
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

func build(t *testing.T, cfg any) (filter.ResponseFilter, error) {
	t.Helper()
	b, _ := json.Marshal(cfg)
	var st structpb.Struct
	if err := st.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	a, _ := anypb.New(&xdstypev3.TypedStruct{TypeUrl: TypeURL, Value: &st})
	fac, _ := typedstruct.New(Kind{})
	parsed, err := fac.ParseConfig(a)
	if err != nil {
		return nil, err
	}
	f, err := fac.Build(context.Background(), filter.BuildParams{Name: "ksgw.mask", Config: parsed})
	if err != nil {
		return nil, err
	}
	return f.(filter.ResponseFilter), nil
}

func response(ct, ce, body string) *httpmsg.Response {
	r := &httpmsg.Response{Status: 200, ContentLength: int64(len(body)), Body: io.NopCloser(strings.NewReader(body))}
	r.Header.Set("content-type", ct)
	r.Header.Set("content-length", "1")
	if ce != "" {
		r.Header.Set("content-encoding", ce)
	}
	return r
}

func TestResponseMasking(t *testing.T) {
	f, err := build(t, map[string]any{"builtins": []any{"cardNumbers", "emails"}, "contentTypes": []any{"application/json", "text/*"}})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"card":"4111 1111 1111 1111","email":"bob@example.com","note":"hi"}`
	tests := []struct {
		name, ct, ce, want string
	}{
		{"json is masked", "application/json; charset=utf-8", "", `{"card":"****","email":"****","note":"hi"}`},
		{"text wildcard is masked", "text/plain", "", `{"card":"****","email":"****","note":"hi"}`},
		{"other types pass unchanged", "application/octet-stream", "", body},
		{"encoded bodies pass unchanged", "application/json", "gzip", body},
	}
	s := &filter.State{Route: &dpconfig.Route{Name: "r"}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := response(tc.ct, tc.ce, body)
			f.OnResponse(context.Background(), s, resp)
			got, _ := io.ReadAll(resp.Body)
			if string(got) != tc.want {
				t.Fatalf("body %s, want %s", got, tc.want)
			}
			if masked := tc.want != body; masked && (resp.Header.Has("content-length") || resp.ContentLength != -1) {
				t.Fatal("a masked body keeps its old length")
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"contentTypes": []any{"text/plain"}}, "at least one rule"},
		{map[string]any{"builtins": []any{"emails"}}, "contentTypes: at least one"},
		{map[string]any{"builtins": []any{"emails"}, "contentTypes": []any{"json"}}, `contentTypes[0]: "json"`},
		{map[string]any{"custom": []any{map[string]any{"name": "x", "pattern": "a+"}}, "contentTypes": []any{"text/plain"}}, "unbounded repetition"},
	} {
		if _, err := build(t, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
