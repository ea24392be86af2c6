package scoring

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/rules"
)

func TestDecide(t *testing.T) {
	conf := rules.Config{RequiredScore: 5}
	for _, tc := range []struct {
		name  string
		res   rules.Result
		score float64
		spam  bool
		hits  []string
	}{
		{"empty", rules.Result{}, 0, false, nil},
		{"drops zero and subrules", rules.Result{Hits: []rules.Hit{{Rule: "A", Score: 2}, {Rule: "__B", Score: 9}, {Rule: "C", Score: 0}}}, 2, false, []string{"A"}},
		{"threshold reached", rules.Result{Hits: []rules.Hit{{Rule: "A", Score: 2.5}, {Rule: "B", Score: 2.5}}}, 5, true, []string{"A", "B"}},
		{"rounded to 3 decimals", rules.Result{Hits: []rules.Hit{{Rule: "A", Score: 4.9996}}}, 5, true, []string{"A"}},
		{"just below", rules.Result{Hits: []rules.Hit{{Rule: "A", Score: 4.9994}}}, 4.999, false, []string{"A"}},
		{"negative", rules.Result{Hits: []rules.Hit{{Rule: "A", Score: -1}, {Rule: "B", Score: 0.001}}}, -0.999, false, []string{"A", "B"}},
		{"timed out", rules.Result{TimedOut: true, Hits: []rules.Hit{{Rule: "A", Score: 1}}}, 1.001, false, []string{"A", TimeLimitRule}},
	} {
		v := Decide(tc.res, conf)
		var names []string
		for _, h := range v.Hits {
			names = append(names, h.Rule)
		}
		if v.Score != tc.score || v.Spam != tc.spam || strings.Join(names, ",") != strings.Join(tc.hits, ",") || v.Required != 5 {
			t.Errorf("%s: Decide = score %v spam %v hits %v, want %v %v %v", tc.name, v.Score, v.Spam, names, tc.score, tc.spam, tc.hits)
		}
	}
}

