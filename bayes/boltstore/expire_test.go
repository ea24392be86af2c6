package boltstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
)

// filled returns a store holding n tokens, token i with atime base+i
// minutes, so token order is age order.
func filled(t testing.TB, n int, base int64, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bayes.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	b := &bayes.Backup{NSpam: 500, NHam: 500, Tokens: make(map[bayes.Token]bayes.Counts, n), Seen: map[string]bayes.Class{}}
	for i := range n {
		b.Tokens[storetest.Tok(i)] = bayes.Counts{Spam: 1, Ham: uint32(i % 3), Atime: base + int64(i)*60}
	}
	if err := s.Restore(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestAutoExpire(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 160000 tokens")
	}
	ctx := context.Background()
	const n = 160000
	base := time.Now().Unix() - n*60
	s, path := filled(t, n, base, Options{})
	// Tok(0) is the oldest token; reading it twice makes the in-memory
	// copy, which the expiry run must follow.
	for range 2 {
		if snap, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(0)}); err != nil || snap.Counts[0].Spam != 1 {
			t.Fatalf("Lookup before expiry = %+v, %v", snap, err)
		}
	}
	// A learn finds the expiry due (never run, over 150000 tokens) and
	// starts it; Close waits for it.
	if _, err := s.Apply(ctx, bayes.Change{IDs: []string{"new"}, Class: bayes.Spam, Tokens: []bayes.Token{storetest.Tok(n)}, Atime: time.Now().Unix()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := s.ExpiryStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keep := bayes.DefaultExpiry().ExpiryKeep()
	if st.NTokens != keep || st.LastReduce != n+1-keep || time.Since(time.Unix(st.LastExpire, 0)) > time.Minute {
		t.Errorf("ExpiryStats after automatic expiry = %+v, want %d tokens, %d removed, last expire now", st, keep, n+1-keep)
	}
	v, _ := readVersion(path)
	snap, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(0), storetest.Tok(n + 1 - keep - 1), storetest.Tok(n + 1 - keep), storetest.Tok(n)})
	if err != nil {
		t.Fatal(err)
	}
	if s.mem == nil || s.mem.ver != v {
		t.Errorf("in-memory copy not following the expiry run")
	}
	var spam []uint32
	for _, c := range snap.Counts {
		spam = append(spam, c.Spam)
	}
	if spam[0] != 0 || spam[1] != 0 || spam[2] != 1 || spam[3] != 1 {
		t.Errorf("spam counts of oldest, last removed, first kept, newest = %v, want [0 0 1 1]", spam)
	}
	b, err := s.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Tokens) != keep {
		t.Errorf("Dump after expiry: %d tokens, want %d", len(b.Tokens), keep)
	}

	// Within the expiry period no second run starts, however many
	// tokens there are.
	if _, err := s.Apply(ctx, storetest.Change("more", bayes.Ham, n+10, n+50000)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if st2, _ := s.ExpiryStats(ctx); st2.LastExpire != st.LastExpire || st2.NTokens != keep+49990 {
		t.Errorf("ExpiryStats after a learn within the period = %+v, want last expire %d, %d tokens", st2, st.LastExpire, keep+49990)
	}
}

func TestForceExpire(t *testing.T) {
	ctx := context.Background()
	t.Run("TooSmall", func(t *testing.T) {
		s, _ := filled(t, 5000, 1000, Options{})
		res, err := s.Expire(ctx, bayes.DefaultExpiry())
		if err != nil {
			t.Fatal(err)
		}
		if res.Removed != 0 || res.Before != 5000 || res.Skipped == "" {
			t.Errorf("Expire of 5000 tokens = %+v, want nothing removed and a reason", res)
		}
		if st, _ := s.ExpiryStats(ctx); st.LastExpire == 0 {
			t.Errorf("ExpiryStats after a run that removed nothing = %+v, want its time recorded", st)
		}
	})
	t.Run("AutoOff", func(t *testing.T) {
		if testing.Short() {
			t.Skip("fills 120000 tokens")
		}
		e := bayes.DefaultExpiry()
		e.Auto, e.MaxDBSize = false, 100000
		s, _ := filled(t, 120000, 1000, Options{Expiry: &e})
		// Auto off: a learn leaves the tokens alone.
		if _, err := s.Apply(ctx, storetest.Change("x", bayes.Spam, 0, 1)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if st, _ := s.ExpiryStats(ctx); st.NTokens != 120000 || st.LastExpire != 0 {
			t.Fatalf("ExpiryStats with bayes_auto_expire 0 = %+v, want no run", st)
		}
		// Forced: keeps max(75000, 100000).
		res, err := s.Expire(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if res.Removed != 20000 || res.Cutoff != 1000+20000*60 {
			t.Errorf("Expire = %+v, want 20000 removed below atime %d", res, 1000+20000*60)
		}
	})
}

// BenchmarkExpire is one expiry run of 150001 tokens down to 112500, the
// cost of the transaction that follows the learn that finds it due.
func BenchmarkExpire(b *testing.B) {
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		s, _ := filled(b, 150001, 1000, Options{})
		b.StartTimer()
		cpu := storetest.CPUTime()
		res, err := s.Expire(ctx, bayes.DefaultExpiry())
		if err != nil || res.Removed != 150001-112500 {
			b.Fatalf("Expire = %+v, %v", res, err)
		}
		b.ReportMetric(float64(storetest.CPUTime()-cpu)/1e6, "cpu-ms/op")
	}
}
