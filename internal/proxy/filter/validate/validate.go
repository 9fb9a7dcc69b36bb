// Package validate checks requests against a SecurityPolicy's request
// validation rules: allowed methods, size limits, required headers, content
// types, and JSON bodies against a JSON Schema or an OpenAPI 3 document.
// Everything is compiled once per configuration version (Compile); the
// request path only checks.
//
// Statuses follow HTTP semantics for each rule: 405 with Allow (RFC 9110
// §15.5.6) for a method, 414 for a URI (§15.5.15), 431 for header fields
// (RFC 6585 §5, as Envoy answers max_request_headers_kb), 413 for a body
// (§15.5.14), 415 for a content type (§15.5.16) and 400 for a missing
// header or a body that does not match its schema. The JSON body names the
// rule that failed.
package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// Rule names, as they appear in errors and in the SecurityPolicy API.
const (
	RuleMethods         = "allowedMethods"
	RuleMaxURI          = "maxURIBytes"
	RuleMaxHeaders      = "maxHeaderBytes"
	RuleMaxBody         = "maxBodyBytes"
	RuleRequiredHeaders = "requiredHeaders"
	RuleContentTypes    = "contentTypes"
	RuleJSON            = "json"
	RuleJSONSchema      = "jsonSchema"
	RuleOpenAPI         = "openAPI"
)

// Config is one policy's validation rules. Zero values disable a rule.
type Config struct {
	AllowedMethods  []string // upper case, e.g. GET, POST
	MaxURIBytes     int      // path and query
	MaxHeaderBytes  int      // sum over fields of len(name)+len(value)+4, as HTTP/1.1 sends them
	MaxBodyBytes    int64    // also bounds what is buffered for schema validation (default 1 MiB then)
	RequiredHeaders []string // lower case
	// ContentTypes are the media types a request with a body may have
	// ("application/json", "text/*"); parameters are ignored.
	ContentTypes []string
	// JSONSchema validates JSON request bodies (draft 2020-12 unless the
	// schema says otherwise). Mutually exclusive with OpenAPI.
	JSONSchema []byte
	// OpenAPI is an OpenAPI 3 document (JSON or YAML): the operation's
	// path, query and header parameters and request body are validated;
	// a path or method the document does not describe is refused.
	OpenAPI []byte
}

// Validator is a compiled Config. Immutable after Compile; safe for
// concurrent use.
type Validator struct {
	methods  []string
	allow    string // the Allow field of a 405
	maxURI   int
	maxHdr   int
	maxBody  int64
	required []string
	types    []string // lower-case media types; "type/*" wildcards allowed
	schema   *jsonschema.Schema
	api      *openapi3.T
	router   routers.Router
}

// defaultSchemaBody bounds buffering for schema validation when no
// maxBodyBytes is set.
const defaultSchemaBody = 1 << 20

// Compile checks and compiles cfg. Errors name the rule (field) at fault.
func Compile(ctx context.Context, cfg Config) (*Validator, error) {
	v := &Validator{maxURI: cfg.MaxURIBytes, maxHdr: cfg.MaxHeaderBytes, maxBody: cfg.MaxBodyBytes}
	if cfg.MaxURIBytes < 0 || cfg.MaxHeaderBytes < 0 || cfg.MaxBodyBytes < 0 {
		return nil, errors.New("maxURIBytes, maxHeaderBytes, maxBodyBytes: must be >= 0")
	}
	for i, m := range cfg.AllowedMethods {
		if m == "" || m != strings.ToUpper(m) || strings.ContainsAny(m, " \t/") {
			return nil, fmt.Errorf("%s[%d]: %q is not an upper-case method token", RuleMethods, i, m)
		}
		if !slices.Contains(v.methods, m) {
			v.methods = append(v.methods, m)
		}
	}
	v.allow = strings.Join(v.methods, ", ")
	for i, h := range cfg.RequiredHeaders {
		if h == "" || h != strings.ToLower(h) {
			return nil, fmt.Errorf("%s[%d]: %q must be a lower-case header name", RuleRequiredHeaders, i, h)
		}
		v.required = append(v.required, h)
	}
	for i, ct := range cfg.ContentTypes {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !strings.Contains(mt, "/") {
			return nil, fmt.Errorf("%s[%d]: %q is not a media type", RuleContentTypes, i, ct)
		}
		v.types = append(v.types, mt)
	}
	if len(cfg.JSONSchema) > 0 && len(cfg.OpenAPI) > 0 {
		return nil, fmt.Errorf("%s, %s: set one, not both", RuleJSONSchema, RuleOpenAPI)
	}
	if len(cfg.JSONSchema) > 0 {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(cfg.JSONSchema))
		if err != nil {
			return nil, fmt.Errorf("%s: not JSON: %w", RuleJSONSchema, err)
		}
		c := jsonschema.NewCompiler()
		c.UseLoader(noLoader{}) // $ref to anything but the schema itself is refused: no I/O at compile time
		if err := c.AddResource("policy://schema.json", doc); err != nil {
			return nil, fmt.Errorf("%s: %w", RuleJSONSchema, err)
		}
		if v.schema, err = c.Compile("policy://schema.json"); err != nil {
			return nil, fmt.Errorf("%s: %w", RuleJSONSchema, err)
		}
	}
	if len(cfg.OpenAPI) > 0 {
		l := openapi3.NewLoader()
		l.IsExternalRefsAllowed = false
		l.Context = ctx
		doc, err := l.LoadFromData(cfg.OpenAPI)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", RuleOpenAPI, err)
		}
		if err := doc.Validate(ctx); err != nil {
			return nil, fmt.Errorf("%s: invalid document: %w", RuleOpenAPI, err)
		}
		if v.router, err = legacy.NewRouter(doc); err != nil {
			return nil, fmt.Errorf("%s: %w", RuleOpenAPI, err)
		}
		v.api = doc
	}
	if v.maxBody == 0 && (v.schema != nil || v.api != nil) {
		v.maxBody = defaultSchemaBody
	}
	return v, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("loading %s: external references are not allowed", url)
}

