package k8s

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/infra"
	"github.com/ksgw/ksgw/internal/testing/echo"
)

// controllerNamespace is the controller's namespace in every test: the
// cluster gateway's and the leader Lease's.
const controllerNamespace = "ksgw-system"

// ip returns an address of this suite's loopback range, 127.0.5.0/24.
func ip(host int) string { return "127.0.5." + strconv.Itoa(host) }

// freePort returns a TCP port that was free on host a moment ago.
func freePort(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// eventually retries fn every 20ms until it succeeds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not met within %s: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// process is a child process stopped at the end of the test that started
// it; its output is printed when that test failed.
type process struct {
	name string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error // valid after done
}

func startProcess(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{name: name, logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(env.bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		// With KSGW_K8S_RACE the binary has the race detector, which
		// reports on stderr and lets the process go on.
		if strings.Contains(p.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("%s: the race detector reported a data race", p.name)
		}
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", p.name, tail(p.logs.String(), 60))
		}
	})
	return p
}

// stop sends sig and waits for the exit (SIGKILL after 20s).
func (p *process) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// controllerProc is a running `ksgw controller`.
type controllerProc struct {
	*process
	xds     string // ADS address
	health  string // base URL of /healthz, /readyz
	metrics string // base URL of /metrics
}

// startController runs `ksgw controller` with short leader-election timings
// (the defaults are 15s/10s/2s; a hand-over here takes about a second when
// the leader releases the lease, at most leaseDuration when it crashed).
func startController(t *testing.T, name, xdsAddr string) *controllerProc {
	t.Helper()
	health := net.JoinHostPort(ip(1), strconv.Itoa(freePort(t, ip(1))))
	metrics := net.JoinHostPort(ip(1), strconv.Itoa(freePort(t, ip(1))))
	p := startProcess(t, name, "controller",
		"--kubeconfig", env.kubeconfig,
		"--namespace", controllerNamespace,
		"--xds-address", xdsAddr,
		"--xds-auth", "serviceaccount",
		"--leader-elect",
		"--leader-elect-lease-duration", "4s",
		"--leader-elect-renew-deadline", "3s",
		"--leader-elect-retry-period", "500ms",
		"--health-address", health,
		"--metrics-address", metrics,
		"--proxy-image", "ghcr.io/ksgw/ksgw:test",
		"--proxy-xds-server", "ksgw-controller."+controllerNamespace+".svc:18000",
		"--log-level", "debug",
	)
	c := &controllerProc{process: p, xds: xdsAddr, health: "http://" + health, metrics: "http://" + metrics}
	// Registered after startProcess's cleanup, so it runs first, while the
	// logs are complete up to now. The controller runs with config/rbac's
	// roles: a refused request means the manifests lack a rule.
	t.Cleanup(func() {
		for _, line := range strings.Split(p.logs.String(), "\n") {
			if strings.Contains(line, "forbidden") {
				t.Errorf("%s was refused by the API server (config/rbac lacks a rule?): %s", name, line)
				break
			}
		}
	})
	eventually(t, 60*time.Second, func() error {
		if c.exited() {
			return fmt.Errorf("%s exited: %v", name, c.err)
		}
		return httpOK(c.health + "/readyz")
	})
	return c
}

// reconciles returns how many reconciles of the infrastructure controller
// succeeded, from controller-runtime's metrics.
func (c *controllerProc) reconciles() (int, error) {
	resp, err := http.Get(c.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	const series = `controller_runtime_reconcile_total{controller="gateway-infrastructure",result="success"} `
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", strings.TrimSpace(series))
}

func httpOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return nil
}

// proxyProc is a running `ksgw proxy`.
type proxyProc struct {
	*process
	admin string
}

// startProxy runs `ksgw proxy` for gateway gw the way its Deployment would:
// the node ID from the Deployment's arguments, a token of the Deployment's
// ServiceAccount for the audience of its projected volume. It waits for
// /ready (the first configuration applied) unless waitReady is false.
func startProxy(t *testing.T, gw types.NamespacedName, xds string, waitReady bool) *proxyProc {
	t.Helper()
	nodeID, sa, audience := deploymentIdentity(t, gw)
	return startProxyAs(t, nodeID, tokenFile(t, gw.Namespace, sa, audience), xds, waitReady)
}

