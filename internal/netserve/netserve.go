// Package netserve is the accept loop sluice's own protocol servers share
// (the spamd and policy front ends; LMTP and the milter use their
// libraries' servers): a bounded number of connections, each in its own
// goroutine, accept errors retried with a back-off, and a graceful
// Shutdown that waits for the connections being served.
package netserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Serve after Shutdown.
var ErrClosed = errors.New("netserve: server closed")

// Loop serves connections on any number of listeners.
type Loop struct {
	name   string
	handle func(net.Conn)
	// Wake, when set, is called by Shutdown for every open connection,
	// so that one idle between requests notices and ends (by setting a
	// read deadline, say); one in a request finishes it first.
	Wake func(net.Conn)

	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closing   atomic.Bool
	wg        sync.WaitGroup
	active    atomic.Int64
}

// New returns a loop serving at most max connections at once (the next
// waits in the listen backlog), each with handle, which must not close
// the connection: the loop does when handle returns. name prefixes
// errors.
func New(name string, max int, handle func(net.Conn)) *Loop {
	ctx, cancel := context.WithCancel(context.Background())
	return &Loop{name: name, handle: handle, ctx: ctx, cancel: cancel, slots: make(chan struct{}, max),
		listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
}

// Context is cancelled when Shutdown stops waiting for the connections;
// work done for a connection should end with it.
func (l *Loop) Context() context.Context { return l.ctx }

// Closing reports whether Shutdown has begun: a connection between
// requests should end rather than read another.
func (l *Loop) Closing() bool { return l.closing.Load() }

// Active reports how many connections are being served.
func (l *Loop) Active() int { return int(l.active.Load()) }

// Serve accepts connections on ln until Shutdown, and returns ErrClosed
// then, or the accept error that cannot be retried.
func (l *Loop) Serve(ln net.Listener) error {
	l.mu.Lock()
	if l.closing.Load() {
		l.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	l.listeners[ln] = struct{}{}
	l.mu.Unlock()
	var backoff time.Duration
	for {
		// A slot first: past the limit, clients wait in the backlog.
		select {
		case l.slots <- struct{}{}:
		case <-l.ctx.Done():
			return ErrClosed
		}
		c, err := ln.Accept()
		if err != nil {
			<-l.slots
			if l.closing.Load() {
				return ErrClosed
			}
			if retryable(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("%s: accept: %w", l.name, err)
		}
		backoff = 0
		if !l.track(c) {
			c.Close()
			<-l.slots
			return ErrClosed
		}
		go func() {
			defer l.untrack(c)
			l.handle(c)
		}()
	}
}

// retryable reports whether an accept error is worth retrying: a timeout,
// or EMFILE and the like, which still report the deprecated Temporary.
func retryable(err error) bool {
	var t interface{ Temporary() bool }
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.As(err, &t) && t.Temporary()
}

func (l *Loop) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing.Load() {
		return false
	}
	l.conns[c] = struct{}{}
	l.wg.Add(1)
	l.active.Add(1)
	return true
}

func (l *Loop) untrack(c net.Conn) {
	c.Close()
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.active.Add(-1)
	<-l.slots
	l.wg.Done()
}

// Shutdown stops accepting, wakes the open connections (Wake), and waits
// for every one to end; when ctx ends first, it cancels Context, closes
// the rest and returns ctx's error.
func (l *Loop) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.closing.Store(true)
	for ln := range l.listeners {
		ln.Close()
	}
	if l.Wake != nil {
		for c := range l.conns {
			l.Wake(c)
		}
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		l.cancel()
		return nil
	case <-ctx.Done():
	}
	l.cancel()
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	<-done
	return ctx.Err()
}
