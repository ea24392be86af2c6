package perlre

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrRegex is wrapped by every error about a Perl regular expression that
// cannot be split, translated or compiled.
var ErrRegex = errors.New("perlre: bad regex")

// ErrUnsupported is wrapped when a Perl construct has no translation
// (code blocks, recursion, branch reset, \G, \K, case-changing escapes).
var ErrUnsupported = errors.New("perlre: unsupported regex construct")

// Translation is a Perl regular expression rendered for the two engines.
type Translation struct {
	// RE2 is the pattern in RE2 syntax for go-re2's Latin-1 mode. When
	// Confirm is false it matches exactly what Perl matches; when Confirm is
	// true it is a relaxed superset (lookarounds dropped, backreferences
	// widened, atomic and possessive groups made ordinary).
	RE2 string
	// Backtrack is the pattern in regexp2 (.NET) syntax, exact, for text
	// whose bytes were widened to runes one to one. Set only when Confirm
	// or Options.RE2Classes.
	Backtrack string
	// Confirm reports that a match of RE2 must be confirmed with Backtrack.
	Confirm bool
	// Reasons names the constructs that required backtracking.
	Reasons []string
}

// Options tunes Translate.
type Options struct {
	// LooseRepeats rewrites counted repeats of groups that themselves hold
	// counted repeats, for patterns whose nested counts exceed RE2's limit:
	// up to 10 the group is unrolled (exact), beyond it the count becomes
	// + or * (a superset, so confirmation is asked for).
	LooseRepeats bool
	// LooseBig relaxes counts above 64 to + or * in the RE2 pattern; used
	// when a pattern needs confirmation anyway, to spare RE2 big counters.
	LooseBig bool
	// LineAnchors turns ^, $, \A, \z and \Z into line anchors in the RE2
	// pattern: a superset that lets one RE2 set scan paragraphs joined by
	// newlines.
	LineAnchors bool
	// RE2Classes writes Backtrack for regexp2's RE2 mode (regexp2.RE2),
	// whose \d, \s and \w are RE2's ASCII classes, and spells out what
	// that mode would still read otherwise: \b and \B by ASCII word
	// characters, Perl's $ and \Z as (?=\n?\z). The result matches what
	// the RE2 pattern matches, for use without RE2.
	RE2Classes bool
}

// asciiWord is RE2's \w, for the word boundaries of RE2Classes.
const asciiWord = `[0-9A-Za-z_]`

// re2WordBoundary and re2NotWordBoundary spell \b and \B with lookarounds
// over ASCII word characters.
const (
	re2WordBoundary    = `(?:(?<=` + asciiWord + `)(?!` + asciiWord + `)|(?<!` + asciiWord + `)(?=` + asciiWord + `))`
	re2NotWordBoundary = `(?:(?<=` + asciiWord + `)(?=` + asciiWord + `)|(?<!` + asciiWord + `)(?!` + asciiWord + `))`
)

// perlEnd is Perl's $ and \Z outside /m: the end, or before a final newline.
const perlEnd = `(?=\n?\z)`

// Translate translates a Perl pattern with its flags (i, m, s, x; g and o
// are ignored) into RE2 and regexp2 syntax. Perl matches byte strings, so
// every non-ASCII byte of the pattern becomes a \xHH byte escape.
func Translate(pattern, flags string, opt Options) (Translation, error) {
	t := translator{p: pattern, opt: opt}
	st := modeState{}
	var pre []byte
	for _, f := range flags {
		switch f {
		case 'i', 's':
			pre = append(pre, byte(f))
		case 'm':
			pre = append(pre, 'm')
			st.m = true
		case 'x':
			st.x = true
		}
	}
	if len(pre) > 0 {
		t.both("(?" + string(pre) + ")")
	}
	t.stack = []group{{mode: st}}
	if err := t.run(); err != nil {
		return Translation{}, err
	}
	tr := Translation{RE2: t.re.String(), Confirm: len(t.reasons) > 0, Reasons: t.reasons}
	if tr.Confirm || opt.RE2Classes {
		tr.Backtrack = t.bt.String()
	}
	return tr, nil
}

type modeState struct{ x, m bool }

type group struct {
	mode     modeState
	counted  bool // holds a counted repeat
	named    bool // holds a named group
	suppress bool // lookaround: omitted from the RE2 pattern
	reStart  int  // output offsets where the group began
	btStart  int
}