func startProxyAs(t *testing.T, nodeID, tokenFile, xds string, waitReady bool) *proxyProc {
	t.Helper()
	admin := net.JoinHostPort(ip(1), strconv.Itoa(freePort(t, ip(1))))
	p := startProcess(t, "proxy "+nodeID, "proxy",
		"--xds-server", xds,
		"--node-id", nodeID,
		"--token-file", tokenFile,
		"--admin-address", admin,
		"--drain-timeout", "2s",
		"--access-log", "off",
	)
	pp := &proxyProc{process: p, admin: "http://" + admin}
	if waitReady {
		eventually(t, 30*time.Second, func() error {
			if pp.exited() {
				return fmt.Errorf("proxy exited: %v", pp.err)
			}
			return httpOK(pp.admin + "/ready")
		})
	}
	return pp
}

// deploymentIdentity waits for the controller to create gw's Deployment and
// reads from it what a kubelet would: the proxy's --node-id, its
// ServiceAccount and the audience of its projected token.
func deploymentIdentity(t *testing.T, gw types.NamespacedName) (nodeID, serviceAccount, audience string) {
	t.Helper()
	ctx := context.Background()
	eventually(t, 30*time.Second, func() error {
		d := &appsv1.Deployment{}
		if err := env.client.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: infra.ObjectName(gw.Name)}, d); err != nil {
			return err
		}
		args := d.Spec.Template.Spec.Containers[0].Args
		if i := slices.Index(args, "--node-id"); i >= 0 && i+1 < len(args) {
			nodeID = args[i+1]
		}
		serviceAccount = d.Spec.Template.Spec.ServiceAccountName
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					audience = s.ServiceAccountToken.Audience
				}
			}
		}
		if nodeID == "" || serviceAccount == "" || audience == "" {
			return fmt.Errorf("deployment %s lacks node ID, service account or token audience", d.Name)
		}
		return nil
	})
	return nodeID, serviceAccount, audience
}

// tokenFile mints a token of ServiceAccount ns/sa for audience with the
// TokenRequest API (what the kubelet does for a projected volume) and
// writes it to a file.
func tokenFile(t *testing.T, ns, sa, audience string) string {
	t.Helper()
	ctx := context.Background()
	var tok string
	eventually(t, 30*time.Second, func() error {
		acct := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}
		tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{audience}, ExpirationSeconds: ptr.To[int64](3600),
		}}
		if err := env.client.SubResource("token").Create(ctx, acct, tr); err != nil {
			return err
		}
		tok = tr.Status.Token
		return nil
	})
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// backend is an echo server on ip(host), port chosen by the kernel.
func backend(t *testing.T, name string, host int) *echo.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := echo.Start(ctx, echo.Options{Name: name, Addr: ip(host) + ":0"})
	if err != nil {
		cancel()
		t.Fatalf("backend %s: %v", name, err)
	}
	t.Cleanup(func() { s.Close(); cancel() })
	return s
}

// backends starts echo servers named names[i] on ip(hosts[i]), all on the
// same port (an EndpointSlice lists one port for all its endpoints).
func backends(t *testing.T, names []string, hosts []int) []*echo.Server {
	t.Helper()
	first := backend(t, names[0], hosts[0])
	_, port := hostPort(t, first.Addr())
	out := []*echo.Server{first}
	for i := 1; i < len(names); i++ {
		out = append(out, backendOn(t, names[i], ip(hosts[i]), port))
	}
	return out
}

// backendOn starts an echo server on host:port.
func backendOn(t *testing.T, name, host string, port int32) *echo.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := echo.Start(ctx, echo.Options{Name: name, Addr: net.JoinHostPort(host, strconv.Itoa(int(port)))})
	if err != nil {
		cancel()
		t.Fatalf("backend %s on %s:%d: %v", name, host, port, err)
	}
	t.Cleanup(func() { s.Close(); cancel() })
	return s
}

