package maildir

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxNameLen is the longest mailbox name, and the longest folder directory
// name, accepted. 255 bytes is both Dovecot's default mailbox name limit and
// the usual file-system limit for one path component.
const maxNameLen = 255

// Inbox is the canonical name of the root mailbox.
const Inbox = "INBOX"

// FolderDir returns the on-disk directory name, relative to the Maildir root,
// for the IMAP mailbox name: "Spam" gives ".Spam", "Lists.Go" and "Lists/Go"
// give ".Lists.Go", and non-ASCII names are stored in modified UTF-7
// (RFC 3501 §5.1.3) as Dovecot 2.3 does without the UTF-8 layout option:
// "Entwürfe" gives ".Entw&APw-rfe". The empty name and "INBOX" (any case) are
// the root, for which FolderDir returns "".
//
// Both "." (Dovecot's Maildir++ separator) and "/" separate hierarchy levels.
// A leading "INBOX" level is matched case-insensitively and written "INBOX",
// as Dovecot's mailbox_alloc does: "inbox.Sent" gives ".INBOX.Sent".
//
// FolderDir rejects, with an error wrapping ErrBadFolder: invalid UTF-8,
// empty levels ("a..b", ".Spam", "Spam."), levels "." or ".." or starting with
// ".", a leading "~", NUL and other control characters, and names or
// directory names longer than 255 bytes. Like Dovecot, it accepts the IMAP
// list wildcards "*" and "%" in names.
func FolderDir(name string) (string, error) {
	canon, err := canonicalName(name)
	if err != nil {
		return "", err
	}
	if canon == Inbox {
		return "", nil
	}
	dir := "." + encodeMUTF7(canon)
	if len(dir) > maxNameLen {
		return "", fmt.Errorf("%w: %q: directory name longer than %d bytes", ErrBadFolder, name, maxNameLen)
	}
	return dir, nil
}

// FolderName is the inverse of FolderDir: it returns the canonical IMAP
// mailbox name ("." separated, UTF-8) stored in the directory name dir. The
// empty dir and "." are the root, "INBOX". FolderName is strict: it rejects,
// with an error wrapping ErrBadFolder, any dir that FolderDir would not have
// produced, such as non-canonical modified UTF-7 or raw 8-bit bytes.
func FolderName(dir string) (string, error) {
	if dir == "" || dir == "." {
		return Inbox, nil
	}
	if len(dir) < 2 || dir[0] != '.' {
		return "", fmt.Errorf("%w: %q: not a Maildir++ folder directory", ErrBadFolder, dir)
	}
	name, err := decodeMUTF7(dir[1:])
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadFolder, dir, err)
	}
	again, err := FolderDir(name)
	if err != nil {
		return "", err
	}
	if again != dir {
		return "", fmt.Errorf("%w: %q: not in canonical form (want %q)", ErrBadFolder, dir, again)
	}
	return name, nil
}

// canonicalName validates an IMAP mailbox name and returns it with "." as the
// only separator and a leading INBOX level in upper case.
func canonicalName(name string) (string, error) {
	if name == "" || strings.EqualFold(name, Inbox) {
		return Inbox, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: %q: %s", ErrBadFolder, name, why)
	}
	if len(name) > maxNameLen {
		return "", bad(fmt.Sprintf("longer than %d bytes", maxNameLen))
	}
	if !utf8.ValidString(name) {
		return "", bad("invalid UTF-8")
	}
	for _, r := range name {
		switch {
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			return "", bad("control character")
		}
	}
	if name[0] == '~' {
		return "", bad("leading '~'")
	}
	levels := strings.FieldsFunc(name, func(r rune) bool { return r == '.' || r == '/' })
	// FieldsFunc drops empty levels; count separators to detect them.
	if len(levels) != strings.Count(name, ".")+strings.Count(name, "/")+1 {
		return "", bad("empty hierarchy level (leading, trailing or doubled separator)")
	}
	for _, l := range levels {
		if l == "." || l == ".." || strings.HasPrefix(l, ".") {
			return "", bad("hierarchy level starting with '.'")
		}
	}
	if strings.EqualFold(levels[0], Inbox) {
		levels[0] = Inbox
	}
	return strings.Join(levels, "."), nil
}

// The modified base64 alphabet of RFC 3501 §5.1.3: ',' replaces '/'.
const mb64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

// encodeMUTF7 encodes s (valid UTF-8) in modified UTF-7, RFC 3501 §5.1.3:
// printable US-ASCII other than "&" stands for itself, "&" is "&-", and runs
// of other characters are UTF-16BE in modified base64 between "&" and "-".
func encodeMUTF7(s string) string {
	var b strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		b.WriteByte('&')
		var acc uint32
		bits := 0
		for _, u := range run {
			acc = acc<<16 | uint32(u)
			bits += 16
			for bits >= 6 {
				bits -= 6
				b.WriteByte(mb64[(acc>>bits)&0x3f])
			}
		}
		if bits > 0 {
			b.WriteByte(mb64[(acc<<(6-bits))&0x3f])
		}
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			run = utf16.AppendRune(run, r)
		}
	}
	flush()
	return b.String()
}

// decodeMUTF7 decodes modified UTF-7 strictly: raw 8-bit bytes, unterminated
// or empty-but-not-"&-" shifts, non-zero padding bits, encoded printable ASCII
// and broken surrogate pairs are errors (RFC 3501 §5.1.3 forbids them or
// gives them no meaning).
func decodeMUTF7(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("byte 0x%02x outside printable US-ASCII", c)
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", fmt.Errorf("unterminated '&' shift")
		}
		enc := s[i+1 : i+1+end]
		i += end + 2
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		units, err := decodeMB64(enc)
		if err != nil {
			return "", err
		}
		for j := 0; j < len(units); j++ {
			u := units[j]
			var r rune
			switch {
			case utf16.IsSurrogate(rune(u)):
				if u >= 0xdc00 || j+1 >= len(units) {
					return "", fmt.Errorf("unpaired surrogate")
				}
				r = utf16.DecodeRune(rune(u), rune(units[j+1]))
				if r == utf8.RuneError {
					return "", fmt.Errorf("unpaired surrogate")
				}
				j++
			default:
				r = rune(u)
			}
			if r >= 0x20 && r <= 0x7e {
				return "", fmt.Errorf("printable US-ASCII %q inside a shift", r)
			}
			b.WriteRune(r)
		}
		// Two adjacent shifts are not canonical: they would have been one.
		if i < len(s) && s[i] == '&' && i+1 < len(s) && s[i+1] != '-' {
			return "", fmt.Errorf("adjacent shifts")
		}
	}
	return b.String(), nil
}

// decodeMB64 decodes modified base64 into UTF-16 code units, rejecting
// lengths that do not end on a code unit and non-zero padding bits.
func decodeMB64(enc string) ([]uint16, error) {
	var units []uint16
	var acc uint32
	bits := 0
	for i := 0; i < len(enc); i++ {
		v := strings.IndexByte(mb64, enc[i])
		if v < 0 {
			return nil, fmt.Errorf("byte %q not in modified base64", enc[i])
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 16 {
			bits -= 16
			units = append(units, uint16(acc>>bits))
			acc &= 1<<bits - 1
		}
	}
	if bits >= 6 || acc != 0 {
		return nil, fmt.Errorf("modified base64 %q does not end on a UTF-16 unit", enc)
	}
	return units, nil
}
