package scoring

import (
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/rules"
)

// The SpamAssassin release sluice's rule engine and scoring follow, as
// _VERSION_ and _SUBVERSION_ read with Options.ImitateSpamAssassin.
const (
	SpamAssassinVersion    = "4.0.1"
	SpamAssassinSubVersion = "2024-03-25"
)

// Options carries what the rule files do not: who and where we are, and
// the report texts.
type Options struct {
	// Hostname is what _HOSTNAME_ expands to and the host named in the
	// report_safe Received line. If empty, os.Hostname() is used.
	Hostname string
	// Version is what _VERSION_ expands to: the sluice version.
	Version string
	// SubVersion is what _SUBVERSION_ expands to (SpamAssassin puts its
	// release date there), for example the sluice build date.
	SubVersion string
	// ImitateSpamAssassin makes _VERSION_ and _SUBVERSION_ expand to the
	// SpamAssassin release whose rules and verdicts sluice follows
	// (SpamAssassinVersion, SpamAssassinSubVersion) and keeps the rule
	// files' X-Spam-Checker-Version template, for tools that look for
	// "SpamAssassin" there. Without it, X-Spam-Checker-Version names
	// sluice: "sluice VERSION (SUBVERSION) on HOSTNAME", whatever the rule
	// files' add_header Checker-Version says.
	ImitateSpamAssassin bool
	// Product names the software in the report_safe Received line
	// ("with Product (version V)"). If empty, "sluice" is used.
	Product string
	// ReportContact is what _CONTACTADDRESS_ expands to. If empty, the
	// rule files' report_contact (rules.Config.ReportContact) is used, and
	// without one "the administrator of that system" (SpamAssassin's
	// default).
	ReportContact string
	// ReportTemplate is the report template (SpamAssassin's "report" lines,
	// joined with "\n"). If empty, DefaultReport is used.
	ReportTemplate string
	// UnsafeReportTemplate is appended to the report when the original is
	// not text/plain. If empty, DefaultUnsafeReport is used.
	UnsafeReportTemplate string
	// ReportWrapWidth is report_wrap_width for rule descriptions in
	// reports. If zero, 75.
	ReportWrapWidth int
	// Now is the clock for _DATE_ and the report_safe Received line and
	// MIME boundary. If nil, time.Now is used.
	Now func() time.Time
	// Rand supplies the random part of the report_safe MIME boundary. If
	// nil, crypto/rand is used.
	Rand io.Reader
}

// DefaultReport is the report template of SpamAssassin 4.0.1's
// 10_default_prefs.cf (the variant for feature_yesno_takes_args).
const DefaultReport = `Spam detection software, running on the system "_HOSTNAME_",
has_YESNO(, NOT)_ identified this incoming email as_YESNO( possible,)_ spam.  The original
message has been attached to this so you can view it or label
similar future email.  If you have any questions, see
_CONTACTADDRESS_ for details.

Content preview:  _PREVIEW_

Content analysis details:   (_SCORE_ points, _REQD_ required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
_SUMMARY_
`

// DefaultUnsafeReport is SpamAssassin 4.0.1's unsafe_report template.
const DefaultUnsafeReport = `The original message was not completely plain text, and may be unsafe to
open with some email clients; in particular, it may contain a virus,
or confirm that your address can receive spam.  If you wish to view
it, it may be safer to save it to a file and open it with an editor.
`

// DefaultContact is SpamAssassin's default report_contact.
const DefaultContact = "the administrator of that system"

// TimeLimitRule is the rule Decide adds when evaluation ran out of time,
// as SpamAssassin does when its deadline passes.
const TimeLimitRule = "TIME_LIMIT_EXCEEDED"

// HitDetail is what a report shows of a hit beyond rules.Hit.
type HitDetail struct {
	// Area is SpamAssassin's report prefix for the rule's type: "BODY: "
	// for body rules and body evals, "RAW: " for rawbody, "URI: " for uri,
	// "FULL: " for full, "" for header and meta rules.
	Area string
	// Log holds the rule's test_log lines, shown under it in the report
	// (for example the freemail address that matched).
	Log []string
}

// Verdict is the decision about one message.
type Verdict struct {
	// Score is the sum of the hits' scores, rounded to three decimals as
	// SpamAssassin rounds it.
	Score float64
	// Required is required_score.
	Required float64
	// Spam reports Score >= Required.
	Spam bool
	// Hits are the rules that fired with a non-zero score, in report order.
	Hits []rules.Hit
	// Details gives the report area and log lines of hits by rule name.
	// Rules missing from it show no area.
	Details map[string]HitDetail
	// TimedOut reports that rule evaluation ran out of time.
	TimedOut bool
	// Autolearn is what _AUTOLEARN_ expands to; "disabled" when empty.
	Autolearn string
	// Preview is the content preview for _PREVIEW_ (see Preview).
	Preview string
	// Tags supplies further template tags by name (without underscores),
	// such as RELAYSTRUSTED, LASTEXTERNALIP, LANGUAGES or AUTHORDOMAIN.
	Tags map[string]string
}

// Decide turns an evaluation result into a verdict: hits with a zero
// score and __ sub-rules are dropped (SpamAssassin neither counts nor
// lists them), the total is rounded to three decimals, and the message is
// spam when the total reaches conf.RequiredScore. A result that ran out of
// time gets TIME_LIMIT_EXCEEDED (0.001), as in SpamAssassin.
func Decide(res rules.Result, conf rules.Config) Verdict {
	v := Verdict{Required: conf.RequiredScore, TimedOut: res.TimedOut, Autolearn: "disabled"}
	var sum float64
	for _, h := range res.Hits {
		if h.Score == 0 || math.IsNaN(h.Score) || strings.HasPrefix(h.Rule, "__") {
			continue
		}
		sum += h.Score
		v.Hits = append(v.Hits, h)
	}
	if res.TimedOut {
		v.Hits = append(v.Hits, rules.Hit{Rule: TimeLimitRule, Score: 0.001, Count: 1,
			Describe: "Exceeded time limit / deadline"})
		sum += 0.001
	}
	v.Score = round3(sum)
	v.Spam = v.Score >= v.Required
	v.Tags = shortcircuitTags(res)
	capturedTags(v.Tags, res.Tags)
	return v
}

// capturedTags adds the tags capture rules set (rules.Result.Tags) to
// tags, their values joined by spaces as SpamAssassin's get_tag joins a
// list; a tag already there keeps its value.
func capturedTags(tags map[string]string, captured map[string][]string) {
	for name, vals := range captured {
		if _, ok := tags[name]; !ok {
			tags[name] = strings.Join(vals, " ")
		}
	}
}

// shortcircuitTags are the Shortcircuit plugin's template tags: _SC_,
// _SCRULE_ and _SCTYPE_ ("no", "none" and "no" without a shortcircuit).
func shortcircuitTags(res rules.Result) map[string]string {
	if res.Shortcircuit == "" {
		return map[string]string{"SC": "no", "SCRULE": "none", "SCTYPE": "no"}
	}
	return map[string]string{
		"SC":     res.ShortcircuitRule + " (" + res.Shortcircuit + ")",
		"SCRULE": res.ShortcircuitRule,
		"SCTYPE": res.Shortcircuit,
	}
}

// round3 rounds as Perl's sprintf("%0.3f", $x) + 0.
func round3(x float64) float64 {
	f, err := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 3, 64), 64)
	if err != nil {
		return x
	}
	return f
}

// perlNum formats a number as Perl stringifies it (%.15g).
func perlNum(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return strconv.FormatFloat(x, 'g', 15, 64)
}
