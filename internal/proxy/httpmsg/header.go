package httpmsg

import "strings"

// Field is one header field. Name is always lower-case ASCII: HTTP/2 and
// HTTP/3 require lower-case field names on the wire (RFC 9113 §8.2.2) and
// Envoy normalises HTTP/1 names the same way, so storing them lower-case once
// lets every lookup be a plain byte comparison.
type Field struct {
	Name  string
	Value string
}

// Header is an ordered list of fields. Order and duplicates are preserved as
// received because a proxy must forward them faithfully (RFC 9110 §5.3 allows
// only combining same-name fields in order). Lookups are linear: a request has
// a dozen fields, and a scan over contiguous memory beats a map with no
// allocation.
//
// Strings held by a Header that was filled by a codec may point into a
// buffer owned by the connection; they are valid until the message is
// released (see Request and Response). Use strings.Clone to keep one longer.
//
// Header is not safe for concurrent use.
type Header struct {
	fields []Field
}

// Len reports the number of fields.
func (h *Header) Len() int { return len(h.fields) }

// At returns the i-th field.
func (h *Header) At(i int) Field { return h.fields[i] }

// Fields returns the fields in order. The slice aliases the Header's storage.
func (h *Header) Fields() []Field { return h.fields }

// Reset empties the Header keeping its capacity for reuse.
func (h *Header) Reset() {
	clear(h.fields)
	h.fields = h.fields[:0]
}

// Get returns the first value of name (case-insensitive) or "".
func (h *Header) Get(name string) string {
	for i := range h.fields {
		if EqualFold(h.fields[i].Name, name) {
			return h.fields[i].Value
		}
	}
	return ""
}

// Lookup is Get that also reports whether the field exists.
func (h *Header) Lookup(name string) (string, bool) {
	for i := range h.fields {
		if EqualFold(h.fields[i].Name, name) {
			return h.fields[i].Value, true
		}
	}
	return "", false
}

// Has reports whether a field named name is present.
func (h *Header) Has(name string) bool {
	_, ok := h.Lookup(name)
	return ok
}

// Count returns how many fields are named name.
func (h *Header) Count(name string) int {
	n := 0
	for i := range h.fields {
		if EqualFold(h.fields[i].Name, name) {
			n++
		}
	}
	return n
}

// Values appends every value of name to dst and returns it; pass a reused
// slice to avoid allocating.
func (h *Header) Values(dst []string, name string) []string {
	for i := range h.fields {
		if EqualFold(h.fields[i].Name, name) {
			dst = append(dst, h.fields[i].Value)
		}
	}
	return dst
}

// Add appends a field. name is lower-cased (allocating only if it was not
// already lower-case).
func (h *Header) Add(name, value string) {
	h.fields = append(h.fields, Field{Name: Lower(name), Value: value})
}

// Set replaces every field named name by one field with value, keeping the
// position of the first occurrence.
func (h *Header) Set(name, value string) {
	for i := range h.fields {
		if EqualFold(h.fields[i].Name, name) {
			h.fields[i].Value = value
			h.delFrom(i+1, name)
			return
		}
	}
	h.Add(name, value)
}

// Del removes every field named name.
func (h *Header) Del(name string) { h.delFrom(0, name) }

func (h *Header) delFrom(start int, name string) {
	j := start
	for i := start; i < len(h.fields); i++ {
		if EqualFold(h.fields[i].Name, name) {
			continue
		}
		h.fields[j] = h.fields[i]
		j++
	}
	clear(h.fields[j:])
	h.fields = h.fields[:j]
}

// CopyFrom replaces h's fields by src's (sharing the strings).
func (h *Header) CopyFrom(src *Header) {
	h.Reset()
	h.fields = append(h.fields, src.fields...)
}

// Clone returns a deep copy whose strings no longer alias a connection buffer.
func (h *Header) Clone() Header {
	out := Header{fields: make([]Field, len(h.fields))}
	for i, f := range h.fields {
		out.fields[i] = Field{Name: cloneString(f.Name), Value: cloneString(f.Value)}
	}
	return out
}

func cloneString(s string) string {
	if s == "" {
		return ""
	}
	return string([]byte(s))
}

// EqualFold reports whether a and b are equal under ASCII case folding.
// Field names are ASCII tokens (RFC 9110 §5.1), so Unicode folding as in
// strings.EqualFold would be both slower and wrong.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Lower returns s in ASCII lower case, without allocating when it already is.
func Lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Cookie returns the value of the first cookie called name in the request's
// Cookie fields (RFC 6265 §5.4: "name=value" pairs separated by ";").
func Cookie(h *Header, name string) (string, bool) {
	for _, f := range h.Fields() {
		if !EqualFold(f.Name, "cookie") {
			continue
		}
		for _, c := range strings.Split(f.Value, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(c), "=")
			if k == name {
				return v, true
			}
		}
	}
	return "", false
}
