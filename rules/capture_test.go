package rules

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"

	"github.com/sluice-mail/sluice/rules/perlre"
)

const captureRules = `
header   __FROM_LOCAL   From:addr =~ /^(?<FROM_LOCAL>[^@]+)@/
body     NAME_IN_BODY   /\bdear %{FROM_LOCAL}\b/i
score    NAME_IN_BODY   2
header   SUBJ_NAME      Subject =~ /%{FROM_LOCAL}/i
body     __GREET        /\bHello,? (?<GREET_NAME>\w+)/
header   GREET_IN_TO    To =~ /\b%{GREET_NAME}\b/i
uri      URI_HAS_TO     m|[\#=]%{TO_ADDR}|i
header   __TO_ADDR      To:addr =~ /(?<TO_ADDR>.*)/
header   NEVER_SET      Subject =~ /%{NO_SUCH_TAG}/
header   LITERAL_TMPL   Subject =~ /\%{FROM_LOCAL}/
body     __MULTI        /\bcode (?<CODES>\d+)/
tflags   __MULTI        multiple
body     ALL_CODES      /ref %{CODES}\b/
tflags   ALL_CODES      multiple
header   NEG_TMPL       Subject !~ /%{FROM_LOCAL}/
meta     META_CAPT      NAME_IN_BODY && URI_HAS_TO
`

func TestCaptureRules(t *testing.T) {
	rs, err := LoadString("capture.cf", captureRules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l := rs.Lint(); len(l.Errors) > 0 || l.Captures != 4 || l.Templates != 7 {
		t.Fatalf("Lint: errors %v, captures %d, templates %d; want none, 4, 7", l.Errors, l.Captures, l.Templates)
	}
	msg := "From: Bob <bob.smith@example.com>\nTo: Carol <carol@example.org>\nSubject: for bob.smith, %{FROM_LOCAL}\n\n" +
		"Dear Bob.Smith, Hello Carol\n\ncode 12 and code 34, ref 34 ref 12 ref 56\n\n" +
		"see http://evil.example.net/page.html#carol@example.org now\n"
	res := rs.Eval(context.Background(), newTestMessage([]byte(msg)), Input{})
	got := map[string]int{}
	for _, h := range res.Hits {
		got[h.Rule] = h.Count
	}
	want := map[string]int{"NAME_IN_BODY": 1, "SUBJ_NAME": 1, "GREET_IN_TO": 1, "URI_HAS_TO": 1, "LITERAL_TMPL": 1, "ALL_CODES": 2, "META_CAPT": 1}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%s fired %d times, want %d (hits %v)", name, got[name], n, got)
		}
	}
	for _, name := range []string{"NEVER_SET", "NEG_TMPL"} {
		if got[name] != 0 {
			t.Errorf("%s fired, want not (hits %v)", name, got)
		}
	}
	if v := res.Tags["CODES"]; !slices.Equal(v, []string{"12", "34"}) {
		t.Errorf("Tags[CODES] = %q, want [12 34]", v)
	}
	if v := res.Tags["FROM_LOCAL"]; !slices.Equal(v, []string{"bob.smith"}) {
		t.Errorf("Tags[FROM_LOCAL] = %q, want [bob.smith]", v)
	}

	// Without a From, the tag is unset: its template rules do not run,
	// and a negated one does not fire either.
	res = rs.Eval(context.Background(), newTestMessage([]byte("Subject: hi\n\nDear bob\n")), Input{})
	for _, h := range res.Hits {
		if h.Rule == "NAME_IN_BODY" || h.Rule == "NEG_TMPL" || h.Rule == "SUBJ_NAME" {
			t.Errorf("%s fired without its tag", h.Rule)
		}
	}
}

