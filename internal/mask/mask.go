// Package mask hides sensitive data (passwords, tokens, API keys, card
// numbers, phone and national ID numbers, e-mail addresses, and whatever
// custom patterns a policy adds) in access-log fields, WAF logs and,
// streaming, in response bodies.
//
// # Streaming without buffering whole bodies
//
// Every rule matches at most MaxLen bytes (patterns with unbounded
// repetition are refused). A streaming masker therefore only holds back the
// last MaxLen+lookahead bytes of what it has seen: a match that starts
// earlier is complete, so it is masked and written out, while the tail is
// carried over to the next chunk. A secret split across chunk boundaries is
// thus masked exactly as if the body had arrived in one piece; the fuzz
// target checks that the streamed output equals the one-shot output for
// any chunking.
//
// For that equivalence a match must not depend on where scanning started:
// patterns may not use ^, $, \A, \z, \b or \B (RE2 has no look-behind
// anyway). Word boundaries that the built-in rules need are checked in Go
// on the bytes around the match, which the masker always has.
package mask

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// DefaultReplacement replaces a masked value.
const DefaultReplacement = "****"

// Rule is a custom masking rule.
type Rule struct {
	Name string
	// Pattern is an RE2 expression of bounded length without anchors or
	// word boundaries. When it has capture groups, only the groups that
	// took part in the match are replaced (so `password=(\S{1,64})` keeps
	// "password="); otherwise the whole match is.
	Pattern     string
	Replacement string // DefaultReplacement when empty
}

// Built-in rule names.
const (
	Passwords      = "passwords"
	BearerTokens   = "bearerTokens" // Authorization: Bearer/Basic credentials
	APIKeys        = "apiKeys"
	CardNumbers    = "cardNumbers" // 13–19 digits passing the Luhn check
	PhoneNumbers   = "phoneNumbers"
	NationalIDs    = "nationalIDs" // PRC resident ID (with check digit), US SSN
	EmailAddresses = "emails"
)

// BuiltinNames lists the built-in rules in the order they are applied.
func BuiltinNames() []string {
	return []string{Passwords, BearerTokens, APIKeys, CardNumbers, NationalIDs, PhoneNumbers, EmailAddresses}
}

// matcher finds the leftmost valid match at or after from in b.
// b[:from] is context the matcher may look at (the byte before a match)
// but must not match in. Spans are the [start, end) ranges to replace,
// appended to spans.
type matcher interface {
	find(b []byte, from int, spans [][2]int) (start, end int, out [][2]int, ok bool)
	maxLen() int // bytes a match (plus the lookahead it inspects) can span
}

type rule struct {
	name string
	m    matcher
	repl []byte
}

// Masker applies a set of rules. Immutable after New; safe for concurrent
// use.
type Masker struct {
	rules  []rule
	window int // max over rules of maxLen, plus one byte of lookahead
}

// New builds a masker from built-in rule names and custom rules. An error
// names the rule and what is wrong with it.
func New(builtins []string, custom []Rule) (*Masker, error) {
	m := &Masker{}
	seen := map[string]bool{}
	for _, name := range builtins {
		if seen[name] {
			return nil, fmt.Errorf("mask: builtin %q listed twice", name)
		}
		seen[name] = true
		mt, ok := builtin(name)
		if !ok {
			return nil, fmt.Errorf("mask: unknown builtin %q (known: %s)", name, strings.Join(BuiltinNames(), ", "))
		}
		m.rules = append(m.rules, rule{name: name, m: mt, repl: []byte(DefaultReplacement)})
	}
	for i, r := range custom {
		if r.Name == "" {
			return nil, fmt.Errorf("mask: rule %d: name required", i)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("mask: rule %s: duplicate name", r.Name)
		}
		seen[r.Name] = true
		mt, err := compilePattern(r.Pattern, nil)
		if err != nil {
			return nil, fmt.Errorf("mask: rule %s: pattern: %w", r.Name, err)
		}
		repl := r.Replacement
		if repl == "" {
			repl = DefaultReplacement
		}
		m.rules = append(m.rules, rule{name: r.Name, m: mt, repl: []byte(repl)})
	}
	for _, r := range m.rules {
		m.window = max(m.window, r.m.maxLen())
	}
	m.window++ // the byte after a match, which boundary checks read
	return m, nil
}

