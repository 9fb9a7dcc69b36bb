package mask

import (
	"bytes"
	"testing"
)

// FuzzStreamEqualsOneShot: however a body is cut into writes, the streamed
// output is the one-shot output. Since the one-shot output masks every
// secret, so does the stream, whatever the chunk boundaries.
func FuzzStreamEqualsOneShot(f *testing.F) {
	f.Add([]byte(secretBody), uint16(7), uint16(13))
	f.Add([]byte("pay 4111 1111 1111 1111 2025 mail a@b.io"), uint16(9), uint16(1))
	f.Add([]byte("password=abc&api_key=0123456789abcdef"), uint16(3), uint16(30))
	f.Add([]byte("11010519491231002X13812345678"), uint16(17), uint16(2))
	m, err := New(BuiltinNames(), []Rule{{Name: "custom", Pattern: `tok_[a-z0-9]{4,40}`}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, a, b uint16) {
		want := m.Bytes(nil, body)
		var out bytes.Buffer
		w := m.NewWriter(&out)
		step := []int{int(a)%97 + 1, int(b)%1031 + 1}
		for off, i := 0, 0; off < len(body); i++ {
			n := min(step[i%2], len(body)-off)
			w.Write(body[off : off+n])
			off += n
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("chunks %v:\nstream  %q\noneshot %q", step, out.Bytes(), want)
		}
	})
}
