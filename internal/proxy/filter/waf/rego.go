// Package waf decides whether a request is let through by the gateway's web
// application firewall: Rego policies (the design's
// `package kubesphere.gateway.waf` with `deny[msg]` rules) evaluated with
// the OPA Go SDK, and optionally the OWASP Core Rule Set run by Coraza.
//
// Both engines compile their rules once per configuration version; the
// request path only evaluates.
package waf

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// Package is the Rego package WAF policies are written in; Query is the
// set of denial messages they produce.
const (
	Package = "kubesphere.gateway.waf"
	Query   = "data.kubesphere.gateway.waf.deny"
)

// RegoVersion chooses the Rego dialect of a module.
type RegoVersion uint8

const (
	// RegoAuto parses as Rego v1 and, when that fails, as v0: v1 is what
	// OPA 1.x writes, v0 what policies written for OPA 0.x (the design's
	// seed policy among them) use. A module valid in both is read as v1.
	RegoAuto RegoVersion = iota
	RegoV0
	RegoV1
)

// Module is one Rego source file.
type Module struct {
	// Name identifies the module in errors and decision logs, e.g.
	// "tenant-a/waf-rules/waf.rego" (namespace/ConfigMap/key) or
	// "tenant-a/policy/inline[0]".
	Name    string
	Source  string
	Version RegoVersion
}

// RegoConfig is the WAF policy of one SecurityPolicy.
type RegoConfig struct {
	Modules []Module
	// MaxBody is the largest request body handed to the policy as
	// input.body (default 8 KiB); larger bodies are cut and
	// input.body_truncated is true. Bodies are only read when a module
	// refers to input.body or input.parsed_body.
	MaxBody int
}

// Policy is a compiled set of modules with its prepared query. Immutable
// after CompileRego and safe for concurrent use.
type Policy struct {
	query rego.PreparedEvalQuery
	// txn is a read transaction on the policy's own empty store, opened
	// once: nothing ever writes the store after preparation, and opening
	// one per evaluation is a measurable share of a small policy's cost.
	txn     storage.Transaction
	uses    fields
	maxBody int
	names   []string
}

// fields records which parts of input the modules read, so that the
// request path builds only those.
type fields struct {
	all, method, host, path, query, headers, client, tls, claims, body, parsedBody bool
}

// Builtins a WAF policy must not call: they reach the network or the
// process, and a per-request policy has no business doing either.
var deniedBuiltins = map[string]bool{
	"http.send": true, "net.lookup_ip_addr": true, "opa.runtime": true,
	"trace": true, // tracing is off on the request path
}

// CompileRego parses, compiles and prepares the modules. An error names the
// module and line; the caller keeps serving its previous Policy.
func CompileRego(ctx context.Context, cfg RegoConfig) (*Policy, error) {
	if len(cfg.Modules) == 0 {
		return nil, errors.New("waf: no Rego modules")
	}
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(slices.Clone(caps.Builtins), func(b *ast.Builtin) bool { return deniedBuiltins[b.Name] })
	caps.AllowNet = []string{}

	p := &Policy{maxBody: cfg.MaxBody}
	if p.maxBody <= 0 {
		p.maxBody = 8 << 10
	}
	store := inmem.New()
	opts := []func(*rego.Rego){
		rego.Store(store),
		rego.Query(Query),
		rego.Capabilities(caps),
		rego.StrictBuiltinErrors(false), // a builtin error (bad regex input) makes the rule undefined, as in OPA's default
	}
	seen := map[string]bool{}
	for i, m := range cfg.Modules {
		if m.Name == "" {
			return nil, fmt.Errorf("waf: module %d: name required", i)
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("waf: module %s: duplicate name", m.Name)
		}
		seen[m.Name] = true
		mod, err := parseModule(m, caps)
		if err != nil {
			return nil, err
		}
		if got := strings.TrimPrefix(mod.Package.Path.String(), "data."); got != Package {
			return nil, fmt.Errorf("waf: module %s:%d: package %s, want package %s", m.Name, mod.Package.Location.Row, got, Package)
		}
		p.uses.add(mod)
		p.names = append(p.names, m.Name)
		opts = append(opts, rego.ParsedModule(mod))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("waf: %w", err)
	}
	p.query = pq
	if p.txn, err = store.NewTransaction(ctx); err != nil {
		return nil, fmt.Errorf("waf: %w", err)
	}
	return p, nil
}

