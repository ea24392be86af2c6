package maildir

import (
	"sync"

	"golang.org/x/sys/unix"
)

// maxDirSyncers bounds the directories a Store keeps a dirSyncer for; past
// it the map starts over (a syncer still in use keeps working for its
// waiters, later arrivals just gather in a new one).
const maxDirSyncers = 1024

// dirSyncers group-commits the fsyncs of the directories messages are moved
// into. A delivery must not be acknowledged before an fsync of its
// destination directory that started after its rename; when several
// deliveries into the same directory wait at once, one fsync started after
// all their renames makes all of them durable. So a caller either starts
// the fsync itself (nobody is syncing the directory) or joins the batch
// that the next fsync will cover, and every member of a batch gets that
// fsync's result. With one delivery at a time this is one fsync per
// delivery, as before; with many at once it saves most of them (and on
// file systems where a directory fsync holds the directory's lock, the
// renames waiting behind it).
//
// Directories are told apart by device and inode, not by path: a member's
// fsync is the leader's, on the leader's open directory, which must be the
// very directory the member's message was moved into.
type dirSyncers struct {
	mu sync.Mutex
	m  map[dirID]*dirSyncer
}

// dirID is a directory's identity.
type dirID struct{ dev, ino uint64 }

// sync fsyncs d with fsync, or joins a batch of d's group commit.
func (s *dirSyncers) sync(d *dir, fsync func() error) error {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return fsync()
	}
	return s.get(dirID{uint64(st.Dev), st.Ino}).sync(fsync)
}

// get returns the syncer of the directory id.
func (s *dirSyncers) get(id dirID) *dirSyncer {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.m[id]
	if g == nil {
		if s.m == nil || len(s.m) >= maxDirSyncers {
			s.m = map[dirID]*dirSyncer{}
		}
		g = &dirSyncer{}
		g.cond.L = &g.mu
		s.m[id] = g
	}
	return g
}

// dirSyncer is the group commit of one directory.
type dirSyncer struct {
	mu      sync.Mutex
	cond    sync.Cond // on mu: a batch finished
	running bool      // an fsync is in flight
	next    *syncBatch
}

// syncBatch is the callers that one fsync, not started yet, will cover.
type syncBatch struct {
	done bool
	err  error
}

// sync returns the result of a call of fsync that started after sync was
// called: its own, or one started by another caller of the same batch.
func (g *dirSyncer) sync(fsync func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next == nil {
		g.next = &syncBatch{}
	}
	b := g.next
	for !b.done {
		if g.running {
			g.cond.Wait()
			continue
		}
		// Lead b: its members all joined before this point, after
		// their renames; later callers gather in a new batch.
		g.running = true
		g.next = nil
		g.mu.Unlock()
		err := fsync()
		g.mu.Lock()
		b.err, b.done = err, true
		g.running = false
		g.cond.Broadcast()
	}
	return b.err
}
