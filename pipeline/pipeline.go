// Package pipeline runs the flow of one message through sluice: the
// per-message steps (parse, authenticate, score, add headers) once, then the
// per-recipient steps (Sieve, delivery) for each recipient, and turns every
// outcome into a per-recipient SMTP status.
//
// It implements the Backend interface the lmtp package declares. Failure
// semantics (DESIGN.md): 250 only after the message is durably stored;
// internal errors and panics are temporary (451 4.3.0) so the MTA retries;
// only deliberate refusals are permanent.
package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/maildir"
	"github.com/sluice-mail/sluice/metrics"
	"github.com/sluice-mail/sluice/outbound"
	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/scoring"
	"github.com/sluice-mail/sluice/sieve"
)

// Statuses sent back to the MTA. The peer sees only this short text; the
// detail goes to the log.
var (
	StatusTempFail = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary internal error, try again later"}
	StatusNoSpace  = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, try again later"}
	StatusNoUser   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	StatusNoDomain = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 2}, Message: "Domain not accepted here"}
	StatusBadAddr  = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	StatusBadSRS   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Invalid or expired SRS address"}
	// StatusMailboxFull and StatusMailboxFullTemp refuse a recipient over
	// quota (RFC 3463 §3.3: X.2.2 mailbox full), as Dovecot's LMTP does
	// with quota_full_tempfail = no and yes.
	StatusMailboxFull     = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox is full"}
	StatusMailboxFullTemp = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox is full"}
	// StatusTimeout answers a recipient not delivered when the message's
	// context ended: its deadline passed or the client went away.
	StatusTimeout = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 7}, Message: "Delivery time limit exceeded, try again later"}
)

// Message is one message on its way through the pipeline. Per-message steps
// fill it; per-recipient steps read it.
type Message struct {
	Env *mail.Envelope
	// Raw is the message as received, CRLF line endings.
	Raw []byte
	// Header and Body are the message as it leaves the per-message steps:
	// Header is Raw's header section (the blank line that ends it
	// included) with the fields they add (Authentication-Results,
	// X-Spam-*) and the rewrites they make (Subject); Body is Raw's body,
	// not copied, unless report_safe replaced it. Every recipient's copy
	// starts from them.
	Header, Body []byte
	// MessageID and QueueID identify the message in logs.
	MessageID string
	QueueID   string
	// Auth holds the SPF/DKIM/DMARC/DNSBL results when checked.
	Auth *auth.Results
	// Parsed is the parsed message and Verdict the spam decision, when the
	// spam stage ran.
	Parsed  *mail.Message
	Verdict *scoring.Verdict

	// Scanned is set when the message carried a valid mark of our milter
	// (Config.ScanKey): the auth and spam stages did not run again.
	Scanned bool

	scanning bool          // Scan is marking the message: no mark is trusted
	edits    *mail.Header  // Header under the per-message steps' edits, until rendered
	sieveMsg sieve.Message // Header and Body as Sieve sees them, parsed on first use
	identity string        // for the delivery log, computed on first use
}

// Delivery is what happens to one recipient's copy. Per-recipient steps
// (DMARC quarantine, Sieve) change it.
type Delivery struct {
	Rcpt Recipient
	// Stores are the copies to file, INBOX alone by default; empty (and
	// no redirects) means the message is discarded for this recipient.
	Stores []Store
	// Header, when set, replaces the message's header block in this
	// recipient's copies (Sieve editheader), CRLF line ends.
	Header []byte
	// Redirects are the forwards to send after the copies are filed.
	Redirects []Redirect
	// Redirected counts forwards sent for this recipient.
	Redirected int
}

// Redirect is one forward of this recipient's copy (Sieve redirect).
type Redirect struct {
	Addr string
	Raw  []byte // the message as forwarded (editheader applied)
}