type translator struct {
	p       string
	i       int
	opt     Options
	re, bt  strings.Builder
	stack   []group
	ncap    int
	reasons []string
	// offsets of the last atom in each output, for quantifiers; -1 if none
	reAtom, btAtom int
	quantOK        bool
	atomCounted    bool // the last atom is a group holding counted repeats
	atomNamed      bool
	suppress       int
}

func (t *translator) mode() *modeState { return &t.stack[len(t.stack)-1].mode }

func (t *translator) need(reason string) {
	for _, r := range t.reasons {
		if r == reason {
			return
		}
	}
	t.reasons = append(t.reasons, reason)
}

func (t *translator) errf(format string, a ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrRegex, t.i, fmt.Sprintf(format, a...))
}

func (t *translator) unsupported(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrUnsupported, what, t.i)
}

// both appends s to both outputs (the RE2 one only outside lookarounds).
func (t *translator) both(s string) {
	if t.suppress == 0 {
		t.re.WriteString(s)
	}
	t.bt.WriteString(s)
}

// atom appends an atom (which a quantifier may follow) to both outputs.
func (t *translator) atom(re, bt string) {
	t.reAtom, t.btAtom = t.re.Len(), t.bt.Len()
	t.atomCounted, t.atomNamed = false, false
	if t.suppress == 0 {
		t.re.WriteString(re)
	}
	t.bt.WriteString(bt)
	t.quantOK = true
}

func (t *translator) literal(v rune) {
	s := litString(v, false)
	t.atom(litString(v, true), s)
}