func parseModule(m Module, caps *ast.Capabilities) (*ast.Module, error) {
	parse := func(v ast.RegoVersion) (*ast.Module, error) {
		return ast.ParseModuleWithOpts(m.Name, m.Source, ast.ParserOptions{RegoVersion: v, Capabilities: caps, ProcessAnnotation: true})
	}
	switch m.Version {
	case RegoV0:
		mod, err := parse(ast.RegoV0)
		if err != nil {
			return nil, fmt.Errorf("waf: Rego v0: %w", err)
		}
		return mod, nil
	case RegoV1:
		mod, err := parse(ast.RegoV1)
		if err != nil {
			return nil, fmt.Errorf("waf: Rego v1: %w", err)
		}
		return mod, nil
	}
	mod, err1 := parse(ast.RegoV1)
	if err1 == nil {
		return mod, nil
	}
	mod, err0 := parse(ast.RegoV0)
	if err0 == nil {
		return mod, nil
	}
	if err1.Error() == err0.Error() {
		return nil, fmt.Errorf("waf: %w", err1)
	}
	return nil, fmt.Errorf("waf: neither Rego v1 (%v) nor Rego v0 (%v)", err1, err0)
}

// add records the input fields a module refers to. A reference to input
// itself, or to input[x] with a variable, means every field.
func (f *fields) add(mod *ast.Module) {
	refs, vars := 0, 0
	ast.WalkRefs(mod, func(r ast.Ref) bool {
		if !r[0].Equal(ast.InputRootDocument) {
			return false
		}
		refs++
		if len(r) < 2 {
			f.all = true
			return false
		}
		s, ok := r[1].Value.(ast.String)
		if !ok {
			f.all = true
			return false
		}
		switch string(s) {
		case "method":
			f.method = true
		case "host":
			f.host = true
		case "path":
			f.path = true
		case "query":
			f.query = true
		case "headers":
			f.headers = true
		case "client":
			f.client = true
		case "tls":
			f.tls = true
		case "claims":
			f.claims = true
		case "body", "body_truncated":
			f.body = true
		case "parsed_body":
			f.body, f.parsedBody = true, true
		}
		return false
	})
	// `input` alone (x := input) is a Var term outside any Ref: count the
	// input terms beyond the heads of the refs seen above.
	ast.WalkTerms(mod, func(t *ast.Term) bool {
		if t.Value.Compare(ast.InputRootDocument.Value) == 0 {
			vars++
		}
		return false
	})
	if vars > refs {
		f.all = true
	}
}

// Modules names the modules of the policy, in order (for decision logs).
func (p *Policy) Modules() []string { return p.names }

// NeedsBody reports whether evaluation reads the request body, so that the
// caller buffers at most MaxBody bytes only when it must.
func (p *Policy) NeedsBody() bool { return p.uses.all || p.uses.body }

// MaxBody is the body size limit handed to the policy.
func (p *Policy) MaxBody() int { return p.maxBody }

// Input is the request as a WAF policy sees it.
type Input struct {
	Method string
	// Authority is the Host header or :authority.
	Authority string
	// Path is the request target with its query, as Envoy's :path and the
	// input.attributes.request.http.path of OPA's Envoy plugin: policies
	// such as the seed's match "password=" in it.
	Path     string
	RawQuery string
	Header   *httpmsg.Header
	Client   netip.AddrPort
	TLS      *TLSIdentity // nil for plaintext
	Claims   map[string]any
	// Body is the request body up to MaxBody; Truncated when longer.
	Body      []byte
	Truncated bool
}

// TLSIdentity is the downstream TLS session as policies see it.
type TLSIdentity struct {
	SNI         string
	PeerSubject string   // verified client certificate subject (mTLS), "" without
	PeerDNS     []string // its DNS SANs
	PeerURIs    []string // its URI SANs (SPIFFE IDs)
}

// Decision is the outcome of a policy.
type Decision struct {
	Deny     bool
	Messages []string // the deny set, sorted; never contains secrets unless the policy put them there
}

// Eval runs the prepared query on in. An evaluation error (a policy that
// fails at run time, a cancelled ctx) is returned; the caller decides
// whether that blocks (ksgw fails closed: 403 with a generic message).
func (p *Policy) Eval(ctx context.Context, in *Input) (Decision, error) {
	rs, err := p.query.Eval(ctx, rego.EvalParsedInput(p.input(in)), rego.EvalTransaction(p.txn))
	if err != nil {
		return Decision{}, err
	}
	var d Decision
	for _, r := range rs {
		for _, e := range r.Expressions {
			msgs, ok := e.Value.([]any)
			if !ok {
				return Decision{}, fmt.Errorf("waf: deny is %T, want a set", e.Value)
			}
			for _, m := range msgs {
				s, ok := m.(string)
				if !ok {
					s = fmt.Sprint(m)
				}
				d.Messages = append(d.Messages, s)
			}
		}
	}
	sort.Strings(d.Messages)
	d.Deny = len(d.Messages) > 0
	return d, nil
}