// Failure is a refused request.
type Failure struct {
	Status  int
	Rule    string
	Message string
	// Allow is set for 405: the methods the route accepts.
	Allow string
}

// Body is the JSON error sent to the client.
func (f *Failure) Body() []byte {
	b, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Rule    string `json:"rule"`
		Message string `json:"message"`
	}{"request_validation_failed", f.Rule, f.Message})
	return b
}

func (f *Failure) Error() string { return f.Rule + ": " + f.Message }

// CheckHead applies the rules that need only the request head. It runs
// before any body byte is read, so that a request too large by its
// Content-Length is refused without reading it.
func (v *Validator) CheckHead(r *httpmsg.Request) *Failure {
	if len(v.methods) > 0 && !slices.Contains(v.methods, r.Method) {
		return &Failure{Status: 405, Rule: RuleMethods, Message: "method " + r.Method + " is not allowed", Allow: v.allow}
	}
	if v.maxURI > 0 {
		n := len(r.Path)
		if r.RawQuery != "" {
			n += 1 + len(r.RawQuery)
		}
		if n > v.maxURI {
			return &Failure{Status: 414, Rule: RuleMaxURI, Message: "request target of " + strconv.Itoa(n) + " bytes exceeds " + strconv.Itoa(v.maxURI)}
		}
	}
	if v.maxHdr > 0 {
		n := len(r.Authority) + len("host: \r\n")
		for _, f := range r.Header.Fields() {
			n += len(f.Name) + len(f.Value) + 4
		}
		if n > v.maxHdr {
			return &Failure{Status: 431, Rule: RuleMaxHeaders, Message: "header fields of " + strconv.Itoa(n) + " bytes exceed " + strconv.Itoa(v.maxHdr)}
		}
	}
	for _, h := range v.required {
		if !r.Header.Has(h) {
			return &Failure{Status: 400, Rule: RuleRequiredHeaders, Message: "header " + h + " is required"}
		}
	}
	if v.maxBody > 0 && r.ContentLength > v.maxBody {
		return v.tooLarge()
	}
	if len(v.types) > 0 && hasBody(r) {
		ct := r.Header.Get("content-type")
		mt, _, err := mime.ParseMediaType(ct)
		if ct == "" || err != nil || !v.typeAllowed(mt) {
			if ct == "" {
				ct = "(none)"
			}
			return &Failure{Status: 415, Rule: RuleContentTypes, Message: "content type " + ct + " is not accepted"}
		}
	}
	if v.router != nil {
		if _, _, err := v.router.FindRoute(openapiRequest(r, nil)); err != nil {
			return openapiRouteFailure(err, r)
		}
	}
	return nil
}

func (v *Validator) tooLarge() *Failure {
	return &Failure{Status: 413, Rule: RuleMaxBody, Message: "body exceeds " + strconv.FormatInt(v.maxBody, 10) + " bytes"}
}

func hasBody(r *httpmsg.Request) bool { return r.ContentLength != 0 }

func (v *Validator) typeAllowed(mt string) bool {
	for _, t := range v.types {
		if t == mt || strings.HasSuffix(t, "/*") && strings.HasPrefix(mt, t[:len(t)-1]) {
			return true
		}
	}
	return false
}

