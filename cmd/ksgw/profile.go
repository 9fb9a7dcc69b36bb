package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// profiling writes Go pprof profiles of a whole run: the CPU profile from
// start to a clean exit (SIGINT/SIGTERM), and an allocation profile at
// exit. It is for the benchmark's profiling rounds (bench/README.md); the
// admin listener deliberately serves no /debug/pprof.
type profiling struct {
	cpuPath, allocPath string
	cpuFile            *os.File
}

func (p *profiling) addFlags(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&p.cpuPath, "cpu-profile", "", "write a pprof CPU profile of the run to this file")
	cmd.PersistentFlags().StringVar(&p.allocPath, "alloc-profile", "", "write a pprof allocation profile to this file at exit")
}

func (p *profiling) start() error {
	if p.cpuPath == "" {
		return nil
	}
	f, err := os.Create(p.cpuPath)
	if err != nil {
		return fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpu-profile: %w", err)
	}
	p.cpuFile = f
	return nil
}

func (p *profiling) stop() error {
	if p.cpuFile != nil {
		pprof.StopCPUProfile()
		if err := p.cpuFile.Close(); err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		p.cpuFile = nil
	}
	if p.allocPath != "" {
		f, err := os.Create(p.allocPath)
		if err != nil {
			return fmt.Errorf("--alloc-profile: %w", err)
		}
		runtime.GC() // up-to-date statistics, as pprof's own handler does
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--alloc-profile: %w", err)
		}
	}
	return nil
}
