package rules

// The eval functions of SpamAssassin's BodyEval plugin
// (Mail::SpamAssassin::Plugin::BodyEval).

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"unicode"
)

// tvdRatio is the largest percentage of spaces to other characters over
// the body paragraphs longer than 5 bytes (100 when spaces dominate).
func tvdRatio(ec *EvalContext) float64 {
	return memo(ec, "tvd", func() float64 {
		best := 0.0
		for _, p := range ec.Msg.Body() {
			if len(p) <= 5 {
				continue
			}
			spaces := float64(bytes.Count(p, []byte(" ")))
			non := float64(len(p)) - spaces
			pct := 100.0
			if spaces <= non && non > 0 {
				pct = math.Trunc(100 * spaces / non)
			}
			best = max(best, pct)
		}
		return best
	})
}

// check_body_length(n): the undecoded body is shorter than n bytes.
func evalBodyLength(ec *EvalContext, args []string) (bool, error) {
	full := ec.Msg.Full()
	i := bytes.Index(full, []byte("\n\n"))
	j := bytes.Index(full, []byte("\r\n\r\n"))
	var n int
	switch {
	case j >= 0 && (i < 0 || j < i):
		n = len(full) - j - 4
	case i >= 0:
		n = len(full) - i - 2
	}
	return float64(n) < argFloat(args, 0, 0), nil
}

// tvd_vertical_words(min, max): tvdRatio in [min, max).
func evalVerticalWords(ec *EvalContext, args []string) (bool, error) {
	hi := argFloat(args, 1, 101)
	if hi >= 100 {
		hi = 101
	}
	r := tvdRatio(ec)
	return r >= argFloat(args, 0, 0) && r < hi, nil
}

// check_blank_line_ratio(min, max [, minlines]): percentage of blank lines
// in the decoded body text.
func evalBlankLineRatio(ec *EvalContext, args []string) (bool, error) {
	var lines [][]byte
	for _, p := range ec.Msg.RawBody() {
		lines = append(lines, bytes.Split(p, []byte("\n"))...)
	}
	if len(lines) == 0 || float64(len(lines)) < max(argFloat(args, 2, 1), 1) {
		return false, nil
	}
	blank := 0
	for _, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			blank++
		}
	}
	r := 100 * float64(blank) / float64(len(lines))
	lo, hi := argFloat(args, 0, 0), argFloat(args, 1, 100)
	return (lo == 0 && r <= hi) || (r > lo && r <= hi), nil
}

// maDiff compares the words of the text and HTML alternatives of a
// multipart/alternative: the percentage of distinct HTML words the text
// part lacks, and the distinct word counts of both.
func maDiff(ec *EvalContext) (diff float64, textWords, htmlWords int) {
	type res struct {
		diff       float64
		text, html int
	}
	r := memo(ec, "madiff", func() res {
		if am, ok := ec.Msg.(AlternativesMessage); ok {
			d, t, h := maDiffAlternatives(am)
			return res{d, t, h}
		}
		ps, _ := parts(ec)
		text, html := map[string]int{}, map[string]int{}
		for _, p := range ps {
			if p.Parent != "multipart/alternative" {
				continue
			}
			body := string(p.Decoded)
			dst := text
			switch p.ContentType {
			case "text/html":
				body = htmlTagRE.ReplaceAllString(body, " ")
				dst = html
			case "text/plain":
			default:
				continue
			}
			for _, w := range strings.Fields(body) {
				if strings.IndexFunc(w, func(r rune) bool { return r < 0x80 && (isAlnum(byte(r)) || r == '_') }) >= 0 {
					dst[w]++
				}
			}
		}
		if len(html) == 0 {
			return res{}
		}
		orig := len(html)
		left := 0
		for w, n := range html {
			if n-text[w] >= 1 {
				left++
			}
		}
		return res{diff: 100 * float64(left) / float64(orig), text: len(text), html: orig}
	})
	return r.diff, r.text, r.html
}

var htmlTagRE = regexp.MustCompile(`(?s)<[^>]*>`)