// NeedsBody reports whether CheckBody must see the body of r: a schema or
// an OpenAPI operation is set, or a size limit must be enforced on a body
// of unknown length.
func (v *Validator) NeedsBody(r *httpmsg.Request) bool {
	if !hasBody(r) {
		return v.api != nil // OpenAPI may require a body that is missing
	}
	return v.schema != nil || v.api != nil || (v.maxBody > 0 && r.ContentLength < 0)
}

// ReadBody reads the body up to the size limit. A longer body is a 413.
func (v *Validator) ReadBody(body io.Reader) ([]byte, *Failure, error) {
	limit := v.maxBody
	if limit <= 0 {
		limit = defaultSchemaBody
	}
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(b)) > limit {
		return nil, v.tooLarge(), nil
	}
	return b, nil, nil
}

// CheckBody validates a buffered body (from ReadBody).
func (v *Validator) CheckBody(ctx context.Context, r *httpmsg.Request, body []byte) *Failure {
	if v.api != nil {
		return v.checkOpenAPI(ctx, r, body)
	}
	if v.schema == nil || len(body) == 0 {
		return nil
	}
	if !isJSON(r.Header.Get("content-type")) {
		return nil // the schema applies to JSON bodies; contentTypes says which types are allowed
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return &Failure{Status: 400, Rule: RuleJSON, Message: "body is not valid JSON: " + err.Error()}
	}
	if err := v.schema.Validate(inst); err != nil {
		return &Failure{Status: 400, Rule: RuleJSONSchema, Message: schemaMessage(err)}
	}
	return nil
}

// schemaMessage is the first leaf error, with its instance location: one
// line a client can act on.
func schemaMessage(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	loc := "/" + strings.Join(ve.InstanceLocation, "/")
	return "at " + loc + ": " + ve.ErrorKind.LocalizedString(message.NewPrinter(language.English))
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func (v *Validator) checkOpenAPI(ctx context.Context, r *httpmsg.Request, body []byte) *Failure {
	hr := openapiRequest(r, body)
	route, params, err := v.router.FindRoute(hr)
	if err != nil {
		return openapiRouteFailure(err, r)
	}
	err = openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request: hr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			// Authentication is the JWT and API-key filters' business.
			AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
			SkipSettingDefaults: true,
		},
	})
	if err == nil {
		return nil
	}
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		msg := re.Error()
		if re.Parameter != nil {
			msg = re.Parameter.In + " parameter " + re.Parameter.Name + ": " + re.Reason
			if re.Err != nil {
				msg += ": " + firstLine(re.Err.Error())
			}
		} else if re.RequestBody != nil {
			msg = "request body: " + re.Reason
			if re.Err != nil {
				msg += ": " + firstLine(re.Err.Error())
			}
		}
		return &Failure{Status: 400, Rule: RuleOpenAPI, Message: msg}
	}
	return &Failure{Status: 400, Rule: RuleOpenAPI, Message: firstLine(err.Error())}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func openapiRouteFailure(err error, r *httpmsg.Request) *Failure {
	// The legacy router returns fresh RouteErrors with the sentinels'
	// reasons, so compare reasons.
	var re *routers.RouteError
	reason := ""
	if errors.As(err, &re) {
		reason = re.Reason
	}
	switch {
	case reason == routers.ErrMethodNotAllowed.Error():
		return &Failure{Status: 405, Rule: RuleOpenAPI, Message: "method " + r.Method + " is not described for " + r.Path}
	case reason == routers.ErrPathNotFound.Error():
		return &Failure{Status: 404, Rule: RuleOpenAPI, Message: "path " + r.Path + " is not described by the API"}
	}
	return &Failure{Status: 400, Rule: RuleOpenAPI, Message: firstLine(err.Error())}
}

// openapiRequest adapts r to the *http.Request kin-openapi validates.
func openapiRequest(r *httpmsg.Request, body []byte) *http.Request {
	scheme := r.Scheme
	if scheme == "" {
		scheme = "http"
	}
	u := &url.URL{Scheme: scheme, Host: r.Authority, RawQuery: r.RawQuery}
	if p, err := url.PathUnescape(r.Path); err == nil {
		u.Path, u.RawPath = p, r.Path
	} else {
		u.Path = r.Path
	}
	hr := &http.Request{Method: r.Method, URL: u, Host: r.Authority, Header: make(http.Header, r.Header.Len()),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, ContentLength: int64(len(body))}
	for _, f := range r.Header.Fields() {
		hr.Header.Add(f.Name, f.Value)
	}
	hr.Body = io.NopCloser(bytes.NewReader(body))
	if body == nil {
		hr.Body = http.NoBody
	}
	return hr
}
