package bayes_test

import (
	"context"
	"testing"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
)

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
	b.ResetTimer()
	cpu := storetest.CPUTime()
	for i := 0; i < b.N; i++ {
		if r, err := c.Score(ctx, msgs[i%len(msgs)]); err != nil || !r.OK {
			b.Fatalf("Score = %+v, %v", r, err)
		}
	}
	b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}