// Window is how many bytes a streaming masker holds back.
func (m *Masker) Window() int { return m.window }

// regexMatcher is a bounded RE2 pattern with an optional check of the
// match in context (boundaries, checksums). It is tried, anchored, only at
// positions whose byte can start a match: unanchored RE2 search runs every
// thread of a pattern at every byte, which for case-insensitive keyword
// alternations and bounded repetitions costs microseconds per log line.
type regexMatcher struct {
	re    *regexp.Regexp // ^(?:pattern)
	first [256]bool      // bytes a match can start with
	// prefixes, when not nil, are lower-case strings one of which every
	// match starts with (ASCII case-insensitively): a cheap test that
	// spares most regex calls for keyword rules ("password", "api_key").
	prefixes []string
	// pre, when set, is a cheap necessary condition of check at a start
	// position (a left boundary), tested before the regex runs.
	pre   func(b []byte, s int) bool
	n     int
	check func(b []byte, start, end int) bool
}

// maxPattern bounds what a custom pattern may span, so that the carried
// tail of a stream stays small.
const maxPattern = 8 << 10

func compilePattern(pattern string, check func([]byte, int, int) bool) (*regexMatcher, error) {
	if pattern == "" {
		return nil, errors.New("required")
	}
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	n, err := maxLen(re)
	if err != nil {
		return nil, err
	}
	if n > maxPattern {
		return nil, fmt.Errorf("can match %d bytes, at most %d allowed", n, maxPattern)
	}
	if n == 0 {
		return nil, errors.New("matches only the empty string")
	}
	c, err := regexp.Compile(`^(?:` + pattern + `)`)
	if err != nil {
		return nil, err
	}
	if c.MatchString("") {
		return nil, errors.New("matches the empty string")
	}
	m := &regexMatcher{re: c, n: n, check: check}
	simple := re.Simplify()
	firstBytes(simple, &m.first)
	if ps, _ := literalPrefixes(simple); len(ps) > 0 && slices.IndexFunc(ps, func(p string) bool { return len(p) < 2 }) < 0 {
		m.prefixes = ps
	}
	return m, nil
}

// literalPrefixes returns lower-case strings one of which starts every
// match of re, and whether re matches exactly those strings (so that a
// concatenation may extend them). nil when none can be derived.
func literalPrefixes(re *syntax.Regexp) ([]string, bool) {
	const maxSet = 64
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf {
				return nil, false // keep the ASCII folding below exact
			}
		}
		return []string{strings.ToLower(string(re.Rune))}, true
	case syntax.OpCapture:
		return literalPrefixes(re.Sub[0])
	case syntax.OpAlternate:
		var out []string
		complete := true
		for _, sub := range re.Sub {
			ps, c := literalPrefixes(sub)
			if ps == nil {
				return nil, false
			}
			out = append(out, ps...)
			complete = complete && c
		}
		if len(out) > maxSet {
			return nil, false
		}
		return out, complete
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			ps, c := literalPrefixes(sub)
			if ps == nil {
				return out, false
			}
			if len(out)*len(ps) > maxSet {
				return out, false
			}
			next := make([]string, 0, len(out)*len(ps))
			for _, a := range out {
				for _, b := range ps {
					next = append(next, a+b)
				}
			}
			out = next
			if !c {
				return out, false
			}
		}
		return out, true
	}
	return nil, false
}

