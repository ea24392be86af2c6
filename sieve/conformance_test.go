package sieve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/mail"
)

// sharedDir locates the shared data (see testutil.SharedDir).
func sharedDir(t testing.TB) string { return testutil.SharedDir(t) }

// loadExceptions reads testdata/conformance-exceptions.txt: "FILE  reason" lines.
func loadExceptions(t *testing.T) map[string]string {
	f, err := os.Open(filepath.Join("testdata", "conformance-exceptions.txt"))
	if err != nil {
		t.Fatalf("open exceptions: %v", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		file, reason, _ := strings.Cut(line, " ")
		out[file] = strings.TrimSpace(reason)
	}
	return out
}

// TestConformance runs Pigeonhole's own test suite (vnd.dovecot.testsuite)
// against this interpreter. Files listed in the exceptions file must fail,
// every other file must pass.
func TestConformance(t *testing.T) {
	root := filepath.Join(sharedDir(t), "conformance", "sieve", "tests")
	var files []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".svtest") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no .svtest files under %s", root)
	}
	exceptions := loadExceptions(t)
	pass := 0
	for _, rel := range files {
		ok := t.Run(rel, func(t *testing.T) {
			failures := runSvtest(filepath.Join(root, rel))
			// Files in failures/ are run with "testsuite -F": they must fail.
			if strings.HasPrefix(rel, "failures"+string(filepath.Separator)) {
				if len(failures) > 0 {
					failures = nil
				} else {
					failures = []string{"expected the test file to fail, but it passed"}
				}
			}
			_, excepted := exceptions[rel]
			switch {
			case len(failures) > 0 && !excepted:
				t.Errorf("%s failed:\n%s", rel, strings.Join(failures, "\n"))
			case len(failures) == 0 && excepted:
				t.Errorf("%s passes but is listed in conformance-exceptions.txt; remove it", rel)
			case len(failures) > 0 && testing.Verbose():
				t.Logf("expected failure (%s):\n%s", exceptions[rel], strings.Join(failures, "\n"))
			}
		})
		if _, excepted := exceptions[rel]; ok && !excepted {
			pass++
		}
	}
	t.Logf("conformance: %d/%d files pass", pass, len(files))
}

type smtpMsg struct {
	from, to string
	msg      []byte
}

type storedMsg struct {
	msg   []byte
	flags []string
}

// suite is the state of one .svtest run.
type suite struct {
	dir       string
	msgRaw    []byte
	compiled  *Script
	errs      []string
	result    *Result
	mailboxes map[string][]storedMsg
	smtp      []smtpMsg
	config    map[string]string
	failures  []string
	env       Env
	dup       *memDup
	executedN int
	// fromSet and toSet record explicit envelope settings.
	fromSet, toSet bool
}

type testFailure struct{ reason string }

func (f *testFailure) Error() string { return f.reason }

type memDup struct{ m map[string]time.Time }

func (d *memDup) Seen(_ context.Context, k string) (bool, error) {
	_, ok := d.m[k]
	return ok, nil
}

func (d *memDup) Mark(_ context.Context, k string, exp time.Time) error {
	d.m[k] = exp
	return nil
}

type mboxChecker struct{ s *suite }

func (m mboxChecker) MailboxExists(_ context.Context, name string) bool {
	_, ok := m.s.mailboxes[name]
	return ok
}

type dirLoader struct{ personal, global string }

func (l dirLoader) Load(_ context.Context, scope IncludeScope, name string) ([]byte, string, error) {
	dir := l.personal
	if scope == Global {
		dir = l.global
	}
	p := filepath.Join(dir, name+".sieve")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, p, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	return b, p, nil
}

// capabilities makes the suite an Extension: the testsuite commands, and
// enotify, which the tests exercise though production does not offer it.
func (s *suite) capabilities() []string { return []string{"vnd.dovecot.testsuite", "enotify"} }

func (s *suite) register(cmds, tests map[string]*spec) { s.specs(cmds, tests) }

// namespaceVar answers the testsuite's tst.* variables.
func (s *suite) namespaceVar(name string) (string, bool) {
	if name == "tst.path" {
		return s.dir, true
	}
	return "", false
}

