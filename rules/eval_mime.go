package rules

// The eval functions of SpamAssassin's MIMEEval plugin
// (Mail::SpamAssassin::Plugin::MIMEEval).

import (
	"bytes"
	"math"
	"regexp"
	"strings"
)

// check_for_uppercase(min, max): percentage of upper-case letters in
// (min, max], as MIMEEval.pm computes it: over the body lines (Subject
// included) with an inner space, base64-looking lines and ISO-2022-JP
// escapes left out, digits counted as lower case, at least 200 bytes, and
// 0 for charsets likely to false-positive as caps.
func evalUppercase(ec *EvalContext, args []string) (bool, error) {
	pct := memo(ec, "uppercase", func() float64 {
		if uppercaseCharsetFP(ec) {
			return 0
		}
		n, upper, lower := 0, 0, 0
		for _, p := range ec.Msg.Body() {
			if !hasInnerSpace(p) || isBase64Line(p) {
				continue
			}
			if bytes.IndexByte(p, 0x1b) >= 0 {
				p = jisEscapeRE.ReplaceAll(p, nil)
			}
			n += len(p)
			for _, c := range p {
				switch {
				case c >= 'A' && c <= 'Z':
					upper++
				case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
					lower++
				}
			}
		}
		if n < 200 || upper+lower == 0 {
			return 0
		}
		return 100 * float64(upper) / float64(upper+lower)
	})
	return pct > argFloat(args, 0, 0) && pct <= argFloat(args, 1, 100), nil
}

// hasInnerSpace is the regexp \S\s+\S (RE2's \s: tab, newline, form
// feed, carriage return, space) without a regexp: a line is read per body
// line of every message, and RE2's backtracker allocates per call.
func hasInnerSpace(p []byte) bool {
	i, j := 0, len(p)
	for i < j && isRE2Space(p[i]) {
		i++
	}
	for j > i && isRE2Space(p[j-1]) {
		j--
	}
	for k := i; k < j; k++ {
		if isRE2Space(p[k]) {
			return true
		}
	}
	return false
}

// isBase64Line is the regexp ^(?:[A-Za-z0-9+/=]{60,76} ){2}: two runs of
// 60 to 76 base64 characters, each followed by a space, at the start.
func isBase64Line(p []byte) bool {
	for range 2 {
		n := 0
		for n < len(p) && isBase64Char(p[n]) {
			n++
		}
		if n < 60 || n > 76 || n >= len(p) || p[n] != ' ' {
			return false
		}
		p = p[n+1:]
	}
	return true
}

func isBase64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

var (
	jisEscapeRE    = regexp.MustCompile(`(?s)\x1b\$B.*\x1b\(B`)
	capsFPCharsets = regexp.MustCompile(`(?i)^[-_a-z0-9]*(?:koi|jp|jis|euc|gb|big5|isoir|cp1251|windows-1251|georgianps|pt154|tis)[-_a-z0-9]*$`)
	ctCharsetRE    = regexp.MustCompile(`(?i)charset="([^"]+)"|charset='([^']+)'|charset=(\S+)`)
)

// uppercaseCharsetFP is MIMEEval's body_charset_is_likely_to_fp: the
// message's Content-Type charset or an HTML part's charset is one
// CHARSETS_LIKELY_TO_FP_AS_CAPS matches.
func uppercaseCharsetFP(ec *EvalContext) bool {
	var cs []string
	if ct := ec.Msg.Header("Content-Type", false); len(ct) > 0 {
		if m := ctCharsetRE.FindStringSubmatch(strings.Join(ct, "\n")); m != nil {
			cs = append(cs, m[1]+m[2]+m[3])
		}
	}
	ps, _ := parts(ec)
	for _, p := range ps {
		if p.ContentType == "text/html" && p.Charset != "" {
			cs = append(cs, p.Charset)
		}
	}
	for _, c := range cs {
		if capsFPCharsets.MatchString(c) {
			return true
		}
	}
	return false
}

