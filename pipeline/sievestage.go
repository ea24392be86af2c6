package pipeline

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/maildir"
	"github.com/sluice-mail/sluice/sieve"
)

// SieveStage runs Sieve scripts for each recipient in Pigeonhole's order:
// the administrator's before scripts, the user's active script (or the
// default script when the user has none), the administrator's after
// scripts.
type SieveStage struct {
	// Cache compiles script files, keyed by path and modification time.
	Cache *sieve.Cache
	// Builtin are compiled scripts run before every Before script (the
	// embedded spam filing script).
	Builtin []*sieve.Script
	// Before, After and Default are script paths; Default runs for users
	// without a script of their own.
	Before, After []string
	Default       string
	// UserScript is the path template of a user's active script: %h home
	// (the users file's, else the directory above the Maildir), %u, %n, %d.
	// It is read as sieve.UserFiles describes: no symlink out of the home.
	UserScript string
	// UserDir is the path template of the directory include :personal
	// reads NAME.sieve from (Dovecot's ~/sieve); empty: none.
	UserDir string
	// Duplicates returns the duplicate extension's tracker for a user;
	// nil remembers nothing.
	Duplicates func(user string) sieve.DuplicateTracker
}

// Outbound sends what Sieve asks to send; Sender implements it with the
// outbound package.
type Outbound interface {
	// Redirect forwards raw to addr on behalf of rcpt (RFC 5228 §4.2).
	Redirect(ctx context.Context, m *Message, rcpt Recipient, addr string, raw []byte) error
	// Vacation sends the auto-reply v on behalf of rcpt (RFC 5230).
	Vacation(ctx context.Context, m *Message, rcpt Recipient, v *sieve.Vacation) error
}

// ErrNoOutbound is logged when a script redirects or replies while no
// outbound relay is configured.
var ErrNoOutbound = errors.New("pipeline: no outbound relay configured for redirect/vacation")

// runSieve runs the scripts for d.Rcpt and turns their actions into d's
// stores, a rejection, or sent redirects and replies.
func (p *Pipeline) runSieve(ctx context.Context, m *Message, d *Delivery) error {
	start := p.cfg.Now()
	defer func() {
		if mt := p.cfg.Metrics; mt != nil {
			mt.ObserveStage("sieve", p.cfg.Now().Sub(start))
		}
	}()
	seq, err := p.sequence(ctx, d.Rcpt)
	if err != nil {
		// An administrator's script that does not load must not lose
		// mail: keep it, as Pigeonhole does, and tell the administrator.
		p.log.ErrorContext(ctx, "sieve script failed to load; keeping the message", "rcpt", d.Rcpt.Address, "err", err)
		return nil
	}
	if len(seq.Scripts()) == 0 {
		return nil
	}
	if m.sieveMsg == nil {
		m.sieveMsg = sieveMessage(m)
	}
	env := p.sieveEnv(m, d)
	if store, err := p.stores.open(d.Rcpt); err == nil {
		env.Mailboxes = mailboxes{store}
	}
	res, err := seq.Run(ctx, m.sieveMsg, env)
	if err != nil {
		p.log.WarnContext(ctx, "sieve runtime error; implicit keep", "rcpt", d.Rcpt.Address, "err", err)
	}
	for _, w := range res.Warnings {
		p.log.InfoContext(ctx, "sieve warning", "rcpt", d.Rcpt.Address, "warning", w)
	}
	return p.applySieve(ctx, m, d, res)
}

// sieveMessage adapts the message to Sieve: the MIME structure is the
// parse the spam stage made (a first parse when it did not run), the
// header is m.Header with the fields the per-message steps added, removed
// and rewrote. Only where report_safe replaced the body is the message
// parsed again, once.
func sieveMessage(m *Message) sieve.Message {
	pm := m.Parsed
	switch {
	case pm != nil && !isSuffix(m.Raw, m.Body):
		pm = mail.Parse(m.Out(), mail.Options{})
	case pm == nil:
		pm = mail.Parse(m.Raw, mail.Options{})
	}
	return sieve.FromMail(pm, m.Header, m.Body)
}