// Store is one copy filed into a folder.
type Store struct {
	Folder string // "" is INBOX
	Create bool   // create Folder if missing
	Flags  maildir.Flags
	size   int64 // bytes stored, once filed
}

// FileOnly replaces every copy with one in folder.
func (d *Delivery) FileOnly(folder string, create bool) {
	d.Stores = []Store{{Folder: folder, Create: create}}
}

// Config configures a Pipeline.
type Config struct {
	// Hostname names this host in the Received header.
	Hostname string
	// Directory resolves recipients.
	Directory *Directory
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics, when set, receives counts and durations.
	Metrics *metrics.Metrics
	// Auth, when set, verifies SPF, DKIM, DMARC and DNSBLs per message.
	Auth *AuthStage
	// Spam, when set, scores every message with the rule engine.
	Spam *SpamStage
	// Sieve, when set, runs the admin and user scripts per recipient.
	Sieve *SieveStage
	// Outbound sends Sieve redirects and vacation replies; nil refuses
	// them (the message is kept, and the refusal logged).
	Outbound Outbound
	// Log, when set, records filed copies of recipients that also have
	// redirects, so a retry after a failed redirect files nothing twice.
	Log DeliveryLog
	// Bouncer, when set, forwards bounces sent to our SRS addresses.
	Bouncer Bouncer
	// QuotaFullTempfail answers a recipient over quota 452 4.2.2 (the MTA
	// retries) instead of 552 5.2.2, as Dovecot's quota_full_tempfail.
	QuotaFullTempfail bool
	// ScanKey, when set, keys the marks Scan adds (ScannedField), and mail
	// carrying a mark that verifies with it is not checked again: its
	// Authentication-Results and X-Spam-* fields are kept as they are.
	ScanKey []byte
}

// Pipeline delivers messages. It is safe for concurrent use.
type Pipeline struct {
	cfg    Config
	log    *slog.Logger
	stores storeCache
	prefs  prefsCache
	sql    sqlPrefsCache
}

// New returns a Pipeline. A nil log discards nothing: slog.Default is used.
func New(cfg Config, log *slog.Logger) *Pipeline {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pipeline{cfg: cfg, log: log, stores: storeCache{log: log, m: make(map[string]*maildir.Store)}}
}

// Recipient checks one RCPT TO address and returns the status to answer
// when it is refused.
func (p *Pipeline) Recipient(ctx context.Context, addr string) error {
	if b := p.cfg.Bouncer; b != nil && b.IsSRS(addr) {
		return nil
	}
	_, err := p.cfg.Directory.Resolve(addr)
	if err != nil {
		p.log.InfoContext(ctx, "recipient refused", "rcpt", addr, "reason", err)
	}
	return rcptStatus(err)
}

func rcptStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrBadAddress):
		return StatusBadAddr
	case errors.Is(err, ErrUnknownDomain):
		return StatusNoDomain
	case errors.Is(err, ErrUnknownUser):
		return StatusNoUser
	}
	return StatusTempFail
}

// Deliver runs the pipeline for one message and returns one status per
// recipient of env, in order: nil for delivered, an *smtp.SMTPError
// otherwise. It never panics.
func (p *Pipeline) Deliver(ctx context.Context, env *mail.Envelope, raw []byte) []error {
	statuses := make([]error, len(env.Recipients))
	m := newMessage(env, raw)
	targets, of := p.recipientTargets(ctx, env.Recipients)
	copies, err := p.perMessage(ctx, m, targets)
	if err != nil {
		p.log.ErrorContext(ctx, "message failed", "msgid", m.MessageID, "queue_id", m.QueueID, "err", err)
		for i := range statuses {
			statuses[i] = StatusTempFail
		}
		p.count("tempfail", nil, "panic")
		return statuses
	}
	actions := make([]string, len(env.Recipients))
	for i, rcpt := range env.Recipients {
		actions[i], statuses[i] = p.perRecipient(ctx, copies[of[i]], rcpt)
	}
	result := "ham"
	for _, c := range copies {
		if c.spamResult() == "spam" {
			result = "spam"
		}
	}
	rejected := 0
	for _, a := range actions {
		switch a {
		case "tempfail":
			result = "tempfail"
		case "reject":
			rejected++
		}
	}
	if result != "tempfail" && rejected == len(actions) {
		result = "rejected"
	}
	p.count(result, actions, "")
	return statuses
}

