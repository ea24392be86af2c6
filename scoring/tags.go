package scoring

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// tagRE is SpamAssassin's template tag syntax: upper-case words joined by
// single underscores, an optional (argument), between underscores.
var tagRE = regexp.MustCompile(`_([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*(?:\(.*?\))?)_`)

// emptyTags are tags SpamAssassin always defines, empty when the plugin
// behind them is not loaded or found nothing.
var emptyTags = map[string]bool{
	"RBL": true, "ASN": true, "ASNCIDR": true, "AWL": true, "AWLMEAN": true, "AWLCOUNT": true,
	"AWLPRESCORE": true, "DCCB": true, "DCCR": true, "DCCREP": true, "PYZOR": true,
	"EXTRACTTEXTCHARS": true, "EXTRACTTEXTWORDS": true, "EXTRACTTEXTTOOLS": true,
	"EXTRACTTEXTTYPES": true, "EXTRACTTEXTEXTENSIONS": true, "EXTRACTTEXTFLAGS": true,
	"EXTRACTTEXTURIS": true, "DKIMIDENTITY": true, "DKIMDOMAIN": true, "DKIMSELECTOR": true,
	"BAYESTC": true, "BAYESTCLEARNED": true, "BAYESTCSPAMMY": true, "BAYESTCHAMMY": true,
	"HAMMYTOKENS": true, "SPAMMYTOKENS": true, "TOKENSUMMARY": true,
	"RELAYSTRUSTED": true, "RELAYSUNTRUSTED": true, "RELAYSINTERNAL": true, "RELAYSEXTERNAL": true,
	"LANGUAGES": true, "FIRSTTRUSTEDIP": true, "FIRSTTRUSTEDREVIP": true, "LASTEXTERNALIP": true,
	"LASTEXTERNALREVIP": true, "LASTEXTERNALRDNS": true, "LASTEXTERNALHELO": true,
	"SUBJPREFIX": true, "TIMING": true, "RULESVERSION": true,
}

// tagger expands template tags for one verdict.
type tagger struct {
	v       *Verdict
	opt     *Options
	now     time.Time
	host    string
	header  func(name string) string // _HEADER(NAME)_; nil outside Apply
	report  string                   // _REPORT_ body, built once
	summary string                   // _SUMMARY_, built once
	built   bool
}

func newTagger(v *Verdict, opt *Options) *tagger {
	t := &tagger{v: v, opt: opt}
	if opt.Now != nil {
		t.now = opt.Now()
	} else {
		t.now = time.Now()
	}
	t.host = opt.Hostname
	if t.host == "" {
		t.host, _ = os.Hostname()
	}
	return t
}

// expand replaces the known tags of text; unknown tags stay as they are
// (SpamAssassin bug 4793).
func (t *tagger) expand(text string) string {
	if strings.Count(text, "_") < 2 {
		return text
	}
	return tagRE.ReplaceAllStringFunc(text, func(m string) string {
		tag := m[1 : len(m)-1]
		if val, ok := t.value(tag); ok {
			return val
		}
		return m
	})
}

