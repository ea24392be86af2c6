package pipeline

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/metrics"
	"github.com/sluice-mail/sluice/rules"
)

// fakeSQL is a PrefsSource holding rows as text by user, counting reads.
type fakeSQL struct {
	mu    sync.Mutex
	rows  map[string]string
	err   error
	reads map[string]int
}

func (f *fakeSQL) UserPrefs(ctx context.Context, user string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reads == nil {
		f.reads = map[string]int{}
	}
	f.reads[user]++
	if f.err != nil {
		return nil, f.err
	}
	return []byte(f.rows[user]), nil
}

func (f *fakeSQL) count(user string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[user]
}

// statusRE is the verdict, score and threshold of X-Spam-Status.
var statusRE = regexp.MustCompile(`(Yes|No), score=\S+ required=\S+`)

// TestSQLPrefsFilter: the rows of each recipient's mailbox apply to
// their copy; ten recipients of one mailbox (with and without detail)
// read the table once; after the TTL it is read again; a failing
// database leaves the site's settings, counted and not retried before
// the TTL.
func TestSQLPrefsFilter(t *testing.T) {
	rs, err := rules.LoadString("local.cf", "body LOCAL_PILLS /cheap pills/\nscore LOCAL_PILLS 3\n", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSQL{rows: map[string]string{
		"alice@example.test": "required_score\t6\nrequired_score\t2\n",
		"bob@example.test":   "score\tLOCAL_PILLS 0.5\nallow_user_rules\t1\n",
	}}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	mt := metrics.New("test")
	p := New(Config{
		Hostname: "mx.test",
		Spam:     &SpamStage{Rules: rs, SQLPrefs: src, RecipientDelimiter: "+"},
		Metrics:  mt,
		Now:      func() time.Time { return now },
	}, quietLog())
	raw := []byte("From: a@client.test\r\nSubject: x\r\n\r\nHere are the cheap pills.\r\n")
	var rcpts []string
	for range 8 {
		rcpts = append(rcpts, "alice@example.test")
	}
	rcpts = append(rcpts, "Alice+news@Example.TEST", "bob@example.test", "carol@example.test")
	status := func() map[string]string {
		t.Helper()
		out, err := p.Filter(context.Background(), &mail.Envelope{MailFrom: "a@client.test", Recipients: rcpts}, raw)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, c := range out {
			v := string(statusRE.Find(c.Header))
			for _, r := range c.Recipients {
				got[r] = v
			}
		}
		return got
	}
	want := map[string]string{
		"alice@example.test":      "Yes, score=3.0 required=2.0",
		"Alice+news@Example.TEST": "Yes, score=3.0 required=2.0",
		"bob@example.test":        "No, score=0.5 required=5.0",
		"carol@example.test":      "No, score=3.0 required=5.0",
	}
	check := func(what string, want map[string]string) {
		t.Helper()
		got := status()
		for r, w := range want {
			if got[r] != w {
				t.Errorf("%s: %s: X-Spam-Status %q, want %q", what, r, got[r], w)
			}
		}
	}
	check("first", want)
	if n := src.count("alice@example.test"); n != 1 {
		t.Errorf("alice's rows read %d times for one message, want 1", n)
	}
	check("cached", want)
	if n := src.count("alice@example.test"); n != 1 {
		t.Errorf("alice's rows read %d times within the TTL, want 1", n)
	}
	now = now.Add(DefaultSQLPrefsTTL)
	src.rows["alice@example.test"] = ""
	want["alice@example.test"], want["Alice+news@Example.TEST"] = "No, score=3.0 required=5.0", "No, score=3.0 required=5.0"
	check("after the TTL", want)
	if n := src.count("alice@example.test"); n != 2 {
		t.Errorf("alice's rows read %d times after the TTL, want 2", n)
	}
	now = now.Add(DefaultSQLPrefsTTL)
	src.err = errors.New("database is locked")
	check("failing", map[string]string{"bob@example.test": "No, score=3.0 required=5.0"})
	check("failing, cached", map[string]string{"bob@example.test": "No, score=3.0 required=5.0"})
	if n := src.count("bob@example.test"); n != 3 {
		t.Errorf("bob's rows read %d times, want 3 (one per TTL)", n)
	}
	var m dto.Metric
	if err := mt.UserPrefsSQL.WithLabelValues("error").Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 3 {
		t.Errorf("sluice_user_prefs_sql_total{result=error} = %v, want 3 (alice, bob, carol)", got)
	}
}

// TestSQLPrefsCheckUser: spamd's User header names the SQL user as it
// is (case kept), and "" reads no rows.
func TestSQLPrefsCheckUser(t *testing.T) {
	rs, err := rules.LoadString("local.cf", "body LOCAL_PILLS /cheap pills/\nscore LOCAL_PILLS 3\n", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSQL{rows: map[string]string{"Alice": "required_score\t1\n", "nobody": "required_score\t9\n"}}
	p := New(Config{Hostname: "mx.test", Spam: &SpamStage{Rules: rs, SQLPrefs: src}}, quietLog())
	raw := []byte("From: a@client.test\r\nSubject: x\r\n\r\nHere are the cheap pills.\r\n")
	for _, c := range []struct {
		user string
		want float64
	}{{"Alice", 1}, {"alice", 5}, {"nobody", 9}, {"", 5}} {
		m, err := p.CheckUser(context.Background(), &mail.Envelope{}, raw, c.user)
		if err != nil {
			t.Fatal(err)
		}
		if m.Verdict.Required != c.want {
			t.Errorf("CheckUser(%q): required %v, want %v", c.user, m.Verdict.Required, c.want)
		}
	}
	if pr := p.UserPrefs(context.Background(), "", "nobody"); pr == nil || pr.Config().RequiredScore != 9 {
		t.Errorf("UserPrefs(\"\", nobody) = %v, want required_score 9", pr)
	}
}

// TestSQLPrefsCancelled: a read failing because the caller's context is
// done is not cached as a failure: the next message reads again.
func TestSQLPrefsCancelled(t *testing.T) {
	rs, err := rules.LoadString("local.cf", "body LOCAL_PILLS /cheap pills/\nscore LOCAL_PILLS 3\n", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSQL{rows: map[string]string{"alice": "required_score\t1\n"}, err: context.Canceled}
	p := New(Config{Hostname: "mx.test", Spam: &SpamStage{Rules: rs, SQLPrefs: src}}, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if pr := p.UserPrefs(ctx, "", "alice"); pr != nil {
		t.Errorf("UserPrefs with a failing read = %v, want nil", pr)
	}
	src.mu.Lock()
	src.err = nil
	src.mu.Unlock()
	if pr := p.UserPrefs(context.Background(), "", "alice"); pr == nil || pr.Config().RequiredScore != 1 {
		t.Errorf("UserPrefs after a cancelled read = %v, want required_score 1", pr)
	}
	if n := src.count("alice"); n != 2 {
		t.Errorf("alice read %d times, want 2", n)
	}
}