func hostPort(t testing.TB, addr string) (string, int32) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, int32(n)
}

// --- objects ---

func namespace(t *testing.T, name string) {
	t.Helper()
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

func create(t *testing.T, o client.Object) {
	t.Helper()
	if err := env.client.Create(context.Background(), o); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
	}
}

// fromYAML decodes a manifest into a typed object.
func fromYAML[T any, PT interface {
	*T
	client.Object
}](t testing.TB, doc string) PT {
	t.Helper()
	o := PT(new(T))
	if err := yaml.UnmarshalStrict([]byte(doc), o); err != nil {
		t.Fatalf("%v in:\n%s", err, doc)
	}
	return o
}

// update reads key, applies mutate and writes it back, retrying on
// conflicts; it returns the written object's generation.
func update[T any, PT interface {
	*T
	client.Object
}](t testing.TB, key types.NamespacedName, mutate func(PT)) PT {
	t.Helper()
	o := PT(new(T))
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := env.client.Get(context.Background(), key, o); err != nil {
			return err
		}
		mutate(o)
		return env.client.Update(context.Background(), o)
	})
	if err != nil {
		t.Fatalf("update %T %s: %v", o, key, err)
	}
	return o
}

// service creates a ClusterIP Service named name with one port "http" (80)
// and, since no EndpointSlice controller runs, its EndpointSlice listing
// the given echo servers (ready). Pods with labels are created per backend
// so that DestinationRule subsets can select them; podLabels[i] labels
// backend i.
func service(t *testing.T, ns, name string, backends []*echo.Server, podLabels []map[string]string) {
	t.Helper()
	create(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	})
	var eps []discoveryv1.Endpoint
	var port int32
	for i, b := range backends {
		h, p := hostPort(t, b.Addr())
		if i > 0 && p != port {
			// An EndpointSlice has one port list for all its endpoints.
			t.Fatalf("service %s/%s: backends on ports %d and %d; start them with backends()", ns, name, port, p)
		}
		port = p
		labels := map[string]string{"app": name}
		if i < len(podLabels) {
			for k, v := range podLabels[i] {
				labels[k] = v
			}
		}
		pod := fmt.Sprintf("%s-%d", name, i)
		runningPod(t, ns, pod, h, labels)
		eps = append(eps, endpoint(h, pod, true))
	}
	endpointSlice(t, ns, name, port, eps)
}

func endpoint(addr, pod string, ready bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}
	if pod != "" {
		e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: pod}
	}
	return e
}

// runningPod creates a Pod and reports it running and ready at podIP, as a
// kubelet would (Pod status accepts loopback addresses).
func runningPod(t *testing.T, ns, name, podIP string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "echo", Image: "ksgw-echo"}}},
	}
	create(t, p)
	p.Status = corev1.PodStatus{
		Phase:  corev1.PodRunning,
		PodIP:  podIP,
		PodIPs: []corev1.PodIP{{IP: podIP}},
		Conditions: []corev1.PodCondition{{
			Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(),
		}},
	}
	if err := env.client.Status().Update(ctx, p); err != nil {
		t.Fatalf("pod %s/%s status: %v", ns, name, err)
	}
}

// endpointSlice creates (or replaces) the EndpointSlice of Service ns/svc.
func endpointSlice(t *testing.T, ns, svc string, port int32, eps []discoveryv1.Endpoint) {
	t.Helper()
	ctx := context.Background()
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc,
			discoveryv1.LabelManagedBy:   "ksgw-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if err := env.client.Create(ctx, es); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	setEndpoints(t, ns, svc, port, eps)
}

