package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/parity"
	"github.com/sluice-mail/sluice/internal/testutil"
	_ "modernc.org/sqlite"
)

// writePrefsDB creates SpamAssassin's userpref table
// (sql/userpref_sqlite.sql) holding rows (username, preference, value)
// in db; dollar numbers parameters as PostgreSQL does.
func writePrefsTable(t *testing.T, db *sql.DB, dollar bool, rows [][3]string) {
	t.Helper()
	if _, err := db.Exec(`CREATE TABLE userpref (username varchar(100) NOT NULL DEFAULT '', preference varchar(50) NOT NULL DEFAULT '', value varchar(100) NOT NULL DEFAULT '', prefid SERIAL PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	ins := `INSERT INTO userpref (username, preference, value) VALUES (?, ?, ?)`
	if dollar {
		ins = `INSERT INTO userpref (username, preference, value) VALUES ($1, $2, $3)`
	}
	for _, r := range rows {
		if _, err := db.Exec(ins, r[0], r[1], r[2]); err != nil {
			t.Fatal(err)
		}
	}
}

// writePrefsDB creates a SQLite file at path holding rows, readable by
// the user spamd's children run as.
func writePrefsDB(t *testing.T, path string, rows [][3]string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	writePrefsTable(t, db, false, rows)
	os.Chmod(path, 0o644)
}

// spamdPrefsRows are the rows both spamd and sluice read in
// TestUserScoresSQLSpamd.
var spamdPrefsRows = [][3]string{
	{"@GLOBAL", "required_score", "4.5"},
	{"@GLOBAL", "score", "LOCAL_LOW 0.2"},
	{"alice@example.test", "required_score", "9"},
	{"bob@example.test", "score", "LOCAL_PILLS 1"},
	{"carol@example.test", "welcomelist_from", "*@example.com"},
	{"erin@example.test", "body", "ERIN_RULE /cheap/"},
	{"erin@example.test", "score", "ERIN_RULE -20"},
	{"erin@example.test", "allow_user_rules", "1"},
}

// TestUserScoresSQLSpamd: spamc -u USER gets the same verdict and score
// from `sluice serve -spamd` as from spamd -x --sql-config, both reading
// one database named by user_scores_dsn in local.cf — a SQLite file, and
// a PostgreSQL server with a password: alice's required_score, bob's
// score override and carol's welcomelist_from each turn the site's spam
// verdict into ham; the '@GLOBAL' rows apply to everyone and the user's
// come after them; erin's rule and administrator setting are ignored
// (no allow_user_rules); dave has no rows.
func TestUserScoresSQLSpamd(t *testing.T) {
	testutil.RequirePeer(t, "spamd", "spamc")
	t.Run("sqlite", func(t *testing.T) {
		requirePerlModule(t, "DBD::SQLite", "libdbd-sqlite3-perl")
		dir := testutil.PeerDir(t)
		db := filepath.Join(dir, "prefs.db")
		writePrefsDB(t, db, spamdPrefsRows)
		sqlSpamdParity(t, dir, "user_scores_dsn DBI:SQLite:dbname="+db+"\n")
	})
	t.Run("postgresql", func(t *testing.T) {
		requirePerlModule(t, "DBD::Pg", "libdbd-pg-perl")
		pg := testutil.StartPostgres(t)
		quote := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace
		db, err := sql.Open("pgx", fmt.Sprintf("host=127.0.0.1 port=%d dbname=%s user=%s password='%s'", pg.Port, pg.Database, pg.User, quote(pg.Password)))
		if err != nil {
			t.Fatal(err)
		}
		writePrefsTable(t, db, true, spamdPrefsRows)
		db.Close()
		sqlSpamdParity(t, testutil.PeerDir(t), fmt.Sprintf("user_scores_dsn DBI:Pg:dbname=%s;host=127.0.0.1;port=%d\nuser_scores_sql_username %s\nuser_scores_sql_password %s\n",
			pg.Database, pg.Port, pg.User, pg.Password))
	})
}

// requirePerlModule fails (in CI) or skips when spamd cannot load a DBI
// driver module, from the Debian package pkg (install-peers.sh).
func requirePerlModule(t *testing.T, module, pkg string) {
	t.Helper()
	if err := exec.Command("perl", "-M"+module, "-e1").Run(); err != nil {
		if testutil.InCI() {
			t.Fatalf("peer missing: perl %s (%s): %v", module, pkg, err)
		}
		t.Skipf("peer missing: perl %s (%s): %v", module, pkg, err)
	}
}

// sqlSpamdParity runs spamd -x --sql-config and sluice -spamd with the
// same site settings, sqlCF naming the database of spamdPrefsRows, and
// compares spamc's answers for each user.
func sqlSpamdParity(t *testing.T, dir, sqlCF string) {
	t.Helper()
	site := "body LOCAL_PILLS /cheap pills/\nscore LOCAL_PILLS 6\nbody LOCAL_LOW /asked/\nscore LOCAL_LOW 1\n" + sqlCF
	sd, err := parity.StartSpamd(context.Background(), parity.SpamdOptions{Dir: filepath.Join(dir, "spamd"), ExtraCF: site, SQLConfig: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	// sluice reads spamd's own site directory: Debian's .pre files
	// (enable_compat welcomelist_blocklist) and the same local.cf.
	sdir := filepath.Join(dir, "sluice")
	os.MkdirAll(sdir, 0o755)
	lcf := filepath.Join(dir, "spamd", "site")
	cfg := filepath.Join(sdir, "sluice.toml")
	os.WriteFile(cfg, []byte(serveTOML(t, sdir)+fmt.Sprintf(`[rules]
mode = "dirs"
dirs = [%q, %q]
budget = "5m"
[bayes]
enabled = false
`, stockRules(t), lcf)), 0o644)
	port := startSpamdServe(t, cfg)

	msg := filepath.Join(dir, "pills.eml")
	os.WriteFile(msg, []byte("Received: from mail.example.com (mail.example.com [192.0.2.10]) by mx.example.org (Postfix) with ESMTP id 4AbCdE12\n"+
		"\tfor <user@example.org>; Thu, 03 Dec 2026 10:00:00 +0000\n"+
		"From: Friend <a@example.com>\nTo: user@example.org\nSubject: hello\n"+
		"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <x1@example.com>\n\nHere are the cheap pills you asked about.\n"), 0o644)
	for _, c := range []struct {
		user string
		spam bool
		want string // the end of spamc -c's score/threshold
	}{
		{"alice@example.test", false, "/9.0\n"},
		{"bob@example.test", false, "/4.5\n"},
		{"carol@example.test", false, "/4.5\n"},
		{"dave@example.test", true, "/4.5\n"},
		{"erin@example.test", true, "/4.5\n"},
	} {
		saOut, saCode := spamc(t, sd.Port(), msg, "-c", "-u", c.user)
		slOut, slCode := spamc(t, port, msg, "-c", "-u", c.user)
		if saOut != slOut || saCode != slCode {
			t.Errorf("spamc -c -u %s: spamd %q exit %d, sluice %q exit %d", c.user, saOut, saCode, slOut, slCode)
		}
		if want := map[bool]int{true: 1, false: 0}[c.spam]; slCode != want || !strings.HasSuffix(slOut, c.want) {
			t.Errorf("spamc -c -u %s against sluice: exit %d (%q), want %d and %q", c.user, slCode, slOut, want, c.want)
		}
	}
	// The rule names agree too: carol's USER_IN_WELCOMELIST.
	saOut, _ := spamc(t, sd.Port(), msg, "-y", "-u", "carol@example.test")
	slOut, _ := spamc(t, port, msg, "-y", "-u", "carol@example.test")
	if saOut != slOut || !strings.Contains(slOut, "USER_IN_WELCOMELIST") {
		t.Errorf("spamc -y -u carol: spamd %q, sluice %q", saOut, slOut)
	}
}

// sqlLMTPConfig starts sluice in-process with local.cf saying site and a
// user_prefs template, and returns the config, LMTP address and logs.
func sqlLMTPConfig(t *testing.T, dir, site string) (config.Config, string, *syncBuffer) {
	t.Helper()
	rulesFile := filepath.Join(dir, "local.cf")
	os.WriteFile(rulesFile, []byte("body LOCAL_PILLS /cheap pills/\nscore LOCAL_PILLS 4\n"+site), 0o644)
	root := filepath.Join(dir, "mail")
	src := fmt.Sprintf("[delivery]\nmail_root = %q\ndomains = [\"example.test\"]\nrecipient_delimiter = \"+\"\n[rules]\nmode = \"dirs\"\ndirs = [%q]\nuser_prefs = \"%%h/.spamassassin/user_prefs\"\n[auth]\nenabled = false\n[sieve]\nenabled = false\n[bayes]\nenabled = false\n",
		root, rulesFile)
	cfgFile := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfgFile, []byte(src), 0o644)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	addr, logs := startInProcess(t, cfg)
	return cfg, addr, logs
}

// TestUserScoresSQLLMTP: one LMTP transaction to five recipients over
// user_scores_dsn: alice's row beats her user_prefs file (read after
// it), Bob+news is looked up as bob@example.test, carol has no rows and
// gets '@GLOBAL'; the table is read once per mailbox (metrics), not once
// per recipient.
func TestUserScoresSQLLMTP(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "prefs.db")
	writePrefsDB(t, db, [][3]string{
		{"@GLOBAL", "required_score", "4.5"},
		{"alice@example.test", "required_score", "2"},
		{"bob@example.test", "score", "LOCAL_PILLS 0.5"},
	})
	prefs := filepath.Join(dir, "mail", "example.test", "alice", ".spamassassin", "user_prefs")
	os.MkdirAll(filepath.Dir(prefs), 0o755)
	os.WriteFile(prefs, []byte("required_score 9\nscore LOCAL_PILLS 3\n"), 0o644)
	cfg, addr, _ := sqlLMTPConfig(t, dir, "user_scores_dsn DBI:SQLite:dbname="+db+"\n")
	rcpts := []string{"alice@example.test", "alice+a@example.test", "Bob+news@example.test", "bob@example.test", "carol@example.test"}
	st := lmtpSend(t, addr, "s@client.test", rcpts, testMessage("offer", "cheap pills"))
	for _, r := range rcpts {
		if st[r] != nil {
			t.Fatalf("delivery to %s: %v", r, st[r])
		}
	}
	for _, c := range []struct{ user, want string }{
		{"alice", "Yes, score=3.0 required=2.0"},
		{"bob", "No, score=0.5 required=4.5"},
		{"carol", "No, score=4.0 required=4.5"},
	} {
		if st := statusOf(t, cfg, c.user, "offer"); !strings.HasPrefix(st, c.want) {
			t.Errorf("%s's copy: X-Spam-Status %q, want %q…", c.user, st, c.want)
		}
	}
	body := metricsBody(t, cfg)
	if !strings.Contains(body, `sluice_user_prefs_sql_total{result="query"} 3`) || !strings.Contains(body, `sluice_user_prefs_sql_total{result="error"} 0`) {
		t.Errorf("metrics: want 3 queries (one per mailbox) and no error:\n%s", sqlLines(body))
	}
}

// TestUserScoresSQLDown: a user_scores_dsn whose file is missing does
// not hold mail: the recipient is scored with the site's settings, and
// the failure is logged and counted.
func TestUserScoresSQLDown(t *testing.T) {
	dir := t.TempDir()
	cfg, addr, logs := sqlLMTPConfig(t, dir, "user_scores_dsn DBI:SQLite:dbname="+filepath.Join(dir, "missing.db")+"\n")
	st := lmtpSend(t, addr, "s@client.test", []string{"alice@example.test"}, testMessage("offer", "cheap pills"))
	if st["alice@example.test"] != nil {
		t.Fatalf("delivery: %v", st["alice@example.test"])
	}
	if st := statusOf(t, cfg, "alice", "offer"); !strings.HasPrefix(st, "No, score=4.0 required=5.0") {
		t.Errorf("X-Spam-Status %q, want the site's verdict", st)
	}
	if !strings.Contains(logs.String(), "user_scores_dsn preferences not applied") {
		t.Errorf("no log line for the failed query:\n%s", logs.String())
	}
	if body := metricsBody(t, cfg); !strings.Contains(body, `sluice_user_prefs_sql_total{result="error"} 1`) {
		t.Errorf("metrics: want 1 error:\n%s", sqlLines(body))
	}
}

// TestUserScoresSQLUnsupported: a DSN sluice cannot read stops lint
// (and serve, which loads the same way) with a clear error.
func TestUserScoresSQLUnsupported(t *testing.T) {
	dir := t.TempDir()
	lcf := filepath.Join(dir, "local.cf")
	os.WriteFile(lcf, []byte("user_scores_dsn DBI:mysql:spamassassin:localhost\n"), 0o644)
	var stdout, stderr strings.Builder
	if code := run([]string{"lint", "-rules", lcf}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), `driver "mysql" is not supported`) {
		t.Errorf("lint with a mysql DSN: exit %d, stderr %q, want 1 and the driver named", code, stderr.String())
	}
}

// sqlLines are the sluice_user_prefs_sql lines of a /metrics body.
func sqlLines(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "sluice_user_prefs_sql") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