// litString renders one literal character for RE2 (re2=true) or regexp2.
func litString(v rune, re2 bool) string {
	switch {
	case v > 0xff:
		if re2 {
			return fmt.Sprintf(`\x{%x}`, v)
		}
		return fmt.Sprintf(`\u%04x`, v)
	case v >= 0x80 || v < 0x20 || v == 0x7f:
		const hex = "0123456789abcdef"
		return string([]byte{'\\', 'x', hex[v>>4], hex[v&15]})
	case strings.ContainsRune(`\.+*?()|[]{}^$#- `, v):
		return `\` + string(v)
	}
	return string(v)
}

func (t *translator) run() error {
	for t.i < len(t.p) {
		c := t.p[t.i]
		if t.mode().x {
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
				t.i++
				continue
			}
			if c == '#' {
				for t.i < len(t.p) && t.p[t.i] != '\n' {
					t.i++
				}
				continue
			}
		}
		switch c {
		case '\\':
			if err := t.escape(); err != nil {
				return err
			}
		case '[':
			if err := t.class(); err != nil {
				return err
			}
		case '(':
			if err := t.open(); err != nil {
				return err
			}
		case ')':
			if len(t.stack) == 1 {
				return t.errf("unmatched )")
			}
			g := t.stack[len(t.stack)-1]
			t.stack = t.stack[:len(t.stack)-1]
			t.i++
			t.atomCounted, t.atomNamed = g.counted, g.named
			if g.counted {
				t.stack[len(t.stack)-1].counted = true
			}
			if g.named {
				t.stack[len(t.stack)-1].named = true
			}
			if g.suppress {
				t.suppress--
				t.bt.WriteString(")")
				// A lookaround is an empty string to RE2; keep any quantifier legal.
				t.reAtom = t.re.Len()
				if t.suppress == 0 {
					t.re.WriteString("(?:)")
				}
			} else {
				t.both(")")
				t.reAtom = g.reStart
			}
			t.btAtom = g.btStart
			t.quantOK = true
		case '|':
			t.i++
			t.both("|")
			t.quantOK = false
		case '*', '+', '?':
			t.i++
			if err := t.quant(string(c), 0, -1); err != nil {
				return err
			}
		case '{':
			lo, hi, n, ok := parseCount(t.p[t.i:])
			if !ok {
				t.i++
				t.literal('{')
				continue
			}
			t.i += n
			if err := t.quant("", lo, hi); err != nil {
				return err
			}
		case '.':
			t.i++
			t.atom(".", ".")
		case '^':
			t.i++
			if t.opt.LineAnchors && t.suppress == 0 {
				t.re.WriteString("(?m:^)")
				t.bt.WriteString("^")
			} else {
				t.both("^")
			}
			t.quantOK = false
		case '$':
			t.i++
			if t.opt.LineAnchors {
				if t.suppress == 0 {
					t.re.WriteString("(?m:$)")
				}
				t.bt.WriteString("$")
			} else if t.mode().m {
				t.both("$")
			} else {
				// Perl's $ also matches before a final newline.
				if t.suppress == 0 {
					t.re.WriteString(`(?:\n?\z)`)
				}
				if t.opt.RE2Classes {
					t.bt.WriteString(perlEnd)
				} else {
					t.bt.WriteString("$")
				}
			}
			t.quantOK = false
		default:
			t.i++
			t.literal(rune(c))
		}
	}
	if len(t.stack) != 1 {
		return t.errf("missing )")
	}
	return nil
}

// parseCount parses {n}, {n,}, {n,m} or {,m}; ok is false when Perl would
// take the brace literally.
func parseCount(s string) (lo, hi, n int, ok bool) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return 0, 0, 0, false
	}
	body := strings.ReplaceAll(s[1:end], " ", "")
	a, b, comma := strings.Cut(body, ",")
	if a == "" && (!comma || b == "") {
		return 0, 0, 0, false
	}
	var err error
	if a == "" {
		lo = 0
	} else if lo, err = strconv.Atoi(a); err != nil || lo < 0 {
		return 0, 0, 0, false
	}
	switch {
	case !comma:
		hi = lo
	case b == "":
		hi = -1
	default:
		if hi, err = strconv.Atoi(b); err != nil || hi < 0 {
			return 0, 0, 0, false
		}
	}
	for _, r := range a + b {
		if r < '0' || r > '9' {
			return 0, 0, 0, false
		}
	}
	return lo, hi, end + 1, true
}

// quant applies a quantifier (op is *, + or ?, or "" for {lo,hi}) to the last atom.
func (t *translator) quant(op string, lo, hi int) error {
	if !t.quantOK {
		return t.errf("quantifier follows nothing")
	}
	var q string
	if op != "" {
		q = op
	} else if hi == lo {
		q = fmt.Sprintf("{%d}", lo)
	} else if hi < 0 {
		q = fmt.Sprintf("{%d,}", lo)
	} else {
		if hi < lo {
			return t.errf("bad repeat {%d,%d}", lo, hi)
		}
		q = fmt.Sprintf("{%d,%d}", lo, hi)
	}
	reQ := q
	if op == "" {
		t.stack[len(t.stack)-1].counted = true
		big := lo > 1000 || hi > 1000
		loose := func() {
			switch {
			case lo == 0:
				reQ = "*"
			default:
				reQ = "+"
			}
			t.need("repeat count beyond RE2's limits")
		}
		switch {
		case t.opt.LooseRepeats && t.atomCounted && hi >= 0 && hi <= 10 && !t.atomNamed && t.suppress == 0:
			// Unroll: X{2,4} = XX(?:X(?:X)?)?, exact.
			s := t.re.String()
			a := s[t.reAtom:]
			var u strings.Builder
			u.WriteString(s[:t.reAtom])
			for k := 0; k < lo; k++ {
				u.WriteString("(?:" + a + ")")
			}
			for k := lo; k < hi; k++ {
				u.WriteString("(?:" + a)
			}
			for k := lo; k < hi; k++ {
				u.WriteString(")?")
			}
			t.re.Reset()
			t.re.WriteString(u.String())
			reQ = ""
		case t.opt.LooseRepeats && t.atomCounted, t.opt.LooseBig && (lo > 64 || hi > 64):
			loose()
		case big:
			reQ = fmt.Sprintf("{%d,}", min(lo, 1000))
			t.need("repeat count beyond RE2's limits")
		}
	}
	suffix := ""
	possessive := false
	if t.i < len(t.p) {
		switch t.p[t.i] {
		case '?':
			suffix = "?"
			t.i++
		case '+':
			possessive = true
			t.i++
		}
	}
	if t.suppress == 0 {
		t.re.WriteString(reQ + suffix)
	}
	if possessive {
		t.need("possessive quantifier")
		s := t.bt.String()
		t.bt.Reset()
		t.bt.WriteString(s[:t.btAtom] + "(?>" + s[t.btAtom:] + q + ")")
	} else {
		t.bt.WriteString(q + suffix)
	}
	t.quantOK = false
	return nil
}

func (t *translator) open() error {
	p := t.p
	t.i++
	g := group{mode: *t.mode(), reStart: t.re.Len(), btStart: t.bt.Len()}
	push := func(re, bt string) {
		t.stack = append(t.stack, g)
		if t.suppress == 0 {
			t.re.WriteString(re)
		}
		t.bt.WriteString(bt)
		t.quantOK = false
	}
	if t.i >= len(p) || p[t.i] != '?' {
		if t.i < len(p) && p[t.i] == '*' {
			return t.unsupported("backtracking control verb")
		}
		t.ncap++
		push("(", "(")
		return nil
	}
	t.i++
	if t.i >= len(p) {
		return t.errf("truncated group")
	}
	rest := p[t.i:]
	switch {
	case rest[0] == '#':
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return t.errf("unterminated comment")
		}
		t.i += end + 1
		return nil
	case rest[0] == ':':
		t.i++
		push("(?:", "(?:")
	case rest[0] == '=' || rest[0] == '!' || strings.HasPrefix(rest, "<=") || strings.HasPrefix(rest, "<!"):
		n := 1
		if rest[0] == '<' {
			n = 2
		}
		t.i += n
		t.need("lookaround")
		g.suppress = true
		t.stack = append(t.stack, g)
		t.suppress++
		t.bt.WriteString("(?" + rest[:n])
		t.quantOK = false
	case rest[0] == '>':
		t.i++
		t.need("atomic group")
		push("(?:", "(?>")
	case rest[0] == '<' || rest[0] == '\'' || strings.HasPrefix(rest, "P<"):
		if rest[0] == 'P' {
			t.i++
			rest = rest[1:]
		}
		closing := byte('>')
		if rest[0] == '\'' {
			closing = '\''
		}
		end := strings.IndexByte(rest[1:], closing)
		if end < 1 {
			return t.errf("bad named group")
		}
		name := rest[1 : 1+end]
		for j := 0; j < len(name); j++ {
			if !isAlnum(name[j]) && name[j] != '_' {
				return t.errf("bad group name %q", name)
			}
		}
		t.i += end + 2
		t.ncap++
		push("(?P<"+name+">", "(?<"+name+">")
	case strings.HasPrefix(rest, "P="), strings.HasPrefix(rest, "P>"):
		end := strings.IndexByte(rest, ')')
		if end < 0 || rest[1] == '>' {
			return t.unsupported("named recursion")
		}
		t.i += end + 1
		t.need("backreference")
		t.atom(`(?s:.*)`, `\k<`+rest[2:end]+`>`)
	default:
		// Inline modifiers: (?imsx-imsx) or (?imsx-imsx:...), (?^...).
		j := 0
		on := true
		var reOn, reOff []byte
		m := g.mode
		for ; j < len(rest); j++ {
			c := rest[j]
			switch c {
			case '^':
				m = modeState{}
				reOff = append(reOff, 'i', 'm', 's')
				continue
			case '-':
				on = false
				continue
			case 'i', 's', 'm':
				if on {
					reOn = append(reOn, c)
				} else {
					reOff = append(reOff, c)
				}
				if c == 'm' {
					m.m = on
				}
				continue
			case 'x':
				m.x = on
				continue
			case 'a', 'u', 'l', 'd', 'n', 'p', 'o', 'g':
				continue
			}
			break
		}
		if j >= len(rest) || (rest[j] != ')' && rest[j] != ':') {
			return t.unsupported("group (?" + string(rest[0]))
		}
		flags := ""
		reOn, reOff = dedupFlags(reOn, reOff)
		if len(reOn) > 0 || len(reOff) > 0 {
			flags = string(reOn)
			if len(reOff) > 0 {
				flags += "-" + string(reOff)
			}
		}
		t.i += j + 1
		if rest[j] == ')' {
			*t.mode() = m
			if flags != "" {
				t.both("(?" + flags + ")")
			}
			return nil
		}
		g.mode = m
		push("(?"+flags+":", "(?"+flags+":")
		return nil
	}
	return nil
}

// dedupFlags removes repeated letters and letters both set and cleared
// (the later one wins in Perl; RE2 rejects the repetition).
func dedupFlags(on, off []byte) ([]byte, []byte) {
	final := map[byte]bool{}
	order := []byte{}
	for _, c := range off {
		if _, ok := final[c]; !ok {
			order = append(order, c)
		}
		final[c] = false
	}
	for _, c := range on {
		if _, ok := final[c]; !ok {
			order = append(order, c)
		}
		final[c] = true
	}
	var a, b []byte
	for _, c := range order {
		if final[c] {
			a = append(a, c)
		} else {
			b = append(b, c)
		}
	}
	return a, b
}
