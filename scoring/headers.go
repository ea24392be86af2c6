package scoring

import (
	"strings"

	"github.com/sluice-mail/sluice/rules"
)

// Field is one header field to add: Name is the full field name
// ("X-Spam-Status"), Value the folded value without the trailing line
// break (continuation lines joined by "\n\t").
type Field struct {
	Name  string
	Value string
}

// checkerVersion is the field SpamAssassin always adds; clear_headers and
// remove_header cannot remove it.
var checkerVersion = rules.HeaderTemplate{When: "all", Name: "Checker-Version",
	Template: "SpamAssassin _VERSION_ (_SUBVERSION_) on _HOSTNAME_"}

// sluiceChecker is the Checker-Version template unless Options imitates
// SpamAssassin.
const sluiceChecker = "sluice _VERSION_ (_SUBVERSION_) on _HOSTNAME_"

// defaultHeaders are the add_header lines of SpamAssassin's
// 10_default_prefs.cf, used when the rule files configure none.
var defaultHeaders = []rules.HeaderTemplate{
	checkerVersion,
	{When: "spam", Name: "Flag", Template: "_YESNOCAPS_"},
	{When: "all", Name: "Level", Template: "_STARS(*)_"},
	{When: "all", Name: "Status", Template: `"_YESNO_, score=_SCORE_ required=_REQD_ tests=_TESTS_ autolearn=_AUTOLEARN_ version=_VERSION_"`},
}

// templates returns the add_header templates that apply to a spam or a
// ham, in SpamAssassin's order: Checker-Version first, each add_header
// replacing an earlier one of the same name and going to the end, for
// report_safe 0 a Report field for spam, then remove_header lines. With no
// add_header and no clear_headers at all, SpamAssassin's default set is
// used.
func templates(conf rules.Config, spam bool) []rules.HeaderTemplate {
	adds := conf.AddHeaders
	if len(adds) == 0 && !conf.ClearHeaders {
		adds = defaultHeaders
	}
	list := []rules.HeaderTemplate{checkerVersion}
	applies := func(when string) bool {
		w := strings.ToLower(when)
		return w == "all" || (spam && w == "spam") || (!spam && w == "ham")
	}
	without := func(name string) []rules.HeaderTemplate {
		out := list[:0:0]
		for _, h := range list {
			if !strings.EqualFold(h.Name, name) {
				out = append(out, h)
			}
		}
		return out
	}
	for _, h := range adds {
		if applies(h.When) && validName(h.Name) {
			list = append(without(h.Name), h)
		}
	}
	if spam && conf.ReportSafe == 0 {
		found := false
		for _, h := range list {
			found = found || strings.EqualFold(h.Name, "Report")
		}
		if !found {
			list = append(list, rules.HeaderTemplate{When: "spam", Name: "Report", Template: "_REPORT_"})
		}
	}
	// remove_header after report_safe 0 removes its Report, as documented.
	for _, h := range conf.RemoveHeaders {
		if applies(h.When) && h.Name != "Checker-Version" {
			list = without(h.Name)
		}
	}
	return list
}

// validName reports whether name fits add_header's [A-Za-z0-9_-]+.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// unescape turns an add_header template as written in a rule file into
// its text, as SpamAssassin's add_header does: surrounding double quotes
// dropped, \n and \t expanded, \\ kept as one backslash, other escapes
// removed.
func unescape(tmpl string) string {
	tmpl = strings.TrimRight(tmpl, " \t\r\n\f\v")
	if len(tmpl) >= 2 && tmpl[0] == '"' && tmpl[len(tmpl)-1] == '"' {
		tmpl = tmpl[1 : len(tmpl)-1]
	}
	if !strings.Contains(tmpl, `\`) {
		return tmpl
	}
	parts := strings.Split(tmpl+"\n", `\\`)
	for i, p := range parts {
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			if p[j] != '\\' || j+1 >= len(p) || p[j+1] == '\n' {
				b.WriteByte(p[j])
				continue
			}
			j++
			switch p[j] {
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			}
		}
		parts[i] = b.String()
	}
	s := strings.Join(parts, `\`)
	return s[:len(s)-1]
}

// Headers returns the X-Spam-* fields for a verdict, in SpamAssassin's
// order and formats: each add_header template that applies (spam or ham)
// expanded, folded as SpamAssassin folds (at 79 columns after whitespace
// or commas, continuation lines starting with a tab) and RFC 2047-encoded
// where not ASCII. _HEADER(...)_ tags expand to "" here; Apply fills them.
func Headers(v Verdict, conf rules.Config, opt Options) []Field {
	opt = withContact(opt, conf)
	return headers(newTagger(&v, &opt), conf)
}

func headers(t *tagger, conf rules.Config) []Field {
	list := templates(conf, t.v.Spam)
	out := make([]Field, 0, len(list))
	for _, h := range list {
		if h.Name == "Checker-Version" && !t.opt.ImitateSpamAssassin {
			h.Template = sluiceChecker
			if t.opt.SubVersion == "" {
				h.Template = "sluice _VERSION_ on _HOSTNAME_"
			}
		}
		val := t.expand(unescape(h.Template))
		val = mimeEncode(foldField(h.Name, val))
		out = append(out, Field{Name: "X-Spam-" + h.Name, Value: val})
	}
	return out
}
