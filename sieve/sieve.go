// Package sieve compiles and runs Sieve mail filtering scripts.
//
// It implements RFC 5228 (Sieve) with every extension Pigeonhole, Dovecot's
// Sieve implementation, enables by default — fileinto, reject (RFC 5429),
// envelope, encoded-character, comparator-i;ascii-numeric (RFC 4790), copy
// (RFC 3894), body (RFC 5173), environment (RFC 5183), variables
// (RFC 5229), vacation (RFC 5230), relational (RFC 5231), imap4flags
// (RFC 5232), subaddress (RFC 5233), date and index (RFC 5260), mailbox
// (RFC 5490), include (RFC 6609), duplicate (RFC 7352), regex
// (draft-ietf-sieve-regex-01), mime, foreverypart and extracttext
// (RFC 5703), ihave (RFC 5463) and vnd.dovecot.debug — plus those
// Pigeonhole offers when configured: editheader (RFC 5293), spamtest,
// spamtestplus and virustest (RFC 5235), vacation-seconds (RFC 6131), and
// ereject (RFC 5429). enotify with mailto (RFC 5435, RFC 5436) is
// implemented but offered only when asked for (see DefaultExtensions).
//
// The package knows nothing of Maildir or SMTP: Compile turns a script into
// a *Script, and Script.Run evaluates it against a Message and an Env,
// returning the actions to take; redirect, vacation and notify are handed
// back as data for an outbound sender (with the reason when a reply must not
// be sent). Sequence runs admin scripts before and after the user's script
// with Pigeonhole's multiscript semantics; Cache keeps compiled scripts.
// The message is mail's: FromMail adapts a parsed mail.Message (and the
// header as the caller changed it since), ParseMessage parses raw bytes
// with mail.Parse; the package splits no MIME itself.
//
// Where RFCs leave room, the package does what Pigeonhole 0.5.19 does, e.g.
// the string test compares with i;octet by default, a runtime error drops
// the script's actions and keeps the message, compile errors are reported
// one per command, and the limits follow Pigeonhole's defaults.
//
// Divergences, knowingly:
//   - :regex uses Go's RE2 (linear time): POSIX back-references are refused
//     at compile time, and POSIX bracket classes follow RE2's syntax.
//   - :matches, :regex and body tests look at no more than Limits.MaxMatchBytes
//     of each value; on invalid UTF-8, "?" in :matches may miss a match.
//   - body :text and extracttext render HTML with mail.HTMLText, which
//     follows Dovecot's mail-html2text (tags become a space, script, style
//     and comments dropped, entities decoded); named entities come from
//     the HTML5 table rather than Dovecot's HTML 4 list.
//   - the MIME structure is mail.Parse's, which follows SpamAssassin on
//     broken input (a header section ends after three lines that are not
//     fields, a multipart without its boundary is one text part) where
//     Pigeonhole may split differently; charsets are decoded as mail does.
//   - IMAP METADATA, special-use, extprograms, the deprecated imapflags and
//     notify drafts and the other vnd.dovecot extensions are not implemented.
package sieve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits bound what a script may cost. A zero field takes the documented default.
type Limits struct {
	// MaxScriptSize is the largest script source accepted, in bytes. Default 1 MiB.
	MaxScriptSize int
	// MaxActions is the most actions one run may produce. Default 32 (Pigeonhole's sieve_max_actions).
	MaxActions int
	// MaxRedirects is the most redirect actions one run may produce. Default 4.
	MaxRedirects int
	// MaxIncludeDepth is the deepest include nesting. Default 10.
	MaxIncludeDepth int
	// MaxIncludes is the most scripts one compile may include. Default 255.
	MaxIncludes int
	// MaxVariableSize is the longest a variable value may be, in bytes. Default 4096.
	MaxVariableSize int
	// MaxVariables is the most variables one scope may hold. Default 255.
	MaxVariables int
	// MaxMatchBytes is the most bytes of one value :matches, :regex and body
	// tests examine. Default 1 MiB.
	MaxMatchBytes int
	// MaxNesting is the deepest block nesting and, separately, test nesting. Default 32.
	MaxNesting int
	// MaxSteps bounds the commands and tests evaluated in one run (a CPU limit). Default 100000.
	MaxSteps int
	// MaxErrors is the most diagnostics Compile reports. Default 100.
	MaxErrors int
	// MaxCPUTime bounds the wall-clock time of one run, checked between
	// commands and tests (Pigeonhole's sieve_max_cpu_time). Default 30s.
	MaxCPUTime time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxScriptSize, 1<<20)
	def(&l.MaxActions, 32)
	def(&l.MaxRedirects, 4)
	def(&l.MaxIncludeDepth, 10)
	def(&l.MaxIncludes, 255)
	def(&l.MaxVariableSize, 4096)
	def(&l.MaxVariables, 255)
	def(&l.MaxMatchBytes, 1<<20)
	def(&l.MaxNesting, 32)
	def(&l.MaxSteps, 100000)
	def(&l.MaxErrors, 100)
	if l.MaxCPUTime <= 0 {
		l.MaxCPUTime = 30 * time.Second
	}
	return l
}