// isSuffix reports whether b is the tail of raw itself, not a copy.
func isSuffix(raw, b []byte) bool {
	if len(b) == 0 || len(b) > len(raw) {
		return len(b) == 0
	}
	return &raw[len(raw)-len(b)] == &b[0]
}

// sequence assembles the scripts that run for rcpt.
func (p *Pipeline) sequence(ctx context.Context, rcpt Recipient) (*sieve.Sequence, error) {
	s := p.cfg.Sieve
	seq := &sieve.Sequence{Before: append([]*sieve.Script(nil), s.Builtin...)}
	load := func(path string) (*sieve.Script, error) {
		sc, err := s.Cache.Load(ctx, path)
		if errors.Is(err, sieve.ErrNoScript) {
			return nil, nil
		}
		return sc, err
	}
	for _, path := range s.Before {
		sc, err := load(path)
		if err != nil {
			return nil, err
		}
		if sc != nil {
			seq.Before = append(seq.Before, sc)
		}
	}
	userFailed := false
	if s.UserScript != "" {
		u := sieve.UserFiles{Home: homeOf(rcpt), Script: expandUser(s.UserScript, rcpt)}
		if s.UserDir != "" {
			u.Dir = expandUser(s.UserDir, rcpt)
		}
		if o := rcpt.Owner; o != nil {
			u.Owner = &sieve.FileOwner{UID: o.UID, GID: o.GID}
		}
		sc, err := s.Cache.LoadUser(ctx, u)
		switch {
		case errors.Is(err, sieve.ErrNoScript):
		case err != nil:
			// A user's script that cannot be read or compiled must not lose
			// mail nor skip the administrator's scripts: it is left out, its
			// part is an implicit keep, and the after scripts still run.
			// The error names the file, never its content.
			p.log.ErrorContext(ctx, "sieve user script not run; implicit keep", "rcpt", rcpt.Address, "user", rcpt.User, "path", u.Script, "err", err)
			userFailed = true
		default:
			seq.User = sc
		}
	}
	if seq.User == nil && !userFailed && s.Default != "" {
		sc, err := load(s.Default)
		if err != nil {
			return nil, err
		}
		seq.Default = sc
	}
	for _, path := range s.After {
		sc, err := load(path)
		if err != nil {
			return nil, err
		}
		if sc != nil {
			seq.After = append(seq.After, sc)
		}
	}
	return seq, nil
}

// homeOf returns the recipient's home: the users file's, else the
// directory above the Maildir.
func homeOf(r Recipient) string {
	if r.Home != "" {
		return r.Home
	}
	return filepath.Dir(r.Maildir)
}

// expandUser fills a per-user path template.
func expandUser(tmpl string, r Recipient) string {
	home := homeOf(r)
	return strings.NewReplacer("%h", home, "~", home, "%u", r.User, "%n", r.Local, "%d", r.Domain).Replace(tmpl)
}

func (p *Pipeline) sieveEnv(m *Message, d *Delivery) sieve.Env {
	env := sieve.Env{
		From:      m.Env.MailFrom,
		To:        d.Rcpt.Address,
		UserEmail: d.Rcpt.User,
		Now:       p.cfg.Now(),
		Vars: map[string]string{
			"domain": d.Rcpt.Domain,
			"host":   p.cfg.Hostname,
			"phase":  "during",
		},
	}
	if dup := p.cfg.Sieve.Duplicates; dup != nil {
		env.Duplicate = dup(d.Rcpt.User)
	}
	if ip := m.Env.ClientIP; ip != nil {
		env.Vars["remote-ip"] = ip.String()
		if m.Env.ClientName != "" {
			env.Vars["remote-host"] = m.Env.ClientName
		}
	}
	if v := m.Verdict; v != nil {
		env.SpamTested, env.SpamScore, env.SpamRequired, env.Spam = true, v.Score, v.Required, v.Spam
	}
	return env
}