// logIdentity is the message's key in the delivery log.
func (m *Message) logIdentity() string {
	if m.identity == "" {
		m.identity = outbound.MessageIdentity(m.Raw)
	}
	return m.identity
}

// spamResult is "spam" or "ham" for metrics.
func (m *Message) spamResult() string {
	if m.Verdict != nil && m.Verdict.Spam {
		return "spam"
	}
	return "ham"
}

// verdictAttrs are the log attributes of the spam decision, if any.
func (m *Message) verdictAttrs() []any {
	if m.Verdict == nil {
		return nil
	}
	v := m.Verdict
	names := make([]string, len(v.Hits))
	for i, h := range v.Hits {
		names[i] = h.Rule
	}
	return []any{"spam", v.Spam, "score", fmt.Sprintf("%.1f", v.Score), "tests", strings.Join(names, ",")}
}

// Out returns the outgoing message, Header and Body joined (a copy).
func (m *Message) Out() []byte {
	out := make([]byte, 0, len(m.Header)+len(m.Body))
	return append(append(out, m.Header...), m.Body...)
}

// outParts returns the pieces of the outgoing message with hdr, when not
// nil, in place of its header fields (Sieve editheader, CRLF line ends,
// no blank line).
func (m *Message) outParts(hdr []byte) [][]byte {
	if hdr == nil {
		return [][]byte{m.Header, m.Body}
	}
	if bytes.HasSuffix(m.Header, []byte("\r\n\r\n")) {
		return [][]byte{hdr, []byte("\r\n"), m.Body}
	}
	return [][]byte{replaceHeader(m.Out(), hdr)}
}

func newMessage(env *mail.Envelope, raw []byte) *Message {
	k := mail.HeaderLen(raw)
	// The header's capacity ends where it does, so that appending to it
	// never writes into the body.
	return &Message{Env: env, Raw: raw, Header: raw[:k:k], Body: raw[k:], QueueID: env.QueueID}
}

// Filtered is one copy of a filtered message and the recipients it is for:
// the new header section (with its blank line) and the body as received,
// which shares the caller's buffer: a large message is never copied
// whole.
type Filtered struct {
	Recipients []string
	Header     []byte
	Body       []byte
}

// Size returns the length of the message.
func (f Filtered) Size() int64 { return int64(len(f.Header) + len(f.Body)) }

// Bytes returns the message in one new buffer.
func (f Filtered) Bytes() []byte {
	out := make([]byte, 0, len(f.Header)+len(f.Body))
	return append(append(out, f.Header...), f.Body...)
}

// Reader returns the message as a stream, without copying it.
func (f Filtered) Reader() io.Reader {
	return io.MultiReader(bytes.NewReader(f.Header), bytes.NewReader(f.Body))
}