// IncludeScope says where an included script lives (RFC 6609 §3.2).
type IncludeScope int

const (
	// Personal scripts belong to the user.
	Personal IncludeScope = iota
	// Global scripts are shared by the administrator.
	Global
)

// ScriptLoader finds scripts for include. Load returns the source and a
// path naming it in error messages; a missing script returns an error
// wrapping ErrNotFound.
type ScriptLoader interface {
	Load(ctx context.Context, scope IncludeScope, name string) (src []byte, path string, err error)
}

// ErrNotFound is returned by a ScriptLoader for a script that does not exist.
var ErrNotFound = errors.New("sieve: script not found")

// DuplicateTracker remembers message identifiers for the duplicate
// extension (RFC 7352) and vacation's response tracking (RFC 5230 §4.2).
type DuplicateTracker interface {
	// Seen reports whether key was marked and has not expired.
	Seen(ctx context.Context, key string) (bool, error)
	// Mark records key until expiry.
	Mark(ctx context.Context, key string, expiry time.Time) error
}

// MailboxChecker answers mailboxexists (RFC 5490 §3.1).
type MailboxChecker interface {
	MailboxExists(ctx context.Context, name string) bool
}

// Options configures compilation and runs. The zero value is usable.
type Options struct {
	// Limits; zero fields take their defaults.
	Limits Limits
	// Extensions lists the capabilities scripts may require. Nil enables
	// every extension Pigeonhole enables by default (see DefaultExtensions).
	Extensions []string
	// Loader resolves include. When nil, a Cache reads include files from
	// GlobalDir and the user's UserFiles.Dir, and Compile fails every include.
	Loader ScriptLoader
	// GlobalDir is where a Cache finds include :global scripts as
	// NAME.sieve (Pigeonhole's sieve_global); empty: none.
	GlobalDir string
	// RecipientDelimiter separates user and detail (RFC 5233). Default "+".
	RecipientDelimiter string
	// ProtectedHeaders may not be changed by editheader (RFC 5293 §6); Received
	// and Auto-Submitted are always protected.
	ProtectedHeaders []string
	// ForbidAddHeaders and ForbidDeleteHeaders protect fields against only
	// addheader or only deleteheader. Subject can never be protected.
	ForbidAddHeaders, ForbidDeleteHeaders []string
	// VacationMinPeriod, VacationMaxPeriod and VacationDefaultPeriod bound
	// :days/:seconds. Defaults 1 day, 90 days and 7 days.
	VacationMinPeriod, VacationMaxPeriod, VacationDefaultPeriod time.Duration
	// MaxHeaderSize bounds one header field added by editheader (name, colon,
	// value), in bytes. Default 2048, Pigeonhole's sieve_editheader_max_header_size.
	MaxHeaderSize int
	// VacationDefaultSubject is the subject when the script gives none and
	// the message has none; VacationSubjectTemplate, when set, builds the
	// default subject with "%$" (or "%{subject}") standing for the original
	// subject. Otherwise the subject is "Auto: " + the original subject.
	VacationDefaultSubject, VacationSubjectTemplate string
	// VacationMaxSubjectCodepoints shortens long subjects (with "…"). Default 256.
	VacationMaxSubjectCodepoints int
	// VacationDontCheckRecipient replies even when none of the user's
	// addresses is in To/Cc/Bcc (RFC 5230 §4.5 check off).
	VacationDontCheckRecipient bool
	// VacationUseOriginalRecipient counts Env.OrigTo as the user's address.
	VacationUseOriginalRecipient bool
	// VacationSendFromRecipient sends the reply with the recipient as
	// envelope sender instead of the null sender.
	VacationSendFromRecipient bool
	// VacationToHeaderIgnoreEnvelope addresses the reply to the Sender/From
	// header even when it differs from the envelope sender.
	VacationToHeaderIgnoreEnvelope bool
	// RedirectEnvelopeFrom chooses the envelope sender of redirected mail, as
	// Pigeonhole's sieve_redirect_envelope_from: "sender" (default: the
	// original sender), "recipient", "orig_recipient", "user_email" or an
	// explicit "<address>". A null original sender always stays null.
	RedirectEnvelopeFrom string
	// Logger receives debug detail; nil discards it.
	Logger *slog.Logger
	// Extra adds extensions written in this package beyond the built-in
	// ones, each offered under the capabilities it names (the conformance
	// tests add Pigeonhole's vnd.dovecot.testsuite this way). Nil: none.
	Extra []Extension
}

