package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/sluice-mail/sluice/metrics"
)

// readyInterval is how often watchReady probes the mail root.
var readyInterval = 5 * time.Second

// watchReady keeps /readyz true to what a delivery would meet: it probes
// the mail root in force now and every interval, and reports not ready
// (logging once per change) while a probe write fails, e.g. with the disk
// full or the mail root made read-only, so a load balancer or an operator
// sees the problem before the deferred-mail queue does. It returns when ctx
// is done.
func watchReady(ctx context.Context, cur *current, mt *metrics.Metrics, log *slog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	ready := true
	for {
		err := checkMailRoot(*cur.mailRoot.Load())
		switch {
		case err != nil && ready:
			log.Error("not ready: deliveries would fail", "err", err)
		case err == nil && !ready:
			log.Info("ready again: the mail root is writable")
		}
		ready = err == nil
		if ctx.Err() != nil {
			return
		}
		mt.SetReady(ready)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