// TestCaptureNoInjection: a captured value is matched as a literal, never
// read as regex syntax.
func TestCaptureNoInjection(t *testing.T) {
	rs, err := LoadString("capture.cf", `
header __SUBJ  Subject =~ /^(?<SUBJ_ALL>.+)$/
rawbody ECHO   /%{SUBJ_ALL}/
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		subj, body string
		want       bool
	}{
		{".*", "anything at all", false},
		{".*", "a .* b", true},
		{"a|b", "b", false},
		{`x) (?{ die }) (`, `x) (?{ die }) (`, true},
		{"[caf\xe9]", "[caf\xe9]", true},
		{"[caf\xe9]", "c", false},
	} {
		msg := "Subject: " + tt.subj + "\n\n" + tt.body + "\n"
		res := rs.Eval(context.Background(), newTestMessage([]byte(msg)), Input{})
		got := false
		for _, h := range res.Hits {
			got = got || h.Rule == "ECHO"
		}
		if got != tt.want {
			t.Errorf("subject %q, body %q: ECHO = %v, want %v", tt.subj, tt.body, got, tt.want)
		}
	}
}

func TestTemplateRefs(t *testing.T) {
	for _, tt := range []struct {
		pat  string
		want []string
	}{
		{`a%{FOO}b`, []string{"FOO"}},
		{`\%{FOO}`, nil},
		{`%{foo}`, nil},
		{`%{FOO_BAR2}%{X}`, []string{"FOO_BAR2", "X"}},
		{`%{FOO__BAR}`, nil},
		{`%{HEADER(From)}`, []string{"HEADER(From)"}},
		{`%{FOO`, nil},
	} {
		var got []string
		for _, r := range templateRefs(tt.pat) {
			got = append(got, r.name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("templateRefs(%q) = %q, want %q", tt.pat, got, tt.want)
		}
	}
	for _, tt := range []struct {
		pat  string
		want []string
	}{
		{`(?<GB_TO_ADDR>.*)`, []string{"GB_TO_ADDR"}},
		{`(?P<A>x)(?'B'y)(?<c>z)(?<=x)(?<!y)`, []string{"A", "B"}},
		{`\(?<A>x)`, nil},
		{`[(?<A>]`, nil},
	} {
		if got := captureNames(tt.pat); !slices.Equal(got, tt.want) {
			t.Errorf("captureNames(%q) = %q, want %q", tt.pat, got, tt.want)
		}
	}
}

// FuzzCaptureReplace: a template replaced by any value matches exactly
// that value, under every flag combination, as quotemeta promises.
func FuzzCaptureReplace(f *testing.F) {
	for _, s := range []string{"bob@example.com", ".*", "a|b", "x) (", "\\", "#x y", "\xe9\x00\n", "$1", "%{X}", "\\E\\Q",
		"(?<AB>x)%{C(d)}", "[(?P<X>]\\(?'Y'z)%{"} {
		f.Add(s, "ix")
	}
	f.Fuzz(func(t *testing.T, v, flags string) {
		// Any text is a pattern the scanners must read without failing.
		for _, ref := range templateRefs(v) {
			if ref.start < 0 || ref.end > len(v) || v[ref.start:ref.start+2] != "%{" {
				t.Fatalf("templateRefs(%q): bad ref %+v", v, ref)
			}
		}
		for _, n := range captureNames(v) {
			if !isTagName(n) {
				t.Fatalf("captureNames(%q) = %q, not a tag name", v, n)
			}
		}
		if v == "" || len(v) > 200 {
			return
		}
		flags = strings.Map(func(r rune) rune {
			if strings.ContainsRune("imsx", r) {
				return r
			}
			return -1
		}, flags)
		pat := `^%{V}\z`
		got, ok := expandTemplates(pat, templateRefs(pat), map[string][]string{"V": {v}})
		if !ok {
			t.Fatalf("expandTemplates(%q) not ok", v)
		}
		tr, err := perlre.Translate(got, flags, perlre.Options{RE2Classes: true})
		if err != nil {
			t.Fatalf("Translate(%q): %v", got, err)
		}
		re, err := regexp.Compile(tr.RE2)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tr.RE2, err)
		}
		// Go's regexp reads UTF-8: compare over v widened to runes, as
		// Latin-1 byte strings match.
		wide := string([]rune(runesOf(v)))
		if !re.MatchString(wide) {
			t.Errorf("%q (flags %q) does not match %q", tr.RE2, flags, v)
		}
		if re.MatchString(wide + "x") {
			t.Errorf("%q (flags %q) matches %q+x", tr.RE2, flags, v)
		}
		// Eval matches templates with regexp2 over the widened bytes.
		bt, err := regexp2.Compile(tr.Backtrack, regexp2.RE2)
		if err != nil {
			t.Fatalf("regexp2.Compile(%q): %v", tr.Backtrack, err)
		}
		if ok, _ := bt.MatchRunes(runesOf(v)); !ok {
			t.Errorf("regexp2 %q (flags %q) does not match %q", tr.Backtrack, flags, v)
		}
		if ok, _ := bt.MatchRunes(runesOf(v + "x")); ok {
			t.Errorf("regexp2 %q (flags %q) matches %q+x", tr.Backtrack, flags, v)
		}
	})
}

func runesOf(s string) []rune {
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return r
}

// TestCaptureConcurrent: messages evaluated at once keep their own tags,
// through the shared cache of template programs.
func TestCaptureConcurrent(t *testing.T) {
	rs, err := LoadString("capture.cf", captureRules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			name := []string{"alice", "bob", "carol", "dave"}[i%4]
			msg := "From: <" + name + "@example.com>\nSubject: x\n\nDear " + name + "\n"
			other := "From: <" + name + "x@example.com>\nSubject: x\n\nDear " + name + "\n"
			for j := 0; j < 20; j++ {
				if !slices.Contains(hitNames(rs.Eval(context.Background(), newTestMessage([]byte(msg)), Input{})), "NAME_IN_BODY") {
					done <- name + ": NAME_IN_BODY did not fire"
					return
				}
				if slices.Contains(hitNames(rs.Eval(context.Background(), newTestMessage([]byte(other)), Input{})), "NAME_IN_BODY") {
					done <- name + "x: NAME_IN_BODY fired"
					return
				}
			}
			done <- ""
		}()
	}
	for i := 0; i < 8; i++ {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}
