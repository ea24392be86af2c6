package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/pipeline"
	"github.com/sluice-mail/sluice/rules"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// cmdCheck scores messages as delivery would, loading the rules once: one
// message (a file or stdin) gets a report like `spamassassin -t`, or one
// JSON object with -json; many (several files, directories, mboxes) get
// one summary line each, or one JSON object per line with -json.
func cmdCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", stderr)
	cfgPath := fs.String("config", "", "configuration `file` (TOML); default: embedded defaults")
	var ruleDirs stringList
	fs.Var(&ruleDirs, "rules", "rules `dir`ectory or file (repeatable; replaces [rules])")
	asJSON := fs.Bool("json", false, "print one JSON object")
	clientIP := fs.String("client-ip", "", "client `IP` that handed the message to the MTA")
	helo := fs.String("helo", "", "client HELO `name`")
	mailFrom := fs.String("mail-from", "", "envelope `sender`")
	var rcpts stringList
	fs.Var(&rcpts, "rcpt", "envelope `recipient` (repeatable)")
	bayesDB := fs.String("bayes", "", "Bayes database `file` (replaces bayes.path and [redis]); used when it exists")
	user := fs.String("user", "", "score as delivery to `address` does: its Bayes database ([bayes] per_user), user_prefs file and user_scores_dsn rows (the name as given)")
	prefsFile := fs.String("prefs", "", "score with this user_prefs `file`, as spamassassin -p does")
	dns := fs.String("dns", "", "DNS `server:port` for SPF/DKIM/DMARC and the rule files' DNSBL/URIBL rules (replaces auth.dns); \"off\" skips them all, as spamassassin -L")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	if *bayesDB != "" {
		// A bbolt file named on the command line takes over from [redis].
		cfg.Bayes.Path, cfg.Redis.URL = *bayesDB, ""
	}
	userDB := ""
	if *user != "" {
		if userDB, err = userKey(cfg, *user); err != nil {
			fmt.Fprintf(stderr, "sluice check: %v\n", err)
			return 2
		}
		cfg.Bayes.PerUser = true
	}
	switch *dns {
	case "":
	case "off":
		cfg.Auth.Enabled = false
	default:
		cfg.Auth.DNS = []string{*dns}
	}
	if len(ruleDirs) > 0 {
		cfg.Rules.Mode, cfg.Rules.Dirs = "dirs", ruleDirs
	}
	if cfg.Rules.Mode == "off" {
		cfg.Rules.Mode = "auto"
	}
	log := newLogger(config.Log{Level: "warn", Format: "text"}, stderr)
	p, err := newPipeline(cfg, log, nil, buildOpts{oneShot: len(fs.Args()) <= 1})
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	prefs, err := checkPrefs(p, *prefsFile, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sluice check: %v\n", err)
		return 1
	}
	env := &mail.Envelope{MailFrom: *mailFrom, Recipients: rcpts, ClientIP: net.ParseIP(*clientIP), ClientHelo: *helo}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"-"}
	}
	// One input that is one message keeps the single report (or JSON
	// object); anything more prints one line per message.
	single := len(paths) == 1
	if single && paths[0] != "-" {
		if fi, err := os.Stat(paths[0]); err == nil && fi.IsDir() {
			single = false
		}
	}
	code := 0
	err = mail.WalkSources(paths, stdin, cfg.LMTP.MaxMessageSize, func(src mail.Source, err error) error {
		if err != nil {
			fmt.Fprintf(stderr, "sluice: %s: %v\n", src.File, err)
			code = 1
			return nil
		}
		if src.Mbox {
			single = false
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var m *pipeline.Message
		if prefs != nil {
			m, err = p.CheckPrefs(ctx, env, src.Raw, userDB, prefs)
		} else {
			m, err = p.CheckUser(ctx, env, src.Raw, userDB)
		}
		if err != nil {
			fmt.Fprintf(stderr, "sluice: %s: %v\n", src.File, err)
			code = 1
			return nil
		}
		switch {
		case *asJSON:
			if printJSON(stdout, src, m) != 0 {
				return errors.New("writing the result failed")
			}
		case single:
			printReport(stdout, m)
		default:
			printSummary(stdout, src, m)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	return code
}

type jsonHit struct {
	Rule  string  `json:"rule"`
	Score float64 `json:"score"`
}

type jsonResult struct {
	File     string    `json:"file"`
	Index    *int      `json:"index,omitempty"` // the message's place in its mbox
	Score    float64   `json:"score"`
	Required float64   `json:"required"`
	Spam     bool      `json:"spam"`
	Hits     []jsonHit `json:"hits"`
}

func printJSON(w io.Writer, src mail.Source, m *pipeline.Message) int {
	r := jsonResult{File: src.File, Hits: []jsonHit{}}
	if src.Mbox {
		r.Index = &src.Index
	}
	if v := m.Verdict; v != nil {
		r.Score, r.Required, r.Spam = v.Score, v.Required, v.Spam
		for _, h := range v.Hits {
			r.Hits = append(r.Hits, jsonHit{Rule: h.Rule, Score: h.Score})
		}
	}
	enc := json.NewEncoder(w)
	if err := enc.Encode(r); err != nil {
		return 1
	}
	return 0
}

// printSummary prints one line for a message of a mass check: file (and
// mbox index), verdict, score and the rules hit, as spamassassin's
// mass-check writes its logs.
func printSummary(w io.Writer, src mail.Source, m *pipeline.Message) {
	name := src.File
	if src.Mbox {
		name = fmt.Sprintf("%s:%d", src.File, src.Index)
	}
	v := m.Verdict
	if v == nil {
		fmt.Fprintf(w, "%s rules-off\n", name)
		return
	}
	verdict := "ham"
	if v.Spam {
		verdict = "spam"
	}
	rules := "none" // as X-Spam-Status writes tests=none
	if len(v.Hits) > 0 {
		names := make([]string, len(v.Hits))
		for i, h := range v.Hits {
			names[i] = h.Rule
		}
		rules = strings.Join(names, ",")
	}
	fmt.Fprintf(w, "%s %s %.1f %s\n", name, verdict, v.Score, rules)
}

// printReport prints what `spamassassin -t` shows at the end of a message:
// the verdict and one line per hit.
func printReport(w io.Writer, m *pipeline.Message) {
	if m.Auth != nil {
		fmt.Fprintf(w, "Authentication: spf=%s dmarc=%s", m.Auth.SPF.Result, m.Auth.DMARC.Result)
		for _, d := range m.Auth.DKIM {
			fmt.Fprintf(w, " dkim=%s (d=%s s=%s)", d.Result, d.Domain, d.Selector)
		}
		fmt.Fprintln(w)
	}
	v := m.Verdict
	if v == nil {
		fmt.Fprintln(w, "rules are off")
		return
	}
	verdict := "ham"
	if v.Spam {
		verdict = "SPAM"
	}
	fmt.Fprintf(w, "Content analysis details:   (%.1f points, %.1f required): %s\n\n", v.Score, v.Required, verdict)
	fmt.Fprintln(w, " pts rule name              description")
	fmt.Fprintln(w, "---- ---------------------- --------------------------------------------------")
	for _, h := range v.Hits {
		fmt.Fprintf(w, "%4.1f %-22s %s\n", h.Score, h.Rule, h.Describe)
	}
	if v.TimedOut {
		fmt.Fprintln(w, "\nnote: rule evaluation ran out of its time budget; some rules were skipped")
	}
}

// checkPrefs reads check's -prefs file (nil without one) and reports
// the lines of it that do not apply.
func checkPrefs(p *pipeline.Pipeline, path string, stderr io.Writer) (*rules.Prefs, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pr, err := p.ParsePrefs(path, data)
	if err != nil || pr == nil {
		return nil, err
	}
	l := pr.Lint()
	for _, d := range append(l.Errors, l.Warnings...) {
		fmt.Fprintf(stderr, "sluice check: %s\n", d)
	}
	return pr, nil
}
