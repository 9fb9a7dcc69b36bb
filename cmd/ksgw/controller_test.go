package main

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestControllerUsageErrors(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("a/gw secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.5.250:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no proxy image", []string{"controller", "--kubeconfig", kubeconfig}, "--proxy-image is required"},
		{"unknown auth mode", []string{"controller", "--kubeconfig", kubeconfig, "--proxy-image", "i", "--xds-auth", "none"}, `--xds-auth "none"`},
		{"static auth without tokens", []string{"controller", "--kubeconfig", kubeconfig, "--proxy-image", "i", "--xds-auth", "static"}, "needs --xds-tokens"},
		{"tokens without static auth", []string{"controller", "--kubeconfig", kubeconfig, "--proxy-image", "i", "--xds-tokens", tokens}, "needs --xds-auth static"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, append(tt.args, "--log-level", "error")...)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want a usage error containing %q", err, tt.want)
			}
		})
	}
}

func TestReadTokens(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    map[string]string
		wantErr string
	}{
		{"pairs, comments and blank lines", "# proxies\ntenant-a/gw tok-a\n\n  tenant-b/gw   tok-b  \n", map[string]string{"tenant-a/gw": "tok-a", "tenant-b/gw": "tok-b"}, ""},
		{"a node ID without namespace", "gw tok\n", nil, `node ID "gw" is not NAMESPACE/NAME`},
		{"a line without token", "tenant-a/gw\n", nil, ":1: want 'NAMESPACE/NAME TOKEN'"},
		{"three fields", "tenant-a/gw tok extra\n", nil, ":1: want"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "tokens")
			if err := os.WriteFile(f, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readTokens(f)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("readTokens = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
