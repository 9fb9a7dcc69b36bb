// Package deploy_test checks what the Dockerfile promises without a
// container engine: the binary it builds reports the version, commit and
// date given by its -ldflags (static when built without cgo, as the
// Dockerfile does), and the image runs as a non-root user on a distroless
// base.
package deploy_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func dockerfile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDockerfileBuildsAStaticVersionedBinary(t *testing.T) {
	df := dockerfile(t)
	m := regexp.MustCompile(`-ldflags "([^"]+)"`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("no -ldflags in the Dockerfile")
	}
	ldflags := strings.NewReplacer("${VERSION}", "v9.8.7", "${COMMIT}", "abc1234", "${DATE}", "2026-01-02T03:04:05Z").Replace(m[1])
	if !strings.Contains(df, "CGO_ENABLED=0") {
		t.Error("the Dockerfile does not build with CGO_ENABLED=0: the binary would need a libc distroless/static lacks")
	}
	// Built with the Dockerfile's -ldflags but this machine's other
	// settings, so the build cache of the other tests serves: -trimpath
	// and CGO_ENABLED=0 would recompile every dependency (minutes on CI).
	// Static linking is checked on a cgo-free binary only.
	bin := filepath.Join(t.TempDir(), "ksgw")
	build := exec.Command("go", "build", "-buildvcs=false", "-ldflags", ldflags, "-o", bin, "../cmd/ksgw")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "ksgw v9.8.7 (commit abc1234, built 2026-01-02T03:04:05Z)"; got != want {
		t.Errorf("ksgw version = %q, want %q", got, want)
	}
	cgo, _ := exec.Command("go", "env", "CGO_ENABLED").Output()
	if strings.TrimSpace(string(cgo)) != "0" {
		return
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
}

func TestImageRunsAsNonRootOnDistroless(t *testing.T) {
	df := dockerfile(t)
	lines := strings.Split(df, "\n")
	var lastFrom, user string
	for _, l := range lines {
		if strings.HasPrefix(l, "FROM ") {
			lastFrom, user = l, ""
		}
		if strings.HasPrefix(l, "USER ") {
			user = strings.TrimSpace(strings.TrimPrefix(l, "USER "))
		}
	}
	if !strings.Contains(lastFrom, "distroless/static") || !strings.HasSuffix(lastFrom, ":nonroot") {
		t.Errorf("final stage %q: want gcr.io/distroless/static-*:nonroot", lastFrom)
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("final stage USER %q: want a non-root UID (65532, the infra's runAsUser)", user)
	}
}