func parts(ec *EvalContext) ([]Part, bool) {
	pm, ok := ec.Msg.(PartsMessage)
	if !ok {
		return nil, false
	}
	return memo(ec, "parts", pm.Parts), true
}

// mimeFacts computes SpamAssassin's MIMEEval flags from the parts.
func mimeFacts(ec *EvalContext) map[string]bool {
	return memo(ec, "mime_facts", func() map[string]bool {
		f := map[string]bool{}
		ps, _ := parts(ec)
		b64, qp := 0, 0
		qpBytes, qpEscapes := 0, 0
		// MIMEEval::_check_mime_header and _check_attachments, per leaf.
		for _, p := range ps {
			text := strings.HasPrefix(p.ContentType, "text")
			if strings.Contains(p.Disposition, "attachment") {
				f["mime_attachment"] = true
			}
			switch {
			case strings.Contains(p.Encoding, "base64"):
				b64++
				if text && (p.Charset == "" || asciiCharsetRE.MatchString(p.Charset)) &&
					!strings.HasPrefix(p.Disposition, "attachment") && !strings.HasPrefix(p.Disposition, "inline") {
					f["mime_base64_encoded_text"] = true
				}
			case strings.Contains(p.Encoding, "quoted-printable"):
				qp++
			}
			if p.Encoding == "quoted-printable" {
				// Longer than 78 characters, newline excluded (RFC 5322 only:
				// SpamAssassin bug 5491).
				for _, l := range bytes.Split(p.Raw, []byte("\n")) {
					if len(bytes.TrimRight(l, "\r")) > 78 && !bytes.HasPrefix(l, []byte("SPAM: ")) {
						f["mime_qp_long_line"] = true
					}
				}
				b, e := qpEscapeCount(p.Raw)
				qpBytes += b
				qpEscapes += e
			}
			cs := p.Charset
			if badISORE.MatchString(cs) && !okISORE.MatchString(cs) {
				f["mime_bad_iso_charset"] = true
			}
			if text && ec.Config.OKLocales != "all" && farawayCharset(cs) {
				f["mime_faraway_charset"] = true
			}
		}
		f["mime_base64_count"] = b64 > 0
		// _check_attachments replaces the count of quoted-printable parts
		// by the count of needless escapes once it has read QP bytes.
		if qpBytes > 0 {
			qp = qpEscapes
		}
		f["mime_qp_count"] = qp > 0
		f["mimepart_limit_exceeded"] = len(ps) > 1000
		return f
	})
}

var (
	qpNeedlessRE = regexp.MustCompile(`=(?:09|3[0-9ABCEF]|[2456][0-9A-F]|7[0-9A-E])`)
	qpTrailingRE = regexp.MustCompile(`((?:=09|=20)+)\s*$`)
)

// qpEscapeCount is MIMEEval's scan of a quoted-printable part's raw
// lines (those not starting "SPAM: "): their bytes, and the escapes of
// characters that need none (=41 for "A"), less those of trailing white
// space.
func qpEscapeCount(raw []byte) (n, escapes int) {
	for _, l := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(l) == 0 || bytes.HasPrefix(l, []byte("SPAM: ")) {
			continue
		}
		n += len(l)
		if bytes.IndexByte(l, '=') < 0 {
			continue
		}
		if q := len(qpNeedlessRE.FindAllIndex(l, -1)); q > 0 {
			escapes += q
			if m := qpTrailingRE.FindSubmatch(bytes.TrimSuffix(l, []byte("\n"))); m != nil {
				escapes -= len(m[1]) / 3
			}
		}
	}
	return n, escapes
}

var (
	asciiCharsetRE = regexp.MustCompile(`us-ascii|ansi_x3\.4-1968|iso-ir-6|ansi_x3\.4-1986|iso_646\.irv:1991|ascii|iso646-us|us|ibm367|cp367|csascii`)
	badISORE       = regexp.MustCompile(`(?i)iso-\S+-\S+\b`)
	okISORE        = regexp.MustCompile(`(?i)iso-(?:8859-\d{1,2}|2022-(?:jp|kr))\b`)
)

