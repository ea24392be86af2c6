package bayes_test

import (
	"context"
	"testing"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
)

// BenchmarkTokenize is the tokenizer alone, per message, over 100 ham
// and 100 spam messages of the corpus.
func BenchmarkTokenize(b *testing.B) {
	hamFiles, spamFiles := storetest.CorpusFiles(b, 100)
	msgs := storetest.ParseAll(b, append(hamFiles, spamFiles...))
	cfg := bayes.DefaultConfig()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := storetest.CPUTime()
	for i := 0; i < b.N; i++ {
		if len(bayes.Tokenize(msgs[i%len(msgs)], nil, cfg)) == 0 {
			b.Fatal("no tokens")
		}
	}
	b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkScoreMem is BenchmarkScore of package boltstore over a
// MemStore: the classifier's own cost, without the file.
func BenchmarkScoreMem(b *testing.B) {
	hamFiles, spamFiles := storetest.CorpusFiles(b, 800)
	if len(hamFiles) < 800 || len(spamFiles) < 800 {
		b.Skip("corpus too small")
	}
	c := &bayes.Classifier{Store: &bayes.MemStore{}, Config: bayes.DefaultConfig()}
	ctx := context.Background()
	for i, m := range storetest.ParseAll(b, append(hamFiles[:300:300], spamFiles[:300]...)) {
		if _, err := c.Learn(ctx, m, i >= 300); err != nil {
			b.Fatal(err)
		}
	}
	msgs := storetest.ParseAll(b, append(hamFiles[300:], spamFiles[300:]...))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := storetest.CPUTime()
	for i := 0; i < b.N; i++ {
		if r, err := c.Score(ctx, msgs[i%len(msgs)]); err != nil || !r.OK {
			b.Fatalf("Score = %+v, %v", r, err)
		}
	}
	b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkLearnMem is learning one message into a MemStore, 300 ham and
// 300 spam in turn, starting over with an empty store after each round so
// that every learn counts its tokens (but for the few messages the corpus
// holds twice).
func BenchmarkLearnMem(b *testing.B) {
	hamFiles, spamFiles := storetest.CorpusFiles(b, 300)
	msgs := storetest.ParseAll(b, append(hamFiles, spamFiles...))
	ctx := context.Background()
	var c *bayes.Classifier
	b.ReportAllocs()
	b.ResetTimer()
	cpu := storetest.CPUTime()
	for i := 0; i < b.N; i++ {
		k := i % len(msgs)
		if k == 0 {
			c = &bayes.Classifier{Store: &bayes.MemStore{}, Config: bayes.DefaultConfig()}
		}
		if _, err := c.Learn(ctx, msgs[k], k >= len(hamFiles)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}
