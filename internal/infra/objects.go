package infra

import (
	"maps"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/ksgw/ksgw/api/v1alpha1"
)

// renderer holds one Render call's inputs. Immutable.
type renderer struct {
	gw   *v1alpha1.Gateway
	opts Options
}

// Port names shared by the container, the Service and the NetworkPolicy.
const (
	portHTTP  = "http"
	portHTTPS = "https"
	portAdmin = "admin"
)

// Service ports: the conventional 80/443 whatever the pods listen on, so a
// client or an Ingress status never depends on spec.ports.
const (
	servicePortHTTP  int32 = 80
	servicePortHTTPS int32 = 443
)

func (r renderer) meta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: namespace,
		Labels:    Labels(r.gw),
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion:         v1alpha1.GroupVersion.String(),
			Kind:               v1alpha1.KindGateway,
			Name:               r.gw.Name,
			UID:                r.gw.UID,
			Controller:         ptr.To(true),
			BlockOwnerDeletion: ptr.To(true),
		}},
	}
}

func (r renderer) name() string { return ObjectName(r.gw.Name) }

// cluster reports whether gw is the cluster gateway (DESIGN §4).
func (r renderer) cluster() bool { return r.gw.Namespace == r.opts.ControllerNamespace }

func (r renderer) serviceAccount() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: r.meta(r.name(), r.gw.Namespace),
		// The proxies never call the API server; their only credential is
		// the audience-bound token projected below.
		AutomountServiceAccountToken: ptr.To(false),
	}
}

func seconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

func (r renderer) deployment() *appsv1.Deployment {
	gw, opts := r.gw, r.opts
	http, https := ports(gw)
	args := []string{
		"proxy",
		"--xds-server", opts.XDSServer,
		"--node-id", gw.Namespace + "/" + gw.Name,
		"--token-file", TokenPath,
		// The pod IP, not loopback: the kubelet probes /ready from the node.
		"--admin-address", ":" + strconv.Itoa(int(AdminPort)),
		"--drain-timeout", opts.DrainTimeout.String(),
	}
	if opts.LogLevel != "" {
		args = append(args, "--log-level", opts.LogLevel)
	}
	preStop := seconds(opts.PreStopDelay)
	// SIGTERM arrives after preStop; the drain must fit in what is left
	// of the grace period or the kubelet kills in-flight requests.
	grace := preStop + seconds(opts.DrainTimeout) + 5

	strategy := appsv1.DeploymentStrategy{
		Type: appsv1.RollingUpdateDeploymentStrategyType,
		// Never below the desired count of ready proxies: a new pod must be
		// ready before an old one starts terminating.
		RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: ptr.To(intstr.FromInt32(0)),
			MaxSurge:       ptr.To(intstr.FromString("25%")),
		},
	}
	if gw.Spec.AntiAffinity == v1alpha1.AntiAffinityRequired {
		// A surge pod would have no node left when every node already runs
		// a replica; replace one at a time instead.
		strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			MaxSurge:       ptr.To(intstr.FromInt32(0)),
		}
	}

	podSec := &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To(NonRootUID),
		RunAsGroup:     ptr.To(NonRootUID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if http < 1024 || https < 1024 {
		// Lets the non-root proxy bind 80/443 without capabilities; a
		// "safe" namespaced sysctl since Kubernetes 1.22.
		podSec.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
	}

	container := corev1.Container{
		Name:            ContainerName,
		Image:           opts.Image,
		ImagePullPolicy: opts.ImagePullPolicy,
		Args:            args,
		Ports: []corev1.ContainerPort{
			{Name: portHTTP, ContainerPort: http, Protocol: corev1.ProtocolTCP},
			{Name: portHTTPS, ContainerPort: https, Protocol: corev1.ProtocolTCP},
			{Name: portAdmin, ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP},
		},
		Resources: *gw.Spec.Resources.DeepCopy(),
		// /ready turns 200 once the first configuration is applied (Envoy's
		// semantics), so a new replica takes traffic only when it can route.
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/ready", Port: intstr.FromString(portAdmin), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds:    5,
			TimeoutSeconds:   1,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		},
		// Liveness only checks the process answers: a proxy whose control
		// plane is away keeps serving its last good configuration and must
		// not be restarted for it.
		LivenessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{
				Port: intstr.FromString(portAdmin),
			}},
			PeriodSeconds:    10,
			TimeoutSeconds:   1,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		},
		Lifecycle: &corev1.Lifecycle{
			// The kubelet's own sleep (no shell in a distroless image):
			// the pod is already out of the EndpointSlices' ready set while
			// it sleeps, so no new connection should arrive when SIGTERM
			// closes the listeners.
			PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: preStop}},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts:             []corev1.VolumeMount{{Name: "xds-token", MountPath: "/var/run/secrets/ksgw/xds", ReadOnly: true}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}

	spec := corev1.PodSpec{
		ServiceAccountName:            ServiceAccountName(gw.Name),
		AutomountServiceAccountToken:  ptr.To(false),
		TerminationGracePeriodSeconds: ptr.To(grace),
		SecurityContext:               podSec,
		Containers:                    []corev1.Container{container},
		NodeSelector:                  maps.Clone(gw.Spec.NodeSelector),
		Tolerations:                   tolerations(gw.Spec.Tolerations),
		Affinity:                      r.affinity(),
		Volumes: []corev1.Volume{{
			Name: "xds-token",
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience:          opts.TokenAudience,
					ExpirationSeconds: ptr.To(seconds(opts.TokenExpiration)),
					Path:              "token",
				}}},
			}},
		}},
	}

	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: r.meta(r.name(), gw.Namespace),
		Spec: appsv1.DeploymentSpec{
			// Nil leaves replicas unowned by the controller's apply, so an
			// HPA may set them (server-side apply field ownership).
			Replicas: copyPtr(gw.Spec.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(gw)},
			Strategy: strategy,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: Labels(gw)},
				Spec:       spec,
			},
		},
	}
}

