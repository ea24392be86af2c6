package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestMetricsScrape delivers a few messages and finds the documented
// metrics with the right values on /metrics, and /healthz and /readyz up.
func TestMetricsScrape(t *testing.T) {
	cfg := config.Default()
	cfg.Delivery.MailRoot = t.TempDir()
	cfg.Delivery.Domains = []string{"example.test"}
	mport := testutil.FreePort(t)
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", mport)
	cfg.Auth.DNS = []string{dnstest.Start(t, `client.test. TXT "v=spf1 -all"`).Addr}
	addr, _ := startInProcess(t, cfg)

	lmtpSend(t, addr, "s@client.test", []string{"alice@example.test", "bob@example.test"}, testMessage("one", "x"))
	lmtpSend(t, addr, "s@client.test", []string{"carol@example.test", "dave@elsewhere.test"}, testMessage("two", "x"))

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", mport, path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz = %d", code)
	}
	wants := []string{
		`sluice_messages_total{result="ham"} 2`,
		`sluice_messages_total{result="tempfail"} 0`,
		`sluice_recipients_total{action="inbox"} 3`,
		`sluice_recipients_total{action="reject"} 0`,
		`sluice_stage_duration_seconds_count{stage="delivery"} 3`,
		`sluice_stage_duration_seconds_count{stage="parse"} 2`,
		`sluice_stage_duration_seconds_count{stage="auth"} 2`,
		`sluice_stage_duration_seconds_count{stage="rules"} 2`,
		`sluice_stage_duration_seconds_count{stage="sieve"} 3`,
		`sluice_score_count 2`,
		`sluice_rule_hits_total{rule="MISSING_DATE"} 2`,
		`sluice_dns_lookups_total{result="nxdomain"}`,
		`sluice_rules_loaded `,
		`sluice_sessions_open{proto="lmtp"} 0`,
		`sluice_reloads_total{result="error"} 0`,
		`sluice_build_info{goversion="go`,
	}
	// Sessions close asynchronously after QUIT: scrape until settled.
	var missing []string
	var body string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, body = get("/metrics")
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(body, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 {
			return
		}
	}
	t.Fatalf("/metrics lacks %q:\n%s", missing, body)
}
