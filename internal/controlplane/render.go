package controlplane

import (
	"fmt"
	"sort"

	"github.com/ksgw/ksgw/internal/resource"
	"github.com/ksgw/ksgw/internal/status"
	"github.com/ksgw/ksgw/internal/translate"
	xdstranslate "github.com/ksgw/ksgw/internal/xds/translate"
)

// Rendered is the outcome of one full pass over a set of resources: what
// the loader rejected, what the translator decided (IR, statuses,
// problems), and the xDS of every gateway. `ksgw translate`, `ksgw
// validate` and the running control plane all go through Render, so they
// can never disagree.
type Rendered struct {
	LoadErrors []resource.LoadError
	Result     *translate.Result
	// XDS holds each gateway's resources by node ID; a gateway whose xDS
	// could not be built is in XDSErrors instead.
	XDS       map[string]*xdstranslate.Resources
	XDSErrors map[string]error
	// Kept counts objects whose last accepted version is served in place
	// of a rejected (or unreadable) new one.
	Kept int
}

// Render translates res (already loaded) into xDS. It is pure.
func Render(res *resource.Resources, loadErrs []resource.LoadError, opts translate.Options) *Rendered {
	out := &Rendered{
		LoadErrors: loadErrs,
		Result:     translate.Translate(res, opts),
		XDS:        map[string]*xdstranslate.Resources{},
		XDSErrors:  map[string]error{},
	}
	for _, gw := range out.Result.Gateways {
		x, err := xdstranslate.Translate(gw)
		if err != nil {
			// A translator bug or an IR the xDS cannot express: a system
			// error for this gateway only; its last good snapshot stays.
			out.XDSErrors[gw.Name] = fmt.Errorf("gateway %s: xds translation: %w", gw.Name, err)
			continue
		}
		out.XDS[gw.Name] = x
	}
	return out
}

// RenderDir loads dir and renders it.
func RenderDir(dir string, load resource.Options, opts translate.Options) *Rendered {
	res, errs := resource.LoadDir(dir, load)
	return Render(res, errs, opts)
}

// Nodes returns the node IDs with xDS, sorted.
func (r *Rendered) Nodes() []string {
	nodes := make([]string, 0, len(r.XDS))
	for n := range r.XDS {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	return nodes
}

// Problems returns every problem as a line naming kind, namespace/name and
// field, sorted: load errors first (they name file and document), then the
// translator's, then xDS system errors.
func (r *Rendered) Problems() []string {
	var lines []string
	for _, e := range r.LoadErrors {
		lines = append(lines, e.Error())
	}
	probs := append([]status.Problem(nil), r.Result.Problems...)
	var tl []string
	for _, p := range probs {
		tl = append(tl, p.String())
	}
	sort.Strings(tl)
	lines = append(lines, tl...)
	var xl []string
	for _, err := range r.XDSErrors {
		xl = append(xl, err.Error())
	}
	sort.Strings(xl)
	return append(lines, xl...)
}
