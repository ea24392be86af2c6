package redisstore

import (
	"context"
	"testing"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
	"github.com/sluice-mail/sluice/internal/testutil"
)

func benchStore(b *testing.B) *Store {
	b.Helper()
	addr, _ := testutil.StartRedis(b)
	s, err := Open("redis://"+addr, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkScore is what Bayes on Redis adds to a delivery: tokenizing,
// one MGET round trip on loopback, and the chi-squared combining, over a
// database of 300 ham and 300 spam from the corpus.
func BenchmarkScore(b *testing.B) {
	hamFiles, spamFiles := storetest.CorpusFiles(b, 800)
	if len(hamFiles) < 800 || len(spamFiles) < 800 {
		b.Skip("corpus too small")
	}
	c := &bayes.Classifier{Store: benchStore(b), Config: bayes.DefaultConfig()}
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
		r, err := c.Score(ctx, msgs[i%len(msgs)])
		if err != nil || !r.OK {
			b.Fatalf("Score = %+v, %v", r, err)
		}
	}
	b.ReportMetric(float64(storetest.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkLearn learns corpus messages, one script run each; after the
// first pass each learn is a move to the other class, which forgets and
// learns. cpu-ns/op is sluice's CPU alone (redis-server's is not in it).
func BenchmarkLearn(b *testing.B) {
	hamFiles, spamFiles := storetest.CorpusFiles(b, 250)
	msgs := storetest.ParseAll(b, append(hamFiles, spamFiles...))
	c := &bayes.Classifier{Store: benchStore(b), Config: bayes.DefaultConfig()}
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
