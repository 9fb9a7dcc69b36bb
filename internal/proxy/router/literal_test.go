package router

import (
	"regexp"
	"strings"
	"testing"
)

func TestRequiredLiteral(t *testing.T) {
	tests := []struct {
		pattern string
		want    string
	}{
		{`^/api/v[0-9]+/svc-12/[a-z0-9-]+$`, "/svc-12/"},
		{`/api/v[0-9]+/svc-12/[a-z0-9-]+`, "/svc-12/"},
		{`/static/.*\.css`, "/static/"},
		{`(/users/)[0-9]+/profile`, "/profile"},
		{`(?:abc)+x`, "abc"},
		{`(?:abcd){2,}`, "abcd"}, // Simplify splits the repeats
		{`(?:abc)?/x`, "/x"},
		{`a|bcd`, ""},
		{`(?i)/admin/.*`, ""},
		{`[a-z]*`, ""},
		{`(`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			if got := requiredLiteral(tt.pattern); got != tt.want {
				t.Errorf("requiredLiteral(%q) = %q, want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

// Soundness: whenever a pattern matches, the input contains its literal;
// otherwise the prefilter would skip a route that matches.
func TestRequiredLiteralNeverRejectsAMatch(t *testing.T) {
	patterns := []string{`/api/v[0-9]+/svc-12/[a-z0-9-]+`, `/static/.*\.css`, `(/users/)[0-9]+/profile`,
		`(?:ab|cd)+/x{2,3}`, `.*foo(bar)?baz.*`, `(?:abc)?/x`}
	inputs := []string{"/api/v1/svc-12/items", "/api/v22/svc-12/a-b", "/static/a/b.css", "/users/42/profile",
		"abcd/xx", "ab/xxx", "foobaz", "xxfoobarbazyy", "/x", "abc/x", "/api/v1/svc-13/items"}
	for _, p := range patterns {
		re := regexp.MustCompile("^(?:" + p + ")$")
		lit := requiredLiteral(p)
		for _, in := range inputs {
			if re.MatchString(in) && !strings.Contains(in, lit) {
				t.Errorf("pattern %q matches %q, which lacks its required literal %q", p, in, lit)
			}
		}
	}
}
