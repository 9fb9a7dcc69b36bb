package waf

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
)

// CRSConfig selects the OWASP Core Rule Set (v4, as shipped by
// coraza-coreruleset) for a policy.
type CRSConfig struct {
	// ParanoiaLevel 1–4 (default 1): higher levels enable rules with more
	// false positives (CRS tx.blocking_paranoia_level).
	ParanoiaLevel int
	// AnomalyThreshold is the inbound anomaly score that blocks (default 5,
	// CRS' default: one critical match).
	AnomalyThreshold int
	// ExcludeRules removes rules by id (SecRuleRemoveById), the usual way
	// to silence a false positive on one application.
	ExcludeRules []int
	// ExcludeTags removes rules by tag (SecRuleRemoveByTag), e.g.
	// "attack-protocol".
	ExcludeTags []string
	// DetectionOnly evaluates and reports matches without blocking
	// (SecRuleEngine DetectionOnly).
	DetectionOnly bool
	// MaxBody is the part of a request body inspected (default 128 KiB);
	// the rest passes uninspected (SecRequestBodyLimitAction
	// ProcessPartial), so that a large upload is not refused by the WAF.
	MaxBody int
	// Directives are extra SecLang lines appended after the rule set
	// (custom rules, ctl exclusions for one path).
	Directives string
}

// CRS is a compiled Coraza WAF with the Core Rule Set. Immutable after
// CompileCRS and safe for concurrent use (each request is its own
// transaction).
type CRS struct {
	waf     coraza.WAF
	maxBody int
}

// CompileCRS builds the rule set. It takes about a second and tens of MiB:
// do it once per configuration version, and share the result among
// listeners when the configs are equal.
func CompileCRS(cfg CRSConfig) (*CRS, error) {
	if cfg.ParanoiaLevel == 0 {
		cfg.ParanoiaLevel = 1
	}
	if cfg.ParanoiaLevel < 1 || cfg.ParanoiaLevel > 4 {
		return nil, fmt.Errorf("crs: paranoiaLevel: %d not in [1, 4]", cfg.ParanoiaLevel)
	}
	if cfg.AnomalyThreshold == 0 {
		cfg.AnomalyThreshold = 5
	}
	if cfg.AnomalyThreshold < 1 {
		return nil, fmt.Errorf("crs: anomalyThreshold: %d must be >= 1", cfg.AnomalyThreshold)
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 128 << 10
	}
	if cfg.MaxBody < 0 {
		return nil, errors.New("crs: maxBody: must be >= 0")
	}
	for _, tag := range cfg.ExcludeTags {
		if tag == "" || strings.ContainsAny(tag, "\"\n\r") {
			return nil, fmt.Errorf("crs: excludeTags: invalid tag %q", tag)
		}
	}
	engine := "On"
	if cfg.DetectionOnly {
		engine = "DetectionOnly"
	}
	var d strings.Builder
	fmt.Fprintf(&d, "Include @coraza.conf-recommended\n")
	fmt.Fprintf(&d, "SecRuleEngine %s\n", engine)
	fmt.Fprintf(&d, "SecRequestBodyAccess On\nSecRequestBodyLimit %d\nSecRequestBodyInMemoryLimit %d\nSecRequestBodyLimitAction ProcessPartial\n", cfg.MaxBody, cfg.MaxBody)
	fmt.Fprintf(&d, "SecResponseBodyAccess Off\n")
	fmt.Fprintf(&d, "Include @crs-setup.conf.example\n")
	// CRS' REQUEST-901 only sets these when unset, so setting them first
	// (ids 900000 and 900110 are the ones crs-setup reserves) wins.
	fmt.Fprintf(&d, "SecAction \"id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d\"\n", cfg.ParanoiaLevel)
	fmt.Fprintf(&d, "SecAction \"id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=4\"\n", cfg.AnomalyThreshold)
	fmt.Fprintf(&d, "Include @owasp_crs/*.conf\n")
	if len(cfg.ExcludeRules) > 0 {
		ids := slices.Clone(cfg.ExcludeRules)
		slices.Sort(ids)
		d.WriteString("SecRuleRemoveById")
		for _, id := range ids {
			if id <= 0 {
				return nil, fmt.Errorf("crs: excludeRules: invalid rule id %d", id)
			}
			d.WriteString(" " + strconv.Itoa(id))
		}
		d.WriteString("\n")
	}
	for _, tag := range cfg.ExcludeTags {
		fmt.Fprintf(&d, "SecRuleRemoveByTag \"%s\"\n", tag)
	}
	d.WriteString(cfg.Directives)
	waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(d.String()))
	if err != nil {
		return nil, fmt.Errorf("crs: %w", err)
	}
	return &CRS{waf: waf, maxBody: cfg.MaxBody}, nil
}

