package router

import "regexp/syntax"

// requiredLiteral returns the longest case-sensitive literal that every
// string matching the RE2 pattern contains, or "" when none is certain (or
// the pattern does not parse; the decoder has compiled it already). Only
// parts that must occur are considered: literals of a concatenation, the
// body of a capture, of x+ and of x{n,} with n ≥ 1. Alternations, x* and
// x? contribute nothing.
func requiredLiteral(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return ""
	}
	return longestRequired(re.Simplify())
}

func longestRequired(re *syntax.Regexp) string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return ""
		}
		return string(re.Rune)
	case syntax.OpCapture, syntax.OpPlus:
		return longestRequired(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return longestRequired(re.Sub[0])
		}
	case syntax.OpConcat:
		best := ""
		for _, sub := range re.Sub {
			if l := longestRequired(sub); len(l) > len(best) {
				best = l
			}
		}
		return best
	}
	return ""
}
