package mask

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func all(t testing.TB, custom ...Rule) *Masker {
	t.Helper()
	m, err := New(BuiltinNames(), custom)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBuiltinRules(t *testing.T) {
	m := all(t)
	tests := []struct {
		name, in, want string
	}{
		{"form password", "user=alice&password=hunter2&x=1", "user=alice&password=****&x=1"},
		{"json password", `{"user":"alice","password": "s3cr\"et"}`, `{"user":"alice","password": "****"}`},
		{"prefixed parameter name", "db_password=abc123", "db_password=****"},
		{"bearer token", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_abc-123", "Authorization: Bearer ****"},
		{"basic credentials", "authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", "authorization: Basic ****"},
		{"api key header", "x-api-key: 8f14e45fceea167a5a36dedd4bea2543", "x-api-key: ****"},
		{"api key query", "/v1/items?api_key=AKIAIOSFODNN7EXAMPLE&page=2", "/v1/items?api_key=****&page=2"},
		{"visa card", "paid with 4111 1111 1111 1111 yesterday", "paid with **** yesterday"},
		{"card followed by a year", "card 4111-1111-1111-1111 2025", "card **** 2025"},
		{"amex without separators", "pan=378282246310005;", "pan=****;"},
		{"digits failing luhn are kept", "order 4111111111111112 shipped", "order 4111111111111112 shipped"},
		{"card inside a longer number is kept", "id 94111111111111111", "id 94111111111111111"},
		{"prc resident id", "id 11010519491231002X ok", "id **** ok"},
		{"prc id with a wrong check digit is kept", "id 110105194912310021 ok", "id 110105194912310021 ok"},
		{"us ssn", "ssn 078-05-1120.", "ssn ****."},
		{"invalid ssn area is kept", "ref 666-12-3456", "ref 666-12-3456"},
		{"e.164 phone", "call +8613812345678 now", "call **** now"},
		{"prc mobile", "tel:13812345678", "tel:****"},
		{"nanp phone", "(415) 555-2671", "****"},
		{"email", "mail alice.smith+tag@mail.example.co.uk, thanks", "mail ****, thanks"},
		{"nothing to mask", "GET /products?page=2 200 12ms", "GET /products?page=2 200 12ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.String(tc.in); got != tc.want {
				t.Fatalf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCustomRules(t *testing.T) {
	m := all(t, Rule{Name: "order-token", Pattern: `ot_([a-f0-9]{16})`, Replacement: "[order-token]"},
		Rule{Name: "internal-host", Pattern: `[a-z]{1,20}\.corp\.internal`})
	got := m.String("ref ot_0123456789abcdef via db.corp.internal")
	if want := "ref ot_[order-token] via ****"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRuleErrors(t *testing.T) {
	tests := []struct {
		name     string
		builtins []string
		rule     Rule
		want     string
	}{
		{"unbounded repetition", nil, Rule{Name: "r", Pattern: `secret-\w+`}, "mask: rule r: pattern: "},
		{"anchor", nil, Rule{Name: "r", Pattern: `^token [a-z]{4}`}, "anchors and word boundaries"},
		{"word boundary", nil, Rule{Name: "r", Pattern: `\bkey[0-9]{4}`}, "anchors and word boundaries"},
		{"empty match", nil, Rule{Name: "r", Pattern: `a{0,3}`}, "matches the empty string"},
		{"too long", nil, Rule{Name: "r", Pattern: strings.Repeat(`[a-z]{1,1000}`, 9)}, "can match 9000 bytes, at most 8192 allowed"},
		{"bad syntax", nil, Rule{Name: "r", Pattern: `(`}, "missing closing )"},
		{"no name", nil, Rule{Pattern: `x`}, "mask: rule 0: name required"},
		{"unknown builtin", []string{"passports"}, Rule{Name: "r", Pattern: "x"}, `mask: unknown builtin "passports"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.builtins, []Rule{tc.rule})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestHeader(t *testing.T) {
	m := all(t)
	if got := m.Header("Authorization", "Bearer abc"); got != DefaultReplacement {
		t.Errorf("authorization = %q", got)
	}
	if got := m.Header("Cookie", "session=1"); got != DefaultReplacement {
		t.Errorf("cookie = %q", got)
	}
	if got := m.Header("user-agent", "curl/8.0"); got != "curl/8.0" {
		t.Errorf("user-agent = %q", got)
	}
}

func TestStringWithoutMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	m := all(t)
	line := `127.0.0.1 "GET /api/v1/products?page=2 HTTP/1.1" 200 512 "curl/8.5.0"`
	if n := testing.AllocsPerRun(50, func() { _ = m.String(line) }); n != 0 {
		t.Fatalf("%v allocations for a clean line", n)
	}
}

// secretBody has secrets of every kind; the streaming tests split it at
// every offset so that each secret is cut by a chunk boundary somewhere.
const secretBody = `{"user":"alice","password":"hunter2","card":"4111 1111 1111 1111",` +
	`"email":"alice@example.com","phone":"+8613812345678","id":"11010519491231002X",` +
	`"auth":"Bearer abcdefghijklmnop.qrstuvwxyz"}`

var secrets = []string{"hunter2", "4111 1111 1111 1111", "alice@example.com", "+8613812345678", "11010519491231002X", "abcdefghijklmnop"}

func TestWriterMasksSecretsSplitAcrossWrites(t *testing.T) {
	m := all(t)
	want := m.String(secretBody)
	for _, s := range secrets {
		if strings.Contains(want, s) {
			t.Fatalf("one-shot output leaks %q: %s", s, want)
		}
	}
	for split := 1; split < len(secretBody); split++ {
		var out bytes.Buffer
		w := m.NewWriter(&out)
		w.Write([]byte(secretBody[:split]))
		w.Write([]byte(secretBody[split:]))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("split at %d:\n got %s\nwant %s", split, out.String(), want)
		}
	}
}

func TestReaderOneByteAtATime(t *testing.T) {
	m := all(t)
	got, err := io.ReadAll(m.NewReader(iotest.OneByteReader(strings.NewReader(secretBody))))
	if err != nil {
		t.Fatal(err)
	}
	if want := m.String(secretBody); string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

// TestWriterHoldsBackOnlyTheWindow streams a large body and checks that
// output flows before Close: the masker never buffers the whole body.
func TestWriterHoldsBackOnlyTheWindow(t *testing.T) {
	m := all(t)
	var out bytes.Buffer
	w := m.NewWriter(&out)
	line := []byte("log line without secrets, just words and numbers 42\n")
	total := 0
	for total < 256<<10 {
		w.Write(line)
		total += len(line)
		if held := total - out.Len(); held > 2*m.Window()+len(line) {
			t.Fatalf("holding %d bytes, window is %d", held, m.Window())
		}
	}
	w.Close()
	if out.Len() != total {
		t.Fatalf("wrote %d of %d bytes", out.Len(), total)
	}
}

func BenchmarkStringNoMatch(b *testing.B) {
	m := all(b)
	line := `127.0.0.1 - - "GET /api/v1/products?page=2&sort=price HTTP/1.1" 200 512 "-" "Mozilla/5.0 (X11; Linux x86_64)"`
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for i := 0; i < b.N; i++ {
		_ = m.String(line)
	}
}

func BenchmarkStringWithSecrets(b *testing.B) {
	m := all(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(secretBody)))
	for i := 0; i < b.N; i++ {
		_ = m.String(secretBody)
	}
}

func BenchmarkWriter64KiB(b *testing.B) {
	m := all(b)
	body := bytes.Repeat([]byte(secretBody+"\n"+strings.Repeat("lorem ipsum dolor sit amet ", 20)+"\n"), 64<<10/(len(secretBody)+562))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		w := m.NewWriter(io.Discard)
		for off := 0; off < len(body); off += 4096 {
			w.Write(body[off:min(off+4096, len(body))])
		}
		w.Close()
	}
}