func runSvtest(path string) (failures []string) {
	defer func() {
		if p := recover(); p != nil {
			failures = append(failures, fmt.Sprintf("panic: %v", p))
		}
	}()
	src, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	s := &suite{dir: filepath.Dir(path), mailboxes: map[string][]storedMsg{"INBOX": nil},
		config: map[string]string{}, dup: &memDup{m: map[string]time.Time{}}}
	s.msgRaw = []byte("From: sender@example.com\r\nTo: recipient@example.org\r\nSubject: Frop\r\n\r\nFrop!\r\n")
	s.env = Env{From: "sender@example.com", To: "recipient@example.org", Now: time.Now()}
	s.env.Duplicate = s.dup
	s.env.Mailboxes = mboxChecker{s}
	opts := s.options()
	sc, err := Compile(path, src, opts)
	if err != nil {
		return []string{"compile: " + err.Error()}
	}
	_, err = sc.Run(context.Background(), ParseMessage(s.msgRaw), s.env)
	if err != nil {
		s.failures = append(s.failures, "run: "+err.Error())
	}
	return s.failures
}

func (s *suite) options() Options {
	opts := Options{
		// The Cache's own loader, so that Pigeonhole's include tests
		// exercise the file reading of production.
		Loader: &fileLoader{
			user:   &UserFiles{Home: s.dir, Dir: filepath.Join(s.dir, "included")},
			global: filepath.Join(s.dir, "included-global"),
			max:    Limits{}.withDefaults().MaxScriptSize,
		},
		Extra: []Extension{s},
	}
	if v, ok := s.config["sieve_variables_max_variable_size"]; ok {
		opts.Limits.MaxVariableSize, _ = strconv.Atoi(v)
	}
	if v, ok := s.config["sieve_max_actions"]; ok {
		opts.Limits.MaxActions, _ = strconv.Atoi(v)
	}
	if v, ok := s.config["sieve_max_redirects"]; ok {
		opts.Limits.MaxRedirects, _ = strconv.Atoi(v)
	}
	if v, ok := s.config["sieve_include_max_includes"]; ok {
		opts.Limits.MaxIncludes, _ = strconv.Atoi(v)
	}
	if v, ok := s.config["sieve_include_max_nesting_depth"]; ok {
		opts.Limits.MaxIncludeDepth, _ = strconv.Atoi(v)
	}
	if v, ok := s.config["sieve_max_cpu_time"]; ok {
		opts.Limits.MaxCPUTime, _ = parseDuration(v)
	}
	if v, ok := s.config["recipient_delimiter"]; ok {
		opts.RecipientDelimiter = v
	}
	if v, ok := s.config["sieve_editheader_protected"]; ok {
		opts.ProtectedHeaders = strings.Fields(v)
	}
	opts.ForbidAddHeaders = strings.Fields(s.config["sieve_editheader_forbid_add"])
	opts.ForbidDeleteHeaders = strings.Fields(s.config["sieve_editheader_forbid_delete"])
	opts.RedirectEnvelopeFrom = s.config["sieve_redirect_envelope_from"]
	if v, ok := s.config["sieve_editheader_max_header_size"]; ok {
		opts.MaxHeaderSize, _ = strconv.Atoi(v)
	}
	yes := func(k string) bool { return s.config[k] == "yes" }
	opts.VacationDefaultSubject = s.config["sieve_vacation_default_subject"]
	opts.VacationSubjectTemplate = s.config["sieve_vacation_default_subject_template"]
	if v, ok := s.config["sieve_vacation_max_subject_codepoints"]; ok {
		opts.VacationMaxSubjectCodepoints, _ = strconv.Atoi(v)
	}
	opts.VacationDontCheckRecipient = yes("sieve_vacation_dont_check_recipient")
	opts.VacationUseOriginalRecipient = yes("sieve_vacation_use_original_recipient")
	opts.VacationSendFromRecipient = yes("sieve_vacation_send_from_recipient")
	opts.VacationToHeaderIgnoreEnvelope = yes("sieve_vacation_to_header_ignore_envelope")
	if v, ok := s.config["sieve_vacation_min_period"]; ok {
		if d, err := parseDuration(v); err == nil {
			opts.VacationMinPeriod = d
			if d == 0 {
				opts.VacationMinPeriod = -1
			}
		}
	}
	return opts
}

