package rules

import (
	"context"
	"strings"
	"testing"
)

const prefsSite = `header LOCAL_SUBJ Subject =~ /pills/
score LOCAL_SUBJ 3
body LOCAL_BODY /cheap/
score LOCAL_BODY 1
welcomelist_from boss@example.com
`

const prefsMsg = "From: a@example.com\nTo: u@example.org\nSubject: pills\n\ncheap stuff\n"

func hitList(res Result) string {
	var n []string
	for _, h := range res.Hits {
		n = append(n, h.Rule)
	}
	return strings.Join(n, ",")
}

// TestPrefsOverlay: a user's required_score, score and lists apply to one
// evaluation without touching the site's Config or other evaluations;
// administrator settings and (without allow_user_rules) rule lines are
// warnings.
func TestPrefsOverlay(t *testing.T) {
	rs, err := LoadString("site.cf", prefsSite, Options{Plugins: map[string]bool{}})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := rs.ParsePrefs("user_prefs", []byte("required_score 2\nscore LOCAL_BODY 0.5\nwelcomelist_from a@example.com\n"+
		"util_rb_tld example\nbody MINE /stuff/\nrewrite_header Subject [SPAM]\nreport_safe 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	conf := rs.ConfigFor(pr)
	if conf.RequiredScore != 2 || conf.ReportSafe != 0 || conf.RewriteHeader["Subject"] != "[SPAM]" {
		t.Errorf("ConfigFor(pr) = required %v, report_safe %v, rewrite %v", conf.RequiredScore, conf.ReportSafe, conf.RewriteHeader)
	}
	if got := rs.Config().WelcomelistFrom; len(got) != 1 || rs.Config().RequiredScore != 5 {
		t.Errorf("site Config changed: welcomelist %v, required %v", got, rs.Config().RequiredScore)
	}
	if conf.TLDs["example"] {
		t.Errorf("util_rb_tld taken from user_prefs")
	}
	var warns []string
	for _, d := range pr.Lint().Warnings {
		warns = append(warns, d.String())
	}
	if w := strings.Join(warns, "\n"); !strings.Contains(w, "util_rb_tld is not allowed") || !strings.Contains(w, "1 rule lines ignored") {
		t.Errorf("warnings = %s", w)
	}
	msg := newTestMessage([]byte(prefsMsg))
	site := rs.Eval(context.Background(), msg, Input{})
	user := rs.Eval(context.Background(), msg, Input{Prefs: pr})
	if site.Score != 4 || hitList(site) != "LOCAL_BODY,LOCAL_SUBJ" {
		t.Errorf("site: %v %s", site.Score, hitList(site))
	}
	if user.Score != 3.5 {
		t.Errorf("user: score %v (%s), want 3.5", user.Score, hitList(user))
	}
	other, _ := LoadString("site.cf", prefsSite, Options{Plugins: map[string]bool{}})
	if res := other.Eval(context.Background(), msg, Input{Prefs: pr}); res.Score != 4 {
		t.Errorf("Prefs of another Ruleset applied: %v", res.Score)
	}
}

// TestPrefsUserRules: with allow_user_rules 1, the user's rules fire and
// score; a user rule may not redefine a site rule.
func TestPrefsUserRules(t *testing.T) {
	rs, err := LoadString("site.cf", prefsSite+"allow_user_rules 1\n", Options{Plugins: map[string]bool{}})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := rs.ParsePrefs("user_prefs", []byte("body MINE /stuff/\nscore MINE 2.5\nbody LOCAL_BODY /nothing/\n"))
	if err != nil {
		t.Fatal(err)
	}
	res := rs.Eval(context.Background(), newTestMessage([]byte(prefsMsg)), Input{Prefs: pr})
	if res.Score != 6.5 || hitList(res) != "LOCAL_BODY,LOCAL_SUBJ,MINE" {
		t.Errorf("Eval = %v (%s), want 6.5 with MINE", res.Score, hitList(res))
	}
}

// TestShortcircuitOrder: the first shortcircuit rule by priority and rule
// type ends the evaluation; later rules do not count.
func TestShortcircuitOrder(t *testing.T) {
	plugins := map[string]bool{}
	cf := prefsSite + "loadplugin " + shortcircuitPlugin + "\nshortcircuit LOCAL_SUBJ spam\nshortcircuit_spam_score 20\n"
	rs, err := LoadString("site.cf", cf, Options{Plugins: plugins})
	if err != nil {
		t.Fatal(err)
	}
	if len(plugins) != 0 {
		t.Errorf("loadplugin changed the caller's Plugins: %v", plugins)
	}
	res := rs.Eval(context.Background(), newTestMessage([]byte(prefsMsg)), Input{})
	if res.Score != 23 || hitList(res) != "LOCAL_SUBJ,SHORTCIRCUIT" || res.Shortcircuit != "spam" {
		t.Errorf("Eval = %v (%s, %q), want 23 LOCAL_SUBJ,SHORTCIRCUIT spam", res.Score, hitList(res), res.Shortcircuit)
	}
	off, _ := LoadString("site.cf", prefsSite+"shortcircuit LOCAL_SUBJ spam\n", Options{Plugins: map[string]bool{}})
	if res := off.Eval(context.Background(), newTestMessage([]byte(prefsMsg)), Input{}); res.Score != 4 || len(off.Lint().Warnings) != 1 {
		t.Errorf("without the plugin: %v (%s), warnings %v", res.Score, hitList(res), off.Lint().Warnings)
	}
}

// FuzzParsePrefs: no user_prefs text makes ParsePrefs or an evaluation
// with its result fail.
func FuzzParsePrefs(f *testing.F) {
	rs, err := LoadString("site.cf", prefsSite+"allow_user_rules 1\n", Options{Plugins: map[string]bool{}})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"required_score 2\n", "score LOCAL_BODY 1 2 3 4\n", "include /etc/passwd\n", "if (1)\nbody X /(/\nendif\n", "meta M LOCAL_BODY && !X\n"} {
		f.Add([]byte(s))
	}
	msg := newTestMessage([]byte(prefsMsg))
	f.Fuzz(func(t *testing.T, data []byte) {
		pr, err := rs.ParsePrefs("user_prefs", data)
		if err != nil {
			return
		}
		rs.Eval(context.Background(), msg, Input{Prefs: pr})
	})
}

// TestLangLines: "lang xx" lines (describe, report templates) apply when
// Options.Lang starts with xx (codeset left out); by default the English
// lines stay.
func TestLangLines(t *testing.T) {
	const cf = "body R /x/\ndescribe R english\nlang de describe R deutsch\nlang pt_BR describe R portugues\n" +
		"report \"english\"\nreport\nlang de clear_report_template\nlang de report deutsch\n"
	for lang, want := range map[string]string{"": "english", "de_DE.UTF-8": "deutsch", "pt_BR": "portugues", "pt_PT": "english", "C": "english"} {
		rs, err := LoadString("t.cf", cf, Options{Plugins: map[string]bool{}, Lang: lang})
		if err != nil {
			t.Fatal(err)
		}
		if got := rs.byName["R"].describe; got != want {
			t.Errorf("Lang %q: describe %q, want %q", lang, got, want)
		}
		wantReport := "english\n\n"
		if want == "deutsch" {
			wantReport = "deutsch\n"
		}
		if got := rs.Config().ReportTemplate; got != wantReport {
			t.Errorf("Lang %q: report template %q, want %q", lang, got, wantReport)
		}
	}
}
