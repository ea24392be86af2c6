package boltstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
	"github.com/sluice-mail/sluice/mail"
)

// trained returns a classifier over a bbolt file holding 300 ham and 300
// spam from the corpus, and 1000 other corpus messages to score.
func trained(b *testing.B, opts Options) (*bayes.Classifier, []*mail.Message) {
	b.Helper()
	hamFiles, spamFiles := storetest.CorpusFiles(b, 800)
	if len(hamFiles) < 800 || len(spamFiles) < 800 {
		b.Skip("corpus too small")
	}
	s, err := Open(filepath.Join(b.TempDir(), "bayes.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	c := &bayes.Classifier{Store: s, Config: bayes.DefaultConfig()}
	ctx := context.Background()
	for i, m := range storetest.ParseAll(b, append(hamFiles[:300:300], spamFiles[:300]...)) {
		if _, err := c.Learn(ctx, m, i >= 300); err != nil {
			b.Fatal(err)
		}
	}
	return c, storetest.ParseAll(b, append(hamFiles[300:], spamFiles[300:]...))
}

// BenchmarkScore is what Bayes adds to a delivery: tokenizing a message
// whose views the rule engine already computed, one read-only open of the
// file, the lookups and the chi-squared combining. Run it with
// -benchtime 1000x to score each message once (later rounds find every
// token in the store's cache).
func BenchmarkScore(b *testing.B) { benchScore(b, Options{}) }

func benchScore(b *testing.B, opts Options) {
	c, msgs := trained(b, opts)
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

// BenchmarkLearn learns corpus messages, one read-write transaction
// (fsynced) each; after the first pass each learn is a move to the other
// class, which forgets and learns.
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