func (p *Policy) input(in *Input) ast.Value {
	u := p.uses
	obj := ast.NewObject()
	put := func(k string, v *ast.Term) { obj.Insert(ast.StringTerm(k), v) }
	if u.all || u.method {
		put("method", ast.StringTerm(in.Method))
	}
	if u.all || u.host {
		put("host", ast.StringTerm(in.Authority))
	}
	if u.all || u.path {
		path := in.Path
		if in.RawQuery != "" {
			path += "?" + in.RawQuery
		}
		put("path", ast.StringTerm(path))
	}
	if u.all || u.query {
		put("query", queryTerm(in.RawQuery))
	}
	if (u.all || u.headers) && in.Header != nil {
		put("headers", headersTerm(in.Header))
	}
	if (u.all || u.client) && in.Client.IsValid() {
		put("client", ast.ObjectTerm(
			ast.Item(ast.StringTerm("address"), ast.StringTerm(in.Client.Addr().Unmap().String())),
			ast.Item(ast.StringTerm("port"), ast.IntNumberTerm(int(in.Client.Port()))),
		))
	}
	if (u.all || u.tls) && in.TLS != nil {
		put("tls", ast.ObjectTerm(
			ast.Item(ast.StringTerm("sni"), ast.StringTerm(in.TLS.SNI)),
			ast.Item(ast.StringTerm("peer_subject"), ast.StringTerm(in.TLS.PeerSubject)),
			ast.Item(ast.StringTerm("peer_dns_sans"), stringsTerm(in.TLS.PeerDNS)),
			ast.Item(ast.StringTerm("peer_uri_sans"), stringsTerm(in.TLS.PeerURIs)),
		))
	}
	if (u.all || u.claims) && in.Claims != nil {
		if v, err := ast.InterfaceToValue(in.Claims); err == nil {
			put("claims", ast.NewTerm(v))
		}
	}
	if u.all || u.body {
		body := in.Body
		truncated := in.Truncated
		if len(body) > p.maxBody {
			body, truncated = body[:p.maxBody], true
		}
		put("body", ast.StringTerm(string(body)))
		put("body_truncated", ast.BooleanTerm(truncated))
		if (u.all || u.parsedBody) && !truncated && len(body) > 0 && isJSON(in.Header) {
			if v, err := ast.ValueFromReader(strings.NewReader(string(body))); err == nil {
				put("parsed_body", ast.NewTerm(v))
			}
		}
	}
	return obj
}

func isJSON(h *httpmsg.Header) bool {
	if h == nil {
		return false
	}
	ct := strings.ToLower(h.Get("content-type"))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

// headersTerm maps lower-case names to values; repeated fields are joined
// with "," as Envoy's ext_authz and OPA's Envoy plugin do.
func headersTerm(h *httpmsg.Header) *ast.Term {
	obj := ast.NewObject()
	for _, f := range h.Fields() {
		k := ast.StringTerm(httpmsg.Lower(f.Name))
		if prev := obj.Get(k); prev != nil {
			obj.Insert(k, ast.StringTerm(string(prev.Value.(ast.String))+","+f.Value))
			continue
		}
		obj.Insert(k, ast.StringTerm(f.Value))
	}
	return ast.NewTerm(obj)
}

// queryTerm maps each parameter to its values in order (a parameter may
// repeat); names and values are percent-decoded, '+' as space (WHATWG
// application/x-www-form-urlencoded), undecodable ones kept raw.
func queryTerm(raw string) *ast.Term {
	obj := ast.NewObject()
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		kt := ast.StringTerm(unescape(k))
		vt := ast.StringTerm(unescape(v))
		if prev := obj.Get(kt); prev != nil {
			obj.Insert(kt, ast.ArrayTerm(append(arrayTerms(prev), vt)...))
			continue
		}
		obj.Insert(kt, ast.ArrayTerm(vt))
	}
	return ast.NewTerm(obj)
}

func arrayTerms(t *ast.Term) []*ast.Term {
	a := t.Value.(*ast.Array)
	out := make([]*ast.Term, 0, a.Len()+1)
	a.Foreach(func(x *ast.Term) { out = append(out, x) })
	return out
}

func stringsTerm(ss []string) *ast.Term {
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(ts...)
}

func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(n))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
