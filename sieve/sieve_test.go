package sieve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testMsg = "From: Alice <alice@example.com>\r\n" +
	"To: bob+lists@example.org\r\n" +
	"Subject: [dev] Weekly report\r\n" +
	"X-Spam-Flag: YES\r\n" +
	"List-Id: Developers <dev.lists.example.org>\r\n" +
	"Message-ID: <1234@example.com>\r\n" +
	"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n" +
	"\r\n" +
	"Hello Bob, the report is attached.\r\n"

func runScript(t *testing.T, script string, env Env) *Result {
	t.Helper()
	s, err := Compile("test.sieve", []byte(script), Options{})
	if err != nil {
		t.Fatalf("Compile(%q) = %v", script, err)
	}
	if env.To == "" {
		env.To = "bob+lists@example.org"
		env.From = "alice@example.com"
	}
	res, err := s.Run(context.Background(), ParseMessage([]byte(testMsg)), env)
	if err != nil && res.Err == nil {
		t.Fatalf("Run error without Result.Err: %v", err)
	}
	return res
}

func TestRunActions(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{"implicit keep", `keep;`, "keep\n"},
		{"empty", ``, "implicit_keep\n"},
		{"fileinto", `require "fileinto"; fileinto "A";`, "fileinto A\n"},
		{"fileinto merged", `require "fileinto"; fileinto "A"; fileinto "A";`, "fileinto A\n"},
		{"fileinto copy keeps", `require ["fileinto","copy"]; fileinto :copy "A";`, "fileinto A copy\nimplicit_keep\n"},
		{"keep merges INBOX", `require "fileinto"; fileinto "INBOX"; keep;`, "keep\n"},
		{"flags", `require ["fileinto","imap4flags","mailbox"]; addflag "\\Seen"; fileinto :create "Spam";`, "fileinto Spam create flags=\\Seen\n"},
		{"implicit keep flags", `require "imap4flags"; setflag ["\\Flagged", "x"];`, "implicit_keep flags=\\Flagged,x\n"},
		{"redirect", `redirect "carol@example.net"; redirect "carol@example.net";`, "redirect carol@example.net\n"},
		{"discard", `discard;`, "discard\n"},
		{"reject", `require "reject"; reject "no";`, "reject no\n"},
		{"reject conflicts", `require ["reject","fileinto"]; fileinto "A"; reject "no";`, "error"},
		{"stop", `require "fileinto"; fileinto "A"; stop; fileinto "B";`, "fileinto A\n"},
		{"spam flag", `require "fileinto"; if header :is "X-Spam-Flag" "YES" { fileinto "Spam"; }`, "fileinto Spam\n"},
		{"list id", `require ["fileinto","variables"]; if header :matches "List-Id" "*<*.*>" { fileinto "${2}"; }`, "fileinto dev\n"},
		{"detail", `require ["envelope","subaddress","fileinto"]; if envelope :detail "to" "lists" { fileinto "L"; }`, "fileinto L\n"},
		{"date", `require ["date","fileinto","variables"]; if date :zone "+0000" :matches "date" "hour" "*" { fileinto "H${1}"; }`, "fileinto H09\n"},
		{"spamtest", `require ["spamtest","fileinto","relational","comparator-i;ascii-numeric"]; if spamtest :value "ge" :comparator "i;ascii-numeric" "5" { fileinto "Junk"; }`, "implicit_keep\n"},
		{"body", `require ["body","fileinto"]; if body :contains "report is" { fileinto "B"; }`, "fileinto B\n"},
		{"too many redirects", `redirect "a@x.org"; redirect "b@x.org"; redirect "c@x.org"; redirect "d@x.org"; redirect "e@x.org";`, "error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FormatActions(runScript(t, tc.script, Env{}))
			if tc.want == "error" {
				if !strings.HasPrefix(got, "error ") || !strings.HasSuffix(got, "implicit_keep\n") {
					t.Fatalf("FormatActions = %q, want an error and implicit_keep", got)
				}
				return
			}
			if got != tc.want {
				t.Fatalf("FormatActions(%q) = %q, want %q", tc.script, got, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ script, want string }{
		{`fileinto "x";`, "t.sieve:1:1: unknown command 'fileinto' (fileinto extension not required)"},
		{`require "nope";`, "t.sieve:1:9: require command: unknown Sieve capability 'nope'"},
		{"if true {\n  keep\n}", "t.sieve:3:1: expected ';' or '{' after command 'keep' but found '}'"},
		{`if size :over :under 1 { }`, "t.sieve:1:15: tag ':under' conflicts with tag ':over' for the size test"},
		{`"x";`, "t.sieve:1:1: expected identifier but found string"},
	}
	for _, tc := range tests {
		_, err := Compile("t.sieve", []byte(tc.script), Options{})
		if err == nil || !errors.Is(err, ErrCompile) {
			t.Fatalf("Compile(%q) = %v, want an ErrCompile", tc.script, err)
		}
		first := strings.SplitN(err.Error(), "\n", 2)[0]
		if first != tc.want {
			t.Errorf("Compile(%q) first error = %q, want %q", tc.script, first, tc.want)
		}
	}
}

func TestLexer(t *testing.T) {
	tests := []struct{ src, want string }{
		{`"a\"b\\c\d"`, "a\"b\\cd"},
		{"text:\r\nline\r\n..dot\r\n.\r\n", "line\r\n.dot\r\n"},
		{"text: # comment\nx\n.\n", "x\r\n"},
	}
	for _, tc := range tests {
		errs := &errorList{}
		tok := newLexer("t", []byte(tc.src), errs).next()
		if tok.kind != tokString || tok.text != tc.want || len(errs.diags) > 0 {
			t.Errorf("lex(%q) = %v %q %v, want string %q", tc.src, tok.kind, tok.text, errs.diags, tc.want)
		}
	}
	for src, want := range map[string]int64{"1": 1, "2K": 2048, "3m": 3 << 20, "1G": 1 << 30} {
		tok := newLexer("t", []byte(src), &errorList{}).next()
		if tok.kind != tokNumber || tok.num != want {
			t.Errorf("lex(%q) = %d, want %d", src, tok.num, want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pat, s string
		ok     bool
		caps   []string
	}{
		{"*", "abc", true, []string{"abc"}},
		{"a*c", "abbc", true, []string{"bb"}},
		{"[*] *", "[acme-users] [fwd] version 1.0", true, []string{"acme-users", "[fwd] version 1.0"}},
		{"coyote@**.com", "coyote@ACME.Example.COM", true, []string{"", "ACME.Example"}},
		{"?b?", "äbc", true, []string{"ä", "c"}},
		{"a\\*", "a*", true, nil},
		{"a\\*", "ab", false, nil},
		{"*x*x*", "axbxc", true, []string{"a", "b", "c"}},
		{"abc", "ab", false, nil},
	}
	for _, tc := range tests {
		ok, caps := globMatch(compileGlob(tc.pat, true), tc.s, true, true)
		if ok != tc.ok || (tc.caps != nil && strings.Join(caps, "|") != strings.Join(tc.caps, "|")) {
			t.Errorf("globMatch(%q, %q) = %v %q, want %v %q", tc.pat, tc.s, ok, caps, tc.ok, tc.caps)
		}
	}
}

func TestEditheaderCopy(t *testing.T) {
	msg := ParseMessage([]byte(testMsg))
	before := len(msg.HeaderFields())
	s, err := Compile("e", []byte(`require ["editheader","fileinto"]; addheader "X-A" "1"; fileinto "F"; deleteheader "Subject";`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), msg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.HeaderFields()) != before {
		t.Fatalf("Run mutated the caller's message header")
	}
	if !res.HeaderEdited || res.EditedHeaders[0].Name != "X-A" || len(res.EditedHeaders) != before {
		t.Fatalf("Result.EditedHeaders = %v, want X-A added and Subject removed", res.EditedHeaders)
	}
	if h := res.Actions[0].Header; len(h) != before+1 {
		t.Fatalf("fileinto Header has %d fields, want %d (the state when it ran)", len(h), before+1)
	}
}

func TestSequence(t *testing.T) {
	compile := func(src string) *Script {
		s, err := Compile("s", []byte(src), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := compile(`require ["fileinto","mailbox","imap4flags"]; if header :is "X-Spam-Flag" "YES" { addflag "\\Seen"; fileinto :create "Spam"; stop; }`)
	user := compile(`require "fileinto"; fileinto "User";`)
	after := compile(`require "fileinto"; fileinto "After";`)
	msg := ParseMessage([]byte(testMsg))
	q := Sequence{Before: []*Script{before}, User: user, After: []*Script{after}}
	res, err := q.Run(context.Background(), msg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatActions(res); got != "fileinto Spam create flags=\\Seen\n" {
		t.Fatalf("Sequence.Run = %q, want only the spam store", got)
	}
	ham := ParseMessage([]byte(strings.Replace(testMsg, "X-Spam-Flag: YES", "X-Spam-Flag: NO", 1)))
	res, err = q.Run(context.Background(), ham, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatActions(res); got != "fileinto User\n" {
		t.Fatalf("Sequence.Run = %q, want the user's fileinto ending the sequence", got)
	}
	keepUser := compile(`keep;`)
	q.User = keepUser
	res, _ = q.Run(context.Background(), ham, Env{})
	if got := FormatActions(res); got != "fileinto After\n" {
		t.Fatalf("Sequence.Run = %q, want the after script run after keep", got)
	}
	bad := compile(`redirect "a@x.org"; redirect "b@x.org"; redirect "c@x.org"; redirect "d@x.org"; redirect "e@x.org";`)
	q = Sequence{Before: []*Script{compile(`require ["fileinto","copy"]; fileinto :copy "Archive";`)}, User: bad}
	res, err = q.Run(context.Background(), ham, Env{})
	if !errors.Is(err, ErrRuntime) || !res.ImplicitKeep || len(res.Actions) != 1 {
		t.Fatalf("Sequence.Run with failing script = %v, %q; want the earlier action, implicit keep and ErrRuntime", err, FormatActions(res))
	}
}

func TestCache(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.sieve")
	os.WriteFile(p, []byte(`keep;`), 0o644)
	c := NewCache(Options{})
	s1, err := c.Load(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := c.Load(context.Background(), p)
	if s1 != s2 {
		t.Fatalf("Cache.Load recompiled an unchanged script")
	}
	os.WriteFile(p, []byte(`discard; `), 0o644)
	os.Chtimes(p, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	s3, _ := c.Load(context.Background(), p)
	if s3 == s1 {
		t.Fatalf("Cache.Load did not recompile a changed script")
	}
	if _, err := c.Load(context.Background(), filepath.Join(dir, "none")); !errors.Is(err, ErrNoScript) {
		t.Fatalf("Cache.Load(missing) = %v, want ErrNoScript", err)
	}
}

// TestCacheBounded: the cache keeps at most its size in scripts, the
// least recently used going first, so that many users' scripts cannot
// grow the server without bound (it had kept every script ever loaded).
func TestCacheBounded(t *testing.T) {
	dir := t.TempDir()
	c := newCache(Options{}, 3)
	ctx := context.Background()
	load := func(name string) *Script {
		t.Helper()
		p := filepath.Join(dir, name+".sieve")
		if _, err := os.Stat(p); err != nil {
			os.WriteFile(p, []byte(`keep;`), 0o644)
		}
		s, err := c.Load(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := load("a")
	for i := range 10 {
		load(fmt.Sprint("u", i))
		if i%2 == 0 {
			load("a") // kept in use
		}
	}
	if n := c.entries.Len(); n != 3 {
		t.Fatalf("cache holds %d scripts, want its size 3", n)
	}
	if load("a") != a {
		t.Errorf("the script in steady use was evicted")
	}
	u0 := filepath.Join(dir, "u0.sieve")
	if c.entries.Contains("admin\x00" + u0) {
		t.Errorf("the least recently used script is still cached")
	}
}

func TestLimitsMatchCost(t *testing.T) {
	// A pathological glob against a large value must stay fast.
	big := strings.Repeat("a", 200000)
	toks := compileGlob(strings.Repeat("*a", 30)+"*b", true)
	start := time.Now()
	if ok, _ := globMatch(toks, big, true, false); ok {
		t.Fatalf("globMatch matched")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("globMatch took %v", d)
	}
}

func TestConcurrentRuns(t *testing.T) {
	s, err := Compile("c", []byte(`require ["variables","fileinto","regex","include"]; global "x"; if header :regex "Subject" "^\\[(.*)\\]" { set "x" "${1}"; fileinto "${x}"; }`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	msg := ParseMessage([]byte(testMsg))
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			res, _ := s.Run(context.Background(), msg, Env{})
			done <- FormatActions(res)
		}()
	}
	for i := 0; i < 8; i++ {
		if got := <-done; got != "fileinto dev\n" {
			t.Fatalf("concurrent Run = %q", got)
		}
	}
}