func (r renderer) affinity() *corev1.Affinity {
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(r.gw)},
		TopologyKey:   corev1.LabelHostname,
	}
	if r.gw.Spec.AntiAffinity == v1alpha1.AntiAffinityRequired {
		return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term},
		}}
	}
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term}},
	}}
}

func (r renderer) service() *corev1.Service {
	gw := r.gw
	svc := gw.Spec.Service
	typ := corev1.ServiceType(svc.Type)
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP
	}
	sp := func(name string, port, nodePort int32) corev1.ServicePort {
		p := corev1.ServicePort{Name: name, Port: port, TargetPort: intstr.FromString(name), Protocol: corev1.ProtocolTCP}
		if typ != corev1.ServiceTypeClusterIP {
			p.NodePort = nodePort
		}
		return p
	}
	meta := r.meta(r.name(), gw.Namespace)
	if len(svc.Annotations) > 0 {
		meta.Annotations = maps.Clone(svc.Annotations)
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta,
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: SelectorLabels(gw),
			Ports: []corev1.ServicePort{
				sp(portHTTP, servicePortHTTP, svc.NodePorts.HTTP),
				sp(portHTTPS, servicePortHTTPS, svc.NodePorts.HTTPS),
			},
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicy(svc.ExternalTrafficPolicy),
		},
	}
}

func (r renderer) podDisruptionBudget() *policyv1.PodDisruptionBudget {
	spec := policyv1.PodDisruptionBudgetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(r.gw)},
		// A proxy that is not ready serves nobody; evicting it must never
		// be what blocks a node drain.
		UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
	}
	switch p := r.gw.Spec.PodDisruptionBudget; {
	case p != nil && p.MinAvailable != nil:
		spec.MinAvailable = ptr.To(*p.MinAvailable)
	case p != nil && p.MaxUnavailable != nil:
		spec.MaxUnavailable = ptr.To(*p.MaxUnavailable)
	default:
		spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: r.meta(r.name(), r.gw.Namespace),
		Spec:       spec,
	}
}

