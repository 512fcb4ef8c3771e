package keyserver

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
)

// metrics are the counters /metrics exposes in the Prometheus text format. A handful
// of counters does not justify a client library.
type metrics struct {
	releases        atomic.Int64
	registered      atomic.Int64
	signInFailures  atomic.Int64
	signIns         atomic.Int64
	codesSent       atomic.Int64
	storageFull     atomic.Int64
	leader          atomic.Int64 // 1 while this node leads (RunAsLeader)
	mu              sync.Mutex
	denialsByReason map[string]int64
}

func (m *metrics) denied(reason string) {
	m.mu.Lock()
	if m.denialsByReason == nil {
		m.denialsByReason = map[string]int64{}
	}
	m.denialsByReason[reason]++
	m.mu.Unlock()
}

// WriteMetrics writes the Prometheus text exposition.
func (s *Service) WriteMetrics(ctx context.Context, w io.Writer) error {
	m := &s.metrics
	// Each node counts what it did: with a node name, every sample says which
	// node (the store's figures, such as the outbox depth, are the same on all).
	label, labels := "", ""
	if s.cfg.Node != "" {
		label = fmt.Sprintf("{node=%q}", s.cfg.Node)
		labels = fmt.Sprintf("node=%q,", s.cfg.Node)
	}
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s%s %d\n", name, help, name, name, label, v)
	}
	counter("waxseal_key_releases_total", "Server keys released to recipients.", m.releases.Load())
	counter("waxseal_envelopes_registered_total", "Envelopes registered by gateways.", m.registered.Load())
	counter("waxseal_signins_total", "Successful sign-ins.", m.signIns.Load())
	counter("waxseal_signin_failures_total", "Failed sign-in attempts (password or code).", m.signInFailures.Load())
	counter("waxseal_codes_sent_total", "One-time codes queued for mailing.", m.codesSent.Load())
	counter("waxseal_storage_full_total", "Requests refused because the store's disk was full (alert on any increase).", m.storageFull.Load())

	fmt.Fprintf(w, "# HELP waxseal_key_denials_total Key release refusals by reason.\n# TYPE waxseal_key_denials_total counter\n")
	m.mu.Lock()
	reasons := make([]string, 0, len(m.denialsByReason))
	for r := range m.denialsByReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "waxseal_key_denials_total{%sreason=%q} %d\n", labels, r, m.denialsByReason[r])
	}
	m.mu.Unlock()

	depth, err := s.store.OutboxDepth(ctx)
	if err != nil {
		return fmt.Errorf("metrics: outbox depth: %w", err)
	}
	fmt.Fprintf(w, "# HELP waxseal_leader Whether this node runs the sweeper and the outbox drainer (1) or not (0).\n# TYPE waxseal_leader gauge\nwaxseal_leader%s %d\n", label, m.leader.Load())
	_, err = fmt.Fprintf(w, "# HELP waxseal_outbox_depth Mails waiting in the outbox.\n# TYPE waxseal_outbox_depth gauge\nwaxseal_outbox_depth%s %d\n", label, depth)
	return err
}