// firstBytes adds to set the bytes a match of re can start with and
// reports whether re can match the empty string.
func firstBytes(re *syntax.Regexp, set *[256]bool) (nullable bool) {
	addRune := func(r rune) {
		var buf [utf8.UTFMax]byte
		utf8.EncodeRune(buf[:], r)
		set[buf[0]] = true
	}
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpNoMatch:
		return true
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return true
		}
		r := re.Rune[0]
		addRune(r)
		if re.Flags&syntax.FoldCase != 0 {
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				addRune(f)
			}
		}
		return false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
				set[r] = true
			}
			if hi >= utf8.RuneSelf {
				for c := 0xC2; c <= 0xF4; c++ {
					set[c] = true // any multi-byte lead byte: conservative
				}
			}
		}
		return false
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		for c := range set {
			set[c] = c != '\n' || re.Op == syntax.OpAnyChar
		}
		return false
	case syntax.OpCapture:
		return firstBytes(re.Sub[0], set)
	case syntax.OpQuest, syntax.OpStar:
		firstBytes(re.Sub[0], set)
		return true
	case syntax.OpPlus:
		return firstBytes(re.Sub[0], set)
	case syntax.OpRepeat:
		return firstBytes(re.Sub[0], set) || re.Min == 0
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !firstBytes(sub, set) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		null := false
		for _, sub := range re.Sub {
			if firstBytes(sub, set) {
				null = true
			}
		}
		return null
	}
	for c := range set { // anything else: every position is a candidate
		set[c] = true
	}
	return true
}

// maxLen is the longest match of re in bytes, or an error when unbounded
// or context-dependent.
func maxLen(re *syntax.Regexp) (int, error) {
	switch re.Op {
	case syntax.OpNoMatch, syntax.OpEmptyMatch:
		return 0, nil
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += runeMax(r, re.Flags&syntax.FoldCase != 0)
		}
		return n, nil
	case syntax.OpCharClass:
		hi := rune(0)
		for i := 1; i < len(re.Rune); i += 2 {
			hi = max(hi, re.Rune[i])
		}
		return utf8.RuneLen(min(hi, utf8.MaxRune)), nil
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return utf8.UTFMax, nil
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0, fmt.Errorf("%s: anchors and word boundaries depend on where scanning starts; not allowed", re)
	case syntax.OpCapture:
		return maxLen(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		return 0, fmt.Errorf("%s: unbounded repetition; use a bounded one such as {1,256}", re)
	case syntax.OpQuest:
		return maxLen(re.Sub[0])
	case syntax.OpRepeat:
		if re.Max < 0 {
			return 0, fmt.Errorf("%s: unbounded repetition; use a bounded one such as {1,256}", re)
		}
		n, err := maxLen(re.Sub[0])
		return n * re.Max, err
	case syntax.OpConcat:
		total := 0
		for _, s := range re.Sub {
			n, err := maxLen(s)
			if err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	case syntax.OpAlternate:
		best := 0
		for _, s := range re.Sub {
			n, err := maxLen(s)
			if err != nil {
				return 0, err
			}
			best = max(best, n)
		}
		return best, nil
	}
	return 0, fmt.Errorf("%s: unsupported", re)
}

func runeMax(r rune, fold bool) int {
	n := utf8.RuneLen(r)
	if fold {
		// Case folding may match a longer encoding (K and the Kelvin sign).
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			n = max(n, utf8.RuneLen(f))
		}
	}
	return max(n, 1)
}

func (r *regexMatcher) maxLen() int { return r.n }

func (r *regexMatcher) find(b []byte, from int, spans [][2]int) (int, int, [][2]int, bool) {
	for s := from; s < len(b); s++ {
		if !r.first[b[s]] || (r.prefixes != nil && !hasAnyPrefixFold(b[s:], r.prefixes)) || (r.pre != nil && !r.pre(b, s)) {
			continue
		}
		// A match spans at most n bytes: the window bounds the work.
		w := b[s:min(len(b), s+r.n)]
		if !r.re.Match(w) {
			continue
		}
		loc := r.re.FindSubmatchIndex(w)
		e := s + loc[1]
		if r.check != nil && !r.check(b, s, e) {
			continue
		}
		n := len(spans)
		for g := 2; g+1 < len(loc); g += 2 {
			if loc[g] >= 0 && loc[g+1] > loc[g] {
				spans = append(spans, [2]int{s + loc[g], s + loc[g+1]})
			}
		}
		if len(spans) == n {
			spans = append(spans, [2]int{s, e})
		}
		return s, e, spans, true
	}
	return 0, 0, spans, false
}

