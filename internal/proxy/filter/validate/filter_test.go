package validate

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
)

func TestFilterThroughTypedStruct(t *testing.T) {
	b, _ := json.Marshal(map[string]any{"allowedMethods": []any{"GET", "POST"}, "maxBodyBytes": 64,
		"contentTypes": []any{"application/json"}, "jsonSchema": orderSchema})
	var st structpb.Struct
	if err := st.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	a, _ := anypb.New(&xdstypev3.TypedStruct{TypeUrl: TypeURL, Value: &st})
	fac, _ := typedstruct.New(Kind{})
	parsed, err := fac.ParseConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fac.Build(context.Background(), filter.BuildParams{Name: "ksgw.validate", Config: parsed})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		method string
		body   string
		ct     string
		status int
		rule   string
	}{
		{"valid order reaches the upstream with its body", "POST", `{"item":"shoe","qty":2}`, "application/json", 0, ""},
		{"delete is 405 with allow", "DELETE", "", "", 405, RuleMethods},
		{"xml is 415", "POST", "<a/>", "application/xml", 415, RuleContentTypes},
		{"oversized is 413", "POST", `{"item":"` + strings.Repeat("x", 80) + `","qty":1}`, "application/json", 413, RuleMaxBody},
		{"schema failure is 400", "POST", `{"item":"shoe"}`, "application/json", 400, RuleJSONSchema},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.method, "/orders", tc.body)
			if tc.ct != "" {
				r.Header.Set("content-type", tc.ct)
			}
			r.ContentLength = -1 // chunked: the filter must read to decide
			if tc.body == "" {
				r.ContentLength = 0
			}
			s := &filter.State{Request: r, Route: &dpconfig.Route{Name: "orders"}}
			rep := f.OnRequest(context.Background(), s)
			if tc.status == 0 {
				if rep != nil {
					t.Fatalf("refused: %d %s", rep.Status, rep.Body)
				}
				got, _ := io.ReadAll(r.Body)
				if string(got) != tc.body || r.ContentLength != int64(len(tc.body)) {
					t.Fatalf("upstream body %q (length %d)", got, r.ContentLength)
				}
				return
			}
			if rep == nil || rep.Status != tc.status || !strings.Contains(rep.Body, `"rule":"`+tc.rule+`"`) {
				t.Fatalf("got %+v, want %d naming %s", rep, tc.status, tc.rule)
			}
			if tc.status == 405 && rep.Header.Get("allow") != "GET, POST" {
				t.Fatalf("allow = %q", rep.Header.Get("allow"))
			}
		})
	}
}
