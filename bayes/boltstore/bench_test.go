package boltstore

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
	"github.com/sluice-mail/sluice/mail"
	bolt "go.etcd.io/bbolt"
)

// trained returns a classifier over a bbolt file holding 1000 ham and 1000
// spam from the corpus, and 600 other corpus messages to score.
func trained(b *testing.B, opts Options) (*bayes.Classifier, *Store, []*mail.Message) {
	b.Helper()
	hamFiles, spamFiles := storetest.CorpusFiles(b, 1300)
	if len(hamFiles) < 1300 || len(spamFiles) < 1300 {
		b.Skip("corpus too small")
	}
	s, err := Open(filepath.Join(b.TempDir(), "bayes.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	c := &bayes.Classifier{Store: s, Config: bayes.DefaultConfig()}
	ctx := context.Background()
	for _, set := range []struct {
		files []string
		class bayes.Class
	}{{hamFiles[:1000], bayes.Ham}, {spamFiles[:1000], bayes.Spam}} {
		msgs := storetest.ParseAll(b, set.files)
		for i := 0; i < len(msgs); i += 100 {
			if _, err := c.LearnAll(ctx, msgs[i:min(i+100, len(msgs))], set.class); err != nil {
				b.Fatal(err)
			}
		}
	}
	return c, s, storetest.ParseAll(b, append(hamFiles[1000:], spamFiles[1000:]...))
}

// sortedTokens returns each message's distinct tokens in the order the
// classifier looks them up.
func sortedTokens(msgs []*mail.Message) ([][]bayes.Token, int) {
	var all [][]bayes.Token
	n := 0
	for _, m := range msgs {
		var toks []bayes.Token
		for t := range bayes.Tokenize(m, nil, bayes.DefaultConfig()) {
			toks = append(toks, t)
		}
		slices.SortFunc(toks, func(a, b bayes.Token) int { return bytes.Compare(a[:], b[:]) })
		all = append(all, toks)
		n += len(toks)
	}
	return all, n / len(msgs)
}

// BenchmarkLookup is the store's share of a scan: the lookup of one real
// message's tokens (about 300) in a database trained on 2000 corpus
// messages. OpenPerOp is what a Lookup cost when it opened the file for
// each message (read-only bbolt open, one transaction, a Get per token);
// Memory is the Lookup of this package, answered from its in-memory copy
// after a check of the file's meta pages.
func BenchmarkLookup(b *testing.B) {
	_, s, msgs := trained(b, Options{})
	toks, avg := sortedTokens(msgs)
	ctx := context.Background()
	b.Run("OpenPerOp", func(b *testing.B) {
		cpu := storetest.CPUTime()
		for i := range b.N {
			if err := lookupOpen(s.path, toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(avg), "tokens/op")
	})
	b.Run("Memory", func(b *testing.B) {
		for range 2 {
			if _, err := s.Lookup(ctx, toks[0]); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		cpu := storetest.CPUTime()
		for i := range b.N {
			if _, err := s.Lookup(ctx, toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(avg), "tokens/op")
	})
	// Reload is a Lookup after another process committed: the copy is
	// read again.
	b.Run("Reload", func(b *testing.B) {
		cpu := storetest.CPUTime()
		for i := range b.N {
			s.cmu.Lock()
			s.mem = nil
			s.cmu.Unlock()
			if _, err := s.Lookup(ctx, toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(len(s.mem.toks)), "tokens-in-db")
	})
}

// lookupOpen is a Lookup that opens the file for one read, as this store
// did before it kept a copy.
func lookupOpen(path string, toks []bayes.Token) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		meta, tb := tx.Bucket(bucketMeta), tx.Bucket(bucketTokens)
		_, _ = getU64(meta, keyNSpam), getU64(meta, keyNHam)
		for _, t := range toks {
			if v := tb.Get(t[:]); v != nil {
				if _, err := decodeCounts(v); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// BenchmarkMemCopy is the heap the in-memory copy of a full database
// (150000 tokens, the default bayes_expiry_max_db_size) takes.
func BenchmarkMemCopy(b *testing.B) {
	s, _ := filled(b, 150000, 1000, Options{})
	ctx := context.Background()
	if _, err := s.Lookup(ctx, nil); err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	for range b.N {
		s.cmu.Lock()
		s.mem = nil
		s.cmu.Unlock()
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := s.Lookup(ctx, nil); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/150000, "bytes/token")
}

// BenchmarkScore is what Bayes adds to a delivery: tokenizing a message
// whose views the rule engine already computed, the Lookup and the
// chi-squared combining.
func BenchmarkScore(b *testing.B) {
	c, _, msgs := trained(b, Options{})
	ctx := context.Background()
	b.ResetTimer()
	cpu := storetest.CPUTime()
	for i := 0; i < b.N; i++ {
		r, err := c.Score(ctx, msgs[i%len(msgs)])
		if err != nil || !r.OK {
			b.Fatalf("Score = %+v, %v", r, err)
		}
	}
	b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkApply is one learn of a real message's tokens, one read-write
// transaction (fsynced) each, with the copy followed; after the first
// pass each learn is a move to the other class, which forgets and learns.
func BenchmarkApply(b *testing.B) {
	hamFiles, spamFiles := storetest.CorpusFiles(b, 250)
	toks, avg := sortedTokens(storetest.ParseAll(b, append(hamFiles, spamFiles...)))
	s, err := Open(filepath.Join(b.TempDir(), "bayes.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := s.Lookup(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	cpu := storetest.CPUTime()
	for i := 0; i < b.N; i++ {
		class := bayes.Spam
		if (i/len(toks))%2 == 1 {
			class = bayes.Ham
		}
		ch := bayes.Change{IDs: []string{strconv.Itoa(i % len(toks))}, Class: class, Tokens: toks[i%len(toks)], Atime: int64(i)}
		if _, err := s.Apply(ctx, ch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(avg), "tokens/op")
}

// BenchmarkLearn learns corpus messages through the classifier, one
// read-write transaction each.
func BenchmarkLearn(b *testing.B) {
	hamFiles, spamFiles := storetest.CorpusFiles(b, 250)
	msgs := storetest.ParseAll(b, append(hamFiles, spamFiles...))
	s, err := Open(filepath.Join(b.TempDir(), "bayes.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	c := &bayes.Classifier{Store: s, Config: bayes.DefaultConfig()}
	ctx := context.Background()
	b.ResetTimer()
	cpu := storetest.CPUTime()
	for i := 0; i < b.N; i++ {
		if _, err := c.Learn(ctx, msgs[i%len(msgs)], (i/len(msgs))%2 == 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkTokenize is the tokenizer alone, for comparison.
func BenchmarkTokenize(b *testing.B) {
	hamFiles, spamFiles := storetest.CorpusFiles(b, 100)
	msgs := storetest.ParseAll(b, append(hamFiles, spamFiles...))
	cfg := bayes.DefaultConfig()
	b.ResetTimer()
	cpu := storetest.CPUTime()
	for i := 0; i < b.N; i++ {
		bayes.Tokenize(msgs[i%len(msgs)], nil, cfg)
	}
	b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}
