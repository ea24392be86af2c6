package main

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/sluice-mail/sluice/metrics"
)

// readyInterval is how often watchReady probes the mail root.
var readyInterval = 5 * time.Second

// watchReady keeps /readyz true to what a delivery would meet: it probes
// the mail root in force now and every interval, and reports not ready
// (logging once per change) while a probe write fails, e.g. with the mail
// root gone or read-only, or while the free space there is less than one
// message of lmtp.max_message_size, or while [redis] does not answer a
// PING (the shared state), so a load balancer or an operator
// sees the problem before the deferred-mail queue does. It returns when ctx
// is done.
func watchReady(ctx context.Context, cur *current, mt *metrics.Metrics, log *slog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	ready := true
	for {
		mr := cur.mailRoot.Load()
		err := checkMailRoot(mr.path)
		if err == nil {
			err = checkFreeSpace(mr.path, mr.minFree)
		}
		if err == nil && cur.ping != nil {
			err = pingState(ctx, cur.ping, interval)
		}
		switch {
		case err != nil && ready:
			log.Error("not ready: deliveries would fail", "err", err)
		case err == nil && !ready:
			log.Info("ready again: the mail root is writable and the shared state answers")
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

// pingState asks the shared state (Redis) whether it answers, within
// the probe interval.
func pingState(ctx context.Context, ping func(context.Context) error, interval time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, interval)
	defer cancel()
	if err := ping(ctx); err != nil {
		return fmt.Errorf("shared state: %w", err)
	}
	return nil
}

// checkFreeSpace fails when the file system holding root has less than
// need bytes free for an unprivileged writer (a delivery owned by the mail
// owner does not get the blocks reserved for root).
func checkFreeSpace(root string, need int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		return fmt.Errorf("delivery.mail_root %s: %w", root, err)
	}
	if free := int64(st.Bavail) * st.Bsize; free < need {
		return fmt.Errorf("delivery.mail_root %s: %d bytes free, less than one message of lmtp.max_message_size (%d)", root, free, need)
	}
	return nil
}