// Filter runs only the per-message steps and returns the message as they
// leave it, for the content-filter modes (pipe, SMTP proxy) where the MTA
// delivers: one copy for all of env's recipients or, with per-user Bayes
// and recipients of several mailboxes, one copy per mailbox, in order of
// first appearance. Any failure, a panic included, is an error and no
// copy is returned: the caller must make the MTA retry.
func (p *Pipeline) Filter(ctx context.Context, env *mail.Envelope, raw []byte) ([]Filtered, error) {
	m := newMessage(env, raw)
	targets, of := p.recipientTargets(ctx, env.Recipients)
	copies, err := p.perMessage(ctx, m, targets)
	if err != nil {
		p.log.ErrorContext(ctx, "filter failed", "msgid", m.MessageID, "queue_id", m.QueueID, "err", err)
		p.count("tempfail", nil, "panic")
		return nil, err
	}
	out := make([]Filtered, len(copies))
	for i, r := range env.Recipients {
		out[of[i]].Recipients = append(out[of[i]].Recipients, r)
	}
	result := "ham"
	for i, c := range copies {
		if c.spamResult() == "spam" {
			result = "spam"
		}
		out[i].Header, out[i].Body = c.Header, c.Body
		attrs := []any{"msgid", c.MessageID, "queue_id", c.QueueID, "from", env.MailFrom, "rcpts", len(out[i].Recipients), "size", len(c.Header) + len(c.Body)}
		if targets != nil && targets[i].user != "" {
			attrs = append(attrs, "user", targets[i].user)
		}
		p.log.InfoContext(ctx, "filtered", append(attrs, c.verdictAttrs()...)...)
	}
	p.count(result, nil, "")
	return out, nil
}

// Check runs the per-message steps and returns the message with its
// results (Auth, Verdict, Header and Body), for `sluice check`, scored
// with the global Bayes database. Nothing is counted.
func (p *Pipeline) Check(ctx context.Context, env *mail.Envelope, raw []byte) (*Message, error) {
	return p.CheckUser(ctx, env, raw, "")
}

// CheckUser is Check with the Bayes database of user, a mailbox as
// MailboxUser names it, when SpamStage.Users is set, and with the
// user_prefs of user as a recipient address, when SpamStage.UserPrefs is
// set, and the SQL rows of user as it is, when SpamStage.SQLPrefs is.
func (p *Pipeline) CheckUser(ctx context.Context, env *mail.Envelope, raw []byte, user string) (*Message, error) {
	var prefs *rules.Prefs
	if s := p.cfg.Spam; s != nil && (s.UserPrefs != "" || s.SQLPrefs != nil) {
		prefs = p.UserPrefs(ctx, user, user)
	}
	return p.CheckPrefs(ctx, env, raw, user, prefs)
}

// CheckPrefs is CheckUser with prefs (from SpamStage.Rules.ParsePrefs;
// nil: the site's settings) in place of the user's own.
func (p *Pipeline) CheckPrefs(ctx context.Context, env *mail.Envelope, raw []byte, user string, prefs *rules.Prefs) (*Message, error) {
	m := newMessage(env, raw)
	copies, err := p.perMessage(ctx, m, []scoreTarget{{user: user, prefs: prefs}})
	if err != nil {
		return nil, err
	}
	return copies[0], nil
}

// count records one message's outcome in the metrics, if any.
func (p *Pipeline) count(result string, actions []string, reason string) {
	mt := p.cfg.Metrics
	if mt == nil {
		return
	}
	mt.Messages.WithLabelValues(result).Inc()
	for _, a := range actions {
		mt.Recipients.WithLabelValues(a).Inc()
	}
	if reason != "" {
		mt.DeliveryErrors.WithLabelValues(reason).Inc()
	}
}

// perMessage runs the message steps and returns the message as they leave
// it, one copy for each of targets (the Bayes database and preferences it
// is scored with; nil is one copy with the global database and the
// site's settings). Authentication and parsing run once; the spam stage
// once per copy. A panic in any becomes an error.
func (p *Pipeline) perMessage(ctx context.Context, m *Message, targets []scoreTarget) (copies []*Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			copies, err = nil, fmt.Errorf("pipeline: panic: %v\n%s", r, debug.Stack())
		}
	}()
	p.parse(m)
	m.Scanned = p.scanned(m)
	if p.cfg.Auth != nil && !m.Scanned {
		p.runAuth(ctx, m)
	}
	if len(targets) == 0 {
		targets = []scoreTarget{{}}
	}
	seen := evals{}
	for i, t := range targets {
		c := m
		if i < len(targets)-1 {
			// The copies share Raw, Parsed and the auth results, which
			// nothing below changes; the header edits are each copy's own.
			dup := *m
			dup.edits = m.edits.Clone()
			c = &dup
		}
		if p.cfg.Spam != nil && !m.Scanned {
			p.runSpam(ctx, c, t, seen)
		}
		c.renderHeader()
		copies = append(copies, c)
	}
	return copies, nil
}

