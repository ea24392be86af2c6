package scoring

import (
	"regexp"

	"github.com/sluice-mail/sluice/rules"
)

// trailingNewlines is Perl's /\n*$/ in get_report's s/\n*$/\n\n/s.
var trailingNewlines = regexp.MustCompile(`\n*$`)

// Report returns SpamAssassin's report of a verdict, as
// PerMsgStatus::get_report builds it (what spamd answers REPORT with):
// the report template (Options.ReportTemplate, else the rule files' report
// lines, rules.Config.ReportTemplate, else DefaultReport) with
// its tags expanded, ending in exactly one blank line.
func Report(v Verdict, conf rules.Config, opt Options) string {
	opt = withContact(opt, conf)
	t := newTagger(&v, &opt)
	rep := t.expand(reportTemplate(opt.ReportTemplate, conf.ReportTemplate, DefaultReport))
	return trailingNewlines.ReplaceAllLiteralString(rep, "") + "\n\n"
}

// FormatScore returns a score as _SCORE_ and spamd's Spam: header show
// it: one decimal, and a ham that rounds up to the threshold shown just
// below it (SpamAssassin bug 6419, Util::get_tag_value_for_score).
func FormatScore(score, required float64, spam bool) string {
	return scoreString(score, required, spam, "", false)
}