// Extension is a set of commands and tests beyond the built-in ones. Its
// methods are unexported: extensions are written inside this package.
// One may also answer spamtest and virustest (spamSource) or variables
// of its own namespace (varNamespace).
type Extension interface {
	// capabilities lists the names a script requires to use it.
	capabilities() []string
	// register adds its commands and tests.
	register(cmds, tests map[string]*spec)
}

// spamSource is an Extension that supplies the spamtest and virustest
// values instead of Env.
type spamSource interface {
	spamValue(r *run, test string, percent bool) (string, error)
}

// varNamespace is an Extension that answers variables of a namespace
// (RFC 5229 §3: "namespace.name").
type varNamespace interface {
	namespaceVar(name string) (string, bool)
}

// DefaultExtensions returns the capabilities offered when
// Options.Extensions is nil, a fresh slice each call. enotify is
// implemented but not among them: a caller that sends the NotifyAction
// results offers it explicitly; otherwise requiring it is a compile error
// ("notify is not supported") rather than a silent no-op.
func DefaultExtensions() []string {
	return []string{
		"fileinto", "reject", "ereject", "envelope", "encoded-character",
		"comparator-i;octet", "comparator-i;ascii-casemap", "comparator-i;ascii-numeric",
		"copy", "body", "environment", "variables", "vacation", "vacation-seconds",
		"relational", "imap4flags", "subaddress", "spamtest", "spamtestplus", "virustest",
		"date", "index", "editheader", "mailbox", "include", "duplicate", "regex",
		"mime", "foreverypart", "extracttext", "ihave", "vnd.dovecot.debug",
	}
}

// Script is a compiled script, safe for concurrent runs.
type Script struct {
	name     string
	cmds     []*node
	caps     map[string]bool
	opts     Options
	includes map[includeKey]*Script
	// usesVars is set when the script requires variables.
	usesVars bool
	// regexes holds the :regex keys compiled at compile time; read-only after.
	regexes regexCache
}

type includeKey struct {
	scope IncludeScope
	name  string
}

// Name returns the name given to Compile.
func (s *Script) Name() string { return s.name }

