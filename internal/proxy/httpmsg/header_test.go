package httpmsg

import (
	"slices"
	"testing"
)

func TestHeader(t *testing.T) {
	var h Header
	h.Add("X-Multi", "a")
	h.Add("content-type", "text/plain")
	h.Add("x-multi", "b")
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"names are stored lower-case", h.At(0).Name, "x-multi"},
		{"Get is case-insensitive and returns the first", h.Get("X-MULTI"), "a"},
		{"Values keeps order", h.Values(nil, "x-multi"), []string{"a", "b"}},
		{"Count", h.Count("X-Multi"), 2},
		{"missing is empty", h.Get("nope"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if g, ok := tc.got.([]string); ok {
				if !slices.Equal(g, tc.want.([]string)) {
					t.Fatalf("got %v want %v", g, tc.want)
				}
				return
			}
			if tc.got != tc.want {
				t.Fatalf("got %v want %v", tc.got, tc.want)
			}
		})
	}
	h.Set("X-Multi", "c")
	if h.Len() != 2 || h.At(0).Value != "c" || h.At(1).Name != "content-type" {
		t.Fatalf("Set kept position and removed duplicates: %v", h.Fields())
	}
	h.Del("CONTENT-TYPE")
	if h.Has("content-type") || h.Len() != 1 {
		t.Fatalf("Del: %v", h.Fields())
	}
	c := h.Clone()
	h.Reset()
	if c.Get("x-multi") != "c" || h.Len() != 0 {
		t.Fatal("Clone/Reset")
	}
}

func TestHeaderLookupDoesNotAllocate(t *testing.T) {
	var h Header
	for _, n := range []string{"host", "user-agent", "accept", "cookie", "x-request-id"} {
		h.Add(n, "v")
	}
	if n := testing.AllocsPerRun(100, func() { _ = h.Get("X-Request-Id"); _ = h.Has("Cookie") }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func TestRequestResetKeepsCapacity(t *testing.T) {
	var r Request
	r.Header.Add("a", "1")
	r.Method = "GET"
	r.Reset()
	if r.Method != "" || r.Header.Len() != 0 || cap(r.Header.fields) == 0 || r.Body != NoBody {
		t.Fatal("Reset")
	}
}
