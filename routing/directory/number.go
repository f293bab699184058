package directory

import "strings"

// NormalizeNumber turns a caller ID into the form customers are filed
// under: E.164 with a leading plus for full numbers, so that +84912345678,
// 0912345678, 84912345678 and 0084912345678 are all "+84912345678" for
// country code "84". Spaces, dashes, dots and parentheses are ignored, as
// is a "tel:" or "sip:" prefix and anything from "@" or ";" on. Short
// numbers (extensions, service numbers such as 1900) and numbers that do
// not start with 0, 00, + or the country code are returned as digits only.
// A caller ID without digits ("anonymous") gives "".
func NormalizeNumber(raw, countryCode string) string {
	s := raw
	if i := strings.IndexByte(s, ':'); i >= 0 && i < 4 {
		s = s[i+1:]
	}
	if i := strings.IndexAny(s, "@;"); i >= 0 {
		s = s[:i]
	}
	plus := false
	var buf [32]byte
	d := buf[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if len(d) < cap(buf) {
				d = append(d, c)
			}
		case c == '+' && len(d) == 0:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/':
		default:
			return "" // letters and the like: not a phone number
		}
	}
	if len(d) == 0 {
		return ""
	}
	switch {
	case plus:
		return "+" + string(d)
	case len(d) > 2 && d[0] == '0' && d[1] == '0':
		return "+" + string(d[2:])
	case len(d) >= 8 && d[0] == '0':
		return "+" + countryCode + string(d[1:])
	case countryCode != "" && len(d) >= len(countryCode)+8 && strings.HasPrefix(string(d), countryCode):
		return "+" + string(d)
	}
	return string(d)
}

// NormalizePrefix normalises a caller-number prefix from the configuration
// the way NormalizeNumber does numbers, so "090" and "+8490" mean the same.
func NormalizePrefix(p, countryCode string) string {
	p = strings.TrimSpace(p)
	switch {
	case strings.HasPrefix(p, "+"):
		return "+" + strings.TrimLeft(p[1:], "+")
	case strings.HasPrefix(p, "00"):
		return "+" + p[2:]
	case strings.HasPrefix(p, "0") && len(p) > 1:
		return "+" + countryCode + p[1:]
	}
	return p
}