// farawayCharset reports charsets SpamAssassin calls far away from the
// default locale (ok_locales en): CJK, Cyrillic, Korean, Thai, Arabic, ….
func farawayCharset(cs string) bool {
	for _, p := range []string{"gb2312", "gbk", "gb18030", "big5", "euc-", "shift_jis", "shift-jis", "iso-2022-", "ks_c", "koi8", "windows-1251", "iso-8859-5", "tis-620", "windows-874", "iso-8859-6", "windows-1256", "iso-8859-8", "windows-1255", "cp1251"} {
		if strings.HasPrefix(cs, p) {
			return true
		}
	}
	return false
}

func evalForMIME(ec *EvalContext, args []string) (bool, error) {
	return mimeFacts(ec)[arg(args, 0)], nil
}

func contentTypes(ec *EvalContext) []string {
	var out []string
	for _, v := range ec.Msg.MIMEHeader("Content-Type", false) {
		t, _, _ := strings.Cut(v, ";")
		out = append(out, strings.ToLower(strings.TrimSpace(t)))
	}
	if len(out) == 0 {
		for _, v := range ec.Msg.Header("Content-Type", false) {
			t, _, _ := strings.Cut(v, ";")
			out = append(out, strings.ToLower(strings.TrimSpace(t)))
		}
	}
	return out
}

// mimeBodyCounts is MIMEEval's mime_body_html_count and
// mime_body_text_count: the parts of type text/html, and of another text
// type (a part without Content-Type is text/plain).
func mimeBodyCounts(ec *EvalContext) (html, text int) {
	ps, ok := parts(ec)
	if !ok {
		for _, t := range contentTypes(ec) {
			switch {
			case t == "text/html":
				html++
			case strings.HasPrefix(t, "text"):
				text++
			}
		}
		return html, text
	}
	for _, p := range ps {
		switch {
		case p.ContentType == "text/html":
			html++
		case strings.HasPrefix(p.ContentType, "text"):
			text++
		}
	}
	return html, text
}

// topIsHTML reports a message Content-Type starting with text/html.
func topIsHTML(ec *EvalContext) bool {
	ct := ec.Msg.Header("Content-Type", false)
	return len(ct) > 0 && len(ct[0]) >= 9 && strings.EqualFold(ct[0][:9], "text/html")
}

// check_for_mime_html: the message is text/html or has a text/html part.
func evalMIMEHTML(ec *EvalContext, _ []string) (bool, error) {
	if topIsHTML(ec) {
		return true, nil
	}
	html, _ := mimeBodyCounts(ec)
	return html > 0, nil
}

// check_for_mime_html_only: the message is text/html, or has text/html
// parts and no other text part.
func evalMIMEHTMLOnly(ec *EvalContext, _ []string) (bool, error) {
	if topIsHTML(ec) {
		return true, nil
	}
	html, text := mimeBodyCounts(ec)
	return html > 0 && text == 0, nil
}

// check_mime_multipart_ratio(min, max): once a multipart/alternative is
// seen, the raw size of the last text/plain part over that of the last
// text/html part (attachments left out); 1 otherwise.
func evalMultipartRatio(ec *EvalContext, args []string) (bool, error) {
	ps, _ := parts(ec)
	alt := false
	text, html := -1, -1
	for _, p := range ps {
		alt = alt || p.Parent == "multipart/alternative"
		if !alt || strings.Contains(p.Disposition, "attachment") {
			continue
		}
		switch p.ContentType {
		case "text/plain":
			text = len(p.Raw)
		case "text/html":
			html = len(p.Raw)
		}
	}
	r := 1.0
	if text >= 0 && html > 0 {
		r = float64(text) / float64(html)
	}
	return r >= argFloat(args, 0, 0) && r < argFloat(args, 1, math.Inf(1)), nil
}

