package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ksgw/ksgw/internal/controller"
	xdsserver "github.com/ksgw/ksgw/internal/xds/server"
)

func newControllerCommand() *cobra.Command {
	var (
		opts       controller.Options
		kubeconfig string
		tokensFile string
		pullPolicy string
		authMode   string
	)
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "run the control plane in a cluster: watch the API server, write status, create each Gateway's proxies, serve xDS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Namespace == "" {
				return &exitError{2, errors.New("--namespace is required (or set POD_NAMESPACE)")}
			}
			if opts.Infra.Image == "" {
				return &exitError{2, errors.New("--proxy-image is required")}
			}
			if opts.Infra.XDSServer == "" {
				opts.Infra.XDSServer = "ksgw-controller." + opts.Namespace + ".svc:18000"
			}
			cfg, err := restConfig(kubeconfig)
			if err != nil {
				return err
			}
			opts.RESTConfig = cfg
			opts.Infra.ImagePullPolicy = corev1.PullPolicy(pullPolicy)
			switch authMode {
			case "serviceaccount":
				if tokensFile != "" {
					return &exitError{2, errors.New("--xds-tokens needs --xds-auth static")}
				}
			case "static":
				if tokensFile == "" {
					return &exitError{2, errors.New("--xds-auth static needs --xds-tokens")}
				}
				tokens, err := readTokens(tokensFile)
				if err != nil {
					return &exitError{2, err}
				}
				opts.Authenticator = xdsserver.NewTokenAuthenticator(tokens)
			default:
				return &exitError{2, fmt.Errorf("--xds-auth %q: want serviceaccount or static", authMode)}
			}
			logger := loggerFrom(cmd.Context())
			// controller-runtime and client-go (leader election) log through
			// their own package loggers; route them to ours. Process-wide,
			// hence here in main and nowhere else.
			ctrllog.SetLogger(logr.FromSlogHandler(logger.Handler()))
			klog.SetSlogLogger(logger)
			opts.Logger = logger
			return controller.Run(cmd.Context(), opts)
		},
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "ksgw-system"
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file; default: in-cluster config, else $KUBECONFIG or ~/.kube/config")
	f.StringVar(&opts.Namespace, "namespace", ns, "the controller's namespace: the cluster gateway's and the leader Lease's")
	f.StringVar(&opts.XDSAddress, "xds-address", ":18000", "ADS server listen address")
	f.StringVar(&authMode, "xds-auth", "serviceaccount", "how proxies authenticate to the ADS server: serviceaccount (TokenReview of their projected ServiceAccount token) or static (--xds-tokens)")
	f.StringVar(&tokensFile, "xds-tokens", "", "with --xds-auth static: file of 'NAMESPACE/NAME TOKEN' lines, the bearer token of each gateway's proxies")
	f.StringVar(&opts.Infra.TokenAudience, "xds-token-audience", "ksgw-xds", "audience of the proxies' projected ServiceAccount token")
	f.BoolVar(&opts.LeaderElect, "leader-elect", true, "elect a leader among replicas; only the leader writes status and infrastructure")
	f.DurationVar(&opts.LeaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long a follower waits before taking over a lease that is not renewed")
	f.DurationVar(&opts.RenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader retries renewing before giving up leadership")
	f.DurationVar(&opts.RetryPeriod, "leader-elect-retry-period", 2*time.Second, "interval between lease attempts")
	f.StringVar(&opts.MetricsAddress, "metrics-address", ":9102", "Prometheus metrics listen address; 0 disables")
	f.StringVar(&opts.HealthAddress, "health-address", ":8081", "/healthz and /readyz listen address; 0 disables")
	f.DurationVar(&opts.UpdateInterval, "update-interval", time.Second, "longest batch window for changes (DESIGN xds.update.interval); an isolated change is published after 100ms")
	f.StringVar(&opts.Infra.Image, "proxy-image", "", "image of the gateways' proxy Deployments (runs `ksgw proxy`)")
	f.StringVar(&opts.Infra.XDSServer, "proxy-xds-server", "", "host:port the proxies dial for xDS (default ksgw-controller.NAMESPACE.svc:18000)")
	f.StringVar(&pullPolicy, "proxy-image-pull-policy", "", "imagePullPolicy of the proxy containers")
	f.StringVar(&opts.Infra.LogLevel, "proxy-log-level", "", "log level of the proxies")
	f.StringSliceVar(&opts.Infra.EgressNamespaces, "proxy-egress-namespaces", nil, "namespaces every proxy may reach besides its backends (e.g. the tracing collector's), comma-separated")
	f.StringSliceVar(&opts.Infra.MetricsNamespaces, "proxy-metrics-namespaces", nil, "namespaces allowed to scrape the proxies' admin port besides the controller's, comma-separated")
	return cmd
}

// restConfig loads --kubeconfig, else the in-cluster config, else the
// kubectl default chain ($KUBECONFIG, ~/.kube/config).
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		return cfg, nil
	}
	if cfg, err := rest.InClusterConfig(); err == nil {
		return cfg, nil
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no in-cluster config and no kubeconfig: %w", err)
	}
	return cfg, nil
}

// readTokens parses 'NAMESPACE/NAME TOKEN' lines; blank lines and lines
// starting with '#' are skipped.
func readTokens(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--xds-tokens: %w", err)
	}
	tokens := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("--xds-tokens %s:%d: want 'NAMESPACE/NAME TOKEN'", path, n)
		}
		if ns, name, ok := strings.Cut(f[0], "/"); !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("--xds-tokens %s:%d: node ID %q is not NAMESPACE/NAME", path, n, f[0])
		}
		tokens[f[0]] = f[1]
	}
	return tokens, sc.Err()
}
