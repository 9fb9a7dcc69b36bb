package v1alpha1

// Default fills the fields that the CRD schema defaults (+kubebuilder:default),
// so that an object loaded from a file (standalone mode, no API server) looks
// exactly as the API server would store it. Keep in step with the markers; a
// test compares both.
func (g *Gateway) Default() {
	if g.Spec.Ports.HTTP == 0 {
		g.Spec.Ports.HTTP = DefaultHTTPPort
	}
	if g.Spec.Ports.HTTPS == 0 {
		g.Spec.Ports.HTTPS = DefaultHTTPSPort
	}
}

// Default is a no-op: Route has no schema defaults. Istio's implicit values
// (weight 100 for a lone destination, redirectCode 301) are applied by the
// translator so that stored objects keep what the user wrote.
func (r *Route) Default() {}

// Default is a no-op: DestinationRule has no schema defaults.
func (d *DestinationRule) Default() {}

// Default is a no-op: SecurityPolicy has no schema defaults.
func (p *SecurityPolicy) Default() {}