// check_ma_non_text: a multipart/alternative holds a part that is not text.
func evalMANonText(ec *EvalContext, _ []string) (bool, error) {
	ps, _ := parts(ec)
	for _, p := range ps {
		if p.Parent == "multipart/alternative" && !strings.HasPrefix(p.ContentType, "text/") &&
			!strings.HasPrefix(p.ContentType, "multipart/") && p.ContentType != "application/rtf" {
			return true, nil
		}
	}
	return false, nil
}

// check_base64_length(min [, max]): the longest line of a base64 part,
// its newline counted as in SpamAssassin (application/ics left out).
func evalBase64Length(ec *EvalContext, args []string) (bool, error) {
	ps, _ := parts(ec)
	longest := 0
	for _, p := range ps {
		if p.Encoding != "base64" || p.ContentType == "application/ics" {
			continue
		}
		for _, l := range bytes.SplitAfter(p.Raw, []byte("\n")) {
			n := len(bytes.TrimRight(l, "\r\n"))
			if bytes.HasSuffix(l, []byte("\n")) {
				n++
			}
			longest = max(longest, n)
		}
	}
	n := float64(longest)
	return longest > 0 && n >= argFloat(args, 0, 0) && n <= argFloat(args, 1, math.Inf(1)), nil
}

var unicodeEscapeRE = regexp.MustCompile(`&#x[0-9A-F]{4};`)

// plainTextFacts follows the text/plain checks of
// MIMEEval::_check_attachments: whether a part declared US-ASCII (or
// without charset) holds NUL, CR or 8-bit bytes, and the ratio of
// "&#xHHHH;" escapes to the other characters of unencoded parts (-1 when
// there are none).
func plainTextFacts(ec *EvalContext) (asciiIllegal bool, unicodeRatio float64) {
	type res struct {
		illegal bool
		ratio   float64
	}
	r := memo(ec, "plain_text_facts", func() res {
		ps, _ := parts(ec)
		out := res{ratio: -1}
		normal, escapes := 0, 0
		for _, p := range ps {
			if p.ContentType != "text/plain" {
				continue
			}
			if (p.Charset == "" || p.Charset == "us-ascii") && bytes.ContainsFunc(p.Raw, func(c rune) bool { return c == 0 || c == '\r' || c >= 0x80 }) {
				out.illegal = true
			}
			if p.Encoding == "" || p.Encoding == "7bit" || p.Encoding == "8bit" {
				n := len(unicodeEscapeRE.FindAllIndex(p.Raw, -1))
				escapes += n
				normal += len(p.Raw) - 8*n
			}
		}
		if normal > 0 {
			out.ratio = float64(escapes) / float64(normal)
		}
		return out
	})
	return r.illegal, r.ratio
}

// check_for_ascii_text_illegal: a text/plain part claims US-ASCII but is not.
func evalASCIITextIllegal(ec *EvalContext, _ []string) (bool, error) {
	illegal, _ := plainTextFacts(ec)
	return illegal, nil
}

// check_abundant_unicode_ratio(ratio): "&#xHHHH;" escapes per character of
// the unencoded text/plain parts, at least ratio.
func evalUnicodeRatio(ec *EvalContext, args []string) (bool, error) {
	_, r := plainTextFacts(ec)
	return r >= 0 && r >= argFloat(args, 0, math.Inf(1)), nil
}

func evalParseFlags(ec *EvalContext, args []string) (bool, error) {
	pf, ok := ec.Msg.(ParseFlagsMessage)
	if !ok {
		return false, nil
	}
	for _, f := range pf.ParseFlags() {
		if f == arg(args, 0) {
			return true, nil
		}
	}
	return false, nil
}

// check_for_faraway_charset: a text part in a charset far from ok_locales
// (never, with SpamAssassin's default ok_locales all).
func evalFarawayCharset(ec *EvalContext, _ []string) (bool, error) {
	if ec.Config.OKLocales == "all" {
		return false, nil
	}
	ps, _ := parts(ec)
	for _, p := range ps {
		if strings.HasPrefix(p.ContentType, "text/") && farawayCharset(p.Charset) {
			return true, nil
		}
	}
	return false, nil
}