// setEndpoints rewrites the endpoints of an EndpointSlice. The API server
// refuses loopback addresses in EndpointSlices (ValidateEndpointIP: "may
// not be in the loopback range"), which a real EndpointSlice controller
// never writes but which are the only addresses this sandbox can reach.
// So the slice is created through the API (metadata, defaults, admission)
// and its endpoints are then written into etcd directly, in the API
// server's own storage encoding. The API server watches etcd and serves
// and streams the new version like any other: the controller reads it
// through the same informer as in a cluster.
func setEndpoints(t *testing.T, ns, name string, port int32, eps []discoveryv1.Endpoint) {
	t.Helper()
	ctx := context.Background()
	key := "/registry/endpointslices/" + ns + "/" + name
	es := &discoveryv1.EndpointSlice{}
	if err := env.etcd.getObject(ctx, key, es); err != nil {
		t.Fatal(err)
	}
	es.Endpoints = eps
	es.Ports[0].Port = ptr.To(port)
	if err := env.etcd.putObject(ctx, key, es, discoveryv1.SchemeGroupVersion); err != nil {
		t.Fatal(err)
	}
	want := len(eps)
	eventually(t, 10*time.Second, func() error {
		got := &discoveryv1.EndpointSlice{}
		if err := env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, got); err != nil {
			return err
		}
		if len(got.Endpoints) != want || (want > 0 && !slices.Equal(got.Endpoints[0].Addresses, eps[0].Addresses)) {
			return fmt.Errorf("API server still serves %d endpoints", len(got.Endpoints))
		}
		return nil
	})
}

// etcdKV talks to etcd's JSON gateway (/v3/kv/*), which etcd serves on its
// client URL; no etcd client library needed.
type etcdKV struct {
	url    string
	scheme *runtime.Scheme
}

func (e *etcdKV) call(ctx context.Context, path string, req, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: %d %s", path, res.StatusCode, body)
	}
	return json.Unmarshal(body, resp)
}

func (e *etcdKV) getObject(ctx context.Context, key string, into runtime.Object) error {
	var resp struct {
		KVs []struct {
			Value []byte `json:"value"` // base64 in JSON: decoded by encoding/json
		} `json:"kvs"`
	}
	if err := e.call(ctx, "/v3/kv/range", map[string]string{"key": base64.StdEncoding.EncodeToString([]byte(key))}, &resp); err != nil {
		return err
	}
	if len(resp.KVs) != 1 {
		return fmt.Errorf("etcd key %s: %d values", key, len(resp.KVs))
	}
	codecs := serializer.NewCodecFactory(e.scheme)
	_, _, err := codecs.UniversalDeserializer().Decode(resp.KVs[0].Value, nil, into)
	return err
}

func (e *etcdKV) putObject(ctx context.Context, key string, obj runtime.Object, gv runtime.GroupVersioner) error {
	codecs := serializer.NewCodecFactory(e.scheme)
	enc := codecs.EncoderForVersion(protobuf.NewSerializer(e.scheme, e.scheme), gv)
	var buf bytes.Buffer
	if err := enc.Encode(obj, &buf); err != nil {
		return err
	}
	var resp map[string]any
	return e.call(ctx, "/v3/kv/put", map[string]string{
		"key":   base64.StdEncoding.EncodeToString([]byte(key)),
		"value": base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, &resp)
}

// --- traffic ---

// client with keep-alive, as a load balancer in front of the proxies would.
var httpClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
}

// result is one request through a proxy.
type result struct {
	status int
	name   string // echo backend name; "" when the answer was not an echo
	header http.Header
	reply  echo.Reply
}

func request(url, host string, hdr map[string]string) (result, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return result{}, err
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return result{}, err
	}
	r := result{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && resp.StatusCode == http.StatusOK {
		rep, err := echo.ReadReply(resp)
		if err != nil {
			return r, err
		}
		r.name, r.reply = rep.Name, rep
		return r, nil
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return r, nil
}

// waitFor polls url until a request for host is answered by backend want
// ("" with status wantStatus for a non-echo answer).
func waitFor(t *testing.T, url, host, want string, wantStatus int) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		r, err := request(url, host, nil)
		if err != nil {
			return err
		}
		if r.status != wantStatus || r.name != want {
			return fmt.Errorf("host %s: got %d from %q, want %d from %q", host, r.status, r.name, wantStatus, want)
		}
		return nil
	})
}

