// Package upstream is the proxy's view of its upstream clusters: the hosts
// of each cluster with their health (active HTTP health checks and passive
// outlier detection), the choice of a host per request through a policy of
// package lb, Envoy's circuit breaker on max_requests, and per-cluster and
// per-host counters.
//
// # Lifetime
//
// A Manager lives as long as the proxy. The runtime compiles immutable
// generations; for each one it calls Sync with the clusters that the
// generation needs and gets back the *Cluster values to put in it. State
// that must survive a configuration update — host health, outlier
// ejections, active-request counts, connection pools, counters — lives in
// the Manager, keyed by cluster name and host address:
//
//   - config pointer unchanged (or equal): the same *Cluster is returned; if
//     only its ClusterLoadAssignment changed, its host set is updated in
//     place. Hosts are keyed by address and keep their pool and health.
//   - config changed: a new *Cluster (an "incarnation") is built with new
//     hosts and new pools (as Envoy drains a cluster's connection pools when
//     the cluster is updated), but the health and outlier state of every
//     address that persists is carried over. The replaced incarnation keeps
//     working for requests of generations that still hold it until the next
//     Retire call, and a Pick on it afterwards is forwarded to its successor.
//
// # Retirement (make before break, DESIGN §6)
//
// Sync never removes a cluster. A cluster is removed only by Retire(names),
// which the caller calls after publishing the generation built from the
// latest Sync, with the names that generation no longer references. A name
// that the latest Sync returned is never retired. Every Retire call, even
// with no names, also releases the incarnations that the latest Sync
// replaced. Releasing an incarnation stops its health checker at once and
// closes each host's pool once its in-flight requests have reported: hosts
// are reference counted, one reference per Pick, dropped by ReportResult.
//
// # Rules that differ from or pin down Envoy
//
//   - New hosts are routable immediately, even with an active health check
//     configured (Envoy marks them FAILED_ACTIVE_HC until the first check
//     passes unless they arrive with the cluster). The first probe round
//     runs as soon as the checker starts and then every interval, so a dead
//     new host is caught by the check or by outlier detection.
//   - Panic threshold: Envoy's default healthy_panic_threshold of 50%. A host
//     is healthy when EDS did not mark it UNHEALTHY, it has not failed the
//     active health check and it is not ejected. When fewer than half of a
//     cluster's hosts are healthy, Pick balances over all of them, as Envoy
//     does, so ErrNoHealthyUpstream means the cluster has no hosts at all
//     (or it was retired).
//   - Active health check (Envoy's HttpHealthChecker): a network failure or
//     timeout counts toward unhealthy_threshold; a response whose status is
//     not expected marks the host unhealthy at once (health_check.proto:
//     "the threshold is ignored"), so a backend answering 503 leaves rotation
//     on the next probe. healthy_threshold consecutive successes bring it
//     back.
//   - Outlier detection: consecutive_5xx and consecutive_gateway_failure
//     (502/503/504 and local-origin failures: connect failure, reset,
//     timeout — Envoy's default, split_external_local_origin_errors false);
//     0 disables a detector (Istio semantics, the control plane fills
//     defaults). Ejection lasts base_ejection_time × the host's ejection
//     count, capped at Envoy's max_ejection_time of 300s; the count decays by
//     one per interval spent un-ejected. max_ejection_percent (0: Envoy's
//     10) caps ejections, but one host can always be ejected (as current Envoy).
//   - Circuit breaker: max_requests (0: Envoy's 1024) is enforced by
//     Acquire/Release; max_pending_requests and max_connections are enforced
//     by each host's pool, which is where requests wait.
package upstream