// perRecipient resolves, runs the recipient steps and delivers one copy.
// It logs the one summary line per recipient.
// The action it returns names the outcome for metrics: inbox, folder,
// discard, reject or tempfail.
func (p *Pipeline) perRecipient(ctx context.Context, m *Message, addr string) (action string, status error) {
	start := p.cfg.Now()
	d := &Delivery{Stores: []Store{{}}}
	var size int64
	var detail error
	var reason string // why a delivery failed, for metrics
	defer func() {
		if r := recover(); r != nil {
			detail = fmt.Errorf("pipeline: panic: %v\n%s", r, debug.Stack())
			status, reason = StatusTempFail, "panic"
		}
		result := "delivered"
		action = "inbox"
		switch {
		case status != nil:
			result, action = "refused", "reject"
			var se *smtp.SMTPError
			if !errors.As(status, &se) || se.Code/100 == 4 {
				result, action = "tempfail", "tempfail"
			}
		case len(d.Stores) == 0 && d.Redirected > 0:
			action = "redirect"
		case len(d.Stores) == 0:
			result, action = "discarded", "discard"
		case d.Stores[0].Folder != "":
			action = "folder"
		}
		if mt := p.cfg.Metrics; mt != nil {
			mt.ObserveStage("delivery", p.cfg.Now().Sub(start))
			if action == "tempfail" {
				if reason == "" {
					reason = "other"
				}
				mt.DeliveryErrors.WithLabelValues(reason).Inc()
			}
		}
		attrs := []any{
			"msgid", m.MessageID, "queue_id", m.QueueID, "rcpt", addr,
			"result", result, "folder", folderNames(d.Stores), "size", size,
			"duration", p.cfg.Now().Sub(start).Round(time.Microsecond),
		}
		attrs = append(attrs, m.verdictAttrs()...)
		if env := m.Env; env.ClientIP != nil {
			attrs = append(attrs, "client", env.ClientIP.String(), "helo", env.ClientHelo)
		}
		if status != nil {
			attrs = append(attrs, "status", status.Error())
		}
		if detail != nil {
			attrs = append(attrs, "err", detail.Error())
			p.log.ErrorContext(ctx, "delivery", attrs...)
			return
		}
		p.log.InfoContext(ctx, "delivery", attrs...)
	}()

	// A recipient whose context has ended is not started, and not filed
	// after a stage that carried on regardless: the reply would come too
	// late, and a 250 nobody hears makes a retry deliver twice.
	if err := ctx.Err(); err != nil {
		detail, reason = err, "timeout"
		return "", StatusTimeout
	}
	if b := p.cfg.Bouncer; b != nil && b.IsSRS(addr) {
		d.Stores, d.Redirected = nil, 1
		if err := b.Bounce(ctx, m, addr); err != nil {
			detail = err
			if errors.Is(err, outbound.ErrTemporary) || !errors.Is(err, outbound.ErrPermanent) {
				reason = "outbound"
				return "", StatusTempFail
			}
			return "", StatusBadSRS
		}
		return "", nil
	}
	rcpt, err := p.cfg.Directory.Resolve(addr)
	if err != nil {
		detail = err
		return "", rcptStatus(err)
	}
	d.Rcpt = rcpt
	if err := p.dmarcPolicy(m, d); err != nil {
		detail = err
		return "", err
	}
	if p.cfg.Sieve != nil {
		if err := p.runSieve(ctx, m, d); err != nil {
			detail = err
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				return "", se
			}
			reason = "outbound"
			return "", StatusTempFail
		}
	}
	if len(d.Stores) == 0 && len(d.Redirects) == 0 {
		d.Stores = nil
		return "", nil
	}
	if err := ctx.Err(); err != nil {
		detail, reason = err, "timeout"
		return "", StatusTimeout
	}
	if err := p.file(ctx, m, d); err != nil {
		detail = err
		reason, status = p.storageStatus(err)
		return "", status
	}
	for _, s := range d.Stores {
		size = s.size
	}
	if err := p.redirect(ctx, m, d); err != nil {
		detail = err
		reason = "outbound"
		return "", StatusTempFail
	}
	return "", nil
}