// networkPolicy isolates the proxies of one Gateway (DESIGN §1.9, §4).
//
// Ingress: anyone may reach the listener ports; only the controller's
// namespace and MetricsNamespaces may reach the admin port.
//
// Egress: a project gateway's proxies reach pods of their own namespace
// only, the cluster gateway's proxies every namespace that has no Gateway
// of its own. Since every tenant's proxies carry such a policy, no tenant's
// proxies can reach another tenant's backends, whatever the Routes say.
// DNS and the controller's xDS port are always allowed. NetworkPolicy
// matches after the Service's DNAT, so backends are matched as pods.
func (r renderer) networkPolicy() *networkingv1.NetworkPolicy {
	gw, opts := r.gw, r.opts
	tcp, udp := ptr.To(corev1.ProtocolTCP), ptr.To(corev1.ProtocolUDP)
	named := func(name string) *intstr.IntOrString { return ptr.To(intstr.FromString(name)) }
	nsIn := func(names ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: names,
		}}}
	}

	admins := []string{opts.ControllerNamespace}
	for _, ns := range opts.MetricsNamespaces {
		if !slices.Contains(admins, ns) {
			admins = append(admins, ns)
		}
	}
	slices.Sort(admins)

	var backends networkingv1.NetworkPolicyPeer
	if r.cluster() {
		var others []string
		for _, ns := range opts.GatewayNamespaces {
			if ns != gw.Namespace && !slices.Contains(others, ns) {
				others = append(others, ns)
			}
		}
		slices.Sort(others)
		sel := &metav1.LabelSelector{}
		if len(others) > 0 {
			sel.MatchExpressions = []metav1.LabelSelectorRequirement{{
				Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: others,
			}}
		}
		backends.NamespaceSelector = sel
	} else {
		backends.NamespaceSelector = nsIn(gw.Namespace)
	}

	controllerPods := &metav1.LabelSelector{MatchLabels: maps.Clone(opts.ControllerPodLabels)}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: r.meta(r.name(), gw.Namespace),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: SelectorLabels(gw)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: []networkingv1.NetworkPolicyPort{
					{Protocol: tcp, Port: named(portHTTP)},
					{Protocol: tcp, Port: named(portHTTPS)},
				}},
				{
					From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsIn(admins...)}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp, Port: named(portAdmin)}},
				},
			},
			Egress: slices.DeleteFunc([]networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{backends}},
				{
					To:    []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsIn(opts.ControllerNamespace), PodSelector: controllerPods}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp, Port: ptr.To(intstr.FromInt32(opts.ControllerXDSPort))}},
				},
				r.egressNamespaces(nsIn),
				// The cluster DNS resolves the xDS server's name; where it
				// runs differs between distributions, so port 53 anywhere.
				{Ports: []networkingv1.NetworkPolicyPort{
					{Protocol: udp, Port: ptr.To(intstr.FromInt32(53))},
					{Protocol: tcp, Port: ptr.To(intstr.FromInt32(53))},
				}},
			}, func(r networkingv1.NetworkPolicyEgressRule) bool { return len(r.To) == 0 && len(r.Ports) == 0 }),
		},
	}
}

// ingressClass links the Gateway's class to it through spec.parameters,
// which internal/translate reads to bind the class's Ingresses.
func (r renderer) ingressClass() *networkingv1.IngressClass {
	meta := r.meta(IngressClassName(r.gw), "")
	meta.OwnerReferences = nil // cluster-scoped: see the package comment
	return &networkingv1.IngressClass{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "IngressClass"},
		ObjectMeta: meta,
		Spec: networkingv1.IngressClassSpec{
			Controller: r.opts.IngressClassController,
			Parameters: &networkingv1.IngressClassParametersReference{
				APIGroup:  ptr.To(v1alpha1.GroupName),
				Kind:      v1alpha1.KindGateway,
				Name:      r.gw.Name,
				Scope:     ptr.To(networkingv1.IngressClassParametersReferenceScopeNamespace),
				Namespace: ptr.To(r.gw.Namespace),
			},
		},
	}
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func tolerations(ts []corev1.Toleration) []corev1.Toleration {
	if ts == nil {
		return nil
	}
	out := make([]corev1.Toleration, len(ts))
	for i := range ts {
		ts[i].DeepCopyInto(&out[i])
	}
	return out
}

// egressNamespaces admits any port of Options.EgressNamespaces; an empty
// rule (no namespaces) is dropped by the caller, since an empty egress
// rule would admit everything.
func (r renderer) egressNamespaces(nsIn func(...string) *metav1.LabelSelector) networkingv1.NetworkPolicyEgressRule {
	nss := slices.Clone(r.opts.EgressNamespaces)
	slices.Sort(nss)
	nss = slices.Compact(nss)
	if len(nss) == 0 {
		return networkingv1.NetworkPolicyEgressRule{}
	}
	return networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsIn(nss...)}}}
}
