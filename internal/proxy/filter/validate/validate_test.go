package validate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

const orderSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["item", "qty"],
  "properties": {
    "item": {"type": "string", "minLength": 1},
    "qty": {"type": "integer", "minimum": 1, "maximum": 100}
  },
  "additionalProperties": false
}`

const petstore = `openapi: 3.0.3
info: {title: shop, version: "1"}
paths:
  /orders:
    post:
      parameters:
        - {name: dry_run, in: query, required: false, schema: {type: boolean}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [item, qty]
              properties:
                item: {type: string}
                qty: {type: integer, minimum: 1}
      responses:
        "201": {description: created}
  /orders/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses:
        "200": {description: ok}
`

func request(method, target string, body string, kv ...string) *httpmsg.Request {
	path, query, _ := strings.Cut(target, "?")
	r := &httpmsg.Request{Method: method, Path: path, RawQuery: query, Authority: "shop.example.com", Scheme: "http",
		ContentLength: int64(len(body)), Body: strings.NewReader(body)}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	return r
}

func check(t *testing.T, v *Validator, r *httpmsg.Request) *Failure {
	t.Helper()
	if f := v.CheckHead(r); f != nil {
		return f
	}
	if !v.NeedsBody(r) {
		return nil
	}
	body, f, err := v.ReadBody(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if f != nil {
		return f
	}
	return v.CheckBody(context.Background(), r, body)
}

func TestRules(t *testing.T) {
	ctx := context.Background()
	rules, err := Compile(ctx, Config{
		AllowedMethods:  []string{"GET", "POST"},
		MaxURIBytes:     64,
		MaxHeaderBytes:  256,
		MaxBodyBytes:    128,
		RequiredHeaders: []string{"x-tenant"},
		ContentTypes:    []string{"application/json", "text/*"},
		JSONSchema:      []byte(orderSchema),
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := Compile(ctx, Config{OpenAPI: []byte(petstore)})
	if err != nil {
		t.Fatal(err)
	}
	json := []string{"x-tenant", "a", "content-type", "application/json"}
	tests := []struct {
		name   string
		v      *Validator
		r      *httpmsg.Request
		status int
		rule   string
	}{
		{"valid order passes", rules, request("POST", "/orders", `{"item":"shoe","qty":2}`, json...), 0, ""},
		{"GET without body passes", rules, request("GET", "/orders", "", "x-tenant", "a"), 0, ""},
		{"method not allowed", rules, request("DELETE", "/orders/1", "", "x-tenant", "a"), 405, RuleMethods},
		{"uri too long", rules, request("GET", "/orders?"+strings.Repeat("a", 80), "", "x-tenant", "a"), 414, RuleMaxURI},
		{"headers too large", rules, request("GET", "/", "", "x-tenant", "a", "cookie", strings.Repeat("c", 300)), 431, RuleMaxHeaders},
		{"body too large by content-length", rules, request("POST", "/orders", strings.Repeat(" ", 200), json...), 413, RuleMaxBody},
		{"chunked body too large", rules, func() *httpmsg.Request {
			r := request("POST", "/orders", `{"item":"`+strings.Repeat("x", 200)+`","qty":1}`, json...)
			r.ContentLength = -1
			return r
		}(), 413, RuleMaxBody},
		{"required header missing", rules, request("GET", "/", ""), 400, RuleRequiredHeaders},
		{"content type not accepted", rules, request("POST", "/orders", "<a/>", "x-tenant", "a", "content-type", "application/xml"), 415, RuleContentTypes},
		{"content type missing", rules, request("POST", "/orders", "x", "x-tenant", "a"), 415, RuleContentTypes},
		{"wildcard content type", rules, request("POST", "/notes", "hello", "x-tenant", "a", "content-type", "text/plain; charset=utf-8"), 0, ""},
		{"malformed json", rules, request("POST", "/orders", `{"item":`, json...), 400, RuleJSON},
		{"schema violation", rules, request("POST", "/orders", `{"item":"shoe","qty":0}`, json...), 400, RuleJSONSchema},
		{"unknown property", rules, request("POST", "/orders", `{"item":"shoe","qty":1,"price":0}`, json...), 400, RuleJSONSchema},
		{"openapi: valid operation", api, request("POST", "/orders?dry_run=true", `{"item":"shoe","qty":2}`, "content-type", "application/json"), 0, ""},
		{"openapi: body violates schema", api, request("POST", "/orders", `{"item":"shoe"}`, "content-type", "application/json"), 400, RuleOpenAPI},
		{"openapi: missing required body", api, request("POST", "/orders", "", "content-type", "application/json"), 400, RuleOpenAPI},
		{"openapi: bad query parameter", api, request("POST", "/orders?dry_run=maybe", `{"item":"a","qty":1}`, "content-type", "application/json"), 400, RuleOpenAPI},
		{"openapi: bad path parameter", api, request("GET", "/orders/abc", ""), 400, RuleOpenAPI},
		{"openapi: undescribed path", api, request("GET", "/admin", ""), 404, RuleOpenAPI},
		{"openapi: undescribed method", api, request("DELETE", "/orders", ""), 405, RuleOpenAPI},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := check(t, tc.v, tc.r)
			if tc.status == 0 {
				if f != nil {
					t.Fatalf("refused: %d %s: %s", f.Status, f.Rule, f.Message)
				}
				return
			}
			if f == nil {
				t.Fatalf("passed, want %d %s", tc.status, tc.rule)
			}
			if f.Status != tc.status || f.Rule != tc.rule {
				t.Fatalf("got %d %s (%s), want %d %s", f.Status, f.Rule, f.Message, tc.status, tc.rule)
			}
			var body struct{ Error, Rule, Message string }
			if err := jsonUnmarshal(f.Body(), &body); err != nil || body.Rule != tc.rule || body.Message == "" {
				t.Fatalf("error body %s (%v) does not name rule %s", f.Body(), err, tc.rule)
			}
		})
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func TestMethodNotAllowedListsAllow(t *testing.T) {
	v, _ := Compile(context.Background(), Config{AllowedMethods: []string{"GET", "HEAD", "GET"}})
	f := v.CheckHead(request("PUT", "/", ""))
	if f == nil || f.Allow != "GET, HEAD" {
		t.Fatalf("got %+v, want Allow: GET, HEAD", f)
	}
}

func TestSchemaMessageNamesTheLocation(t *testing.T) {
	v, _ := Compile(context.Background(), Config{JSONSchema: []byte(orderSchema)})
	r := request("POST", "/orders", `{"item":"shoe","qty":"two"}`, "content-type", "application/json")
	f := check(t, v, r)
	if f == nil || !strings.Contains(f.Message, "/qty") {
		t.Fatalf("got %+v, want a message naming /qty", f)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"lower-case method", Config{AllowedMethods: []string{"get"}}, `allowedMethods[0]: "get" is not an upper-case method token`},
		{"upper-case header", Config{RequiredHeaders: []string{"X-Tenant"}}, `requiredHeaders[0]: "X-Tenant" must be a lower-case header name`},
		{"bad media type", Config{ContentTypes: []string{"json"}}, `contentTypes[0]: "json" is not a media type`},
		{"schema not json", Config{JSONSchema: []byte("{")}, "jsonSchema: not JSON"},
		{"schema invalid", Config{JSONSchema: []byte(`{"type": 12}`)}, "jsonSchema: "},
		{"schema with remote ref", Config{JSONSchema: []byte(`{"$ref": "http://127.0.0.1:1/s.json"}`)}, "external references are not allowed"},
		{"both schema kinds", Config{JSONSchema: []byte(`{}`), OpenAPI: []byte(petstore)}, "jsonSchema, openAPI: set one, not both"},
		{"openapi not a document", Config{OpenAPI: []byte("openapi: [")}, "openAPI: "},
		{"openapi invalid", Config{OpenAPI: []byte("openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  orders: {}\n")}, "openAPI: invalid document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func BenchmarkCheckHead(b *testing.B) {
	v, _ := Compile(context.Background(), Config{AllowedMethods: []string{"GET", "POST"}, MaxURIBytes: 2048, MaxHeaderBytes: 8192,
		RequiredHeaders: []string{"x-tenant"}, ContentTypes: []string{"application/json"}})
	r := request("POST", "/orders?x=1", `{"item":"shoe","qty":2}`, "x-tenant", "a", "content-type", "application/json")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if f := v.CheckHead(r); f != nil {
			b.Fatal(f)
		}
	}
}

func BenchmarkJSONSchema(b *testing.B) {
	v, _ := Compile(context.Background(), Config{JSONSchema: []byte(orderSchema)})
	r := request("POST", "/orders", "", "content-type", "application/json")
	body := []byte(`{"item":"shoe","qty":2}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if f := v.CheckBody(context.Background(), r, body); f != nil {
			b.Fatal(f)
		}
	}
}

func BenchmarkOpenAPI(b *testing.B) {
	v, _ := Compile(context.Background(), Config{OpenAPI: []byte(petstore)})
	r := request("POST", "/orders", "", "content-type", "application/json")
	body := []byte(`{"item":"shoe","qty":2}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if f := v.CheckBody(context.Background(), r, body); f != nil {
			b.Fatal(f)
		}
	}
}
