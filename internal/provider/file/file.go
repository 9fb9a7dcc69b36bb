// Package file is the standalone provider: it watches a directory of YAML
// manifests and publishes a resource bundle whenever their content changes.
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/ksgw/ksgw/internal/resource"
)

// DefaultInterval is the batch window in standalone mode. It is DESIGN's
// `xds.update.interval`: the article recommends 5s for a cluster; a person
// editing files by hand wants to see the change sooner.
const DefaultInterval = time.Second

// Snapshot is one published state of the directory. It is immutable: every
// consumer shares it.
type Snapshot struct {
	Resources *resource.Resources
	// Errors name the documents left out of Resources (per-object errors,
	// STYLE habit 10); the rest of the directory is in Resources.
	Errors []resource.LoadError
	// Hash identifies the content (objects and errors), not the bytes: a
	// file rewritten with the same content, reformatted YAML or a reordered
	// file hashes the same. Two snapshots in a row never share a hash.
	Hash string
}

// Options configure a Provider.
type Options struct {
	// Dir is the directory to watch, recursively.
	Dir string
	// Interval is the batch window (xds.update.interval): the first change
	// after a quiet period starts it, every change inside it is folded into
	// one reload at its end. It bounds how stale the published state can be
	// (it is not reset by further changes, so a stream of edits cannot
	// postpone publishing). 0 means DefaultInterval.
	Interval time.Duration
	// Load tunes the loader.
	Load resource.Options
	// Logger; nil discards.
	Logger *slog.Logger
}

// Provider watches Options.Dir. Fields are immutable after New, except
// published (atomic) and the updates channel, whose single sender is Run.
type Provider struct {
	dir      string
	interval time.Duration
	load     resource.Options
	log      *slog.Logger

	// updates holds at most the latest snapshot: Run replaces an unread one
	// (latest state wins) so a slow consumer never blocks the watcher.
	updates   chan Snapshot
	published atomic.Int64 // snapshots published so far; for tests and metrics
	running   atomic.Bool
}

// New checks the options and returns a Provider; Run starts it.
func New(opts Options) (*Provider, error) {
	if opts.Dir == "" {
		return nil, errors.New("file provider: no directory")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("file provider: %w", err)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Provider{
		dir:      dir,
		interval: opts.Interval,
		load:     opts.Load,
		log:      opts.Logger.With("provider", "file", "dir", dir),
		updates:  make(chan Snapshot, 1),
	}, nil
}

// Updates delivers the latest snapshot. The first arrives as soon as Run has
// read the directory. The channel is closed when Run returns.
func (p *Provider) Updates() <-chan Snapshot { return p.updates }

// Published is the number of snapshots published so far.
func (p *Provider) Published() int64 { return p.published.Load() }

// Run watches the directory until ctx is done, then returns nil. It returns
// an error if the directory cannot be watched, or if the directory itself is
// removed or renamed (the watch would silently go blind). Run may be called
// once.
//
// Every subdirectory is watched, new ones included, except those the loader
// skips (names starting with "."). Events on any name trigger a reload, so
// that a ConfigMap volume's atomic swap of its "..data" symlink, which is
// the only event such an update produces, is seen; reloads that change
// nothing publish nothing.
func (p *Provider) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("file provider: Run called twice")
	}
	defer close(p.updates)

	w, err := fsnotify.NewBufferedWatcher(1024)
	if err != nil {
		return fmt.Errorf("file provider: %w", err)
	}
	// Close stops fsnotify's reader goroutine and waits for it.
	defer w.Close()

	if err := w.Add(p.dir); err != nil {
		return fmt.Errorf("file provider: watch %s: %w", p.dir, err)
	}
	var last string
	// cache keeps decoded files between reloads: only files whose bytes
	// changed are decoded again. Owned by this goroutine.
	var cache resource.Cache
	p.reload(w, &cache, &last)

	// timer is armed while a batch is open; batch is its channel, nil when
	// idle (a nil channel never fires).
	timer := time.NewTimer(p.interval)
	timer.Stop()
	defer timer.Stop()
	var batch <-chan time.Time
	open := func() {
		if batch == nil {
			timer.Reset(p.interval)
			batch = timer.C
		}
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("file provider: watcher closed")
			}
			if ev.Name == p.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				return fmt.Errorf("file provider: %s was removed or renamed", p.dir)
			}
			open()
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("file provider: watcher closed")
			}
			// An overflow means events were lost: a full reload is the
			// recovery, and the batch provides it.
			p.log.Warn("watch error; reloading", "err", err)
			open()
		case <-batch:
			batch = nil
			p.reload(w, &cache, &last)
		}
	}
}

// reload syncs the watch list with the tree, loads it and publishes the
// result unless its hash is last. Watches are synced before loading so that
// a file created after the load is seen by a watch and reloaded later.
func (p *Provider) reload(w *fsnotify.Watcher, cache *resource.Cache, last *string) {
	p.syncWatches(w)
	res, errs := resource.LoadCached(os.DirFS(p.dir), p.load, cache)
	for _, e := range errs {
		if e.File == "." {
			// The root itself is unreadable: a system error, not an object's.
			// Keep the last published state live (STYLE habit 10).
			p.log.Error("cannot read config directory; keeping last state", "err", e.Err)
			return
		}
	}
	h := cache.ContentHash()
	if h == *last {
		return
	}
	*last = h
	snap := Snapshot{Resources: res, Errors: errs, Hash: h}
	// Counted before sending, so a consumer that received snapshot n sees
	// Published() >= n.
	p.published.Add(1)
	// Run is the only sender, so after draining an unread snapshot the send
	// cannot block.
	select {
	case p.updates <- snap:
	default:
		select {
		case <-p.updates:
		default:
		}
		p.updates <- snap
	}
	p.log.Info("published", "objects", res.Len(), "errors", len(errs), "hash", h[:12])
	for _, e := range errs {
		p.log.Warn("object not loaded", "err", e.Error())
	}
}

// syncWatches watches every directory the loader reads and drops watches of
// directories that are gone or were moved away (inotify keeps a moved
// directory's watch under its old name).
func (p *Provider) syncWatches(w *fsnotify.Watcher) {
	want := map[string]bool{p.dir: true}
	_ = filepath.WalkDir(p.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == p.dir {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			return fs.SkipDir
		}
		want[path] = true
		return nil
	})
	have := map[string]bool{}
	for _, path := range w.WatchList() {
		have[path] = true
		if !want[path] {
			_ = w.Remove(path) // already gone when the directory was deleted
		}
	}
	for path := range want {
		if have[path] {
			continue
		}
		if err := w.Add(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.log.Warn("cannot watch directory", "path", path, "err", err)
		}
	}
}
