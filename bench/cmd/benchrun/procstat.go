package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times. It is 100 on every
// Linux architecture Go supports (sysconf(_SC_CLK_TCK) would need cgo).
const clockTicks = 100

// procStat is the part of /proc/PID/stat (proc(5)) that benchrun reads.
type procStat struct {
	pid, ppid                    int
	utime, stime, cutime, cstime uint64 // clock ticks
}

// parseStat parses one /proc/PID/stat line. The command name (field 2) is in
// parentheses and may hold spaces or parentheses, so fields are counted from
// the last ')'.
func parseStat(line string) (procStat, error) {
	open := strings.IndexByte(line, '(')
	end := strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("stat %q: no command name", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return procStat{}, fmt.Errorf("stat pid: %w", err)
	}
	// After ')': field 3 (state) is rest[0]; ppid is field 4; utime, stime,
	// cutime, cstime are fields 14-17.
	rest := strings.Fields(line[end+1:])
	if len(rest) < 15 {
		return procStat{}, fmt.Errorf("stat of pid %d: %d fields after comm, want ≥ 15", pid, len(rest))
	}
	st := procStat{pid: pid}
	if st.ppid, err = strconv.Atoi(rest[1]); err != nil {
		return procStat{}, fmt.Errorf("stat of pid %d: ppid: %w", pid, err)
	}
	for i, dst := range []*uint64{&st.utime, &st.stime, &st.cutime, &st.cstime} {
		if *dst, err = strconv.ParseUint(rest[11+i], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("stat of pid %d: field %d: %w", pid, 14+i, err)
		}
	}
	return st, nil
}

// processTree returns root and all its live descendants.
func processTree(root int) ([]procStat, error) {
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	byParent := make(map[int][]procStat)
	var self *procStat
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited while we walked
		}
		st, err := parseStat(string(b))
		if err != nil {
			continue
		}
		if st.pid == root {
			self = &st
		}
		byParent[st.ppid] = append(byParent[st.ppid], st)
	}
	if self == nil {
		return nil, fmt.Errorf("pid %d: not running", root)
	}
	tree := []procStat{*self}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, byParent[tree[i].pid]...)
	}
	return tree, nil
}

// treeCPUTicks is the CPU time of root and its descendants, including
// children they already reaped (cutime/cstime), in clock ticks.
func treeCPUTicks(root int) (uint64, error) {
	tree, err := processTree(root)
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, st := range tree {
		sum += st.utime + st.stime + st.cutime + st.cstime
	}
	return sum, nil
}

// treePeakRSS sums VmHWM (peak resident set) over root and its descendants,
// in KiB: nginx's master plus worker, or a ksgw control plane plus proxy.
func treePeakRSS(root int) (uint64, error) {
	tree, err := processTree(root)
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, st := range tree {
		kib, err := vmHWM(st.pid)
		if err != nil {
			continue // exited meanwhile
		}
		sum += kib
	}
	return sum, nil
}

func vmHWM(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmHWM(f)
}

func parseVmHWM(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmHWM line %q", sc.Text())
		}
		return strconv.ParseUint(f[0], 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmHWM (kernel thread?)")
}