func hasAnyPrefixFold(b []byte, prefixes []string) bool {
	for _, p := range prefixes {
		if len(b) < len(p) {
			continue
		}
		i := 0
		for ; i < len(p); i++ {
			c := b[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != p[i] {
				break
			}
		}
		if i == len(p) {
			return true
		}
	}
	return false
}

// String masks s. It returns s itself, without allocating, when nothing
// matches.
func (m *Masker) String(s string) string {
	if len(m.rules) == 0 || s == "" {
		return s
	}
	// b is only read, never written, so it may alias s.
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	out, _, changed := m.maskLazy(nil, b, 0, len(b), true)
	if !changed {
		return s
	}
	return string(out)
}

// Bytes appends the masked form of b to dst.
func (m *Masker) Bytes(dst, b []byte) []byte {
	out, _, _ := m.maskUpTo(dst, b, 0, len(b))
	return out
}

// sensitiveHeaders are masked whole in logs whatever their content
// (credentials by definition; Envoy's access logs leave them out for the
// same reason).
var sensitiveHeaders = []string{"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"}

// Header masks a header value for logging: credentials headers entirely,
// others by the rules.
func (m *Masker) Header(name, value string) string {
	if value == "" {
		return value
	}
	for _, h := range sensitiveHeaders {
		if strings.EqualFold(name, h) {
			return DefaultReplacement
		}
	}
	return m.String(value)
}

// maskUpTo applies every match that starts in [from, limit) and appends
// b[from:cut] masked to dst, where cut >= limit is the end of the emitted
// region (a match starting before limit is emitted whole).
func (m *Masker) maskUpTo(dst, b []byte, from, limit int) ([]byte, int, bool) {
	return m.maskLazy(dst, b, from, limit, false)
}

// maskLazy is maskUpTo; with lazy, nothing is appended when nothing
// matched (String returns its argument then).
func (m *Masker) maskLazy(dst, b []byte, from, limit int, lazy bool) ([]byte, int, bool) {
	type next struct {
		s, e  int
		spans [][2]int
		ok    bool
		valid bool // found from a position <= the current one
	}
	var stack [8]next
	cands := stack[:0]
	if len(m.rules) > len(stack) {
		cands = make([]next, 0, len(m.rules))
	}
	cands = cands[:len(m.rules)]
	for i := range cands {
		cands[i] = next{}
	}
	pos, emitted, changed := from, from, false
	for pos < limit {
		best := -1
		for i := range cands {
			c := &cands[i]
			if !c.valid || (c.ok && c.s < pos) {
				c.s, c.e, c.spans, c.ok = m.rules[i].m.find(b, pos, c.spans[:0])
				c.valid = true
			}
			if c.ok && (best < 0 || c.s < cands[best].s) {
				best = i
			}
		}
		if best < 0 || cands[best].s >= limit {
			break
		}
		c := &cands[best]
		for _, sp := range c.spans {
			if sp[0] < emitted {
				continue // overlaps an earlier replacement
			}
			dst = append(dst, b[emitted:sp[0]]...)
			dst = append(dst, m.rules[best].repl...)
			emitted = sp[1]
			changed = true
		}
		pos = max(c.e, pos+1)
		for i := range cands {
			if cands[i].ok && cands[i].s < pos {
				cands[i].valid = false
			}
		}
	}
	cut := max(limit, pos)
	if emitted < cut && (changed || !lazy) {
		dst = append(dst, b[emitted:cut]...)
	}
	return dst, cut, changed
}
