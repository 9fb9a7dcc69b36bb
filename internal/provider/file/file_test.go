package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ksgw/ksgw/internal/resource"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait; generous because CI machines are small.
const waitTimeout = 10 * time.Second

func route(ns, name, host string, weight int) string {
	return fmt.Sprintf("apiVersion: networking.kubesphere.io/v1alpha1\nkind: Route\nmetadata: {name: %s, namespace: %s}\n"+
		"spec:\n  http:\n  - route:\n    - destination: {host: %s}\n      weight: %d\n", name, ns, host, weight)
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// harness runs a Provider over a temporary directory for one test and stops
// it, checking Run's result, when the test ends.
type harness struct {
	t   *testing.T
	dir string
	p   *Provider
}

func start(t *testing.T, dir string, interval time.Duration) *harness {
	t.Helper()
	p, err := New(Options{Dir: dir, Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Error("Run did not return after cancel")
		}
	})
	return &harness{t: t, dir: dir, p: p}
}

// await returns the first snapshot that satisfies ok.
func (h *harness) await(what string, ok func(Snapshot) bool) Snapshot {
	h.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case s, open := <-h.p.Updates():
			if !open {
				h.t.Fatalf("updates closed while waiting for %s", what)
			}
			if ok(s) {
				return s
			}
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// weightOf returns the weight of route ns/name's first destination, or -1.
func weightOf(s Snapshot, ns, name string) int32 {
	for _, r := range s.Resources.Routes {
		if r.Namespace == ns && r.Name == name {
			return r.Spec.HTTP[0].Route[0].Weight
		}
	}
	return -1
}

func hasRoute(ns, name string) func(Snapshot) bool {
	return func(s Snapshot) bool { return weightOf(s, ns, name) >= 0 }
}

func hasWeight(ns, name string, w int32) func(Snapshot) bool {
	return func(s Snapshot) bool { return weightOf(s, ns, name) == w }
}

func TestInitialStateIsPublishedAtOnce(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "r.yaml"), route("ns", "r", "a", 1))
	// A window far longer than the wait proves the first load is not batched.
	h := start(t, dir, time.Hour)
	s := h.await("initial route", hasRoute("ns", "r"))
	if len(s.Errors) != 0 || s.Hash == "" {
		t.Errorf("errors %v hash %q", s.Errors, s.Hash)
	}
}

func TestEditIsPickedUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.yaml")
	write(t, path, route("ns", "r", "a", 1))
	h := start(t, dir, 20*time.Millisecond)
	h.await("initial", hasWeight("ns", "r", 1))
	write(t, path, route("ns", "r", "a", 2))
	h.await("edited weight", hasWeight("ns", "r", 2))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	h.await("removal", func(s Snapshot) bool { return s.Resources.Len() == 0 })
}

func TestMalformedFileIsReportedAndOthersDelivered(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "good.yaml"), route("ns", "good", "a", 1))
	h := start(t, dir, 20*time.Millisecond)
	h.await("good route", hasRoute("ns", "good"))
	write(t, filepath.Join(dir, "bad.yaml"), "kind: [unclosed\n")
	write(t, filepath.Join(dir, "typo.yaml"), strings.Replace(route("ns", "typo", "a", 1), "weight", "wieght", 1))
	s := h.await("errors", func(s Snapshot) bool { return len(s.Errors) == 2 })
	if weightOf(s, "ns", "good") != 1 {
		t.Errorf("good route lost: %v", s.Resources.Routes)
	}
	var msgs []string
	for _, e := range s.Errors {
		msgs = append(msgs, e.Error())
	}
	want := []string{
		"file bad.yaml doc 1: invalid YAML: line 1: did not find expected ',' or ']'",
		`file typo.yaml doc 1: Route ns/typo: unknown field "spec.http[0].route[0].wieght"`,
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n got  %q\n want %q", msgs, want)
	}
}

func TestBurstOfEditsIsBatched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.yaml")
	write(t, path, route("ns", "r", "a", 0))
	h := start(t, dir, 300*time.Millisecond)
	h.await("initial", hasWeight("ns", "r", 0))
	before := h.p.Published()
	for i := 1; i <= 50; i++ {
		write(t, path, route("ns", "r", "a", i))
	}
	h.await("last edit", hasWeight("ns", "r", 50))
	// The window is not reset by further events, so a burst that straddles
	// its end costs one more reload; 50 reloads would mean no batching.
	if n := h.p.Published() - before; n < 1 || n > 3 {
		t.Errorf("burst of 50 edits published %d snapshots, want 1..3", n)
	}
}

func TestIdenticalContentIsNotRepublished(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.yaml")
	write(t, path, route("ns", "r", "a", 1))
	h := start(t, dir, 20*time.Millisecond)
	h.await("initial", hasWeight("ns", "r", 1))
	before := h.p.Published()
	// Same content, then the same objects reformatted with a comment: both
	// trigger reloads with unchanged content. Written by rename, so that no
	// reload can see a truncated file (which is a different content).
	replace := func(data string) {
		tmp := filepath.Join(dir, ".r.yaml.tmp")
		write(t, tmp, data)
		must(t, os.Rename(tmp, path))
	}
	replace(route("ns", "r", "a", 1))
	replace("# reformatted\n" + route("ns", "r", "a", 1))
	// A visible change afterwards is the event to await: when it arrives,
	// the earlier reloads are done, and only it may have been published.
	write(t, filepath.Join(dir, "marker.yaml"), route("ns", "marker", "a", 1))
	h.await("marker", hasRoute("ns", "marker"))
	if n := h.p.Published() - before; n != 1 {
		t.Errorf("published %d snapshots, want 1 (identical content republished)", n)
	}
}

func TestRenameOnSaveIsPickedUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.yaml")
	write(t, path, route("ns", "r", "a", 1))
	h := start(t, dir, 20*time.Millisecond)
	h.await("initial", hasWeight("ns", "r", 1))
	// What vim (backupcopy=no), JetBrains IDEs and `sed -i` do: write a
	// temporary file beside the target, then rename it over the target.
	for i, tmp := range []string{".r.yaml.swp", "r.yaml.tmp", "4913"} {
		write(t, filepath.Join(dir, tmp), route("ns", "r", "a", 10+i))
		if err := os.Rename(filepath.Join(dir, tmp), path); err != nil {
			t.Fatal(err)
		}
		h.await(fmt.Sprintf("renamed save %d", i), hasWeight("ns", "r", int32(10+i)))
	}
}

func TestNewSubdirectoriesAreWatched(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir, 20*time.Millisecond)
	h.await("initial empty", func(s Snapshot) bool { return s.Resources.Len() == 0 })
	// MkdirAll and a write at once: the file exists before any watch on
	// the new directories could have been added.
	deep := filepath.Join(dir, "tenants", "a", "routes")
	write(t, filepath.Join(deep, "r.yaml"), route("a", "r", "x", 1))
	h.await("route in new subdirectory", hasWeight("a", "r", 1))
	// An edit inside the new directory proves it is watched now.
	write(t, filepath.Join(deep, "r.yaml"), route("a", "r", "x", 2))
	h.await("edit in new subdirectory", hasWeight("a", "r", 2))
	// A directory moved within the tree keeps being watched under its new
	// name. The move itself changes no content, so it publishes nothing.
	moved := filepath.Join(dir, "tenants", "b")
	if err := os.Rename(filepath.Join(dir, "tenants", "a"), moved); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(moved, "routes", "r.yaml"), route("a", "r", "x", 3))
	h.await("edit in moved directory", hasWeight("a", "r", 3))
}

// TestConfigMapVolumeSwapIsPickedUp reproduces the kubelet's atomic update of
// a ConfigMap volume (pkg/volume/util/atomic_writer.go): the data lives in a
// timestamped directory, "..data" links to it, each key links into "..data";
// an update writes a new directory and renames a new "..data" link over the
// old one.
func TestConfigMapVolumeSwapIsPickedUp(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "..2026_01_01_00_00_00.1", "r.yaml"), route("ns", "r", "a", 1))
	must(t, os.Symlink("..2026_01_01_00_00_00.1", filepath.Join(dir, "..data")))
	must(t, os.Symlink(filepath.Join("..data", "r.yaml"), filepath.Join(dir, "r.yaml")))
	h := start(t, dir, 20*time.Millisecond)
	s := h.await("initial", hasWeight("ns", "r", 1))
	if len(s.Errors) != 0 || len(s.Resources.Routes) != 1 {
		t.Fatalf("hidden directories read: %d routes, errors %v", len(s.Resources.Routes), s.Errors)
	}
	write(t, filepath.Join(dir, "..2026_01_01_00_01_00.2", "r.yaml"), route("ns", "r", "a", 2))
	must(t, os.Symlink("..2026_01_01_00_01_00.2", filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	must(t, os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_00.1")))
	h.await("swapped data", hasWeight("ns", "r", 2))
}

func TestRemovedDirectoryStopsRunWithError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	write(t, filepath.Join(dir, "r.yaml"), route("ns", "r", "a", 1))
	p, err := New(Options{Dir: dir, Interval: 20 * time.Millisecond})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-p.Updates()
	must(t, os.RemoveAll(dir))
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "removed or renamed") {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return")
	}
	if _, open := <-p.Updates(); open {
		t.Error("updates not closed after Run returned")
	}
}

func TestRunFailsOnMissingDirectory(t *testing.T) {
	p, err := New(Options{Dir: filepath.Join(t.TempDir(), "missing")})
	must(t, err)
	if err := p.Run(context.Background()); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Run: %v", err)
	}
}

func TestSlowConsumerGetsLatestState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.yaml")
	write(t, path, route("ns", "r", "a", 1))
	h := start(t, dir, 10*time.Millisecond)
	// Nobody reads while several distinct states are published: the watcher
	// must not block, and the reader then finds the latest.
	for i := 2; i <= 5; i++ {
		want := h.p.Published() + 1
		write(t, path, route("ns", "r", "a", i))
		deadline := time.Now().Add(waitTimeout)
		for h.p.Published() < want {
			if time.Now().After(deadline) {
				t.Fatalf("publish %d never happened: watcher blocked by an unread snapshot?", i)
			}
			time.Sleep(5 * time.Millisecond) // polling a counter, not synchronising
		}
	}
	select {
	case s := <-h.p.Updates():
		if w := weightOf(s, "ns", "r"); w != 5 {
			t.Errorf("unread snapshot has weight %d, want the latest, 5", w)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no snapshot")
	}
}

func TestHashIgnoresFormattingButNotContent(t *testing.T) {
	contentHash := func(fsys fs.FS) string {
		var c resource.Cache
		resource.LoadCached(fsys, resource.Options{}, &c)
		return c.ContentHash()
	}
	ha := contentHash(mapFS("r.yaml", route("ns", "r", "a", 1)))
	hb := contentHash(mapFS("other.yml", "# comment\n"+route("ns", "r", "a", 1)))
	hc := contentHash(mapFS("r.yaml", route("ns", "r", "a", 2)))
	if ha != hb || ha == hc {
		t.Errorf("hashes a=%s b=%s c=%s: want a==b!=c", ha, hb, hc)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