func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	v = strings.Replace(v, "d", "h", 1)
	return time.ParseDuration(v)
}

func (s *suite) setMessage(r *run, raw []byte) {
	s.msgRaw = raw
	r.msg = ParseMessage(raw)
	r.header = r.msg.HeaderFields()
	r.parts = nil
	r.edited = false
	r.flags = nil
}

func (s *suite) specs(cmds, tests map[string]*spec) {
	const ts = "vnd.dovecot.testsuite"
	add := func(sp *spec) {
		sp.ext = ts
		if sp.test {
			tests[sp.name] = sp
		} else {
			cmds[sp.name] = sp
		}
	}
	str := func(name string) posDef { return posDef{typ: argString, name: name} }
	list := func(name string) posDef { return posDef{typ: argStringList, name: name} }
	add(&spec{name: "test", pos: []posDef{str("test name")}, block: needBlock, exec: func(r *run, n *node) error {
		name := r.arg1(n, 0)
		// Test blocks share variables with the top level (they are one script).
		err := r.exec(n.block)
		var f *testFailure
		switch {
		case errors.As(err, &f):
			s.failures = append(s.failures, fmt.Sprintf("test %q: %s", name, f.reason))
			return nil
		case err == errStop:
			return nil
		case err != nil:
			s.failures = append(s.failures, fmt.Sprintf("test %q: error: %v", name, err))
			return nil
		}
		return nil
	}})
	add(&spec{name: "test_fail", pos: []posDef{str("reason")}, exec: func(r *run, n *node) error {
		return &testFailure{reason: r.arg1(n, 0)}
	}})
	add(&spec{name: "test_set", pos: []posDef{str("name"), str("value")}, exec: func(r *run, n *node) error {
		name, val := strings.ToLower(r.arg1(n, 0)), r.arg1(n, 1)
		switch name {
		case "message":
			s.setMessage(r, []byte(val))
			// The envelope defaults follow the message's From and To.
			r.env.From, r.env.To = s.env.From, s.env.To
			if !s.fromSet {
				r.env.From = firstAddress(r.header, "from", "sender@example.com")
			}
			if !s.toSet {
				r.env.To = firstAddress(r.header, "to", "recipient@example.com")
			}
		case "envelope.from":
			s.fromSet = true
			s.env.From = val
			r.env.From = val
		case "envelope.to":
			s.toSet = true
			s.env.To = val
			r.env.To = val
		case "envelope.orig_to":
			s.env.OrigTo = val
			r.env.OrigTo = val
		case "envelope.auth":
			s.env.Auth = val
			r.env.Auth = val
		default:
			return rtErr(n, "test_set: unknown item %q", name)
		}
		return nil
	}})
	add(&spec{name: "test_config_set", pos: []posDef{str("setting"), str("value")}, exec: func(r *run, n *node) error {
		s.config[r.arg1(n, 0)] = r.arg1(n, 1)
		s.applyConfig(r)
		return nil
	}})
	add(&spec{name: "test_config_unset", pos: []posDef{str("setting")}, exec: func(r *run, n *node) error {
		delete(s.config, r.arg1(n, 0))
		s.applyConfig(r)
		return nil
	}})
	add(&spec{name: "test_config_reload", tags: []tagDef{{name: "extension", param: argString, paramName: "extension"}},
		exec: func(r *run, n *node) error { s.applyConfig(r); return nil }})
	add(&spec{name: "test_mailbox_create", pos: []posDef{str("mailbox")}, exec: func(r *run, n *node) error {
		m := r.arg1(n, 0)
		if _, ok := s.mailboxes[m]; !ok {
			s.mailboxes[m] = nil
		}
		return nil
	}})
	add(&spec{name: "test_mailbox_delete", pos: []posDef{str("mailbox")}, exec: func(r *run, n *node) error {
		delete(s.mailboxes, r.arg1(n, 0))
		return nil
	}})
	add(&spec{name: "test_binary_save", pos: []posDef{str("name")}, exec: func(*run, *node) error { return nil }})
	add(&spec{name: "test_binary_load", pos: []posDef{str("name")}, exec: func(*run, *node) error { return nil }})
	add(&spec{name: "test_result_reset", exec: func(r *run, n *node) error {
		s.result = nil
		s.executedN = 0
		r.actions = nil
		r.flags = nil
		r.implicitKeep = true
		r.redirects = 0
		return nil
	}})
	add(&spec{name: "test_result_print", exec: func(*run, *node) error { return nil }})
	add(&spec{name: "test_message_print", exec: func(*run, *node) error { return nil }})
	msgSpec := func(test bool) *spec {
		return &spec{name: "test_message", test: test, tags: []tagDef{
			{name: "smtp", group: "source", param: noParam},
			{name: "folder", group: "source", param: argString, paramName: "folder"}},
			pos: []posDef{{typ: argNumber, name: "index"}},
			exec: func(r *run, n *node) error {
				ok, err := s.testMessage(r, n)
				if err == nil && !ok {
					err = rtErr(n, "test_message: no such message")
				}
				return err
			},
			eval: s.testMessage}
	}
	add(msgSpec(false))
	add(msgSpec(true))
	add(&spec{name: "test_script_compile", test: true, pos: []posDef{str("script")}, eval: func(r *run, n *node) (bool, error) {
		p := filepath.Join(s.dir, r.arg1(n, 0))
		src, err := os.ReadFile(p)
		s.errs = nil
		s.compiled = nil
		if err != nil {
			s.errs = []string{err.Error()}
			return false, nil
		}
		sc, err := Compile(p, src, s.options())
		if err != nil {
			var ce *CompileError
			if errors.As(err, &ce) {
				for _, d := range ce.Diagnostics {
					s.errs = append(s.errs, d.Message)
				}
			}
			return false, nil
		}
		s.compiled = sc
		return true, nil
	}})
	add(&spec{name: "test_script_run", test: true, tags: []tagDef{{name: "append_result", param: noParam}},
		eval: func(r *run, n *node) (bool, error) {
			if s.compiled == nil {
				return false, nil
			}
			var st seqState
			if n.has("append_result") && s.result != nil {
				st.prior = s.result.Actions
				st.executed = s.executedN
			}
			env := r.env
			res, err := s.compiled.runAfter(r.ctx, r.msg, env, st)
			s.errs = nil
			if err != nil {
				s.errs = []string{runtimeMessage(err)}
				s.result = res
				return false, nil
			}
			s.result = res
			s.errs = res.Warnings
			return true, nil
		}})
	add(&spec{name: "test_multiscript", test: true, pos: []posDef{list("scripts")}, eval: func(r *run, n *node) (bool, error) {
		var q Sequence
		s.errs = nil
		for _, name := range r.arg(n, 0) {
			p := filepath.Join(s.dir, name)
			src, err := os.ReadFile(p)
			if err != nil {
				return false, nil
			}
			opts := s.options()
			opts.Extra = nil
			sc, err := Compile(p, src, opts)
			if err != nil {
				return false, nil
			}
			q.Before = append(q.Before, sc)
		}
		res, err := q.Run(r.ctx, r.msg, r.env)
		s.result = res
		if err != nil {
			s.errs = []string{runtimeMessage(err)}
		}
		if !s.execute(r, res) {
			return false, nil
		}
		return err == nil, nil
	}})
	add(&spec{name: "test_result_execute", test: true, eval: func(r *run, n *node) (bool, error) {
		res := s.result
		if res == nil {
			// The test script's own actions form the result.
			res = r.result()
		} else {
			s.executedN = len(res.Actions)
		}
		return s.execute(r, res), nil
	}})
	idx := tagDef{name: "index", param: argNumber, paramName: "index"}
	add(&spec{name: "test_result_action", test: true, tags: matchingTags(idx), pos: []posDef{list("actions")},
		eval: func(r *run, n *node) (bool, error) {
			var names []string
			acts := r.actions
			if s.result != nil {
				acts = s.result.Actions
			}
			{
				for _, a := range acts {
					names = append(names, actionName(a))
				}
			}
			return s.matchIndexed(r, n, names)
		}})
	add(&spec{name: "test_error", test: true, tags: matchingTags(idx), pos: []posDef{list("errors")},
		eval: func(r *run, n *node) (bool, error) { return s.matchIndexed(r, n, s.errs) }})
}

