package validate

import (
	"context"
	"testing"
)

// FuzzCheckBody feeds arbitrary bodies to the JSON Schema and OpenAPI
// validators: they must answer (pass or a 400-class failure naming a
// rule), never panic.
func FuzzCheckBody(f *testing.F) {
	ctx := context.Background()
	schema, err := Compile(ctx, Config{JSONSchema: []byte(orderSchema)})
	if err != nil {
		f.Fatal(err)
	}
	api, err := Compile(ctx, Config{OpenAPI: []byte(petstore)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"item":"shoe","qty":2}`), "/orders?dry_run=1")
	f.Add([]byte(`{"item":`), "/orders/7")
	f.Add([]byte(`[1,2,{"a":null}]`), "/orders/%zz")
	f.Fuzz(func(t *testing.T, body []byte, target string) {
		for _, v := range []*Validator{schema, api} {
			r := request("POST", target, string(body), "content-type", "application/json")
			if len(r.Path) == 0 || r.Path[0] != '/' {
				r.Path = "/" + r.Path
			}
			fail := v.CheckHead(r)
			if fail == nil {
				fail = v.CheckBody(ctx, r, body)
			}
			if fail != nil && (fail.Status < 400 || fail.Status > 499 || fail.Rule == "") {
				t.Fatalf("failure %+v", fail)
			}
		}
	})
}
