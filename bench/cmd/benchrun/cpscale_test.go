package main

import (
	"strings"
	"testing"
	"time"
)

const ksgwLog = `{"time":"2026-11-25T09:38:46.401238328Z","level":"INFO","msg":"standalone gateway starting","component":"standalone"}
{"time":"2026-11-25T09:38:57.786399902Z","level":"INFO","msg":"published","provider":"file","dir":"/tmp/x","objects":50202,"errors":0,"hash":"67006626e297"}
{"time":"2026-11-25T09:39:01.274173559Z","level":"INFO","msg":"configuration published","component":"controlplane","gateways":1,"problems":0,"resources":50202,"translate_ms":3477}
not json: a panic trace or a line from a wrapper script
{"time":"2026-11-25T09:39:01.3Z","level":"INFO","msg":"proxy published config","note":"\"published\" quoted inside another message"}
{"time":"2026-11-25T09:39:12.56463268Z","level":"INFO","msg":"published","provider":"file","objects":50202,"errors":0,"hash":"ba4feaad285a"}
{"time":"2026-11-25T09:39:13.993035373Z","level":"INFO","msg":"configuration published","component":"controlplane","gateways":1,"problems":2,"resources":50202,"translate_ms":1427}
`

func TestParseLogEvents(t *testing.T) {
	tests := []struct {
		name      string
		msg       string
		wantTimes []string
		wantTrMS  []int64
		wantObjs  []int
	}{
		{name: "control-plane publishes with their translation time", msg: msgConfigPublished,
			wantTimes: []string{"09:39:01.274", "09:39:13.993"}, wantTrMS: []int64{3477, 1427}, wantObjs: []int{0, 0}},
		{name: "provider loads only, not messages quoting the word", msg: msgProviderLoaded,
			wantTimes: []string{"09:38:57.786", "09:39:12.564"}, wantTrMS: []int64{0, 0}, wantObjs: []int{50202, 50202}},
		{name: "an absent message yields nothing", msg: "never logged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := parseLogEvents(strings.NewReader(ksgwLog), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != len(tt.wantTimes) {
				t.Fatalf("%d events, want %d: %+v", len(evs), len(tt.wantTimes), evs)
			}
			for i, ev := range evs {
				if got := ev.Time.Format("15:04:05.000"); got != tt.wantTimes[i] || ev.TranslateMS != tt.wantTrMS[i] || ev.Objects != tt.wantObjs[i] {
					t.Errorf("event %d: %s translate %d objects %d", i, got, ev.TranslateMS, ev.Objects)
				}
			}
		})
	}
}

func TestChangePhases(t *testing.T) {
	at := func(ms int) time.Time {
		return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)
	}
	ev := func(ms int) publishEvent { return publishEvent{Time: at(ms)} }
	tests := []struct {
		name             string
		writes, answers  []time.Time
		loads, publishes []publishEvent
		want             *cpPhases
	}{
		{
			name:   "each change split by the first load after its write and the first publish after that load",
			writes: []time.Time{at(0), at(1000)}, answers: []time.Time{at(600), at(1900)},
			loads:     []publishEvent{ev(-500), ev(200), ev(1300)},
			publishes: []publishEvent{ev(-400), ev(350), ev(1500)},
			// change 1: 200 / 150 / 250; change 2: 300 / 200 / 400; medians (nearest rank) of two.
			want: &cpPhases{Changes: 2, Load: 200, Translate: 150, Deliver: 250},
		},
		{
			name:   "a publish after the answer belongs to a later change: left out",
			writes: []time.Time{at(0)}, answers: []time.Time{at(100)},
			loads: []publishEvent{ev(50)}, publishes: []publishEvent{ev(150)},
		},
		{
			name:   "no load logged after the write: left out",
			writes: []time.Time{at(1000)}, answers: []time.Time{at(2000)},
			loads: []publishEvent{ev(10)}, publishes: []publishEvent{ev(20)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := changePhases(tt.writes, tt.answers, tt.loads, tt.publishes)
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