func runtimeMessage(err error) string {
	var re *runtimeError
	if errors.As(err, &re) {
		return re.msg
	}
	return err.Error()
}

func actionName(a Action) string {
	switch a.Kind {
	case FileInto:
		return "store"
	case EReject:
		return "reject"
	}
	return a.Kind.String()
}

func (s *suite) matchIndexed(r *run, n *node, vals []string) (bool, error) {
	if i, ok := n.tagNum("index"); ok {
		if i < 1 || int(i) > len(vals) {
			return false, nil
		}
		vals = vals[i-1 : i]
	}
	return r.matchValues(n, vals, r.arg(n, 0))
}

func (s *suite) applyConfig(r *run) {
	o := s.options()
	r.opts.Limits = o.Limits.withDefaults()
	r.opts.RecipientDelimiter = o.RecipientDelimiter
	if r.opts.RecipientDelimiter == "" {
		r.opts.RecipientDelimiter = "+"
	}
	r.opts.ProtectedHeaders = o.ProtectedHeaders
	r.opts.RedirectEnvelopeFrom = o.RedirectEnvelopeFrom
	r.env.UserEmail = s.config["sieve_user_email"]
	r.opts.VacationDefaultSubject, r.opts.VacationSubjectTemplate = o.VacationDefaultSubject, o.VacationSubjectTemplate
	r.opts.VacationMaxSubjectCodepoints = o.VacationMaxSubjectCodepoints
	if r.opts.VacationMaxSubjectCodepoints <= 0 {
		r.opts.VacationMaxSubjectCodepoints = 256
	}
	r.opts.VacationDontCheckRecipient, r.opts.VacationUseOriginalRecipient = o.VacationDontCheckRecipient, o.VacationUseOriginalRecipient
	r.opts.VacationSendFromRecipient, r.opts.VacationToHeaderIgnoreEnvelope = o.VacationSendFromRecipient, o.VacationToHeaderIgnoreEnvelope
	r.opts.ForbidAddHeaders, r.opts.ForbidDeleteHeaders = o.ForbidAddHeaders, o.ForbidDeleteHeaders
	if o.MaxHeaderSize > 0 {
		r.opts.MaxHeaderSize = o.MaxHeaderSize
	}
}

