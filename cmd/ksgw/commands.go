package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ksgw/ksgw/internal/controlplane"
	"github.com/ksgw/ksgw/internal/dataplane"
	"github.com/ksgw/ksgw/internal/proxy/accesslog"
	"github.com/ksgw/ksgw/internal/resource"
	"github.com/ksgw/ksgw/internal/standalone"
	"github.com/ksgw/ksgw/internal/translate"
	xdstranslate "github.com/ksgw/ksgw/internal/xds/translate"
)

func newStandaloneCommand() *cobra.Command {
	var (
		opts      standalone.Options
		accessLog string
		alFlags   accessLogFlags
	)
	cmd := &cobra.Command{
		Use:   "standalone --config DIR",
		Short: "run the control plane over a watched directory plus a proxy per Gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.ConfigDir == "" {
				return &exitError{2, errors.New("--config is required")}
			}
			w, closeLog, err := openAccessLog(accessLog)
			if err != nil {
				return err
			}
			defer closeLog()
			opts.AccessLog = w
			if opts.AccessLogOptions, err = alFlags.options(); err != nil {
				return &exitError{2, err}
			}
			opts.Logger = loggerFrom(cmd.Context())
			return standalone.Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.ConfigDir, "config", "", "directory of YAML resources, watched recursively")
	f.StringVarP(&opts.DefaultNamespace, "namespace", "n", resource.DefaultNamespace, "namespace for objects that name none (as kubectl apply -n)")
	f.DurationVar(&opts.UpdateInterval, "update-interval", time.Second, "batch window for changes (DESIGN xds.update.interval)")
	f.StringVar(&opts.XDSAddress, "xds-address", "127.0.0.1:18000", "ADS server listen address")
	f.IntVar(&opts.AdminBasePort, "admin-base-port", 19000, "admin port of the first gateway's proxy; later gateways get the next ports")
	f.StringVar(&opts.MetricsAddress, "metrics-address", "", "serve the control plane's Prometheus metrics at /metrics on this address (e.g. 127.0.0.1:18001); empty: off")
	f.DurationVar(&opts.DrainTimeout, "drain-timeout", 15*time.Second, "how long in-flight requests may finish on shutdown")
	f.StringVar(&accessLog, "access-log", "stdout", "access log destination: stdout, stderr, off, or a file path")
	alFlags.register(f)
	return cmd
}

func newProxyCommand() *cobra.Command {
	var (
		opts      dataplane.Options
		tokenFile string
		accessLog string
		alFlags   accessLogFlags
	)
	cmd := &cobra.Command{
		Use:   "proxy --xds-server ADDR --node-id NAMESPACE/NAME",
		Short: "run one data-plane instance of a Gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.XDSServer == "" || opts.NodeID == "" {
				return &exitError{2, errors.New("--xds-server and --node-id are required")}
			}
			if ns, name, ok := strings.Cut(opts.NodeID, "/"); !ok || ns == "" || name == "" {
				return &exitError{2, fmt.Errorf("--node-id %q: must be NAMESPACE/NAME of a Gateway", opts.NodeID)}
			}
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				opts.Token = strings.TrimSpace(string(b))
				opts.TokenFile = tokenFile // re-read at each reconnect: tokens rotate
			}
			w, closeLog, err := openAccessLog(accessLog)
			if err != nil {
				return err
			}
			defer closeLog()
			opts.AccessLog = w
			if opts.AccessLogOptions, err = alFlags.options(); err != nil {
				return &exitError{2, err}
			}
			opts.Logger = loggerFrom(cmd.Context())
			return dataplane.Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.XDSServer, "xds-server", "", "ADS server address host:port")
	f.StringVar(&opts.NodeID, "node-id", "", "NAMESPACE/NAME of the Gateway this proxy serves")
	f.StringVar(&tokenFile, "token-file", "", "file holding the bearer token for the ADS server")
	f.StringVar(&opts.AdminAddress, "admin-address", "127.0.0.1:19000", "admin listener address")
	f.DurationVar(&opts.DrainTimeout, "drain-timeout", 15*time.Second, "how long in-flight requests may finish on shutdown")
	f.StringVar(&accessLog, "access-log", "stdout", "access log destination: stdout, stderr, off, or a file path")
	alFlags.register(f)
	return cmd
}

// accessLogFlags are the access-log format flags shared by standalone and
// proxy.
type accessLogFlags struct {
	format    string
	maskQuery []string
}