// value returns the expansion of one tag ("NAME" or "NAME(arg)").
func (t *tagger) value(tag string) (string, bool) {
	name, arg, hasArg := tag, "", false
	if i := strings.IndexByte(tag, '('); i >= 0 && strings.HasSuffix(tag, ")") {
		name, arg, hasArg = tag[:i], tag[i+1:len(tag)-1], true
	}
	v := t.v
	// orDefault is Perl's (shift || $default): "" and "0" are false.
	orDefault := func(def string) string {
		if !hasArg || arg == "" || arg == "0" {
			return def
		}
		return arg
	}
	switch name {
	case "YESNO":
		return t.yesno(arg, hasArg), true
	case "YESNOCAPS":
		return strings.ToUpper(t.yesno(arg, hasArg)), true
	case "SCORE", "HITS":
		return t.score(arg, hasArg), true
	case "REQD":
		return fmt.Sprintf("%2.1f", v.Required), true
	case "VERSION":
		if t.opt.ImitateSpamAssassin {
			return SpamAssassinVersion, true
		}
		return t.opt.Version, true
	case "SUBVERSION":
		if t.opt.ImitateSpamAssassin {
			return SpamAssassinSubVersion, true
		}
		return t.opt.SubVersion, true
	case "HOSTNAME":
		return t.host, true
	case "REMOTEHOSTNAME":
		return t.tagOr("REMOTEHOSTNAME", "localhost"), true
	case "REMOTEHOSTADDR":
		return t.tagOr("REMOTEHOSTADDR", "127.0.0.1"), true
	case "CONTACTADDRESS":
		if t.opt.ReportContact != "" {
			return t.opt.ReportContact, true
		}
		return DefaultContact, true
	case "BAYES":
		return t.tagOr("BAYES", "0.5"), true
	case "DATE":
		return rfc822Date(t.now), true
	case "STARS":
		n := int(v.Score) // Perl's int() truncates toward zero
		if n > 50 {
			n = 50
		}
		if n <= 0 {
			return "", true
		}
		return strings.Repeat(orDefault("*"), n), true
	case "AUTOLEARN":
		if v.Autolearn == "" {
			return "disabled", true
		}
		return v.Autolearn, true
	case "AUTOLEARNSCORE":
		return t.tagOr("AUTOLEARNSCORE", "0"), true
	case "TESTS":
		return t.tests(orDefault(","), false), true
	case "TESTSSCORES":
		return t.tests(orDefault(","), true), true
	case "SUBTESTS", "SUBTESTSCOLLAPSED":
		return t.tagOr(name, "none"), true
	case "PREVIEW":
		return v.Preview, true
	case "REPORT":
		t.build()
		return "\n" + t.report, true
	case "SUMMARY":
		t.build()
		return t.summary, true
	case "HEADER":
		if arg == "" || t.header == nil {
			return "", true
		}
		return t.header(arg), true
	case "ADDEDHEADER", "ADDEDHEADERHAM", "ADDEDHEADERSPAM":
		// Left alone in templates: they would recurse (bug 6278).
		return "", false
	}
	if val, ok := v.Tags[name]; ok {
		return val, true
	}
	if emptyTags[name] {
		return "", true
	}
	return "", false
}

func (t *tagger) tagOr(name, def string) string {
	if val, ok := t.v.Tags[name]; ok && val != "" {
		return val
	}
	return def
}

// yesno implements _YESNO(spam,ham)_: the argument splits at its first
// comma; a missing half means Yes or No.
func (t *tagger) yesno(arg string, hasArg bool) string {
	spam, ham, hasSpam, hasHam := "", "", false, false
	if hasArg && arg != "" {
		spam, hasSpam = arg, true
		if i := strings.IndexByte(arg, ','); i >= 0 {
			spam, ham, hasHam = arg[:i], arg[i+1:], true
		}
	}
	if t.v.Spam {
		if hasSpam {
			return spam
		}
		return "Yes"
	}
	if hasHam {
		return ham
	}
	return "No"
}

// score implements _SCORE(PAD)_ with SpamAssassin's rule (bug 6419) that
// a ham never shows a score reaching the threshold.
func (t *tagger) score(pad string, hasPad bool) string {
	return scoreString(t.v.Score, t.v.Required, t.v.Spam, pad, hasPad)
}

func scoreString(score, required float64, spam bool, pad string, hasPad bool) string {
	s := fmt.Sprintf("%2.1f", score)
	r := fmt.Sprintf("%2.1f", required)
	sf, _ := strconv.ParseFloat(s, 64)
	rf, _ := strconv.ParseFloat(r, 64)
	if !spam && sf >= rf {
		s = perlNum(rf - 0.1)
	}
	if hasPad && pad != "" && (strings.Trim(pad, "0") == "" || strings.Trim(pad, " ") == "") {
		if n := len(pad) + 3 - len(s); n > 0 {
			s = pad[:min(n, len(pad))] + s
		}
	}
	return s
}