// StatusSieveReject builds the reply to a Sieve reject/ereject.
func StatusSieveReject(reason string) *smtp.SMTPError {
	reason = strings.Join(strings.Fields(reason), " ")
	if reason == "" {
		reason = "Rejected by the recipient's mail filter"
	}
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: reason}
}

// applySieve turns a Sieve result into stores, a rejection, redirects and
// vacation replies. A redirect that cannot be sent is a temporary failure
// for this recipient; a missing relay keeps the message instead.
func (p *Pipeline) applySieve(ctx context.Context, m *Message, d *Delivery, res *sieve.Result) error {
	var stores []Store
	keep := res.ImplicitKeep
	keepFlags := res.ImplicitKeepFlags
	for _, a := range res.Actions {
		switch a.Kind {
		case sieve.Keep:
			keep, keepFlags = true, a.Flags
		case sieve.FileInto:
			folder := a.Mailbox
			if strings.EqualFold(folder, "INBOX") {
				folder = ""
			}
			stores = append(stores, Store{Folder: folder, Create: a.Create, Flags: maildir.ParseFlags(a.Flags)})
		case sieve.Reject, sieve.EReject:
			return StatusSieveReject(a.Reason)
		case sieve.Redirect:
			if a.Suppressed != "" {
				p.log.InfoContext(ctx, "sieve redirect suppressed", "rcpt", d.Rcpt.Address, "to", a.Address, "why", a.Suppressed)
				continue
			}
			raw := m.Out()
			if a.Header != nil {
				raw = replaceHeader(raw, headerBytes(a.Header))
			}
			d.Redirects = append(d.Redirects, Redirect{Addr: a.Address, Raw: raw})
		case sieve.VacationAction:
			if a.Vacation == nil || a.Vacation.Suppressed != "" {
				continue
			}
			if p.cfg.Outbound == nil {
				p.log.WarnContext(ctx, "sieve vacation reply not sent", "rcpt", d.Rcpt.Address, "err", ErrNoOutbound)
				continue
			}
			// A failed auto-reply must not hold up delivery.
			if err := p.cfg.Outbound.Vacation(ctx, m, d.Rcpt, a.Vacation); err != nil {
				p.log.WarnContext(ctx, "sieve vacation reply failed", "rcpt", d.Rcpt.Address, "err", err)
			}
		case sieve.NotifyAction:
			// enotify is not offered (sieve.DefaultExtensions), so this
			// comes only from a script compiled with it: nothing sends it.
			p.log.WarnContext(ctx, "sieve notify not sent: not supported", "rcpt", d.Rcpt.Address)
		case sieve.Discard:
		}
	}
	if keep {
		stores = append([]Store{{Flags: maildir.ParseFlags(keepFlags)}}, stores...)
	}
	d.Stores = stores
	if res.HeaderEdited {
		d.Header = headerBytes(res.EditedHeaders)
	}
	return nil
}

// headerBytes renders header fields as a header block.
func headerBytes(fields []sieve.HeaderField) []byte {
	var b bytes.Buffer
	for _, f := range fields {
		b.WriteString(f.Name)
		b.WriteString(": ")
		b.WriteString(strings.ReplaceAll(f.Value, "\n", "\r\n"))
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// replaceHeader returns msg with its header block replaced by hdr.
func replaceHeader(msg, hdr []byte) []byte {
	body := []byte{}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		body = msg[i+2:]
	} else if i := bytes.Index(msg, []byte("\n\n")); i >= 0 {
		body = msg[i+1:]
	}
	out := make([]byte, 0, len(hdr)+len(body)+2)
	out = append(out, hdr...)
	if len(body) == 0 {
		return append(out, "\r\n"...)
	}
	return append(out, body...)
}

// mailboxes answers Sieve's mailboxexists from a Maildir.
type mailboxes struct{ s *maildir.Store }

func (m mailboxes) MailboxExists(_ context.Context, name string) bool {
	ok, err := m.s.FolderExists(name)
	return err == nil && ok
}