func (s *suite) testMessage(r *run, n *node) (bool, error) {
	i := int(n.pargs[0].num)
	if f, ok := r.tag(n, "folder"); ok {
		if !utf8.ValidString(f) {
			return false, rtErr(n, "test_message: invalid mailbox name")
		}
		msgs := s.mailboxes[f]
		if i < 0 || i >= len(msgs) {
			return false, nil
		}
		s.setMessage(r, msgs[i].msg)
		r.flags = msgs[i].flags
		return true, nil
	}
	if i < 0 || i >= len(s.smtp) {
		return false, nil
	}
	m := s.smtp[i]
	s.setMessage(r, m.msg)
	r.env.From, r.env.To = m.from, m.to
	return true, nil
}

// execute performs a result against the in-memory mail store and SMTP capture.
func (s *suite) execute(r *run, res *Result) bool {
	// Each execution starts a fresh SMTP capture, as the testsuite does.
	s.smtp = nil
	final := s.msgRaw
	if res.HeaderEdited {
		final = rebuild(res.EditedHeaders, final)
	}
	ok := true
	var msg []byte
	store := func(box string, flags []string) {
		if strings.Contains(box, "//") || strings.HasPrefix(box, "/") || strings.HasSuffix(box, "/") {
			s.errs = append(s.errs, fmt.Sprintf("failed to store into mailbox '%s': Invalid mailbox name", box))
			ok = false
			return
		}
		if _, exists := s.mailboxes[box]; !exists {
			s.errs = append(s.errs, fmt.Sprintf("failed to store into mailbox '%s': Mailbox doesn't exist", box))
			ok = false
			return
		}
		s.mailboxes[box] = append(s.mailboxes[box], storedMsg{msg: msg, flags: flags})
	}
	for _, a := range res.Actions {
		msg = final
		if a.Header != nil {
			msg = rebuild(a.Header, s.msgRaw)
		}
		switch a.Kind {
		case Keep:
			store("INBOX", a.Flags)
		case FileInto:
			if a.Create && !strings.Contains(a.Mailbox, "//") {
				if _, exists := s.mailboxes[a.Mailbox]; !exists {
					s.mailboxes[a.Mailbox] = nil
				}
			}
			store(a.Mailbox, a.Flags)
		case Redirect:
			if a.Suppressed != "" {
				continue
			}
			m := append([]byte("X-Sieve-Redirected-From: "+a.RedirectedFrom+"\r\n"), msg...)
			s.smtp = append(s.smtp, smtpMsg{from: a.EnvelopeFrom, to: a.Address, msg: m})
		case Reject:
			if from, _ := parsePath(r.env.From); from != "" {
				s.smtp = append(s.smtp, smtpMsg{from: "", to: r.env.From, msg: []byte(
					"From: Postmaster <postmaster@example.com>\r\nTo: <" + r.env.From + ">\r\nSubject: Automatically rejected mail\r\nAuto-Submitted: auto-replied (rejected)\r\n\r\n" + a.Reason + "\r\n")})
			}
		case NotifyAction:
			s.sendNotify(r, a.Notify)
		case VacationAction:
			v := a.Vacation
			if v.Suppressed != "" {
				if os.Getenv("SIEVE_DEBUG") != "" {
					fmt.Printf("VACATION suppressed: %s\n", v.Suppressed)
				}
				continue
			}
			from := v.From
			if from == "" {
				from = r.env.To
			}
			if !strings.Contains(from, "<") {
				from = "<" + from + ">"
			}
			var b strings.Builder
			fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\n", from, v.ToHeader, mime.QEncoding.Encode("utf-8", v.Subject))
			if v.InReplyTo != "" {
				fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", v.InReplyTo, v.References)
			}
			b.WriteString("Auto-Submitted: auto-replied (vacation)\r\nPrecedence: bulk\r\nMIME-Version: 1.0\r\n")
			if !v.MIME {
				b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
			}
			b.WriteString(v.Reason)
			s.smtp = append(s.smtp, smtpMsg{from: v.EnvelopeFrom, to: v.To, msg: []byte(b.String())})
		}
	}
	if os.Getenv("SIEVE_DEBUG") != "" {
		for _, m := range s.smtp {
			fmt.Printf("SMTP from=%q to=%q\n%s\n----\n", m.from, m.to, m.msg)
		}
	}
	if res.ImplicitKeep {
		msg = final
		store("INBOX", res.ImplicitKeepFlags)
	} else if !ok {
		// A failed result falls back to an implicit keep of the original message.
		msg = s.msgRaw
		s.mailboxes["INBOX"] = append(s.mailboxes["INBOX"], storedMsg{msg: msg})
	}
	return ok
}

