package parity

import (
	"strings"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
)

// Adapted wraps a parsed message with the optional rules.Message
// capabilities that *mail.Message lacks as of this measurement
// (rules.PartsMessage, rules.HTMLMessage, rules.ParseFlagsMessage: the
// method names exist on *mail.Message but with mail's own types), so the
// harness can measure what wiring them would gain (the -adapt flag of
// cmd/parity). It is a measuring aid, not the fix: the fix belongs where
// mail and rules meet.
type Adapted struct {
	*mail.Message
}

// Parts returns the MIME leaf parts as rules.Part.
func (a Adapted) Parts() []rules.Part {
	var out []rules.Part
	var walk func(p *mail.Part, parent string)
	walk = func(p *mail.Part, parent string) {
		if p.IsLeaf() {
			fn := p.Params()["filename"]
			if fn == "" {
				fn = p.Name
			}
			out = append(out, rules.Part{
				ContentType: strings.ToLower(p.ContentType),
				Charset:     strings.ToLower(p.Charset),
				Encoding:    strings.ToLower(strings.TrimSpace(p.Get("Content-Transfer-Encoding"))),
				Filename:    fn,
				Parent:      parent,
				Raw:         p.RawContent(),
				Decoded:     p.Decoded(),
			})
			return
		}
		for _, c := range p.Children {
			walk(c, strings.ToLower(p.ContentType))
		}
	}
	if r := a.Root(); r != nil {
		walk(r, "")
	}
	return out
}

// ParseFlags returns SpamAssassin's parse-flag names that apply.
func (a Adapted) ParseFlags() []string {
	f := a.Message.ParseFlags()
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{
		{f.MissingHeadBodySeparator, "missing_head_body_separator"},
		{f.MissingMIMEHeadBodySeparator, "missing_mime_head_body_separator"},
		{f.MissingMIMEHeaders, "missing_mime_headers"},
		{f.TruncatedHeader, "truncated_header"},
		{f.MIMEEpilogueExists, "mime_epilogue_exists"},
	} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return out
}

// htmlValueNames are the numeric HTML facts mail.HTML.Value answers.
var htmlValueNames = []string{"length", "html_length", "non_space_len", "ratio", "image_area",
	"min_size", "max_size", "closed_extra_ratio", "bad_tag_ratio", "non_element_ratio", "obfuscation_ratio"}

// HTMLFacts returns the facts of the last HTML part, which is what
// SpamAssassin keeps in $pms->{html} (Message.pm: the last rendered part
// wins).
func (a Adapted) HTMLFacts() rules.HTMLFacts {
	hs := a.HTML()
	if len(hs) == 0 {
		return rules.HTMLFacts{}
	}
	h := hs[len(hs)-1]
	f := rules.HTMLFacts{Values: map[string]float64{}, Tags: map[string]int{}, Balance: map[string]int{}, Text: map[string][]string{}}
	for _, n := range []string{"html", "font_face_bad", "form_action_mailto", "embeds", "font_low_contrast", "font_invalid_color"} {
		if h.Test(n) {
			f.Values[n] = 1
		}
	}
	for _, n := range htmlValueNames {
		if v, ok := h.Value(n); ok {
			f.Values[n] = v
		}
	}
	for tag, bal := range h.Inside {
		f.Tags[tag] = 1
		f.Balance[tag] = bal
	}
	if h.Images > 0 {
		f.Tags["img"] = h.Images
	}
	for _, k := range []string{"title", "comment", "anchor"} {
		f.Text[k] = h.Texts(k)
	}
	return f
}