// file stores d's copies. With redirects to follow and a delivery log, a
// copy already filed by an earlier attempt is not filed again.
func (p *Pipeline) file(ctx context.Context, m *Message, d *Delivery) error {
	if len(d.Stores) == 0 {
		return nil
	}
	store, err := p.stores.open(d.Rcpt)
	if err != nil {
		return err
	}
	body := append([][]byte{p.traceHeaders(m, d.Rcpt)}, m.outParts(d.Header)...)
	logged := p.cfg.Log != nil && len(d.Redirects) > 0
	for i := range d.Stores {
		st := &d.Stores[i]
		action := "store:" + folderName(st.Folder)
		if logged {
			done, err := p.cfg.Log.Done(ctx, m.logIdentity(), d.Rcpt.Address, action)
			if err != nil {
				// The redirects that follow need the log too and would
				// fail: defer before filing, so the retry files once.
				return fmt.Errorf("%w: delivery log: %w", ErrStateUnavailable, err)
			}
			if done {
				continue
			}
		}
		got, err := store.Deliver(ctx, st.Folder, st.Flags, st.Create, newMultiReader(body))
		if err != nil && st.Folder != "" && (errors.Is(err, maildir.ErrBadFolder) || errors.Is(err, maildir.ErrNoFolder) || errors.Is(err, maildir.ErrUnsafe)) {
			// A folder that cannot be used (a bad name, missing, or a
			// symlink or special file in its place) must not lose the
			// mail: keep it in INBOX, as Dovecot's LDA does when fileinto
			// fails. INBOX itself failing is temporary (storageStatus).
			p.log.WarnContext(ctx, "folder unusable, delivering to INBOX", "rcpt", d.Rcpt.Address, "folder", st.Folder, "err", err)
			st.Folder = ""
			got, err = store.Deliver(ctx, "", st.Flags, false, newMultiReader(body))
		}
		if err != nil {
			return err
		}
		st.size = got.Size
		if logged {
			if err := p.cfg.Log.Mark(ctx, m.logIdentity(), d.Rcpt.Address, action); err != nil {
				p.log.WarnContext(ctx, "delivery log", "err", err)
			}
		}
	}
	return nil
}

// redirect sends d's forwards. A relay that refuses one for good (or a
// loop) keeps the message in INBOX instead; a temporary failure is the
// recipient's 4xx, and the retry redoes only what is not done.
func (p *Pipeline) redirect(ctx context.Context, m *Message, d *Delivery) error {
	for _, r := range d.Redirects {
		if p.cfg.Outbound == nil {
			p.log.WarnContext(ctx, "redirect not sent, keeping the message", "rcpt", d.Rcpt.Address, "to", r.Addr, "err", ErrNoOutbound)
			return p.keepInstead(ctx, m, d)
		}
		err := p.cfg.Outbound.Redirect(ctx, m, d.Rcpt, r.Addr, r.Raw)
		if errors.Is(err, ErrRedirectRefused) {
			p.log.WarnContext(ctx, "redirect refused, keeping the message", "rcpt", d.Rcpt.Address, "to", r.Addr, "err", err)
			if err := p.keepInstead(ctx, m, d); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("redirect to %s: %w", r.Addr, err)
		}
		d.Redirected++
	}
	return nil
}