func TestTags(t *testing.T) {
	hits := []rules.Hit{{Rule: "ZED", Score: 1.5}, {Rule: "ALPHA", Score: -0.1}, {Rule: "MID_2", Score: 2}}
	spam := Verdict{Score: 7.25, Required: 5, Spam: true, Hits: hits, Tags: map[string]string{"RELAYSTRUSTED": "[ ip=127.0.0.1 ]"}}
	ham := Verdict{Score: 4.96, Required: 5, Hits: hits}
	big := Verdict{Score: 1234.5, Required: 5, Spam: true}
	neg := Verdict{Score: -3.2, Required: 5}
	opt := Options{Hostname: "mx.example.test", Version: "1.2.3", SubVersion: "2026-01-01",
		Now: func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) }}
	for _, tc := range []struct {
		v    Verdict
		in   string
		want string
	}{
		{spam, "_YESNO_ _YESNOCAPS_ _YESNO(s,h)_ _YESNOCAPS(s,h)_ _YESNO(, NOT)_|_YESNO( possible,)_|", "Yes YES s S | possible|"},
		{ham, "_YESNO_ _YESNOCAPS_ _YESNO(s,h)_ _YESNO(s)_ _YESNO()_ [_YESNO(, NOT)_]", "No NO h No No [ NOT]"},
		{spam, "_SCORE_ _HITS_ _SCORE(0)_ _SCORE(00)_ _SCORE(  )_ _SCORE(x)_ _REQD_", "7.2 7.2 07.2 007.2   7.2 7.2 5.0"},
		{ham, "_SCORE_", "4.9"}, // bug 6419: a ham never shows the threshold
		{big, "_SCORE_ _SCORE(0)_ _STARS_ _STARS(ab)_", "1234.5 1234.5 " + strings.Repeat("*", 50) + " " + strings.Repeat("ab", 50)},
		{neg, "[_SCORE_] [_SCORE(0)_] [_SCORE(00)_] [_STARS_]", "[-3.2] [-3.2] [0-3.2] []"},
		{spam, "_STARS(+)_|_STARS(0)_", "+++++++|*******"},
		{spam, "_TESTS_ _TESTS( )_ _TESTS(0)_", "ALPHA,MID_2,ZED ALPHA MID_2 ZED ALPHA,MID_2,ZED"},
		{spam, "_TESTSSCORES_ _TESTSSCORES(;)_", "ALPHA=-0.1,MID_2=2,ZED=1.5 ALPHA=-0.1;MID_2=2;ZED=1.5"},
		{neg, "_TESTS_ _TESTSSCORES(,)_ _SUBTESTS_", "none none none"},
		{spam, "_VERSION_ (_SUBVERSION_) on _HOSTNAME_", "1.2.3 (2026-01-01) on mx.example.test"},
		{spam, "_AUTOLEARN_ _BAYES_ _CONTACTADDRESS_", "disabled 0.5 the administrator of that system"},
		{spam, "_DATE_", "Wed, 04 Mar 2026 05:06:07 +0000"},
		{spam, "[_AWL_][_RBL_][_DCCB_][_LANGUAGES_][_RELAYSUNTRUSTED_] _RELAYSTRUSTED_", "[][][][][] [ ip=127.0.0.1 ]"},
		{spam, "_UNKNOWN_ _lower_ _A__B_ __ _X(y_ _ADDEDHEADER_", "_UNKNOWN_ _lower_ _A__B_ __ _X(y_ _ADDEDHEADER_"},
		{spam, "_REMOTEHOSTNAME_ _REMOTEHOSTADDR_ [_HEADER(Subject)_]", "localhost 127.0.0.1 []"},
	} {
		v := tc.v
		if got := newTagger(&v, &opt).expand(tc.in); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScoreString(t *testing.T) {
	for _, tc := range []struct {
		score, reqd float64
		spam        bool
		want        string
	}{
		{5.04, 5, false, "4.9"}, {4.95, 5, false, "4.9"}, {4.94, 5, false, "4.9"}, {5, 5, true, "5.0"},
		{0.04, 0, false, "-0.1"}, {10.0, 10.5, false, "10.0"}, {10.46, 10.5, false, "10.4"},
		{-0.04, 5, false, "-0.0"}, {0.05, 5, false, "0.1"}, {0.25, 5, false, "0.2"},
	} {
		if got := scoreString(tc.score, tc.reqd, tc.spam, "", false); got != tc.want {
			t.Errorf("scoreString(%v, %v, %v) = %q, want %q", tc.score, tc.reqd, tc.spam, got, tc.want)
		}
	}
}

func TestFoldField(t *testing.T) {
	long := strings.Repeat("x", 90)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"Level", "", ""},
		{"Status", "short value", "short value"},
		{"A", "one " + long + " two", "one\n\t" + long + "\n\ttwo"},
		{"A", long, long},
		{"A", "a\n\n b \n", "a\n\tb "},
		{"Long", strings.Repeat("word ", 20), "word word word word word word word word word word word word word\n\tword word word word word word word "},
		{"C", strings.Repeat("a,", 40), strings.Repeat("a,", 34) + "\n\t" + strings.Repeat("a,", 6)},
	} {
		if got := foldField(tc.name, tc.in); got != tc.want {
			t.Errorf("foldField(%q, %q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestMimeEncode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain ascii", "plain ascii"},
		{"Grüße aus Köln No", "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?= No"},
		{"ab café x", "ab =?UTF-8?Q?caf=C3=A9?= x"},
		{"first\n\tzweite Größe", "first\n\tzweite =?UTF-8?B?R3LDtsOfZQ==?="},
		{"ü", "=?UTF-8?B?w7w=?="},
	} {
		if got := mimeEncode(tc.in); got != tc.want {
			t.Errorf("mimeEncode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUnescape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"quoted value"`, "quoted value"},
		{`a\tb\nc \\ d\q`, "a\tb\nc \\ d"},
		{`trailing\`, `trailing\`},
		{`"unbalanced`, `"unbalanced`},
		{"spaces   ", "spaces"},
	} {
		if got := unescape(tc.in); got != tc.want {
			t.Errorf("unescape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTemplates(t *testing.T) {
	names := func(l []rules.HeaderTemplate) string {
		var s []string
		for _, h := range l {
			s = append(s, h.Name)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		name      string
		conf      rules.Config
		spam, ham string
	}{
		{"no config: SpamAssassin's defaults", rules.Config{ReportSafe: 1}, "Checker-Version,Flag,Level,Status", "Checker-Version,Level,Status"},
		{"clear_headers keeps Checker-Version", rules.Config{ClearHeaders: true, ReportSafe: 1}, "Checker-Version", "Checker-Version"},
		{"report_safe 0 adds Report to spam", rules.Config{ReportSafe: 0}, "Checker-Version,Flag,Level,Status,Report", "Checker-Version,Level,Status"},
		{"add_header replaces and moves", rules.Config{ClearHeaders: true, ReportSafe: 1, AddHeaders: []rules.HeaderTemplate{
			{When: "all", Name: "A", Template: "1"}, {When: "spam", Name: "B", Template: "2"}, {When: "ham", Name: "a", Template: "3"}, {When: "all", Name: "bad name", Template: "x"}}},
			"Checker-Version,A,B", "Checker-Version,a"},
		{"remove_header", rules.Config{ReportSafe: 0, AddHeaders: defaultHeaders, RemoveHeaders: []rules.HeaderTemplate{
			{When: "spam", Name: "level"}, {When: "all", Name: "Checker-Version"}, {When: "all", Name: "Report"}}},
			"Checker-Version,Flag,Status", "Checker-Version,Level,Status"},
	} {
		if got := names(templates(tc.conf, true)); got != tc.spam {
			t.Errorf("%s: spam templates = %s, want %s", tc.name, got, tc.spam)
		}
		if got := names(templates(tc.conf, false)); got != tc.ham {
			t.Errorf("%s: ham templates = %s, want %s", tc.name, got, tc.ham)
		}
	}
}

// bodyArray builds SpamAssassin's rendered body text array for a simple
// single-part text/plain message: the Subject line, then the text with
// paragraphs one per line and whitespace collapsed.
func bodyArray(raw []byte) [][]byte {
	m := parseMessage(raw)
	subj := strings.TrimSpace(m.headerValue("Subject"))
	text := string(m.body)
	text = regexp.MustCompile(`\n+\s*\n+`).ReplaceAllString(text, "\x00")
	text = regexp.MustCompile(`\s+`).ReplaceAllString(text, " ")
	text = strings.ReplaceAll(text, "\x00", "\n")
	out := [][]byte{[]byte(subj + "\n")}
	for _, l := range strings.SplitAfter(text, "\n") {
		if l != "" {
			out = append(out, []byte(l))
		}
	}
	return out
}

func TestPreview(t *testing.T) {
	for _, name := range []string{"gtube_crlf_rs1", "spam_rs1_retag"} {
		raw, err := os.ReadFile(filepath.Join(goldenDir, name+".eml"))
		if err != nil {
			t.Fatal(err)
		}
		g := loadGolden(t, goldenDir, name)
		if got := Preview(bodyArray(raw)); got != g.verdict.Preview {
			t.Errorf("Preview(%s) = %q, want %q", name, got, g.verdict.Preview)
		}
	}
	for _, tc := range []struct {
		body []string
		want string
	}{
		{nil, ""},
		{[]string{"Subject\n"}, ""},
		{[]string{"S\n", "-----Original Message----- quoted\n", "hello ---------- world\n"}, "hello world "},
		{[]string{"S\n", "a\n", "b\n", "c\n", "d\n"}, "a b c "},
	} {
		var b [][]byte
		for _, s := range tc.body {
			b = append(b, []byte(s))
		}
		if got := Preview(b); got != tc.want {
			t.Errorf("Preview(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestApplyEdges(t *testing.T) {
	conf := rules.Config{RequiredScore: 5, ReportSafe: 0, RewriteHeader: map[string]string{"Subject": "[SPAM]"}}
	spam := Verdict{Score: 6, Required: 5, Spam: true, Hits: []rules.Hit{{Rule: "X", Score: 6, Describe: "x"}}}
	ham := Verdict{Score: 1, Required: 5}
	opt := Options{Hostname: "h", Version: "1", SubVersion: "s"}
	for _, tc := range []struct {
		name string
		v    Verdict
		in   string
		want string
	}{
		{"ham strips every X-Spam field", ham,
			"Return-Path: <a@b>\nX-Spam-Prev-Subject: old\nX-SPAM-Flag: YES\n\tcont\nSubject: hi\nX-Spam-Level: ***\n\nbody\nX-Spam-Flag: YES\n",
			"Return-Path: <a@b>\nX-Spam-Checker-Version: sluice 1 (s) on h\nX-Spam-Level: *\nX-Spam-Status: No, score=1.0 required=5.0 tests=none autolearn=disabled\n\tversion=1\nSubject: hi\n\nbody\nX-Spam-Flag: YES\n"},
		{"spam subject rewritten once, folded subject", spam,
			"Subject:   [SPAM] already\n tagged\nFrom: a@b\n\nbody",
			"X-Spam-Checker-Version: sluice 1 (s) on h\nX-Spam-Flag: YES\nX-Spam-Level: ******\nX-Spam-Status: Yes, score=6.0 required=5.0 tests=X autolearn=disabled version=1\nX-Spam-Report: \n\t*  6.0 X x\nSubject: [SPAM] already\n tagged\nFrom: a@b\nX-Spam-Prev-Subject:   [SPAM] already\n\nbody"},
		{"no body, no newline", ham, "Subject: x",
			"X-Spam-Checker-Version: sluice 1 (s) on h\nX-Spam-Level: *\nX-Spam-Status: No, score=1.0 required=5.0 tests=none autolearn=disabled\n\tversion=1\nSubject: x\n"},
		{"CRLF kept", ham, "Subject: x\r\n\r\nbody\r\n",
			"X-Spam-Checker-Version: sluice 1 (s) on h\r\nX-Spam-Level: *\r\nX-Spam-Status: No, score=1.0 required=5.0 tests=none autolearn=disabled\r\n\tversion=1\r\nSubject: x\r\n\r\nbody\r\n"},
		{"mbox line kept on top", ham, "From a@b Mon Jan  1 00:00:00 2001\nSubject: x\n\nb\n",
			"From a@b Mon Jan  1 00:00:00 2001\nX-Spam-Checker-Version: sluice 1 (s) on h\nX-Spam-Level: *\nX-Spam-Status: No, score=1.0 required=5.0 tests=none autolearn=disabled\n\tversion=1\nSubject: x\n\nb\n"},
	} {
		got := string(Apply([]byte(tc.in), tc.v, conf, opt))
		if got != tc.want {
			t.Errorf("%s: Apply(%q) =\n%q\nwant\n%q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestMboxLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"From a@b Mon Jan  1 00:00:00 2001\n", true}, {"From\ta@b\n", true}, {"From : a@b\n", false},
		{"From  : a@b\n", true}, {"From: a@b\n", false}, {"From ", true}, {"Fromage: x\n", false}, {"From", false},
	} {
		if got := mboxLine([]byte(tc.in)); got != tc.want {
			t.Errorf("mboxLine(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestReportSafeBoundary(t *testing.T) {
	now := time.Unix(0x6B0476CE, 0)
	zero := bytes.NewReader(make([]byte, 64))
	opt := Options{Hostname: "h", Version: "1", Now: func() time.Time { return now }, Rand: zero}
	raw := "Subject: x\n\n------------=_6B0476CE.00000000--\nbody\n"
	v := Verdict{Score: 9, Required: 5, Spam: true}
	out := string(Apply([]byte(raw), v, rules.Config{RequiredScore: 5, ReportSafe: 1}, opt))
	if !strings.Contains(out, `boundary="----------=_6B0476CE.00000000/00000000"`) {
		t.Fatalf("Apply: boundary not lengthened past the one in the body:\n%s", out)
	}
	if !strings.HasSuffix(out, raw+"\n------------=_6B0476CE.00000000/00000000--\n\n") {
		t.Fatalf("Apply: original not attached unchanged:\n%s", out)
	}
}

// TestCheckerVersion: X-Spam-Checker-Version names sluice whatever the
// rule files' template says, unless Options imitates SpamAssassin.
func TestCheckerVersion(t *testing.T) {
	rs, err := rules.LoadString("v.cf", "add_header all Checker-Version SpamAssassin _VERSION_ (_SUBVERSION_) on _HOSTNAME_\n", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := Verdict{Required: 5}
	tests := []struct {
		opt  Options
		want string
	}{
		{Options{Hostname: "mx", Version: "1.2", SubVersion: "2026-12-04"}, "sluice 1.2 (2026-12-04) on mx"},
		{Options{Hostname: "mx", Version: "1.2"}, "sluice 1.2 on mx"},
		{Options{Hostname: "mx", Version: "1.2", ImitateSpamAssassin: true}, "SpamAssassin 4.0.1 (2024-03-25) on mx"},
	}
	for _, tt := range tests {
		got := ""
		for _, f := range Headers(v, rs.Config(), tt.opt) {
			if f.Name == "X-Spam-Checker-Version" {
				got = f.Value
			}
		}
		if got != tt.want {
			t.Errorf("Headers(%+v) Checker-Version = %q, want %q", tt.opt, got, tt.want)
		}
	}
}

func TestReportAndFormatScore(t *testing.T) {
	v := Verdict{Score: 1000, Required: 5, Spam: true, Autolearn: "no",
		Hits: []rules.Hit{{Rule: "GTUBE", Score: 1000, Describe: "Generic Test for Unsolicited Bulk Email"}}}
	rep := Report(v, rules.Config{}, Options{Hostname: "mx.test", ReportTemplate: "on _HOSTNAME_ (_SCORE_/_REQD_)\n_SUMMARY_\n\n\n"})
	if want := "on mx.test (1000.0/5.0)\n1000 GTUBE                  Generic Test for Unsolicited Bulk Email\n\n"; rep != want {
		t.Fatalf("Report = %q, want %q", rep, want)
	}
	if rep := Report(v, rules.Config{}, Options{Hostname: "mx.test"}); !strings.Contains(rep, "Content analysis details:   (1000.0 points, 5.0 required)") || !strings.HasSuffix(rep, "Email\n\n") {
		t.Fatalf("Report with the default template:\n%s", rep)
	}
	for _, tc := range []struct {
		score, req float64
		spam       bool
		want       string
	}{
		{1000, 5, true, "1000.0"},
		{4.96, 5, false, "4.9"},
		{5, 5, true, "5.0"},
		{-0.001, 5, false, "-0.0"},
		{2.25, 5, false, "2.2"},
	} {
		if got := FormatScore(tc.score, tc.req, tc.spam); got != tc.want {
			t.Errorf("FormatScore(%v, %v, %v) = %q, want %q", tc.score, tc.req, tc.spam, got, tc.want)
		}
	}
}

// TestCapturedTags: tags set by capture rules expand in templates with
// their values joined by spaces, as spamassassin -L writes
// "codes=123 456 from=john.doe none=_LC_NONE_" for
// add_header all Capt codes=_LC_CODE_ from=_LC_FROM_LOCAL_ none=_LC_NONE_.
func TestCapturedTags(t *testing.T) {
	res := rules.Result{Tags: map[string][]string{"LC_CODE": {"123", "456"}, "LC_FROM_LOCAL": {"john.doe"}, "SC": {"x"}}}
	v := Decide(res, rules.Config{RequiredScore: 5})
	opt := Options{Hostname: "mx.example.test"}
	in := "codes=_LC_CODE_ from=_LC_FROM_LOCAL_ none=_LC_NONE_ sc=_SC_"
	if got, want := newTagger(&v, &opt).expand(in), "codes=123 456 from=john.doe none=_LC_NONE_ sc=no"; got != want {
		t.Errorf("expand(%q) = %q, want %q", in, got, want)
	}
}
