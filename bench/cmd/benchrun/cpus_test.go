package main

import (
	"net"
	"slices"
	"strconv"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []int
		wantErr bool
	}{
		{name: "one core", in: "1", want: []int{1}},
		{name: "range and singles in written order", in: "4-5,0,2", want: []int{4, 5, 0, 2}},
		{name: "duplicates dropped", in: "0-2,1", want: []int{0, 1, 2}},
		{name: "empty is an error", in: "", wantErr: true},
		{name: "reversed range is an error", in: "3-1", wantErr: true},
		{name: "negative is an error", in: "-1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUList(tt.in)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestProxyCPUsFor(t *testing.T) {
	tests := []struct {
		name       string
		base       string
		n, ncpu    int
		want       string
		wantErr    bool
		wantShared bool // with a client on core 0
	}{
		{name: "one worker keeps --proxy-cpu", base: "1", n: 1, ncpu: 2, want: "1"},
		{name: "two workers on two cores wrap onto the client's", base: "1", n: 2, ncpu: 2, want: "1,0", wantShared: true},
		{name: "a list long enough is cut", base: "6-7", n: 1, ncpu: 8, want: "6"},
		{name: "a short list continues upward", base: "4", n: 3, ncpu: 8, want: "4,5,6"},
		{name: "more workers than cores is an error", base: "1", n: 3, ncpu: 2, wantErr: true},
		{name: "a core the machine lacks is an error", base: "5", n: 1, ncpu: 2, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := proxyCPUsFor(tt.base, tt.n, tt.ncpu)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
			if !tt.wantErr && sharesCores(got, "0") != tt.wantShared {
				t.Errorf("sharesCores(%q, \"0\") = %v", got, !tt.wantShared)
			}
		})
	}
}

func TestFreePortsAreDistinctBindableAndBelowTheEphemeralRange(t *testing.T) {
	exclude := []int{}
	for p := lowestPort; p < ephemeralLow(); p += 2 {
		exclude = append(exclude, p) // only odd ports remain
	}
	ports, err := freePorts(20, exclude)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ports {
		if p < lowestPort || p >= ephemeralLow() || p%2 == 0 || slices.Contains(ports[:i], p) {
			t.Errorf("port %d: want distinct odd ports in [%d, %d)", p, lowestPort, ephemeralLow())
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d not bindable: %v", p, err)
			continue
		}
		ln.Close()
	}
}
