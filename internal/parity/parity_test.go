package parity

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/testutil"
)

var (
	update  = flag.Bool("update", false, "rewrite testdata/sa-sample.tsv by running spamd on the sample")
	saCache = flag.String("sa-cache", "", "with -update: a cache file (from cmd/parity) whose verdicts spare spamd runs")
)

// sampleEvery picks the in-test sample: every 6th message of the sorted
// corpus (ham then spam), 1008 of 6046.
const sampleEvery = 6

const sampleFile = "testdata/sa-sample.tsv"

// Thresholds for the sample, set from the 2026-12-04 measurement minus a
// margin (docs/parity.md, "Regression guard"). Raise them as the gaps close.
const (
	minRuleAgreement    = 0.9998 // measured 1.00000 rounded (2026-12-04: relay EnvelopeFrom, ALL-EXTERNAL, FreeMail body, mimeheader per part, …)
	minVerdictAgreement = 0.997  // measured 1.0000; issue 4 asks 0.98 on the full corpus
	maxRulesBelow95     = 2      // measured 0 (rules SA fires on >= 10 sample messages under 95%)
)

func sample(t *testing.T) []Message {
	t.Helper()
	dir := filepath.Join(testutil.SharedDir(t), "corpus", "spamassassin")
	msgs, err := Corpus(dir)
	if err != nil {
		if testutil.InCI() {
			t.Fatal(err)
		}
		t.Skipf("corpus missing (required in CI): %v", err)
	}
	return Sample(msgs, sampleEvery)
}

func startSpamd(t *testing.T) *Spamd {
	t.Helper()
	testutil.RequirePeer(t, "spamd", "spamc")
	sd, err := StartSpamd(context.Background(), SpamdOptions{Dir: testutil.PeerDir(t), Children: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	return sd
}

// TestSampleAgreement scores the sample with sluice and compares it with
// SpamAssassin's stored verdicts; it fails when agreement falls below the
// thresholds above.
func TestSampleAgreement(t *testing.T) {
	if raceEnabled && !*update {
		t.Skip("slow under -race; make test (and so CI) runs it without -race (go test -run Sample ./internal/parity)")
	}
	msgs := sample(t)
	if len(msgs) < 1000 {
		t.Fatalf("sample has %d messages, want >= 1000", len(msgs))
	}
	if *update {
		cache := Cache{}
		if *saCache != "" {
			c, err := LoadCache(*saCache)
			if err != nil {
				t.Fatal(err)
			}
			cache = c
		}
		want := Cache{}
		var sd *Spamd
		for _, m := range msgs {
			raw, err := os.ReadFile(m.Path)
			if err != nil {
				t.Fatal(err)
			}
			h := Hash(Clean(raw))
			if e, ok := cache[h]; ok {
				want[h] = CacheEntry{Name: m.Name, Verdict: e.Verdict}
			} else if sd == nil {
				sd = startSpamd(t)
			}
		}
		if err := SARun(context.Background(), sd, msgs, want, 2, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := want.Save(sampleFile); err != nil {
			t.Fatal(err)
		}
	}
	cache, err := LoadCache(sampleFile)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	local := filepath.Join(tmp, "local.cf")
	if err := os.WriteFile(local, []byte(LocalCF), 0o644); err != nil {
		t.Fatal(err)
	}
	rulesDir := "/usr/share/spamassassin"
	if _, err := os.Stat(filepath.Join(rulesDir, "72_active.cf")); err != nil {
		if testutil.InCI() {
			t.Fatalf("SpamAssassin rules missing: %v", err)
		}
		t.Skipf("peer missing: SpamAssassin rules: %v", err)
	}
	start := time.Now()
	sl, err := LoadSluice([]string{rulesDir}, local, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := Pairs(context.Background(), sl, msgs, cache, 2)
	if err != nil {
		t.Fatalf("Pairs: %v (run go test -run TestSampleAgreement -update)", err)
	}
	var sa map[string]SARule
	if _, err := os.Stat("/usr/share/perl5/Mail/SpamAssassin.pm"); err == nil {
		site, err := WriteSite(filepath.Join(tmp, "perl"))
		if err != nil {
			t.Fatal(err)
		}
		if sa, err = LoadSARules(context.Background(), rulesDir, site); err != nil {
			t.Fatal(err)
		}
	}
	rep := Compare(pairs, sl, sa)
	t.Logf("%d messages in %v\n%s", len(pairs), time.Since(start).Round(time.Millisecond), rep.Summary())
	if got := rep.Agreement(); got < minRuleAgreement {
		t.Errorf("(message, rule) agreement = %.4f, want >= %.4f", got, minRuleAgreement)
	}
	if got := rep.VerdictAgreement(); got < minVerdictAgreement {
		t.Errorf("verdict agreement = %.4f, want >= %.4f", got, minVerdictAgreement)
	}
	if _, below := rep.MinRuleAgreement(10, 0.95); len(below) > maxRulesBelow95 {
		t.Errorf("rules SpamAssassin fires on >= 10 messages agreeing < 95%%: %d, want <= %d: %v", len(below), maxRulesBelow95, below)
	}
	if testing.Verbose() {
		rep.WriteTSV(io.Discard)
	}
}

// TestStoredSampleIsSpamAssassins re-runs spamd on 50 sample messages and
// checks that testdata/sa-sample.tsv still holds exactly what it says.
func TestStoredSampleIsSpamAssassins(t *testing.T) {
	msgs := Sample(sample(t), 20)
	if len(msgs) > 51 {
		msgs = msgs[:51]
	}
	stored, err := LoadCache(sampleFile)
	if err != nil {
		t.Fatal(err)
	}
	sd := startSpamd(t)
	got := Cache{}
	if err := SARun(context.Background(), sd, msgs, got, 2, nil, nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("spamd answered %d of %d messages", len(got), len(msgs))
	}
	for h, e := range got {
		s, ok := stored[h]
		if !ok {
			t.Errorf("%s: not in %s", e.Name, sampleFile)
			continue
		}
		if !maps.Equal(s.Hits, e.Hits) || s.Spam != e.Spam {
			t.Errorf("%s: spamd says spam=%v %v, %s says spam=%v %v", e.Name, e.Spam, formatHits(e.Hits), sampleFile, s.Spam, formatHits(s.Hits))
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"From a@b Mon\nX-Spam-Status: Yes,\n\ttests=A\nSubject: x\nX-Spam-Flag: YES\n\nX-Spam-Body: kept\n", "Subject: x\n\nX-Spam-Body: kept\n"},
		{"x-spam-level: **\r\nTo: a\r\n\r\nbody\r\n", "To: a\r\n\r\nbody\r\n"},
		{"Subject: only\n", "Subject: only\n"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(Clean([]byte(tt.in))); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseParityHeader(t *testing.T) {
	reply := "Received: x\nX-Spam-Parity: Yes 7.3 A=1.2,B=0.5,\n\tC=-1\nSubject: s\n\nbody\n"
	v, err := ParseParityHeader([]byte(reply))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"A": 1.2, "B": 0.5, "C": -1}
	if !v.Spam || v.Score != 7.3 || !maps.Equal(v.Hits, want) {
		t.Fatalf("ParseParityHeader = %+v, want spam 7.3 %v", v, want)
	}
	if _, err := ParseParityHeader([]byte("Subject: s\n\nb\n")); err == nil {
		t.Fatal("ParseParityHeader without the field: nil error, want ErrSpamd")
	}
}
