package perlre

import (
	"strconv"
	"strings"
)

// escape handles a backslash sequence outside a character class.
func (t *translator) escape() error {
	p := t.p
	t.i++
	if t.i >= len(p) {
		return t.errf("trailing backslash")
	}
	c := p[t.i]
	t.i++
	switch c {
	case 'd', 'D', 'w', 'W', 's', 'S':
		t.atom(`\`+string(c), `\`+string(c))
	case 'b', 'B':
		if t.opt.RE2Classes {
			if t.suppress == 0 {
				t.re.WriteString(`\` + string(c))
			}
			if c == 'b' {
				t.bt.WriteString(re2WordBoundary)
			} else {
				t.bt.WriteString(re2NotWordBoundary)
			}
		} else {
			t.both(`\` + string(c))
		}
		t.quantOK = false
	case 'A', 'z', 'Z':
		if t.opt.LineAnchors {
			if t.suppress == 0 {
				t.re.WriteString(map[byte]string{'A': "(?m:^)", 'z': "(?m:$)", 'Z': "(?m:$)"}[c])
			}
			t.bt.WriteString(`\` + string(c))
			t.quantOK = false
			return nil
		}
		if c != 'Z' {
			t.both(`\` + string(c))
			t.quantOK = false
			return nil
		}
		if t.suppress == 0 {
			t.re.WriteString(`(?:\n?\z)`)
		}
		if t.opt.RE2Classes {
			t.bt.WriteString(perlEnd)
		} else {
			t.bt.WriteString(`\Z`)
		}
		t.quantOK = false
	case 'h':
		t.atom(`[\t \xa0]`, `[\t \xa0]`)
	case 'H':
		t.atom(`[^\t \xa0]`, `[^\t \xa0]`)
	case 'v':
		t.atom(`[\n\x0b\f\r\x85]`, `[\n\x0b\f\r\x85]`)
	case 'V':
		t.atom(`[^\n\x0b\f\r\x85]`, `[^\n\x0b\f\r\x85]`)
	case 'R':
		t.atom(`(?:\r\n|[\n\x0b\f\r\x85])`, `(?:\r\n|[\n\x0b\f\r\x85])`)
	case 'N':
		if t.i < len(p) && p[t.i] == '{' {
			return t.unsupported(`\N{name}`)
		}
		t.atom(`[^\n]`, `[^\n]`)
	case 'Q':
		end := strings.Index(p[t.i:], `\E`)
		lit := p[t.i:]
		if end >= 0 {
			lit = p[t.i : t.i+end]
			t.i += end + 2
		} else {
			t.i = len(p)
		}
		for j := 0; j < len(lit); j++ {
			t.literal(rune(lit[j]))
		}
	case 'E':
	case 'G', 'K', 'X', 'C', 'l', 'u', 'L', 'U':
		return t.unsupported(`\` + string(c))
	case 'p', 'P':
		name := ""
		if t.i < len(p) && p[t.i] == '{' {
			end := strings.IndexByte(p[t.i:], '}')
			if end < 0 {
				return t.errf(`bad \%c`, c)
			}
			name = p[t.i : t.i+end+1]
			t.i += end + 1
		} else if t.i < len(p) {
			name = p[t.i : t.i+1]
			t.i++
		}
		t.atom(`\`+string(c)+name, `\`+string(c)+name)
	case 'k', 'g':
		ref, err := t.backrefName(c)
		if err != nil {
			return err
		}
		t.need("backreference")
		t.atom(`(?s:.*)`, ref)
	case '1', '2', '3', '4', '5', '6', '7', '8', '9':
		j := t.i
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(p[t.i-1 : j])
		if n < 10 || n <= t.ncap {
			t.i = j
			t.need("backreference")
			t.atom(`(?s:.*)`, `\`+strconv.Itoa(n))
			return nil
		}
		t.i--
		v, err := t.octal()
		if err != nil {
			return err
		}
		t.literal(v)
	default:
		v, ok, err := t.charEscape(c)
		if err != nil {
			return err
		}
		if ok {
			t.literal(v)
			return nil
		}
		// Perl takes any other escaped character literally.
		t.literal(rune(c))
	}
	return nil
}

func (t *translator) backrefName(c byte) (string, error) {
	p := t.p
	if t.i >= len(p) {
		return "", t.errf(`bad \%c`, c)
	}
	open := p[t.i]
	var closing byte
	switch open {
	case '{':
		closing = '}'
	case '<':
		closing = '>'
	case '\'':
		closing = '\''
	default:
		if c == 'g' {
			j := t.i
			if j < len(p) && p[j] == '-' {
				return "", t.unsupported(`relative backreference`)
			}
			for j < len(p) && p[j] >= '0' && p[j] <= '9' {
				j++
			}
			if j == t.i {
				return "", t.errf(`bad \g`)
			}
			n := p[t.i:j]
			t.i = j
			return `\` + n, nil
		}
		return "", t.errf(`bad \k`)
	}
	end := strings.IndexByte(p[t.i+1:], closing)
	if end < 0 {
		return "", t.errf(`bad \%c`, c)
	}
	name := p[t.i+1 : t.i+1+end]
	t.i += end + 2
	if name == "" {
		return "", t.errf(`empty backreference`)
	}
	if name[0] >= '0' && name[0] <= '9' {
		if _, err := strconv.Atoi(name); err != nil {
			return "", t.errf(`bad backreference %q`, name)
		}
		return `\` + name, nil
	}
	if name[0] == '-' {
		return "", t.unsupported(`relative backreference`)
	}
	return `\k<` + name + `>`, nil
}

// octal reads up to three octal digits at t.i (after the backslash).
func (t *translator) octal() (rune, error) {
	j := t.i
	for j < len(t.p) && j < t.i+3 && t.p[j] >= '0' && t.p[j] <= '7' {
		j++
	}
	if j == t.i {
		return 0, t.errf("bad octal escape")
	}
	v, _ := strconv.ParseUint(t.p[t.i:j], 8, 32)
	t.i = j
	return rune(v), nil
}

// charEscape decodes escapes standing for one character: \n \t \xHH \x{H}
// \0oo \o{o} \cX \e \a \f \r. ok is false for other characters.
func (t *translator) charEscape(c byte) (rune, bool, error) {
	p := t.p
	switch c {
	case 'n':
		return '\n', true, nil
	case 't':
		return '\t', true, nil
	case 'r':
		return '\r', true, nil
	case 'f':
		return '\f', true, nil
	case 'e':
		return 0x1b, true, nil
	case 'a':
		return 0x07, true, nil
	case '0':
		t.i--
		v, err := t.octal()
		return v, true, err
	case 'o':
		if t.i < len(p) && p[t.i] == '{' {
			end := strings.IndexByte(p[t.i:], '}')
			if end < 0 {
				return 0, false, t.errf(`bad \o`)
			}
			v, err := strconv.ParseUint(strings.TrimSpace(p[t.i+1:t.i+end]), 8, 32)
			if err != nil {
				return 0, false, t.errf(`bad \o`)
			}
			t.i += end + 1
			return rune(v), true, nil
		}
	case 'c':
		if t.i >= len(p) {
			return 0, false, t.errf(`bad \c`)
		}
		x := p[t.i]
		t.i++
		if x >= 'a' && x <= 'z' {
			x -= 'a' - 'A'
		}
		return rune(x ^ 0x40), true, nil
	case 'x':
		if t.i < len(p) && p[t.i] == '{' {
			end := strings.IndexByte(p[t.i:], '}')
			if end < 0 {
				return 0, false, t.errf(`bad \x{`)
			}
			h := strings.TrimSpace(p[t.i+1 : t.i+end])
			t.i += end + 1
			if h == "" {
				return 0, true, nil
			}
			v, err := strconv.ParseUint(h, 16, 32)
			if err != nil || v > 0x10ffff {
				return 0, false, t.errf(`bad \x{%s}`, h)
			}
			return rune(v), true, nil
		}
		j := t.i
		for j < len(p) && j < t.i+2 && isHex(p[j]) {
			j++
		}
		if j == t.i {
			return 0, true, nil
		}
		v, _ := strconv.ParseUint(p[t.i:j], 16, 32)
		t.i = j
		return rune(v), true, nil
	}
	if isAlnum(c) {
		return 0, false, nil
	}
	return rune(c), true, nil
}

var posixClasses = map[string]string{
	"alpha":  `a-zA-Z`,
	"digit":  `0-9`,
	"alnum":  `0-9a-zA-Z`,
	"upper":  `A-Z`,
	"lower":  `a-z`,
	"space":  `\t\n\x0b\f\r `,
	"blank":  `\t `,
	"punct":  `!-/:-@\[-` + "`" + `{-~`,
	"print":  `\x20-\x7e`,
	"graph":  `\x21-\x7e`,
	"cntrl":  `\x00-\x1f\x7f`,
	"xdigit": `0-9A-Fa-f`,
	"word":   `0-9A-Za-z_`,
	"ascii":  `\x00-\x7f`,
}

// class translates a bracketed character class.
func (t *translator) class() error {
	p := t.p
	start := t.i
	t.i++
	var re, bt strings.Builder
	re.WriteByte('[')
	bt.WriteByte('[')
	if t.i < len(p) && p[t.i] == '^' {
		re.WriteByte('^')
		bt.WriteByte('^')
		t.i++
	}
	first := true
	prevSet := false // previous item was a set (\w, [:alpha:]), so '-' is literal
	for {
		if t.i >= len(p) {
			t.i = start
			return t.errf("missing ]")
		}
		c := p[t.i]
		if c == ']' && !first {
			t.i++
			break
		}
		first = false
		if c == '[' && t.i+1 < len(p) && p[t.i+1] == ':' {
			end := strings.Index(p[t.i:], ":]")
			if end > 0 {
				name := p[t.i+2 : t.i+end]
				neg := strings.HasPrefix(name, "^")
				body, ok := posixClasses[strings.TrimPrefix(name, "^")]
				if !ok {
					return t.errf("unknown POSIX class %q", name)
				}
				t.i += end + 2
				if neg {
					re.WriteString("[:" + name + ":]")
					bt.WriteString(body)
					return t.unsupported("negated POSIX class")
				}
				re.WriteString(body)
				bt.WriteString(body)
				prevSet = true
				continue
			}
		}
		if c == '-' {
			t.i++
			next := byte(']')
			if t.i < len(p) {
				next = p[t.i]
			}
			if prevSet || next == ']' || re.Len() == 1 || (re.Len() == 2 && strings.HasSuffix(re.String(), "^")) {
				re.WriteString(`\-`)
				bt.WriteString(`\-`)
			} else {
				re.WriteByte('-')
				bt.WriteByte('-')
			}
			prevSet = false
			continue
		}
		if c == '\\' {
			t.i++
			if t.i >= len(p) {
				return t.errf("trailing backslash")
			}
			e := p[t.i]
			t.i++
			set := ""
			switch e {
			case 'd', 'D', 'w', 'W', 's', 'S':
				set = `\` + string(e)
			case 'h':
				set = `\t \xa0`
			case 'v':
				set = `\n\x0b\f\r\x85`
			case 'p', 'P':
				return t.unsupported(`\p in class`)
			case 'H', 'V', 'N', 'R':
				return t.unsupported(`\` + string(e) + ` in class`)
			case 'b':
				re.WriteString(`\x08`)
				bt.WriteString(`\x08`)
				prevSet = false
				continue
			}
			if set != "" {
				if prevSet = true; strings.HasSuffix(re.String(), "-") && !strings.HasSuffix(re.String(), `\-`) {
					// [a-\w]: Perl takes the dash literally.
					s := re.String()
					re.Reset()
					re.WriteString(s[:len(s)-1] + `\-`)
					s = bt.String()
					bt.Reset()
					bt.WriteString(s[:len(s)-1] + `\-`)
				}
				re.WriteString(set)
				bt.WriteString(set)
				continue
			}
			var v rune
			if e >= '1' && e <= '7' {
				t.i--
				var err error
				if v, err = t.octal(); err != nil {
					return err
				}
			} else {
				var ok bool
				var err error
				v, ok, err = t.charEscape(e)
				if err != nil {
					return err
				}
				if !ok {
					v = rune(e)
				}
			}
			re.WriteString(classLit(v, true))
			bt.WriteString(classLit(v, false))
			prevSet = false
			continue
		}
		t.i++
		re.WriteString(classLit(rune(c), true))
		bt.WriteString(classLit(rune(c), false))
		prevSet = false
	}
	re.WriteByte(']')
	bt.WriteByte(']')
	t.atom(re.String(), bt.String())
	return nil
}

func classLit(v rune, re2 bool) string {
	if v < 0x80 && v >= 0x20 && v != 0x7f {
		if strings.ContainsRune(`\]^-[`, v) {
			return `\` + string(v)
		}
		return string(v)
	}
	return litString(v, re2)
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }
func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
