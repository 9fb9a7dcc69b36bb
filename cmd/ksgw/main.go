// Command ksgw is the gateway's single binary. Each subcommand parses flags
// and calls one composition root; no wiring happens here.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Set by -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit status (validate uses 1 for invalid
// resources, 2 for usage errors).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}

func newRootCommand() *cobra.Command {
	var logLevel string
	var prof profiling
	root := &cobra.Command{
		Use:           "ksgw",
		Short:         "ksgw: a cloud-native ingress gateway driven by Envoy xDS",
		SilenceUsage:  true,
		SilenceErrors: false,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			cmd.SetContext(withLogger(cmd.Context(), logger))
			return prof.start()
		},
		PersistentPostRunE: func(*cobra.Command, []string) error { return prof.stop() },
	}
	prof.addFlags(root)
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.AddCommand(
		newStandaloneCommand(),
		newProxyCommand(),
		newControllerCommand(),
		newTranslateCommand(),
		newValidateCommand(),
		newVersionCommand(),
	)
	return root
}

type loggerKey struct{}

func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print version, commit and build date",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "ksgw %s (commit %s, built %s)\n", version, commit, date)
		},
	}
}