// keepInstead files the message into INBOX when a redirect could not
// happen and no copy was filed yet.
func (p *Pipeline) keepInstead(ctx context.Context, m *Message, d *Delivery) error {
	for _, s := range d.Stores {
		if s.Folder == "" {
			return nil
		}
	}
	d.Stores = append(d.Stores, Store{})
	kept := &Delivery{Rcpt: d.Rcpt, Stores: []Store{{}}, Header: d.Header}
	return p.file(ctx, m, kept)
}

// folderNames lists the folders of stores for the log line.
func folderNames(stores []Store) string {
	if len(stores) == 0 {
		return "-"
	}
	names := make([]string, len(stores))
	for i, s := range stores {
		names[i] = folderName(s.Folder)
	}
	return strings.Join(names, ",")
}

// storageStatus maps a storage error to a status and a metrics reason: a
// recipient over quota is refused (552, or 452 with QuotaFullTempfail);
// anything else is temporary.
func (p *Pipeline) storageStatus(err error) (reason string, status error) {
	switch {
	case errors.Is(err, maildir.ErrOverQuota) && p.cfg.QuotaFullTempfail:
		return "quota", StatusMailboxFullTemp
	case errors.Is(err, maildir.ErrOverQuota):
		return "quota", StatusMailboxFull
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return "nospace", StatusNoSpace
	}
	if errors.Is(err, ErrStateUnavailable) {
		return "state", StatusTempFail
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "timeout", StatusTimeout
	}
	return "io", StatusTempFail
}

func folderName(f string) string {
	if f == "" {
		return "INBOX"
	}
	return f
}

// traceHeaders returns the Return-Path, Delivered-To and Received fields
// added to rcpt's copy, as Dovecot's LMTP adds them.
func (p *Pipeline) traceHeaders(m *Message, rcpt Recipient) []byte {
	var b bytes.Buffer
	env := m.Env
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", env.MailFrom)
	fmt.Fprintf(&b, "Delivered-To: %s\r\n", rcpt.Address)
	from := env.LHLO
	if from == "" {
		from = "unknown"
	}
	// RFC 5321 §4.4: "from" names the sending host, with its address in
	// the comment; "by" is us.
	fmt.Fprintf(&b, "Received: from %s", from)
	if ip := hostOf(env.PeerAddr); ip != "" {
		fmt.Fprintf(&b, " ([%s])", ip)
	}
	fmt.Fprintf(&b, "\r\n\tby %s with LMTP", p.cfg.Hostname)
	if m.QueueID != "" {
		fmt.Fprintf(&b, " id %s", m.QueueID)
	}
	fmt.Fprintf(&b, "\r\n\t(envelope-from <%s>)\r\n\tfor <%s>; %s\r\n",
		env.MailFrom, rcpt.Address, p.cfg.Now().Format(time.RFC1123Z))
	return b.Bytes()
}

func hostOf(addr string) string {
	if addr == "" || strings.HasPrefix(addr, "/") || addr == "@" {
		return ""
	}
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		addr = addr[:i]
	}
	return strings.Trim(addr, "[]")
}

// storeCache keeps opened Maildirs so that each delivery does not repeat
// Open's directory creation and stale-tmp scan.
type storeCache struct {
	log *slog.Logger
	mu  sync.Mutex
	m   map[string]*maildir.Store
}

// maxStores bounds the cache; past it the cache starts over.
const maxStores = 4096

func (c *storeCache) open(r Recipient) (*maildir.Store, error) {
	// The quota is part of the key: a changed users file must not be
	// answered by a Store opened with the old limits.
	key := r.Maildir + "\x00" + r.Quota.String()
	c.mu.Lock()
	s := c.m[key]
	c.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := maildir.Open(r.Maildir, maildir.Options{Base: r.Base, Owner: r.Owner, Quota: r.Quota, Logger: c.log})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxStores {
		clear(c.m)
	}
	c.m[key] = s
	c.mu.Unlock()
	return s, nil
}
