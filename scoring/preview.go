package scoring

import (
	"regexp"
	"strings"
)

var (
	previewOriginal  = regexp.MustCompile(`(?m)-----Original Message-----.*$`)
	previewSeparator = regexp.MustCompile(`[-_*.]{10,}`)
	previewSpace     = regexp.MustCompile(`[ \t\n\r\f\v]+`)
)

// Preview returns the content preview of a message for _PREVIEW_, as
// SpamAssassin's get_content_preview makes it: the first lines of the
// rendered body text (at most three, until 200 bytes), long lines cut at
// 200 bytes with " [...]", quoted-message markers, MIME prologues and rows
// of dashes removed, whitespace collapsed, and the result wrapped at 75
// columns with a three-space indent after the "Content preview:  " label.
// body is the rendered body text with the Subject as its first element
// (rules.Message's Body()).
func Preview(body [][]byte) string {
	var b strings.Builder
	n := 3
	for i := 1; i < len(body) && b.Len() < 200 && n > 0; i++ {
		b.Write(body[i])
		n--
	}
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		if len(l) > 200 {
			lines[i] = l[:200] + " [...]"
		}
	}
	s := strings.TrimSuffix(strings.Join(lines, "\n"), "\n") + "\n"
	s = previewOriginal.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "This is a multi-part message in MIME format.", "")
	s = previewSeparator.ReplaceAllString(s, "")
	s = previewSpace.ReplaceAllString(s, " ")
	s = wrap(s, "  ", "Content preview:  ", 75, true, splitWords(s))
	s = strings.TrimPrefix(s, "Content preview:")
	return strings.TrimLeft(s, " \t\n\r\f\v")
}