// split sends n requests and counts answers per backend; any failure is
// fatal.
func split(t *testing.T, url, host string, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for range n {
		r, err := request(url, host, nil)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("request to %s: %v (status %d)", host, err, r.status)
		}
		out[r.name]++
	}
	return out
}

// load sends requests from workers until stopped and counts every outcome.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	byName     map[string]int
	firstErr   error
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(url, host string, workers int) *load {
	l := &load{byName: map[string]int{}, stop: make(chan struct{})}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				r, err := request(url, host, nil)
				l.mu.Lock()
				if err != nil || r.status != http.StatusOK {
					l.failed.Add(1)
					if l.firstErr == nil {
						l.firstErr = fmt.Errorf("status %d: %v", r.status, err)
					}
				} else {
					l.ok.Add(1)
					l.byName[r.name]++
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// snapshot returns and resets the per-backend counts.
func (l *load) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.byName
	l.byName = map[string]int{}
	return out
}

func (l *load) finish() (ok, failed int64, firstErr error) {
	close(l.stop)
	l.wg.Wait()
	return l.ok.Load(), l.failed.Load(), l.firstErr
}

// --- status ---

// condition returns the condition of type typ, or an error naming what is
// there instead.
func condition(conds []metav1.Condition, typ string) (metav1.Condition, error) {
	for _, c := range conds {
		if c.Type == typ {
			return c, nil
		}
	}
	return metav1.Condition{}, fmt.Errorf("no %s condition in %v", typ, conds)
}

// waitConditions waits until the object's status has observedGeneration ≥
// its generation and the given conditions with the given statuses (and
// reasons, when non-empty: "True", "False:Reason").
func waitConditions[T any, PT interface {
	*T
	client.Object
}](t *testing.T, key types.NamespacedName, status func(PT) v1alpha1.ObjectStatus, want map[string]string) PT {
	t.Helper()
	o := PT(new(T))
	eventually(t, 20*time.Second, func() error {
		if err := env.client.Get(context.Background(), key, o); err != nil {
			return err
		}
		st := status(o)
		if st.ObservedGeneration != o.GetGeneration() {
			return fmt.Errorf("%s: observedGeneration %d, generation %d", key, st.ObservedGeneration, o.GetGeneration())
		}
		for typ, w := range want {
			c, err := condition(st.Conditions, typ)
			if err != nil {
				return err
			}
			ws, wr, _ := strings.Cut(w, ":")
			if string(c.Status) != ws || (wr != "" && c.Reason != wr) {
				return fmt.Errorf("%s: %s=%s %s (%s), want %s", key, typ, c.Status, c.Reason, c.Message, w)
			}
			if c.ObservedGeneration != o.GetGeneration() {
				return fmt.Errorf("%s: %s observedGeneration %d, generation %d", key, typ, c.ObservedGeneration, o.GetGeneration())
			}
		}
		return nil
	})
	return o
}

func routeStatus(r *v1alpha1.Route) v1alpha1.ObjectStatus     { return r.Status.ObjectStatus }
func gatewayStatus(g *v1alpha1.Gateway) v1alpha1.ObjectStatus { return g.Status.ObjectStatus }

var allTrue = map[string]string{"Accepted": "True", "ResolvedRefs": "True", "Programmed": "True"}

// selfSigned returns a self-signed certificate for host and its key, PEM.
func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func x509Pool(caPEM []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(caPEM)
	return p
}

// proxyInfo is the proxy's /server_info.
type proxyInfo struct {
	Node         string `json:"node"`
	State        string `json:"state"`
	XDSState     string `json:"xds_state"`
	LastXDSError string `json:"last_xds_error"`
}

func serverInfo(admin string) (proxyInfo, error) {
	var info proxyInfo
	resp, err := http.Get(admin + "/server_info")
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	return info, json.NewDecoder(resp.Body).Decode(&info)
}
