package rules

import (
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

const sampleRules = `# sample
required_score 6.5
rewrite_header Subject *****SPAM*****
add_header all Status _YESNO_, score=_SCORE_
report_safe 0
whitelist_from *@good.example
blocklist_from spammer@*
trusted_networks 10. 192.168.0.0/16
util_rb_2tld co.uk
loadplugin Mail::SpamAssassin::Plugin::Foo
lang de describe FOO Etwas

header   FOO     Subject =~ /foo/i
score    FOO     2.5
describe FOO     Subject has foo
header   BAR     From:addr =~ m{\@bad\.example$} [if-unset: nobody@x]
score    BAR     0 1 2 3
body     __BAZ   /baz/
meta     BAZ2    __BAZ && !FOO
body     BROKEN  /(unclosed/
bogus_directive 1
meta     LOOP1   LOOP2
meta     LOOP2   LOOP1
if (version >= 3.004000)
body     NEW     /new/
else
body     OLD     /old/
endif
ifplugin Mail::SpamAssassin::Plugin::Nonexistent
body     NOPE    /nope/
endif
if !plugin(Mail::SpamAssassin::Plugin::Nonexistent)
body     YEP     /yep/
endif
header   EX      exists:X-Foo
header   EV      eval:no_such_function('a', "b")
`

func TestParseSample(t *testing.T) {
	rs, err := LoadString("sample.cf", sampleRules, Options{})
	if err != nil {
		t.Fatalf("LoadString = %v", err)
	}
	c := rs.Config()
	if c.RequiredScore != 6.5 || c.RewriteHeader["Subject"] != "*****SPAM*****" || c.ReportSafe != 0 {
		t.Errorf("Config() = %+v", c)
	}
	if len(c.AddHeaders) != 1 || c.AddHeaders[0].Name != "Status" || len(c.WelcomelistFrom) != 1 || len(c.BlocklistFrom) != 1 || len(c.TrustedNetworks) != 2 {
		t.Errorf("Config() = %+v", c)
	}
	for name, want := range map[string]bool{"FOO": true, "BAR": true, "NEW": true, "OLD": false, "NOPE": false, "YEP": true, "EX": true, "EV": true, "BROKEN": true} {
		if _, ok := rs.byName[name]; ok != want {
			t.Errorf("rule %s defined = %v, want %v", name, ok, want)
		}
	}
	if r := rs.byName["BAR"]; r.score != 0 || r.def.unset == nil || !r.def.mods.addr {
		t.Errorf("BAR = %+v", r)
	}
	if r := rs.byName["FOO"]; r.score != 2.5 || r.describe != "Subject has foo" {
		t.Errorf("FOO = %+v", r)
	}
	l := rs.Lint()
	var errs []string
	for _, d := range l.Errors {
		errs = append(errs, d.String())
	}
	joined := strings.Join(errs, "\n")
	for _, want := range []string{"sample.cf:20:", "BROKEN", "dependency cycle"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Lint().Errors = %s, want one containing %q", joined, want)
		}
	}
	if len(l.Warnings) != 1 || l.Warnings[0].String() != "sample.cf:21: unknown directive bogus_directive" {
		t.Errorf("Lint().Warnings = %v, want the unknown directive", l.Warnings)
	}
	if l.UnsupportedEvals["no_such_function"] != 1 {
		t.Errorf("UnsupportedEvals = %v", l.UnsupportedEvals)
	}
	if rs.byName["BROKEN"].inactive == "" || rs.byName["LOOP1"].inactive == "" || rs.byName["FOO"].inactive != "" {
		t.Errorf("BROKEN, LOOP1 should be inactive and FOO active")
	}
}

func TestParseMeta(t *testing.T) {
	vals := []float64{1, 0, 3}
	byName := map[string]*rule{"A": {idx: 0}, "B": {idx: 1}, "C": {idx: 2}}
	tests := []struct {
		expr string
		want float64
	}{
		{"A && !B", 1},
		{"A && B", 0},
		{"A || B", 1},
		{"(A + B + C) > 3", 1},
		{"(A + B + C) >= 5", 0},
		{"C * 2 - 1 == 5", 1},
		{"C / 3 == A", 1},
		{"!A || C > 2", 1},
		{"UNDEFINED || B", 0},
	}
	for _, tt := range tests {
		n, _, err := parseMeta(tt.expr)
		if err != nil {
			t.Fatalf("parseMeta(%q) = %v", tt.expr, err)
		}
		n.resolve(byName)
		if got := n.eval(vals); got != tt.want {
			t.Errorf("eval(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
	for _, bad := range []string{"A &&", "(A", "A $ B", "A B"} {
		if _, _, err := parseMeta(bad); err == nil {
			t.Errorf("parseMeta(%q) = nil error, want error", bad)
		}
	}
}

func TestReplaceTags(t *testing.T) {
	p, _ := newParser(Options{})
	p.tags["A"] = "[a@]"
	p.tags["B"] = "[b8]"
	p.inter["W1"] = `\W?`
	p.post["P2"] = "{1,2}"
	got := p.replaceTags(`<inter W1><post P2><A><B>x<A>`)
	want := `[a@]{1,2}\W?[b8]{1,2}x[a@]{1,2}`
	if got != want {
		t.Errorf("replaceTags = %q, want %q", got, want)
	}
}

// TestHeaderAddresses: the :addr and :name modifiers read addresses with
// mail.ParseAddresses.
func TestHeaderAddresses(t *testing.T) {
	type addr struct{ Name, Addr string }
	tests := []struct {
		in   string
		want []addr
	}{
		{`"Joe Q. Public" <joe@example.com>`, []addr{{"Joe Q. Public", "joe@example.com"}}},
		{`joe@example.com (Joe), b@c.d`, []addr{{"Joe", "joe@example.com"}, {"", "b@c.d"}}},
		{`group: a@b.c, "x, y" <d@e.f>;`, []addr{{"", "a@b.c"}, {"x, y", "d@e.f"}}},
	}
	for _, tt := range tests {
		var got []addr
		for _, a := range mail.ParseAddresses(tt.in) {
			got = append(got, addr{strings.TrimSpace(a.Phrase), a.Addr})
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseAddresses(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ParseAddresses(%q) = %v, want %v", tt.in, got, tt.want)
			}
		}
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add(sampleRules)
	f.Add("if (version >= 3.004000)\nbody A /a/\nelse\nendif\nendif\n")
	f.Add("meta A (B + C) > 1 && !D\nheader B From:addr:first =~ /x/ [if-unset: y]\n")
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 {
			return
		}
		rs, err := LoadString("fuzz.cf", text, Options{})
		if err != nil {
			t.Fatalf("LoadString = %v", err)
		}
		_ = rs.Lint().String()
	})
}

// TestUnsupportedDirectiveWarns: a directive sluice reads past although it
// can change a verdict is a lint warning, once per directive, at its first
// line, never silence; a harmless one is not reported.
func TestUnsupportedDirectiveWarns(t *testing.T) {
	rs, err := LoadString("local.cf", "loadplugin Mail::SpamAssassin::Plugin::Foo\nenvelope_sender_header X-A\nenvelope_sender_header X-B\nalways_trust_envelope_sender 1\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range rs.Lint().Warnings {
		got = append(got, d.String())
	}
	want := []string{
		"local.cf:2: envelope_sender_header is not supported and can change verdicts: EnvelopeFrom comes from the relays and Return-Path only (2 lines from here ignored)",
		"local.cf:4: always_trust_envelope_sender is not supported and can change verdicts: not applied (this line ignored)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Lint().Warnings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
