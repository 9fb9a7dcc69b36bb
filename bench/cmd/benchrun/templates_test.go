package main

import (
	"os"
	"strings"
	"testing"
)

func TestProxyTemplates(t *testing.T) {
	tests := []struct {
		name    string
		tmpl    string
		params  proxyParams
		want    []string
		wantNot []string
	}{
		{
			name: "nginx HTTP/1.1 at one worker", tmpl: nginxConf, params: proxyParams{Listen: "127.0.0.1:8000", Backend: "127.0.0.1:9000"},
			want:    []string{"worker_processes 1;", "listen 127.0.0.1:8000 backlog=4096;", "proxy_pass http://backend;", "keepalive 64;"},
			wantNot: []string{"grpc_pass", "http2"},
		},
		{
			name: "nginx gRPC at two workers: h2c listener, grpc_pass, a pool for every call in flight", tmpl: nginxConf,
			params:  proxyParams{Listen: "127.0.0.1:8000", Backend: "127.0.0.1:9000", GRPC: true, Workers: 2},
			want:    []string{"worker_processes 2;", "listen 127.0.0.1:8000 http2 backlog=4096;", "grpc_pass grpc://backend;", "keepalive 512;"},
			wantNot: []string{"proxy_pass", " ssl"},
		},
		{
			name: "haproxy HTTP/1.1 at one thread", tmpl: haproxyConf, params: proxyParams{Listen: "127.0.0.1:8000", Backend: "127.0.0.1:9000"},
			want:    []string{"nbthread 1\n", "bind 127.0.0.1:8000\n", "server s1 127.0.0.1:9000\n"},
			wantNot: []string{" proto h2\n"},
		},
		{
			name: "haproxy gRPC at two threads: h2 on both sides", tmpl: haproxyConf,
			params: proxyParams{Listen: "127.0.0.1:8000", Backend: "127.0.0.1:9000", GRPC: true, Workers: 2},
			want:   []string{"nbthread 2\n", "bind 127.0.0.1:8000 proto h2\n", "server s1 127.0.0.1:9000 proto h2\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.params.Dir = t.TempDir()
			path, err := writeTemplate(tt.params, "conf", tt.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("missing %q in\n%s", w, b)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(string(b), w) {
					t.Errorf("unexpected %q in\n%s", w, b)
				}
			}
		})
	}
}