func rebuild(h []HeaderField, raw []byte) []byte {
	body := raw[mail.HeaderLen(raw):]
	var b strings.Builder
	for _, f := range h {
		b.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return []byte(b.String())
}

// spamValue emulates Pigeonhole's header-based spamtest/virustest configuration.
func (s *suite) spamValue(r *run, which string, percent bool) (string, error) {
	prefix := "sieve_spamtest_"
	if which == "virustest" {
		prefix = "sieve_virustest_"
	}
	statusHdr := s.config[prefix+"status_header"]
	if statusHdr == "" {
		return "0", nil
	}
	val, ok := headerRegex(r.header, statusHdr)
	if !ok {
		return "0", nil
	}
	typ := s.config[prefix+"status_type"]
	maxVal := 10.0
	if which == "virustest" {
		maxVal = 5
	}
	var score float64
	switch typ {
	case "score", "strlen":
		if typ == "strlen" {
			score = float64(len([]rune(val)))
		} else {
			f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil {
				return "0", nil
			}
			score = f
		}
		var mx float64
		if mv, ok := s.config[prefix+"max_value"]; ok {
			mx, _ = strconv.ParseFloat(mv, 64)
		} else if mh, ok := s.config[prefix+"max_header"]; ok {
			v, ok := headerRegex(r.header, mh)
			if !ok {
				return "0", nil
			}
			mx, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
		if mx <= 0 {
			return "0", nil
		}
		ratio := score / mx
		if ratio < 0 {
			ratio = 0
		}
		if ratio > 1 {
			ratio = 1
		}
		if percent {
			return strconv.Itoa(int(ratio*100 + 0.5)), nil
		}
		return strconv.Itoa(1 + int(ratio*(maxVal-1))), nil
	case "text":
		n := int(maxVal)
		for i := 0; i <= n; i++ {
			if tv, ok := s.config[fmt.Sprintf("%stext_value%d", prefix, i)]; ok && tv == val {
				if percent {
					return strconv.Itoa(i * 100 / n), nil
				}
				return strconv.Itoa(i), nil
			}
		}
		return "0", nil
	}
	return "0", nil
}

func headerRegex(h []HeaderField, spec string) (string, bool) {
	name, pat, hasPat := strings.Cut(spec, ":")
	vals := headerValues(h, strings.TrimSpace(name), false)
	if len(vals) == 0 {
		return "", false
	}
	if !hasPat {
		return vals[0], true
	}
	re, err := regexp.Compile(strings.TrimLeft(pat, " \t"))
	if err != nil {
		return "", false
	}
	m := re.FindStringSubmatch(vals[0])
	if m == nil || len(m) < 2 {
		return "", false
	}
	return m[1], true
}

func firstAddress(h []HeaderField, name, def string) string {
	for _, v := range headerValues(h, name, false) {
		if addrs, ok := headerAddresses(v); ok && len(addrs) > 0 {
			return addrs[0]
		}
	}
	return def
}

// sendNotify emulates Pigeonhole's mailto notification sender: one message
// per recipient, with the envelope sender its configuration selects.
func (s *suite) sendNotify(r *run, nt *Notification) {
	if nt.Suppressed != "" {
		return
	}
	from, _ := parsePath(r.env.From)
	envFrom := "postmaster@example.com"
	switch s.config["sieve_notify_mailto_envelope_from"] {
	case "sender":
		envFrom = from
	case "recipient":
		envFrom, _ = parsePath(r.env.To)
	case "user_email":
		envFrom = s.config["sieve_user_email"]
	default:
		if nt.From != "" {
			envFrom, _ = mailboxAddress(nt.From)
		}
	}
	if from == "" {
		envFrom = ""
	}
	hdrFrom := nt.From
	if hdrFrom == "" {
		hdrFrom = "Postmaster <postmaster@example.com>"
	}
	subject := nt.Subject
	if subject == "" {
		subject = nt.Message
	}
	if subject == "" {
		subject = "[SIEVE] New mail notification"
	}
	prio := map[string]string{"1": "1 (Highest)", "2": "3 (Normal)", "3": "5 (Lowest)"}[nt.Importance]
	imp := map[string]string{"1": "High", "2": "Normal", "3": "Low"}[nt.Importance]
	var b strings.Builder
	enc := func(list []string) string {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = mime.QEncoding.Encode("utf-8", decodeHeader(a))
			if isASCII(decodeHeader(a)) {
				out[i] = a
			}
		}
		return strings.Join(out, ", ")
	}
	fmt.Fprintf(&b, "X-Sieve: Pigeonhole Sieve\r\nX-Priority: %s\r\nImportance: %s\r\nFrom: %s\r\n", prio, imp, hdrFrom)
	if len(nt.To) > 0 {
		fmt.Fprintf(&b, "To: %s\r\n", enc(nt.To))
	}
	if len(nt.Cc) > 0 {
		fmt.Fprintf(&b, "Cc: %s\r\n", enc(nt.Cc))
	}
	fmt.Fprintf(&b, "Subject: %s\r\nAuto-Submitted: auto-notified; owner-email=\"%s\"\r\n", mime.QEncoding.Encode("utf-8", subject), r.env.To)
	for _, h := range nt.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.Name, h.Value)
	}
	body := nt.Body
	if body == "" {
		body = nt.Message
	}
	b.WriteString("\r\n" + body + "\r\n")
	for _, rc := range append(append([]string(nil), nt.To...), nt.Cc...) {
		to, _ := mailboxAddress(rc)
		s.smtp = append(s.smtp, smtpMsg{from: envFrom, to: to, msg: []byte(b.String())})
	}
}
