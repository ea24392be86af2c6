package scoring

import (
	"bytes"
	"strings"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
)

// Edits returns what Apply does to a header without report_safe, as
// data for a caller that renders the header itself: every X-Spam-* field
// removed, ours added at the top (after a leading Return-Path, SpamAssassin
// bug 3409), and for spam the rewrite_header templates applied to Subject,
// From and To (the first line of the original kept as X-Spam-Prev-*).
// fields are the header as the earlier steps left it (mail.Header's
// Fields); crlf selects CRLF line ends for what is added (CRLF). ok is
// false when report_safe must replace the whole message: use Apply.
func Edits(fields []mail.Field, crlf bool, v Verdict, conf rules.Config, opt Options) (e mail.HeaderEdits, ok bool) {
	if v.Spam && conf.ReportSafe != 0 {
		return mail.HeaderEdits{}, false
	}
	opt = withContact(opt, conf)
	t := newTagger(&v, &opt)
	t.header = func(name string) string { return fieldsValue(fields, name) }
	eol := func(s string) string {
		if crlf {
			s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
		}
		return s
	}
	top := 0
	for i := range fields {
		if hasPrefixFold(string(fields[i].Raw()), "X-Spam-") {
			e.Remove = append(e.Remove, i)
			continue
		}
		if top == 0 && len(e.Remove) == i && hasPrefixFold(string(fields[i].Raw()), "Return-Path:") {
			top = i + 1
		}
	}
	for _, f := range headers(t, conf) {
		e.Add = append(e.Add, mail.FieldAdd{Before: top, Field: eol(f.Name + ": " + f.Value + "\n")})
	}
	_, rewrite := rewriteTmpl(conf, "Subject")
	created := false
	if rewrite && !hasField(fields, "Subject") {
		created = true
		subject := "Subject: \n"
		if tag, ok := rewriteTag(subject, t, conf); ok && t.v.Spam {
			subject = prependTag(subject, tag)
		}
		e.Add = append(e.Add, mail.FieldAdd{Before: len(fields), Field: eol(subject)})
	}
	if t.v.Spam {
		e.Rewrite, e.Add = rewriteFields(fields, t, conf, created, eol, e.Add)
	}
	return e, true
}

// rewriteFields applies rewrite_header to the From, Subject and To fields
// of a spam: the tag goes after the field name on the field's first line,
// and that first line is kept as an X-Spam-Prev-* field at the bottom
// ("X-Spam-Prev-Subject: (nonexistent)" for every field once the Subject
// was created, as SpamAssassin writes it).
func rewriteFields(fields []mail.Field, t *tagger, conf rules.Config, created bool, eol func(string) string, adds []mail.FieldAdd) (map[int]string, []mail.FieldAdd) {
	var rw map[int]string
	var prev []mail.FieldAdd
	for i := range fields {
		raw := string(fields[i].Raw())
		tag, ok := rewriteTag(raw, t, conf)
		if !ok {
			continue
		}
		first, rest := raw, ""
		if nl := strings.IndexByte(raw, '\n'); nl >= 0 {
			first, rest = raw[:nl+1], raw[nl+1:]
		}
		p := "X-Spam-Prev-" + first
		if created {
			p = "X-Spam-Prev-Subject: (nonexistent)\n"
		}
		prev = append(prev, mail.FieldAdd{Before: len(fields), Field: eol(p)})
		if rw == nil {
			rw = map[int]string{}
		}
		rw[i] = eol(prependTag(first, tag)) + rest
	}
	if created {
		// The created Subject is the last field SpamAssassin rewrites.
		prev = append(prev, mail.FieldAdd{Before: len(fields), Field: eol("X-Spam-Prev-Subject: (nonexistent)\n")})
	}
	return rw, append(adds, prev...)
}

// hasField reports whether fields hold a field called name.
func hasField(fields []mail.Field, name string) bool {
	for i := range fields {
		if strings.EqualFold(fields[i].Name, name) {
			return true
		}
	}
	return false
}

// fieldsValue is _HEADER(NAME)_: the values of the fields called name,
// leading blanks dropped, folding turned into the blank that follows the
// line break, one value per line.
func fieldsValue(fields []mail.Field, name string) string {
	var vals []string
	unfold := strings.NewReplacer("\n ", " ", "\n\t", "\t")
	for i := range fields {
		if strings.EqualFold(fields[i].Name, name) {
			v := strings.TrimRight(strings.TrimLeft(fields[i].RawValue(), " \t"), "\r\n")
			vals = append(vals, unfold.Replace(v))
		}
	}
	return strings.Join(vals, "\n")
}

// CRLF reports whether a message of that header section and body takes
// CRLF line ends: whether the first line of the message or the last line
// of the body ends with one (SpamAssassin bug 4363).
func CRLF(header, body []byte) bool {
	if len(body) == 0 {
		return crlfEnds(header, header)
	}
	return crlfEnds(header, body)
}

// editable reports whether header is a header section Edits can take on
// its own: mail splits it whole, it ends with its blank line, and no mbox
// line leads it.
func editable(header []byte) bool {
	return !mboxLine(header) && mail.HeaderLen(header) == len(header) &&
		(bytes.HasSuffix(header, []byte("\n\n")) || bytes.HasSuffix(header, []byte("\n\r\n")))
}
