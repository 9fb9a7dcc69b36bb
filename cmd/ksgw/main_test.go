package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestValidateNamesKindObjectAndField(t *testing.T) {
	out, err := run(t, "validate", "--config", "testdata/invalid", "--log-level", "error")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("validate error = %v, want exit status 1", err)
	}
	for _, want := range []string{
		"file broken.yaml doc 1: invalid YAML: line 3",
		"Route shop/bad-regex: spec.http[0].match[0].uri.regex: invalid RE2 regular expression",
		"Route shop/negative-weight: spec.http[0].route[1].weight: must be >= 0",
		`Route shop/unknown-subset: spec.http[0].route[0].destination: subset "v9" of Service shop/web is not defined by any DestinationRule`,
		"Route shop/missing-service: spec.http[0].route[0].destination: Service shop/nosuch not found",
	} {
		if !strings.Contains(out, want+"") {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}

func TestQuickstartValidatesAndTranslates(t *testing.T) {
	out, err := run(t, "validate", "--config", "../../examples/quickstart", "--namespace", "tenant-a")
	if err != nil || !strings.Contains(out, "ok: 1 gateway(s)") {
		t.Fatalf("validate quickstart: %v\n%s", err, out)
	}
	out, err = run(t, "validate", "--config", "../../examples/quickstart", "--namespace", "tenant-a", "--status")
	if err != nil || !strings.Contains(out, "Route tenant-a/product-canary: Programmed=True") {
		t.Fatalf("validate --status: %v\n%s", err, out)
	}
	out, err = run(t, "translate", "--config", "../../examples/quickstart", "--namespace", "tenant-a", "--gateway", "tenant-a/tenant-gateway")
	if err != nil {
		t.Fatalf("translate: %v\n%s", err, out)
	}
	doc := out[strings.Index(out, "---\n")+4:]
	var x struct {
		Listeners []map[string]any `json:"listeners"`
		Routes    []map[string]any `json:"routes"`
		Clusters  []map[string]any `json:"clusters"`
		Endpoints []map[string]any `json:"endpoints"`
		Secrets   []map[string]any `json:"secrets"`
	}
	if err := yaml.Unmarshal([]byte(doc), &x); err != nil {
		t.Fatalf("translate output is not YAML: %v", err)
	}
	if len(x.Listeners) != 2 || len(x.Routes) != 2 || len(x.Clusters) != 2 || len(x.Endpoints) != 2 || len(x.Secrets) != 1 {
		t.Fatalf("quickstart xDS: %d listeners, %d routes, %d clusters, %d endpoints, %d secrets; want 2, 2, 2, 2, 1",
			len(x.Listeners), len(x.Routes), len(x.Clusters), len(x.Endpoints), len(x.Secrets))
	}
	if strings.Contains(out, "PRIVATE KEY") || !strings.Contains(out, "[redacted]") {
		t.Fatalf("translate printed a private key")
	}
	for _, w := range []string{"weight: 90", "weight: 10", "tenant-a/product-v1/80/v1", "tenant-a/product-v2/80/v2"} {
		if !strings.Contains(out, w) {
			t.Errorf("translate output lacks %q", w)
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	tests := [][]string{
		{"validate"},
		{"translate", "--config", "testdata/nosuchdir"},
		{"translate", "--config", "testdata/invalid", "-o", "xml"},
		{"proxy", "--xds-server", "127.0.0.1:1", "--node-id", "no-slash"},
	}
	for _, args := range tests {
		_, err := run(t, args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: error %v, want exit status 2", args, err)
		}
	}
}