// Requires lists the capabilities the script requires, sorted.
func (s *Script) Requires() []string {
	var out []string
	for c := range s.caps {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

type compiler struct {
	ctx      context.Context
	opts     Options
	scripts  map[includeKey]*Script
	count    int
	inFlight map[includeKey]bool
	regexes  regexCache
}

// Compile parses and validates a script. name prefixes every diagnostic. A
// faulty script returns a *CompileError listing every problem as
// file:line:col: message; it wraps ErrCompile.
func Compile(name string, src []byte, opts Options) (*Script, error) {
	return CompileContext(context.Background(), name, src, opts)
}

// CompileContext is Compile with a context passed to the ScriptLoader.
func CompileContext(ctx context.Context, name string, src []byte, opts Options) (*Script, error) {
	opts.Limits = opts.Limits.withDefaults()
	if opts.RecipientDelimiter == "" {
		opts.RecipientDelimiter = "+"
	}
	if opts.MaxHeaderSize <= 0 {
		opts.MaxHeaderSize = 2048
	}
	if opts.VacationMaxSubjectCodepoints <= 0 {
		opts.VacationMaxSubjectCodepoints = 256
	}
	if opts.VacationMinPeriod == 0 {
		opts.VacationMinPeriod = 24 * time.Hour
	}
	if opts.VacationMaxPeriod == 0 {
		opts.VacationMaxPeriod = 90 * 24 * time.Hour
	}
	if opts.VacationDefaultPeriod == 0 {
		opts.VacationDefaultPeriod = 7 * 24 * time.Hour
	}
	c := &compiler{ctx: ctx, opts: opts, scripts: map[includeKey]*Script{}, inFlight: map[includeKey]bool{}, regexes: regexCache{}}
	s, errs := c.compile(name, src, true)
	if len(errs.diags) > 0 {
		return nil, &CompileError{Diagnostics: errs.diags}
	}
	return s, nil
}

func (c *compiler) compile(name string, src []byte, top bool) (*Script, *errorList) {
	errs := &errorList{max: c.opts.Limits.MaxErrors}
	if len(src) > c.opts.Limits.MaxScriptSize {
		errs.addf(Position{name, 1, 1}, "script is too large (max %d bytes)", c.opts.Limits.MaxScriptSize)
		return nil, errs
	}
	cmds := parse(name, src, errs, c.opts.Limits.MaxNesting)
	if len(errs.diags) > 0 {
		errs.add(Position{name, 0, 0}, "parse failed")
		return nil, errs
	}
	known := map[string]bool{}
	exts := c.opts.Extensions
	if exts == nil {
		exts = DefaultExtensions()
	}
	for _, e := range exts {
		known[e] = true
	}
	v := &validator{errs: errs, caps: map[string]bool{}, known: known, opts: &c.opts, c: c}
	v.cmds, v.tests = builtinSpecs()
	for _, x := range c.opts.Extra {
		for _, e := range x.capabilities() {
			known[e] = true
		}
		x.register(v.cmds, v.tests)
	}
	s := &Script{name: name, cmds: cmds, caps: v.caps, opts: c.opts, includes: c.scripts, regexes: c.regexes}
	// RFC 5228 §2.4.2.4: encoded-character is decoded at compile time; the
	// require must therefore be seen first.
	for _, n := range cmds {
		if n.name != "require" {
			break
		}
		for _, a := range n.args {
			for _, str := range a.strs {
				if str == "encoded-character" && known[str] {
					decodeEncodedCharacters(cmds, errs)
				}
			}
		}
	}
	v.validateBlock(cmds, nil, true)
	// RFC 5703 §7: extracttext is only usable with foreverypart.
	if v.caps["extracttext"] && !v.caps["foreverypart"] {
		errs.add(Position{name, 1, 1}, "the extracttext extension cannot be used without the foreverypart extension")
	}
	s.usesVars = v.caps["variables"]
	if len(errs.diags) > 0 {
		errs.add(Position{name, 0, 0}, "validation failed")
		return nil, errs
	}
	return s, errs
}

// Env is the per-run input beside the message.
type Env struct {
	// From is the envelope sender (MAIL FROM), "" for the null sender.
	From string
	// To is the envelope recipient this run is for (RCPT TO).
	To string
	// OrigTo is the original recipient before aliasing, "" if unknown.
	OrigTo string
	// Auth is the authenticated submitter, if any (Pigeonhole's envelope "auth").
	Auth string
	// UserEmail is the user's primary address (Pigeonhole's sieve_user_email);
	// vacation and redirect (loop check, X-Sieve-Redirected-From) use it.
	UserEmail string
	// SpamTested says a spam verdict exists; SpamScore and SpamRequired map
	// it to spamtest's 1–10 scale and percentage (RFC 5235).
	SpamTested   bool
	SpamScore    float64
	SpamRequired float64
	// Spam is the verdict; it forces a spamtest value of at least 10 when set.
	Spam bool
	// VirusTested says a virus scan ran; VirusValue is virustest's 1–5 value (RFC 5235 §3.3).
	VirusTested bool
	VirusValue  int
	// Now is the time currentdate and vacation use; zero means time.Now().
	Now time.Time
	// Vars holds environment items (RFC 5183): "domain", "host", "remote-ip", ...
	// "name", "version" and "phase" default to Pigeonhole-like values.
	Vars map[string]string
	// Duplicate remembers ids for duplicate and vacation; nil means nothing is remembered.
	Duplicate DuplicateTracker
	// Mailboxes answers mailboxexists; nil means only INBOX exists.
	Mailboxes MailboxChecker
	// Logger receives debug detail for this run; nil falls back to Options.Logger.
	Logger *slog.Logger
}

// ActionKind names an action a script can take.
type ActionKind int

// The action kinds.
const (
	Keep ActionKind = iota
	FileInto
	Redirect
	Discard
	Reject
	EReject
	VacationAction
	NotifyAction
)

// String returns the action name as Sieve spells it.
func (k ActionKind) String() string {
	switch k {
	case Keep:
		return "keep"
	case FileInto:
		return "fileinto"
	case Redirect:
		return "redirect"
	case Discard:
		return "discard"
	case Reject:
		return "reject"
	case EReject:
		return "ereject"
	case VacationAction:
		return "vacation"
	case NotifyAction:
		return "notify"
	}
	return "unknown"
}

// Action is one thing the script asked for.
type Action struct {
	Kind ActionKind
	// Mailbox is the folder for FileInto ("INBOX" for Keep).
	Mailbox string
	// Create is fileinto :create (RFC 5490 §3.2); Copy is :copy (RFC 3894).
	Create, Copy bool
	// Flags are the IMAP flags to set on the stored message (RFC 5232).
	Flags []string
	// Address is the redirect target.
	Address string
	// Reason is the reject/ereject text.
	Reason string
	// Vacation holds the auto-reply for VacationAction.
	Vacation *Vacation
	// Notify holds the notification for NotifyAction (RFC 5435).
	Notify *Notification
	// EnvelopeFrom is the envelope sender for a redirect (see
	// Options.RedirectEnvelopeFrom); RedirectedFrom is the value of the
	// X-Sieve-Redirected-From header to add to the redirected copy.
	EnvelopeFrom, RedirectedFrom string
	// Suppressed, for a redirect, says why it must not be sent ("" to send):
	// the message already passed through this user (a mail loop).
	Suppressed string
	// Header is the message header as editheader had left it when the
	// action ran (RFC 5293 §5: later edits do not affect it); nil when the
	// header was not edited by then.
	Header []HeaderField
}

// Vacation is an auto-reply (RFC 5230) ready for an outbound sender.
type Vacation struct {
	// Reason is the body text, or a MIME entity when MIME is set.
	Reason string
	MIME   bool
	// Subject is the reply's subject (from :subject or derived from the message).
	Subject string
	// From is the reply's From header: :from, or the user address the
	// message was sent to ("" if none is known).
	From string
	// To is the reply's envelope recipient: the original sender.
	To string
	// ToHeader is the reply's To header: the sender's mailbox as written in
	// the message when it matches To, else "<To>".
	ToHeader string
	// EnvelopeFrom is the reply's envelope sender: "" (the null sender)
	// unless Options.VacationSendFromRecipient is set.
	EnvelopeFrom string
	// Addresses are the extra addresses of the user (:addresses).
	Addresses []string
	// Handle identifies the reply for response tracking.
	Handle string
	// Period is how long to wait before replying to the same sender again.
	Period time.Duration
	// Seconds is true when the script used :seconds (RFC 6131).
	Seconds bool
	// InReplyTo and References thread the reply (RFC 5230 §5.8).
	InReplyTo, References string
	// Suppressed says why no reply should be sent ("" means send one).
	Suppressed string
}

// Result is what a run decided.
type Result struct {
	// Actions in the order the script executed them, after merging duplicates.
	Actions []Action
	// ImplicitKeep is true when no action cancelled the implicit keep (RFC 5228 §2.10.2).
	ImplicitKeep bool
	// ImplicitKeepFlags are the flags for the implicit keep (RFC 5232 §3).
	ImplicitKeepFlags []string
	// HeaderEdited is true when editheader changed the header; EditedHeaders
	// then holds the recipient's whole edited header block, in order, values
	// unfolded (added non-ASCII values are RFC 2047 encoded). The caller's
	// Message is never changed. Actions also carry the header as it was when
	// each ran (Action.Header).
	HeaderEdited  bool
	EditedHeaders []HeaderField
	// Warnings are non-fatal problems met while running (a bad :regex built
	// from variables, a refused edit of a protected header); log them.
	Warnings []string
	// Err is the runtime error that aborted the script, if any; the actions
	// are then dropped and ImplicitKeep is true.
	Err error

	// nextFlags are the internal flags handed to the next script of a sequence.
	nextFlags []string
	// keepNext tells Sequence whether the script kept (implicitly or explicitly).
	keepNext bool
	// dupMarks are committed when the result stands.
	dupMarks []dupMark
}

type dupMark struct {
	key    string
	expiry time.Time
}

// FormatActions prints a result one action per line in a stable form:
// keep, fileinto MAILBOX [create] [copy] [flags=F1,F2], redirect ADDRESS [copy],
// discard, reject TEXT, ereject TEXT, vacation ..., implicit_keep [flags=...]
// or error TEXT.
func FormatActions(r *Result) string {
	var b strings.Builder
	if r.Err != nil {
		fmt.Fprintf(&b, "error %s\n", oneLine(r.Err.Error()))
	}
	for _, a := range r.Actions {
		switch a.Kind {
		case Keep:
			b.WriteString("keep")
			writeFlags(&b, a.Flags)
		case FileInto:
			b.WriteString("fileinto " + a.Mailbox)
			if a.Create {
				b.WriteString(" create")
			}
			if a.Copy {
				b.WriteString(" copy")
			}
			writeFlags(&b, a.Flags)
		case Redirect:
			b.WriteString("redirect " + a.Address)
			if a.Copy {
				b.WriteString(" copy")
			}
			if a.Suppressed != "" {
				fmt.Fprintf(&b, " suppressed=%s", strconv.Quote(a.Suppressed))
			}
		case Discard:
			b.WriteString("discard")
		case Reject, EReject:
			b.WriteString(a.Kind.String() + " " + oneLine(a.Reason))
		case VacationAction:
			v := a.Vacation
			b.WriteString("vacation")
			if v.Seconds {
				fmt.Fprintf(&b, " seconds=%d", int64(v.Period/time.Second))
			} else {
				fmt.Fprintf(&b, " days=%d", int64(v.Period/(24*time.Hour)))
			}
			fmt.Fprintf(&b, " subject=%s", strconv.Quote(v.Subject))
			if v.From != "" {
				fmt.Fprintf(&b, " from=%s", v.From)
			}
			if len(v.Addresses) > 0 {
				fmt.Fprintf(&b, " addresses=%s", strings.Join(v.Addresses, ","))
			}
			if v.Suppressed != "" {
				fmt.Fprintf(&b, " suppressed=%s", strconv.Quote(v.Suppressed))
			}
			fmt.Fprintf(&b, " reason=%s", strconv.Quote(v.Reason))
		case NotifyAction:
			nt := a.Notify
			fmt.Fprintf(&b, "notify %s importance=%s", nt.Method, nt.Importance)
			if nt.From != "" {
				fmt.Fprintf(&b, " from=%s", nt.From)
			}
			if nt.Message != "" {
				fmt.Fprintf(&b, " message=%s", strconv.Quote(nt.Message))
			}
			if nt.Suppressed != "" {
				fmt.Fprintf(&b, " suppressed=%s", strconv.Quote(nt.Suppressed))
			}
		}
		b.WriteByte('\n')
	}
	if r.ImplicitKeep {
		b.WriteString("implicit_keep")
		writeFlags(&b, r.ImplicitKeepFlags)
		b.WriteByte('\n')
	}
	return b.String()
}

func writeFlags(b *strings.Builder, flags []string) {
	if len(flags) > 0 {
		b.WriteString(" flags=" + strings.Join(flags, ","))
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\\n")
	return strings.ReplaceAll(s, "\n", "\\n")
}