func (a *accessLogFlags) register(f *pflag.FlagSet) {
	f.StringVar(&a.format, "access-log-format", "", "Envoy command-operator format: a text format, or a JSON object for json_format; empty: ksgw's JSON line")
	f.StringSliceVar(&a.maskQuery, "access-log-mask-query", nil, "query parameters whose values the access log replaces by ***")
}

func (a *accessLogFlags) options() (accesslog.Options, error) {
	var o accesslog.Options
	if a.format != "" {
		f, err := accesslog.ParseFormat(a.format)
		if err != nil {
			return o, fmt.Errorf("--access-log-format: %w", err)
		}
		o.Format = f
	}
	o.MaskQueryParams = a.maskQuery
	return o, nil
}

func openAccessLog(dest string) (io.Writer, func(), error) {
	switch dest {
	case "", "off":
		return nil, func() {}, nil
	case "stdout":
		return os.Stdout, func() {}, nil
	case "stderr":
		return os.Stderr, func() {}, nil
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("--access-log: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// renderFlags are shared by translate and validate.
type renderFlags struct {
	dir       string
	namespace string
	topts     translate.Options
}

func (r *renderFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.dir, "config", "", "directory of YAML resources")
	cmd.Flags().StringVarP(&r.namespace, "namespace", "n", resource.DefaultNamespace, "namespace for objects that name none (as kubectl apply -n)")
}

func (r *renderFlags) render() (*controlplane.Rendered, error) {
	if r.dir == "" {
		return nil, &exitError{2, errors.New("--config is required")}
	}
	if st, err := os.Stat(r.dir); err != nil || !st.IsDir() {
		return nil, &exitError{2, fmt.Errorf("--config %q: not a directory", r.dir)}
	}
	return controlplane.RenderDir(r.dir, resource.Options{DefaultNamespace: r.namespace}, r.topts), nil
}

func newTranslateCommand() *cobra.Command {
	var (
		rf      renderFlags
		gateway string
		output  string
	)
	cmd := &cobra.Command{
		Use:   "translate --config DIR [--gateway NS/NAME] [-o yaml|json]",
		Short: "print the xDS the control plane would serve",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "yaml" && output != "json" {
				return &exitError{2, fmt.Errorf("-o %q: must be yaml or json", output)}
			}
			r, err := rf.render()
			if err != nil {
				return err
			}
			for _, p := range r.Problems() {
				fmt.Fprintln(cmd.ErrOrStderr(), p)
			}
			out := cmd.OutOrStdout()
			found := false
			for _, node := range r.Nodes() {
				if gateway != "" && node != gateway {
					continue
				}
				found = true
				var b []byte
				if output == "json" {
					b, err = xdstranslate.ToJSON(r.XDS[node])
				} else {
					b, err = xdstranslate.ToYAML(r.XDS[node])
				}
				if err != nil {
					return fmt.Errorf("gateway %s: %w", node, err)
				}
				if output == "yaml" {
					fmt.Fprintf(out, "# gateway %s\n---\n", node)
				}
				out.Write(b)
			}
			if gateway != "" && !found {
				return &exitError{1, fmt.Errorf("gateway %s: not found or has no valid configuration", gateway)}
			}
			return nil
		},
	}
	rf.register(cmd)
	cmd.Flags().StringVar(&gateway, "gateway", "", "only this gateway (NAMESPACE/NAME)")
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	return cmd
}

func newValidateCommand() *cobra.Command {
	var (
		rf         renderFlags
		showStatus bool
	)
	cmd := &cobra.Command{
		Use:   "validate --config DIR",
		Short: "check resources; one line per problem, non-zero exit if any",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := rf.render()
			if err != nil {
				return err
			}
			problems := r.Problems()
			for _, p := range problems {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			if showStatus {
				// The conditions a cluster would write to each object's status.
				for _, st := range r.Result.Statuses {
					for _, c := range st.Conditions {
						fmt.Fprintf(cmd.OutOrStdout(), "%s %s/%s: %s=%s %s: %s\n", st.Kind, st.Namespace, st.Name, c.Type, c.Status, c.Reason, c.Message)
					}
				}
			}
			if len(problems) > 0 {
				return &exitError{1, fmt.Errorf("%d problem(s)", len(problems))}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d gateway(s), no problems\n", len(r.Nodes()))
			return nil
		},
	}
	rf.register(cmd)
	cmd.Flags().BoolVar(&showStatus, "status", false, "also print every object's status conditions")
	return cmd
}
