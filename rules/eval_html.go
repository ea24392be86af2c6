package rules

// The eval functions of SpamAssassin's HTMLEval plugin
// (Mail::SpamAssassin::Plugin::HTMLEval).

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mail/sluice/rules/perlre"
)

// htmlAll returns the facts of every HTML part (SpamAssassin's
// $pms->{html_all}): HTMLPartsMessage when the message has it, else the
// single HTMLMessage facts.
func htmlAll(ec *EvalContext) []HTMLFacts {
	return memo(ec, "html_all", func() []HTMLFacts {
		if hp, ok := ec.Msg.(HTMLPartsMessage); ok {
			return hp.HTMLParts()
		}
		if hm, ok := ec.Msg.(HTMLMessage); ok {
			if f := hm.HTMLFacts(); f.Values != nil || f.Tags != nil {
				return []HTMLFacts{f}
			}
		}
		return nil
	})
}

// anyHTML reports whether test holds for one of the HTML parts, as the
// HTMLEval functions loop over html_all; the first error stops the loop.
func anyHTML(ec *EvalContext, test func(f HTMLFacts) (bool, error)) (bool, error) {
	for _, f := range htmlAll(ec) {
		if ok, err := test(f); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

func evalHTMLTest(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) { return f.Values[arg(args, 0)] != 0, nil })
}

// html_range(name, min [, max]): min < value <= max, as SpamAssassin tests it.
func evalHTMLRange(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		v, ok := f.Values[arg(args, 0)]
		return ok && v > argFloat(args, 1, math.Inf(-1)) && v <= argFloat(args, 2, math.Inf(1)), nil
	})
}

// html_eval(name, "< 512"): compare a value with a Perl-style comparison.
func evalHTMLEval(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		v, ok := f.Values[arg(args, 0)]
		if !ok {
			return false, nil
		}
		return cmpExpr(v, arg(args, 1))
	})
}

func cmpExpr(v float64, expr string) (bool, error) {
	expr = strings.TrimSpace(expr)
	for _, op := range []string{">=", "<=", "==", "!=", ">", "<"} {
		if rest, ok := strings.CutPrefix(expr, op); ok {
			w, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return false, fmt.Errorf("rules: bad comparison %q", expr)
			}
			return compare(op, v, w), nil
		}
	}
	return false, fmt.Errorf("rules: bad comparison %q", expr)
}

func evalHTMLTagExists(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) { return f.Tags[strings.ToLower(arg(args, 0))] > 0, nil })
}

func evalHTMLTagBalance(ec *EvalContext, args []string) (bool, error) {
	tag := strings.ToLower(arg(args, 0))
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		if f.Tags[tag] == 0 {
			return false, nil
		}
		return cmpExpr(float64(f.Balance[tag]), arg(args, 1))
	})
}

// html_image_only(min, max): HTML with images and min < text length <= max.
func evalHTMLImageOnly(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		l, ok := f.Values["length"]
		return ok && f.Tags["img"] > 0 && l > argFloat(args, 0, 0) && l <= argFloat(args, 1, math.Inf(1)), nil
	})
}

// html_image_ratio(min, max): text length over image area.
func evalHTMLImageRatio(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		l, ok := f.Values["non_space_len"]
		if !ok || f.Values["image_area"] <= 0 {
			return false, nil
		}
		r := l / f.Values["image_area"]
		return r > argFloat(args, 0, 0) && r <= argFloat(args, 1, math.Inf(1)), nil
	})
}

// html_text_match(kind, perl-regex)
func evalHTMLTextMatch(ec *EvalContext, args []string) (bool, error) {
	all := htmlAll(ec)
	if len(all) == 0 {
		return false, nil
	}
	tr, err := perlre.Translate(arg(args, 1), "", perlre.Options{})
	if err != nil {
		return false, regexError(err)
	}
	re, err := regexp.Compile(tr.RE2)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrRegex, err)
	}
	for _, f := range all {
		for _, t := range f.Text[arg(args, 0)] {
			if re.MatchString(t) {
				return true, nil
			}
		}
	}
	return false, nil
}

// html_title_subject_ratio(ratio): the longest title over the Subject,
// both in characters; SpamAssassin's Subject keeps its newline.
func evalHTMLTitleSubjectRatio(ec *EvalContext, args []string) (bool, error) {
	subj := ec.Msg.Header("Subject", false)
	if len(subj) == 0 {
		return false, nil
	}
	sl := float64(utf8.RuneCountInString(strings.Join(subj, "\n")) + 1)
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		longest := 0.0
		for _, t := range f.Text["title"] {
			longest = max(longest, float64(utf8.RuneCountInString(t))/sl)
		}
		return longest > argFloat(args, 0, math.Inf(1)), nil
	})
}

func evalHTMLCharsetFaraway(ec *EvalContext, _ []string) (bool, error) {
	if ec.Config.OKLocales == "all" {
		return false, nil
	}
	return anyHTML(ec, func(f HTMLFacts) (bool, error) { return f.Values["charset_faraway"] != 0, nil })
}

func evalIframeSrc(ec *EvalContext, _ []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) { return f.Values["iframe_src"] != 0, nil })
}