// tests implements _TESTS(sep)_ and _TESTSSCORES(sep)_: names sorted as
// Perl's sort does (bytewise), "none" when nothing hit.
func (t *tagger) tests(sep string, withScores bool) string {
	hits := make([]int, len(t.v.Hits))
	for i := range hits {
		hits[i] = i
	}
	sort.SliceStable(hits, func(a, b int) bool { return t.v.Hits[hits[a]].Rule < t.v.Hits[hits[b]].Rule })
	parts := make([]string, 0, len(hits))
	for _, i := range hits {
		h := t.v.Hits[i]
		if withScores {
			parts = append(parts, h.Rule+"="+perlNum(h.Score))
		} else {
			parts = append(parts, h.Rule)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, sep)
}

// build makes the _REPORT_ and _SUMMARY_ texts, one entry per hit: the
// score, the name, the area and the description wrapped at
// report_wrap_width, then the rule's log lines.
func (t *tagger) build() {
	if t.built {
		return
	}
	t.built = true
	width := t.opt.ReportWrapWidth
	if width == 0 {
		width = 75
	}
	var rep, sum strings.Builder
	for _, h := range t.v.Hits {
		score := fmt.Sprintf("%4.1f", h.Score)
		if h.Score >= 10 || h.Score <= -10 {
			score = fmt.Sprintf("%4.0f", h.Score)
		}
		d := t.v.Details[h.Rule]
		desc := h.Describe
		if desc == "" {
			desc = "No description available."
		}
		var terse, long strings.Builder
		for _, msg := range d.Log {
			for {
				chunk, rest, ok := cutLog(msg)
				if !ok {
					break
				}
				fmt.Fprintf(&terse, "[%s]\n", chunk)
				if len(chunk) > 47 {
					fmt.Fprintf(&long, "%78s\n", "["+chunk+"]")
				} else {
					fmt.Fprintf(&long, "%27s [%s]\n", "", chunk)
				}
				msg = rest
			}
			fmt.Fprintf(&terse, "[%s]\n", msg)
			if len(msg) > 47 {
				fmt.Fprintf(&long, "%78s\n", "["+msg+"]")
			} else {
				fmt.Fprintf(&long, "%27s [%s]\n", "", msg)
			}
		}
		fmt.Fprintf(&rep, "* %s %s %s%s\n", score, h.Rule, d.Area,
			wrapDesc(desc, 4+len(h.Rule)+len(score)+len(d.Area), "*      ", width))
		if terse.Len() > 0 {
			rep.WriteString("*      " + terse.String())
		}
		fmt.Fprintf(&sum, "%s %-22s %s%s\n%s", score, h.Rule, d.Area,
			wrapDesc(desc, 3+len(h.Rule)+len(score)+len(d.Area), strings.Repeat(" ", 28), width),
			long.String())
	}
	t.report, t.summary = rep.String(), sum.String()
}

// cutLog implements Perl's s/^(.{30,48})\s//: the longest head of 30 to 48
// characters (no newline) followed by whitespace.
func cutLog(msg string) (string, string, bool) {
	limit := min(48, len(msg)-1)
	if nl := strings.IndexByte(msg, '\n'); nl >= 0 && nl < limit {
		limit = nl
	}
	for n := limit; n >= 30; n-- {
		if isSpace(msg[n]) {
			return msg[:n], msg[n+1:], true
		}
	}
	return "", msg, false
}

// wrapDesc wraps a rule description after a first line indented by
// firstLen columns, later lines starting with prefix, and drops the
// leading indentation (SpamAssassin's _wrap_desc).
func wrapDesc(desc string, firstLen int, prefix string, width int) string {
	w := wrap(desc, prefix, strings.Repeat(" ", firstLen), width, false, splitWords(desc))
	return strings.TrimLeft(w, " \t\n\r\f\v")
}

// rfc822Date formats t as SpamAssassin's time_to_rfc822_date does.
func rfc822Date(t time.Time) string {
	return t.Format("Mon, 02 Jan 2006 15:04:05 -0700")
}
