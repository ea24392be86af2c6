package mail

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// lookupEncoding finds a decoder for a charset label. It returns nil for
// labels nobody knows (e.g. "default", "x-unknown"); callers then fall back
// the way SpamAssassin's Node::_normalize does.
func lookupEncoding(label string) encoding.Encoding {
	label = strings.TrimSpace(label)
	if label == "" {
		return nil
	}
	// RFC 2231 §5: a language suffix may follow the charset ("us-ascii*en").
	if i := strings.IndexByte(label, '*'); i >= 0 {
		label = label[:i]
	}
	lc := strings.ToLower(label)
	switch lc {
	case "utf-8", "utf8":
		return unicode.UTF8
	case "iso-8859-1", "iso8859-1", "latin1", "windows-1252", "cp1252", "us-ascii", "ascii":
		// SpamAssassin decodes ISO-8859-1 as its superset Windows-1252.
		return charmap.Windows1252
	case "gb18030", "gb-18030", "gb 18030":
		return simplifiedchinese.GB18030
	}
	if lc == "x-user-defined" {
		return nil // a WHATWG invention Perl's Encode does not know
	}
	if e, err := htmlindex.Get(lc); err == nil && e != nil && e != encoding.Replacement {
		return e
	}
	if e, err := ianaindex.MIME.Encoding(lc); err == nil && e != nil && e != encoding.Replacement {
		return e
	}
	if e, err := ianaindex.IANA.Encoding(lc); err == nil && e != nil && e != encoding.Replacement {
		return e
	}
	// Labels such as "GB2312_CHARSET" or "big5-hkscs_x": try the part
	// before the first "_".
	if i := strings.IndexByte(lc, '_'); i > 0 {
		if e, err := htmlindex.Get(lc[:i]); err == nil && e != nil {
			return e
		}
	}
	return nil
}

// isASCII reports whether b holds only 7-bit bytes.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// w1252Safe reports whether every 8-bit byte of b is one SpamAssassin
// accepts as plausible Windows-1252 text (NBSP, SHY, some punctuation,
// Latin letters); see Node::_normalize.
func w1252Safe(b []byte) bool {
	for _, c := range b {
		if c < 0x80 {
			continue
		}
		switch {
		case c == 0xa0, c == 0xa9, c == 0xad, c == 0x82, c == 0x84, c == 0x85,
			c >= 0x91 && c <= 0x97, c == 0x99,
			c >= 0xc0 && c <= 0xd6, c >= 0xd8 && c <= 0xde,
			c >= 0xe0 && c <= 0xf6, c >= 0xf8 && c <= 0xfe:
		default:
			return false
		}
	}
	return true
}

func decodeWith(e encoding.Encoding, b []byte) ([]byte, bool) {
	out, err := e.NewDecoder().Bytes(b)
	if err != nil {
		return nil, false
	}
	return out, true
}

// toUTF8 converts b from the declared charset to UTF-8, following
// SpamAssassin's Node::_normalize: all-ASCII input is returned unchanged;
// unless insist is set, 8-bit input that is valid UTF-8 is taken as UTF-8
// whatever the label says; an unknown or failing charset falls back to
// Windows-1252. It never fails; the result may contain U+FFFD.
func toUTF8(b []byte, declared string, insist bool) []byte {
	if isASCII(b) && asciiCompatible(declared) {
		return b
	}
	if !insist && !isASCII(b) && utf8.Valid(b) {
		return b
	}
	lc := strings.ToLower(strings.TrimSpace(declared))
	if i := strings.IndexByte(lc, '*'); i >= 0 {
		lc = lc[:i]
	}
	switch {
	case strings.HasPrefix(lc, "utf-16") || strings.HasPrefix(lc, "utf16") || strings.HasPrefix(lc, "utf 16"):
		if out, ok := decodeUTF16(b); ok {
			return out
		}
	case lc == "us-ascii" || lc == "ascii":
		// Declared ASCII but holds 8-bit bytes: fall through to the guesses.
	default:
		if e := lookupEncoding(lc); e != nil {
			if e == unicode.UTF8 {
				if utf8.Valid(b) {
					return b
				}
			} else if out, ok := decodeWith(e, b); ok {
				// With insist, SpamAssassin substitutes instead of croaking.
				if insist || !bytes.Contains(out, []byte("\uFFFD")) || bytes.Contains(b, []byte("\uFFFD")) {
					return out
				}
			}
		}
	}
	out, _ := decodeWith(charmap.Windows1252, b)
	if out == nil {
		return b
	}
	return out
}

// decodeUTF16 decodes UTF-16 text, guessing endianness from a BOM or from
// where the NUL bytes of spaces sit (SpamAssassin's detect_utf16).
func decodeUTF16(b []byte) ([]byte, bool) {
	out, ok := decodeUTF16Guess(b)
	if !ok || bytes.Contains(out, []byte("\uFFFD")) {
		return nil, false // Encode croaks on partial or broken characters
	}
	return out, true
}

func decodeUTF16Guess(b []byte) ([]byte, bool) {
	if len(b)%2 != 0 {
		return nil, false
	}
	if len(b) >= 2 && ((b[0] == 0xff && b[1] == 0xfe) || (b[0] == 0xfe && b[1] == 0xff)) {
		return decodeWith(unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), b)
	}
	var le, be int
	var even, odd int
	for i := 0; i+1 < len(b); i += 2 {
		if b[i] == 0x20 && b[i+1] == 0 {
			le++
		}
		if b[i] == 0 && b[i+1] == 0x20 {
			be++
		}
		even += int(b[i]>>4) + int(b[i]&0xf)
		odd += int(b[i+1]>>4) + int(b[i+1]&0xf)
	}
	if even > odd*4 {
		le++
	}
	if odd*4 > even {
		be++
	}
	switch {
	case le > be:
		return decodeWith(unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), b)
	case be > le:
		return decodeWith(unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), b)
	}
	return nil, false
}

// asciiCompatible reports whether 7-bit text in this charset is plain
// ASCII, so that SpamAssassin skips decoding it: US-ASCII, ISO-8859-*,
// Windows-*, UTF-8, KOI8-*, EUC-*, Big5, GBK, GB18030, and unknown labels.
// ISO-2022-*, UTF-7, UTF-16 and HZ are decoded even when 7-bit.
func asciiCompatible(cs string) bool {
	lc := strings.ToLower(strings.TrimSpace(cs))
	switch {
	case strings.HasPrefix(lc, "iso-2022"), strings.HasPrefix(lc, "iso2022"),
		strings.HasPrefix(lc, "utf-7"), strings.HasPrefix(lc, "utf7"),
		strings.HasPrefix(lc, "utf-16"), strings.HasPrefix(lc, "utf16"), strings.HasPrefix(lc, "utf 16"),
		strings.HasPrefix(lc, "utf-32"), strings.HasPrefix(lc, "hz"):
		return false
	}
	return true
}
