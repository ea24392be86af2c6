package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/pipeline"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// cmdCheck scores one message as delivery would and prints a report like
// `spamassassin -t`, or one JSON object with -json.
func cmdCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `file` (TOML); default: embedded defaults")
	var ruleDirs stringList
	fs.Var(&ruleDirs, "rules", "rules `dir`ectory or file (repeatable; replaces [rules])")
	asJSON := fs.Bool("json", false, "print one JSON object")
	clientIP := fs.String("client-ip", "", "client `IP` that handed the message to the MTA")
	helo := fs.String("helo", "", "client HELO `name`")
	mailFrom := fs.String("mail-from", "", "envelope `sender`")
	var rcpts stringList
	fs.Var(&rcpts, "rcpt", "envelope `recipient` (repeatable)")
	dns := fs.String("dns", "", "DNS `server:port` for SPF/DKIM/DMARC (replaces auth.dns); \"off\" skips the checks")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
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
	in := stdin
	if fs.NArg() > 0 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			fmt.Fprintf(stderr, "sluice: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	raw, err := io.ReadAll(in)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	log := newLogger(config.Log{Level: "warn", Format: "text"}, stderr)
	p, err := newPipeline(cfg, log, nil, buildOpts{})
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	env := &mail.Envelope{MailFrom: *mailFrom, Recipients: rcpts, ClientIP: net.ParseIP(*clientIP), ClientHelo: *helo}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := p.Check(ctx, env, raw)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	if *asJSON {
		return printJSON(stdout, m)
	}
	printReport(stdout, m)
	return 0
}

type jsonHit struct {
	Rule  string  `json:"rule"`
	Score float64 `json:"score"`
}

type jsonResult struct {
	Score    float64   `json:"score"`
	Required float64   `json:"required"`
	Spam     bool      `json:"spam"`
	Hits     []jsonHit `json:"hits"`
}

func printJSON(w io.Writer, m *pipeline.Message) int {
	r := jsonResult{Hits: []jsonHit{}}
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