// maDiffAlternatives is BodyEval's _multipart_alternative_difference:
// per multipart/alternative, the share of distinct words of its HTML
// parts' rendered text that its plain parts do not hold as often (an
// HTML part without words but with an image counts as one word); the
// largest share over the alternatives, and the word counts of the last
// one with HTML words. A meeting request (multipart/alternative of
// text/html and text/calendar) is skipped.
func maDiffAlternatives(am AlternativesMessage) (diff float64, textWords, htmlWords int) {
	alts := am.Alternatives()
	if len(alts) == 0 {
		return 0, 0, 0
	}
	if cs := am.ContentSummary(); len(cs) == 3 && cs[0] == "multipart/alternative" && cs[1] == "text/html" && cs[2] == "text/calendar" {
		return 0, 0, 0
	}
	for _, alt := range alts {
		html, text := map[string]int{}, map[string]int{}
		for _, p := range alt {
			dst := text
			if p.HTML {
				dst = html
			}
			for _, w := range strings.Fields(string(p.Text)) {
				if strings.IndexFunc(w, isWordRune) >= 0 {
					dst[w]++
				}
			}
			if p.HTML && len(html) == 0 && p.Image {
				html["\n"] = 1 // BodyEval's mark: a word that never occurs
			}
		}
		orig := len(html)
		if orig == 0 {
			continue
		}
		htmlWords, textWords = orig, len(text)
		left := 0
		for w, n := range html {
			if n-text[w] >= 1 {
				left++
			}
		}
		if d := 100 * float64(left) / float64(orig); d > diff {
			diff = d
		}
	}
	return diff, textWords, htmlWords
}

// isWordRune is Perl's \w on a character string.
func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// multipart_alternative_difference(min, max)
func evalMADiff(ec *EvalContext, args []string) (bool, error) {
	d, _, html := maDiff(ec)
	if html == 0 {
		return false, nil
	}
	lo := argFloat(args, 0, 0)
	return (lo == 0 || d > lo) && d <= argFloat(args, 1, math.Inf(1)), nil
}

// multipart_alternative_difference_count(ratio, minhtml)
func evalMADiffCount(ec *EvalContext, args []string) (bool, error) {
	_, text, html := maDiff(ec)
	if float64(html) <= argFloat(args, 1, 0) || html == 0 {
		return false, nil
	}
	return float64(text)/float64(html) > argFloat(args, 0, 0), nil
}

var (
	stockLabelRE = regexp.MustCompile(`(?m)^\s*([^:\s][^:\n]{2,29})\s*:\s*\S`)
	stockWordRE  = regexp.MustCompile(`(^trad(?:e|ing)date|company(?:name)?|s\w?(?:t\w?o\w?c\w?k|y\w?m(?:\w?b\w?o\w?l)?)|t(?:arget|icker)|(?:opening|current)p(?:rice)?|p(?:rojected|osition)|expectations|weeks?high|marketperformance|(?:year|week|month|day|price)(?:target|estimates?)|sector|r(?:ecommendation|ating))$`)
)

// check_stock_info(min): BodyEval counts the distinct stock-tip labels
// ("Symbol:", "Current Price:", "Target:" …) at line starts of the first
// text/plain part; true when there are at least min (min 0: always).
func evalStockInfo(ec *EvalContext, args []string) (bool, error) {
	min := argFloat(args, 0, 0)
	n := memo(ec, "stock_info", func() int {
		ps, _ := parts(ec)
		for _, p := range ps {
			if p.ContentType != "text/plain" {
				continue
			}
			hits := map[string]bool{}
			// Bytes, not a string: the part may be megabytes.
			for _, chunk := range shortParagraphs(p.Decoded) {
				if bytes.IndexByte(chunk, ':') < 0 {
					continue // every label has one
				}
				for _, m := range stockLabelRE.FindAllSubmatch(chunk, -1) {
					s := strings.Map(func(r rune) rune {
						if r >= 'a' && r <= 'z' {
							return r
						}
						return -1
					}, strings.ToLower(string(m[1])))
					if w := stockWordRE.FindStringSubmatch(s); w != nil {
						hits[w[1]] = true
					}
				}
			}
			return len(hits)
		}
		return 0
	})
	return min == 0 || float64(n) >= min, nil
}

// shortParagraphs is Message::split_into_array_of_short_paragraphs:
// text cut into chunks of 2048 to 4096 bytes, at a newline, ">" or space
// where one is near.
func shortParagraphs(s []byte) [][]byte {
	const max = 2048
	if len(s) <= max {
		return [][]byte{s}
	}
	var out [][]byte
	ofs := 0
	for len(s)-ofs > 2*max {
		j := -1
		for _, sep := range []byte{'\n', '>', ' '} {
			if k := bytes.IndexByte(s[ofs+max:], sep); k >= 0 && ofs+max+k-ofs+1 <= 2*max {
				j = ofs + max + k
				break
			}
		}
		if j < 0 {
			j = ofs + max
		}
		out = append(out, s[ofs:j+1])
		ofs = j + 1
	}
	if ofs < len(s) {
		out = append(out, s[ofs:])
	}
	return out
}
