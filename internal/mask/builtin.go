package mask

import "bytes"

// The built-in rules. Each regex is bounded; checks in Go add what RE2
// cannot express (boundaries, checksums).

func builtin(name string) (matcher, bool) {
	var (
		m   *regexMatcher
		err error
	)
	switch name {
	case Passwords:
		// JSON members and form/query parameters whose name says secret.
		m, err = compilePattern(`(?i)"(?:password|passwd|pwd|secret|client_secret)"[ \t]{0,8}:[ \t]{0,8}"((?:[^"\\]|\\.){1,256})"|(?:password|passwd|pwd|secret|client_secret)=([^&\s"',;]{1,256})`, nameBoundary)
	case BearerTokens:
		return bearerMatcher{}, true
	case APIKeys:
		m, err = compilePattern(`(?i)(?:api[_-]?key|access[_-]?token|secret[_-]?key|x-api-key|private[_-]?token)["']?[ \t]{0,8}[:=][ \t]{0,8}["']?([A-Za-z0-9\-._~+/]{8,512})`, nameBoundary)
	case CardNumbers:
		return cardMatcher{}, true
	case NationalIDs:
		// PRC resident identity card (GB 11643-1999, ISO 7064 MOD 11-2
		// check digit) and US social security numbers.
		m, err = compilePattern(`[1-9][0-9]{16}[0-9Xx]|[0-9]{3}-[0-9]{2}-[0-9]{4}`, nationalIDCheck)
		if m != nil {
			m.pre = leftDigitBoundary
		}
	case PhoneNumbers:
		// E.164 with "+", PRC mobile numbers, NANP (555) 123-4567 forms.
		m, err = compilePattern(`\+[1-9][0-9]{7,14}|1[3-9][0-9]{9}|\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4}`, digitBoundary)
		if m != nil {
			m.pre = leftDigitBoundary
		}
	case EmailAddresses:
		return emailMatcher{}, true
	default:
		return nil, false
	}
	if err != nil {
		panic("mask: builtin " + name + ": " + err.Error()) // a bug in this file
	}
	return m, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isWord(c byte) bool {
	return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'z' || c == '_'
}

// bearerMatcher finds RFC 6750 Bearer tokens (b64token) and RFC 7617
// Basic credentials after their scheme name. Written out because tokens
// (JWTs) outgrow RE2's repetition limit of 1000.
type bearerMatcher struct{}

const maxToken = 4 << 10 // JWTs in practice stay under 2 KiB

func (bearerMatcher) maxLen() int { return len("bearer") + 8 + maxToken }

func (bearerMatcher) find(b []byte, from int, spans [][2]int) (int, int, [][2]int, bool) {
	for s := from; s+6 < len(b); s++ {
		c := b[s] | 0x20
		var n int
		switch {
		case c == 'b' && (s == 0 || !isWord(b[s-1])) && hasFold(b[s:], "bearer"):
			n = 6
		case c == 'b' && (s == 0 || !isWord(b[s-1])) && hasFold(b[s:], "basic"):
			n = 5
		default:
			continue
		}
		i, sp := s+n, 0
		for i < len(b) && sp < 8 && (b[i] == ' ' || b[i] == '\t') {
			i++
			sp++
		}
		if sp == 0 {
			continue
		}
		t := i
		for i < len(b) && i-t < maxToken && isToken(b[i]) {
			i++
		}
		for i < len(b) && i-t < maxToken && b[i] == '=' {
			i++
		}
		if i-t < 8 {
			continue // too short to be a credential ("basic auth", "bearer of")
		}
		return s, i, append(spans, [2]int{t, i}), true
	}
	return 0, 0, spans, false
}

func hasFold(b []byte, lower string) bool {
	if len(b) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// isToken: RFC 6750 b64token characters.
func isToken(c byte) bool {
	return isWord(c) || c == '-' || c == '.' || c == '~' || c == '+' || c == '/'
}

// nameBoundary: the parameter name starts the name ("password=" and
// "user_password=" are masked, "xpassword" is another word). '_', '-' and
// '.' join name parts, so they may precede it.
func nameBoundary(b []byte, s, _ int) bool {
	if s == 0 {
		return true
	}
	c := b[s-1]
	return !isWord(c) || c == '_'
}

// leftDigitBoundary is the left half of digitBoundary: a number does not
// start inside another.
func leftDigitBoundary(b []byte, s int) bool {
	return s == 0 || !isDigit(b[s-1]) && b[s-1] != '+'
}

func digitBoundary(b []byte, s, e int) bool {
	return (s == 0 || !isDigit(b[s-1]) && b[s-1] != '+') && (e == len(b) || !isDigit(b[e]))
}

// cardMatcher finds payment card numbers (ISO/IEC 7812): 13–19 digits,
// optionally grouped by single spaces or dashes, with a valid Luhn check
// digit, not part of a longer digit string. A regex cannot do this alone:
// "4111 1111 1111 1111 2025" (a card, then a year) needs the match to end
// on a group boundary that a greedy repetition overshoots.
type cardMatcher struct{}

const cardMaxLen = 19 + 18 // digits and single separators

func (cardMatcher) maxLen() int { return cardMaxLen }

func (cardMatcher) find(b []byte, from int, spans [][2]int) (int, int, [][2]int, bool) {
	var ends [20]int // ends[k]: index after the k-th digit of the run
	for s := from; s < len(b); s++ {
		if !isDigit(b[s]) || (s > 0 && isDigit(b[s-1])) {
			continue
		}
		// Collect up to 19 digits with single separators between them.
		n, i := 0, s
		for i < len(b) && n < 19 {
			if !isDigit(b[i]) {
				if (b[i] == ' ' || b[i] == '-') && n > 0 && i+1 < len(b) && isDigit(b[i+1]) && isDigit(b[i-1]) {
					i++
					continue
				}
				break
			}
			n++
			i++
			ends[n] = i
		}
		// Longest candidate first; it must not be followed by a digit.
		for k := n; k >= 13; k-- {
			e := ends[k]
			if e < len(b) && isDigit(b[e]) {
				continue
			}
			if luhn(b[s:e]) {
				return s, e, append(spans, [2]int{s, e}), true
			}
		}
	}
	return 0, 0, spans, false
}

func luhn(num []byte) bool {
	sum, double := 0, false
	for i := len(num) - 1; i >= 0; i-- {
		c := num[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func nationalIDCheck(b []byte, s, e int) bool {
	if !digitBoundary(b, s, e) || (e < len(b) && isWord(b[e])) {
		return false
	}
	id := b[s:e]
	if len(id) == 11 { // SSN ddd-dd-dddd: area 000, 666 and 9xx are never issued
		area := string(id[:3])
		return area != "000" && area != "666" && id[0] != '9' && string(id[4:6]) != "00" && string(id[7:]) != "0000"
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(id[i]-'0') * w
	}
	check := "10X98765432"[sum%11]
	last := id[17]
	if last == 'x' {
		last = 'X'
	}
	return last == check
}

// emailMatcher finds addresses (RFC 5321 sizes: local part at most 64
// bytes, domain at most 253) from their '@', which is rare in text, instead
// of trying a local-part pattern at every letter.
type emailMatcher struct{}

func (emailMatcher) maxLen() int { return 64 + 1 + 253 }

func (emailMatcher) find(b []byte, from int, spans [][2]int) (int, int, [][2]int, bool) {
	for at := from; at < len(b); at++ {
		i := bytes.IndexByte(b[at:], '@')
		if i < 0 {
			return 0, 0, spans, false
		}
		at += i
		// The local part is the whole run of local characters before '@'.
		s := at
		for s > 0 && at-s <= 64 && isEmailLocal(b[s-1]) {
			s--
		}
		if s == at || at-s > 64 || s < from || (s > 0 && isEmailLocal(b[s-1])) {
			continue
		}
		if e, ok := domainEnd(b, at+1); ok {
			return s, e, append(spans, [2]int{s, e}), true
		}
	}
	return 0, 0, spans, false
}

// domainEnd returns the end of the longest host name at b[start:] with at
// least two labels and an alphabetic top-level label of 2–24 letters, not
// followed by a word character.
func domainEnd(b []byte, start int) (int, bool) {
	end := start
	for end < len(b) && end-start < 253 && (isWord(b[end]) && b[end] != '_' || b[end] == '.' || b[end] == '-') {
		end++
	}
	for end > start {
		// Drop trailing dots and dashes ("mail me at a@b.com.").
		for end > start && (b[end-1] == '.' || b[end-1] == '-') {
			end--
		}
		dot := bytes.LastIndexByte(b[start:end], '.')
		if dot <= 0 {
			return 0, false
		}
		tld := b[start+dot+1 : end]
		if len(tld) >= 2 && len(tld) <= 24 && isAlpha(tld) && (end == len(b) || !isWord(b[end])) && labelsOK(b[start:end]) {
			return end, true
		}
		end = start + dot // try the shorter name
	}
	return 0, false
}

func isAlpha(s []byte) bool {
	for _, c := range s {
		if !('a' <= c|0x20 && c|0x20 <= 'z') {
			return false
		}
	}
	return true
}

func labelsOK(host []byte) bool {
	for _, l := range bytes.Split(host, []byte{'.'}) {
		if len(l) == 0 || len(l) > 63 {
			return false
		}
	}
	return true
}

func isEmailLocal(c byte) bool {
	return isWord(c) || c == '.' || c == '%' || c == '+' || c == '-'
}
