package mail

// b64val returns the 6-bit value of a base64 alphabet byte, or 0xff.
func b64val(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A'
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26
	case c >= '0' && c <= '9':
		return c - '0' + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return 0xff
}

// decodeBase64 decodes RFC 2045 §6.8 base64 tolerantly, exactly as
// SpamAssassin's Util::base64_decode: white space is dropped; clean input
// (a multiple of 4 alphabet characters) treats a "=" inside as zero bits;
// anything else loses its non-alphabet characters and trailing "=", reads
// a "=" inside as 63 (Perl's tr quirk) and drops a lone last character.
// A partial final group yields the bytes it holds.
func decodeBase64(in []byte) []byte {
	buf := make([]byte, 0, len(in))
	clean := true
	for _, c := range in {
		if isSpaceByte(c) {
			continue
		}
		if c != '=' && b64val(c) == 0xff {
			clean = false
		}
		buf = append(buf, c)
	}
	if len(buf)%4 != 0 || len(buf) < 2 {
		clean = false
	}
	eq := byte(0)
	if !clean {
		k := 0
		for _, c := range buf {
			if c == '=' || b64val(c) != 0xff {
				buf[k] = c
				k++
			}
		}
		buf = buf[:k]
		eq = 63
	}
	end := len(buf)
	for end > 0 && buf[end-1] == '=' {
		end--
	}
	buf = buf[:end]
	if !clean && len(buf)%4 == 1 {
		buf = buf[:len(buf)-1]
	}
	out := make([]byte, 0, len(buf)*3/4+3)
	var acc uint32
	n := 0
	for _, c := range buf {
		v := b64val(c)
		if v == 0xff {
			v = eq // "=" inside the data
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	switch n {
	case 2:
		out = append(out, byte(acc>>4))
	case 3:
		out = append(out, byte(acc>>10), byte(acc>>2))
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeQP decodes RFC 2045 §6.7 quoted-printable tolerantly, as
// SpamAssassin's Util::qp_decode: first trailing white space on each line
// and soft line breaks ("=" before a line break) are removed, then every
// "=XX" becomes its byte; any other "=" is kept literally.
func decodeQP(in []byte) []byte {
	tmp := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch c {
		case ' ', '\t':
			j := i
			for j < len(in) && (in[j] == ' ' || in[j] == '\t') {
				j++
			}
			if j < len(in) && (in[j] == '\n' || (in[j] == '\r' && j+1 < len(in) && in[j+1] == '\n')) {
				// Transport padding before a line break (rule 3).
				i = j - 1
				continue
			}
			tmp = append(tmp, in[i:j]...)
			i = j - 1
		case '=':
			if i+1 < len(in) && in[i+1] == '\n' {
				i++
				continue
			}
			if i+2 < len(in) && in[i+1] == '\r' && in[i+2] == '\n' {
				i += 2
				continue
			}
			tmp = append(tmp, c)
		default:
			tmp = append(tmp, c)
		}
	}
	out := tmp[:0]
	for i := 0; i < len(tmp); i++ {
		c := tmp[i]
		if c == '=' && i+2 < len(tmp) {
			if h, ok := unhex(tmp[i+1]); ok {
				if l, ok := unhex(tmp[i+2]); ok {
					out = append(out, h<<4|l)
					i += 2
					continue
				}
			}
		}
		out = append(out, c)
	}
	return out
}
