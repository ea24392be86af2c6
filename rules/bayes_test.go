package rules

import (
	"context"
	"testing"
	"time"
)

const bayesRules = `
body BAYES_00  eval:check_bayes('0.00', '0.01')
body BAYES_50  eval:check_bayes('0.40', '0.60')
body BAYES_99  eval:check_bayes('0.99', '1.00')
body BAYES_999 eval:check_bayes('0.999', '1.00')
score BAYES_00  0 0 -1.9 -1.9
score BAYES_50  0 0 0.8 0.8
score BAYES_99  0 0 3.5 3.5
score BAYES_999 0 0 0.2 0.2
tflags BAYES_00 learn
tflags BAYES_50 learn
tflags BAYES_99 learn
tflags BAYES_999 learn
body  WORD /hello/
score WORD 1 2 3 4
`

func bayesProb(p float64) *float64 { return &p }

// TestCheckBayes: the check_bayes rules fire on the probability's band as
// Bayes.pm check_bayes bounds it ((min, max], min 0 inclusive), and the
// score set switches from 0 to 2 once Bayes scored the message.
func TestCheckBayes(t *testing.T) {
	rs, err := LoadString("bayes.cf", bayesRules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	msg := newTestMessage([]byte("Subject: x\n\nhello\n"))
	for _, tc := range []struct {
		bayes *float64
		want  map[string]float64
		set   int
	}{
		{nil, map[string]float64{"WORD": 1}, 0},
		{bayesProb(0), map[string]float64{"BAYES_00": -1.9, "WORD": 3}, 2},
		{bayesProb(0.01), map[string]float64{"BAYES_00": -1.9, "WORD": 3}, 2},
		{bayesProb(0.4), map[string]float64{"WORD": 3}, 2},
		{bayesProb(0.5), map[string]float64{"BAYES_50": 0.8, "WORD": 3}, 2},
		{bayesProb(0.6), map[string]float64{"BAYES_50": 0.8, "WORD": 3}, 2},
		{bayesProb(0.9995), map[string]float64{"BAYES_99": 3.5, "BAYES_999": 0.2, "WORD": 3}, 2},
	} {
		res := rs.Eval(context.Background(), msg, Input{Bayes: tc.bayes})
		got := map[string]float64{}
		for _, h := range res.Hits {
			got[h.Rule] = h.Score
		}
		if len(got) != len(tc.want) || res.ScoreSet != tc.set {
			t.Errorf("Bayes %v: hits %v set %d, want %v set %d", deref(tc.bayes), got, res.ScoreSet, tc.want, tc.set)
			continue
		}
		for r, s := range tc.want {
			if got[r] != s {
				t.Errorf("Bayes %v: %s scored %v, want %v", deref(tc.bayes), r, got[r], s)
			}
		}
	}
	// With network tests on, Bayes moves set 1 to set 3.
	rsNet, err := LoadString("bayes.cf", bayesRules, Options{Net: true})
	if err != nil {
		t.Fatal(err)
	}
	if res := rsNet.Eval(context.Background(), msg, Input{Bayes: bayesProb(0.5)}); res.ScoreSet != 3 || res.Score != 4.8 {
		t.Errorf("net + Bayes: set %d score %v, want set 3 score 4.8", res.ScoreSet, res.Score)
	}
}

// TestBayesRulesOff: use_bayes_rules 0 (and use_bayes 0) keep the BAYES_*
// rules silent and the score set where it was, as in SpamAssassin.
func TestBayesRulesOff(t *testing.T) {
	for _, off := range []string{"use_bayes_rules 0", "use_bayes 0", "use_learner 0"} {
		rs, err := LoadString("bayes.cf", bayesRules+off+"\n", Options{})
		if err != nil {
			t.Fatal(err)
		}
		res := rs.Eval(context.Background(), newTestMessage([]byte("Subject: x\n\nhello\n")), Input{Bayes: bayesProb(0.5)})
		if res.ScoreSet != 0 || len(res.Hits) != 1 || res.Hits[0].Rule != "WORD" {
			t.Errorf("%s: set %d hits %v, want set 0 and WORD alone", off, res.ScoreSet, res.Hits)
		}
	}
}

// TestBayesDirectives: the bayes_* settings are read, with SpamAssassin's
// defaults, and a bad value is diagnosed at its line.
func TestBayesDirectives(t *testing.T) {
	rs, err := LoadString("local.cf", `
bayes_auto_learn 0
bayes_auto_learn_threshold_nonspam -0.5
bayes_auto_learn_threshold_spam 9
bayes_min_ham_num 50
bayes_ignore_header X-Bogosity
bayes_ignore_header X-Spam-Flag X-Spam-Status
bayes_ignore_from *@example.com
bayes_token_sources all
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := rs.Config().Bayes
	if b.AutoLearn || b.AutoLearnThresholdNonspam != -0.5 || b.AutoLearnThresholdSpam != 9 || b.MinHamNum != 50 || b.MinSpamNum != 200 || !b.UseBayes {
		t.Fatalf("Bayes config = %+v", b)
	}
	if len(b.IgnoreHeaders) != 3 || b.IgnoreHeaders[0] != "x-bogosity" || len(b.IgnoreFrom) != 1 || b.Other["bayes_token_sources"] != "all" {
		t.Fatalf("Bayes lists = %+v", b)
	}
	rs, _ = LoadString("local.cf", "\nbayes_min_spam_num lots\n", Options{})
	if l := rs.Lint(); len(l.Errors) != 1 || l.Errors[0].String() != `local.cf:2:1: bayes_min_spam_num: bad count "lots"` {
		t.Fatalf("Lint errors = %v", l.Errors)
	}
}

// TestBayesExpiryDirectives: the expiry settings, durations with Conf.pm's
// unit suffixes.
func TestBayesExpiryDirectives(t *testing.T) {
	def := DefaultBayesConfig()
	if def.ExpiryMaxDBSize != 150000 || !def.AutoExpire || def.TokenTTL != 21*24*time.Hour || def.SeenTTL != 8*24*time.Hour {
		t.Fatalf("DefaultBayesConfig() expiry = %d %v %v %v", def.ExpiryMaxDBSize, def.AutoExpire, def.TokenTTL, def.SeenTTL)
	}
	for _, tc := range []struct {
		cf        string
		max       int
		auto      bool
		tok, seen time.Duration
	}{
		{"bayes_expiry_max_db_size 300000\nbayes_auto_expire 0\n", 300000, false, def.TokenTTL, def.SeenTTL},
		{"bayes_token_ttl 2w\nbayes_seen_ttl 36h\n", 150000, true, 14 * 24 * time.Hour, 36 * time.Hour},
		{"bayes_token_ttl 86400\nbayes_seen_ttl 90m\n", 150000, true, 24 * time.Hour, 90 * time.Minute},
		{"bayes_token_ttl 3d\nbayes_seen_ttl -1\n", 150000, true, 72 * time.Hour, -time.Second},
	} {
		rs, err := LoadString("local.cf", tc.cf, Options{})
		if err != nil {
			t.Fatal(err)
		}
		b := rs.Config().Bayes
		if b.ExpiryMaxDBSize != tc.max || b.AutoExpire != tc.auto || b.TokenTTL != tc.tok || b.SeenTTL != tc.seen {
			t.Errorf("LoadString(%q): max %d auto %v token TTL %v seen TTL %v; want %d %v %v %v", tc.cf, b.ExpiryMaxDBSize, b.AutoExpire, b.TokenTTL, b.SeenTTL, tc.max, tc.auto, tc.tok, tc.seen)
		}
	}
	rs, _ := LoadString("local.cf", "\nbayes_token_ttl soon\n", Options{})
	if l := rs.Lint(); len(l.Errors) != 1 || l.Errors[0].String() != `local.cf:2:1: bayes_token_ttl: bad duration "soon"` {
		t.Fatalf("Lint errors = %v", l.Errors)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestAutoLearnDecision follows AutoLearnThreshold.pm: ham under 0.1,
// spam from 12 with 3 head and 3 body points, learn rules left out of the
// points, noautolearn rules ignored, autolearn_force lifting the split.
func TestAutoLearnDecision(t *testing.T) {
	rs, err := LoadString("al.cf", bayesRules+`
header HBIG  Subject =~ /big/
score  HBIG  8
body   BBIG  /big/
score  BBIG  4
body   BSMALL /small/
score  BSMALL 2
header HNEG  Subject =~ /friend/
score  HNEG  -1
header HQUIET Subject =~ /quiet/
score  HQUIET 20
tflags HQUIET noautolearn
header __H   Subject =~ /meta/
body   __B   /meta/
meta   MBOTH __H && __B
score  MBOTH 14
body   FORCED /forced/
score  FORCED 13
tflags FORCED autolearn_force
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		msg   string
		bayes *float64
		want  AutoLearn
	}{
		{"Subject: friend\n\nhello\n", nil, AutoLearnHam},              // 1 - 1 = 0 < 0.1
		{"Subject: friend\n\nnothing\n", nil, AutoLearnHam},            // -1
		{"Subject: big\n\nbig\n", nil, AutoLearnSpam},                  // 8 head + 4 body
		{"Subject: small\n\nnothing\n", nil, AutoLearnNo},              // 2 (the Subject is body text too): between the thresholds
		{"Subject: big\n\nsmall big\n", bayesProb(0.001), AutoLearnNo}, // BAYES_00 is a learn rule: -1.9 < -1 vetoes spam
		{"Subject: quiet\n\nnothing\n", nil, AutoLearnNo},              // spam verdict, 0 points: not ham against the verdict
		{"Subject: meta\n\nmeta\n", nil, AutoLearnSpam},                // 14 split 7/7
		{"Subject: x\n\nforced\n", nil, AutoLearnSpam},                 // 13 body only, forced
	} {
		res := rs.Eval(context.Background(), newTestMessage([]byte(tc.msg)), Input{Bayes: tc.bayes})
		isSpam := res.Score >= rs.Config().RequiredScore
		if got := rs.AutoLearnDecision(res, isSpam); got != tc.want {
			t.Errorf("%q (Bayes %v): auto-learn %v, want %v; points %+v, hits %v", tc.msg, deref(tc.bayes), got, tc.want, rs.AutoLearnPoints(res), res.Hits)
		}
	}
}