// MaxBody is the number of body bytes Inspect looks at.
func (c *CRS) MaxBody() int { return c.maxBody }

// CRSDecision is the outcome of the rule set for one request.
type CRSDecision struct {
	// Blocked: the request must be refused with Status (403 from CRS).
	// Never set in detection-only mode.
	Blocked bool
	Status  int
	RuleID  int // the rule that interrupted (949110: anomaly score exceeded)
	// Matches are the rules that matched, for the WAF log (also in
	// detection-only mode). Their data may quote the request: mask it
	// before logging.
	Matches []Match
}

// Match is one matched rule.
type Match struct {
	ID       int
	Severity string
	Message  string
	Data     string
}

// Inspect runs the request phases (headers and body) of the rule set.
// server is the local address the request arrived on; proto is e.g.
// "HTTP/1.1".
func (c *CRS) Inspect(in *Input, server netip.AddrPort, proto string) (CRSDecision, error) {
	tx := c.waf.NewTransaction()
	defer tx.Close()
	if in.Client.IsValid() {
		tx.ProcessConnection(in.Client.Addr().Unmap().String(), int(in.Client.Port()), server.Addr().Unmap().String(), int(server.Port()))
	}
	uri := in.Path
	if in.RawQuery != "" {
		uri += "?" + in.RawQuery
	}
	tx.ProcessURI(uri, in.Method, proto)
	if in.Authority != "" {
		tx.AddRequestHeader("Host", in.Authority)
		tx.SetServerName(hostOnly(in.Authority))
	}
	if in.Header != nil {
		for _, f := range in.Header.Fields() {
			tx.AddRequestHeader(f.Name, f.Value)
		}
	}
	var (
		it  *types.Interruption
		err error
	)
	if it = tx.ProcessRequestHeaders(); it == nil {
		if len(in.Body) > 0 && tx.IsRequestBodyAccessible() {
			body := in.Body
			if len(body) > c.maxBody {
				body = body[:c.maxBody]
			}
			if it, _, err = tx.WriteRequestBody(body); err != nil {
				return CRSDecision{}, fmt.Errorf("crs: request body: %w", err)
			}
		}
		if it == nil {
			if it, err = tx.ProcessRequestBody(); err != nil {
				return CRSDecision{}, fmt.Errorf("crs: request body: %w", err)
			}
		}
	}
	var d CRSDecision
	if it != nil {
		d.Blocked, d.Status, d.RuleID = true, it.Status, it.RuleID
		if d.Status == 0 {
			d.Status = 403
		}
	}
	for _, m := range tx.MatchedRules() {
		r := m.Rule()
		if r.ID() >= 900000 && r.ID() < 901000 {
			continue // setup actions, not findings
		}
		if m.Message() == "" {
			continue // bookkeeping rules (score accumulation) without a message
		}
		d.Matches = append(d.Matches, Match{ID: r.ID(), Severity: r.Severity().String(), Message: m.Message(), Data: m.Data()})
	}
	return d, nil
}

func hostOnly(authority string) string {
	if strings.HasPrefix(authority, "[") {
		if i := strings.IndexByte(authority, ']'); i > 0 {
			return authority[1:i]
		}
	}
	if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		return authority[:i]
	}
	return authority
}
