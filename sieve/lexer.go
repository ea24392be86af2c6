package sieve

import (
	"fmt"
	"strings"
)

// Position is a location in a script source: file name, 1-based line and column.
type Position struct {
	File string
	Line int
	Col  int
}

// String formats the position as file:line:col, or just file for a
// whole-script diagnostic (line 0).
func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokTag
	tokNumber
	tokString
	tokLBracket
	tokRBracket
	tokLParen
	tokRParen
	tokLBrace
	tokRBrace
	tokComma
	tokSemicolon
	// tokError is garbage the lexer already reported.
	tokError
)

func (k tokenKind) String() string {
	switch k {
	case tokEOF:
		return "end of script"
	case tokIdent:
		return "identifier"
	case tokTag:
		return "tag"
	case tokNumber:
		return "number"
	case tokString:
		return "string"
	case tokLBracket:
		return "'['"
	case tokRBracket:
		return "']'"
	case tokLParen:
		return "'('"
	case tokRParen:
		return "')'"
	case tokLBrace:
		return "'{'"
	case tokRBrace:
		return "'}'"
	case tokComma:
		return "','"
	case tokSemicolon:
		return "';'"
	case tokError:
		return "invalid characters"
	}
	return "?"
}

type token struct {
	kind tokenKind
	pos  Position
	text string // identifier/tag name (without ':'), string value
	num  int64
}

// lexer turns RFC 5228 §8.1 lexical tokens out of a script source.
type lexer struct {
	file      string
	src       []byte
	off       int
	line, col int
	errs      *errorList
	// quiet suppresses reports while the parser skips a broken command.
	quiet bool
}

func newLexer(file string, src []byte, errs *errorList) *lexer {
	return &lexer{file: file, src: src, line: 1, col: 1, errs: errs}
}

func (l *lexer) pos() Position { return Position{l.file, l.line, l.col} }

func (l *lexer) peekByte(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

func (l *lexer) advance() byte {
	c := l.src[l.off]
	l.off++
	if c == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return c
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// next returns the next token, skipping white space and both comment forms.
// punctuation are the one-byte tokens (RFC 5228 §8.1).
var punctuation = map[byte]tokenKind{
	'[': tokLBracket,
	']': tokRBracket,
	'(': tokLParen,
	')': tokRParen,
	'{': tokLBrace,
	'}': tokRBrace,
	',': tokComma,
	';': tokSemicolon,
}

func (l *lexer) next() token {
	for {
		if l.off >= len(l.src) {
			return token{kind: tokEOF, pos: l.pos()}
		}
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance()
			continue
		case c == '#':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance()
			}
			continue
		case c == '/' && l.peekByte(1) == '*':
			p := l.pos()
			l.advance()
			l.advance()
			closed := false
			for l.off < len(l.src) {
				if l.src[l.off] == '*' && l.peekByte(1) == '/' {
					l.advance()
					l.advance()
					closed = true
					break
				}
				l.advance()
			}
			if !closed {
				l.errs.add(p, "end of file before end of bracket comment ('/* ... */') started")
				return token{kind: tokEOF, pos: l.pos()}
			}
			continue
		}
		break
	}
	p := l.pos()
	c := l.src[l.off]
	if k, ok := punctuation[c]; ok {
		l.advance()
		return token{kind: k, pos: p}
	}
	switch c {
	case '"':
		return l.quoted(p)
	case ':':
		l.advance()
		if l.off >= len(l.src) || !isIdentStart(l.src[l.off]) {
			l.errs.add(p, "missing identifier after ':' (tag)")
			return l.next()
		}
		start := l.off
		for l.off < len(l.src) && isIdentChar(l.src[l.off]) {
			l.advance()
		}
		return token{kind: tokTag, pos: p, text: string(l.src[start:l.off])}
	}
	if c >= '0' && c <= '9' {
		return l.number(p)
	}
	if isIdentStart(c) {
		start := l.off
		for l.off < len(l.src) && isIdentChar(l.src[l.off]) {
			l.advance()
		}
		id := string(l.src[start:l.off])
		if strings.EqualFold(id, "text") && l.peekByte(0) == ':' {
			l.advance()
			return l.multiline(p)
		}
		return token{kind: tokIdent, pos: p, text: id}
	}
	l.advance()
	if !l.quiet {
		l.errs.add(p, fmt.Sprintf("unexpected character '%s'", printableByte(c)))
	}
	return token{kind: tokError, pos: p}
}

func printableByte(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("0x%02x", c)
	}
	return string(c)
}

// RFC 5228 §2.4.1: numbers with an optional K, M or G quantifier; overflow is an error.
func (l *lexer) number(p Position) token {
	var n uint64
	overflow := false
	for l.off < len(l.src) && l.src[l.off] >= '0' && l.src[l.off] <= '9' {
		d := uint64(l.advance() - '0')
		if n > (1<<63-1-d)/10 {
			overflow = true
		}
		n = n*10 + d
	}
	var shift uint
	switch l.peekByte(0) {
	case 'k', 'K':
		shift = 10
	case 'm', 'M':
		shift = 20
	case 'g', 'G':
		shift = 30
	}
	if shift > 0 {
		l.advance()
		if n > (1<<63-1)>>shift {
			overflow = true
		}
		n <<= shift
	}
	if l.off < len(l.src) && isIdentChar(l.src[l.off]) {
		l.errs.add(p, "invalid character in number")
		for l.off < len(l.src) && isIdentChar(l.src[l.off]) {
			l.advance()
		}
	}
	if overflow {
		l.errs.add(p, "number exceeds integer limit")
		n = 0
	}
	return token{kind: tokNumber, pos: p, num: int64(n)}
}

// RFC 5228 §2.4.2: quoted strings; "\\" and "\"" are escapes, any other
// backslash is dropped.
func (l *lexer) quoted(p Position) token {
	l.advance()
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			l.errs.add(p, "end of file before end of quoted string")
			return token{kind: tokString, pos: p, text: b.String()}
		}
		c := l.advance()
		switch c {
		case '"':
			return token{kind: tokString, pos: p, text: b.String()}
		case '\\':
			if l.off < len(l.src) {
				b.WriteByte(l.advance())
			}
		case '\r':
			if l.peekByte(0) != '\n' {
				b.WriteByte(c)
			}
		case '\n':
			b.WriteString("\r\n")
		default:
			b.WriteByte(c)
		}
	}
}

// RFC 5228 §2.4.2: "text:" multi-line strings, terminated by a line holding
// a single "."; a leading ".." stands for ".".
func (l *lexer) multiline(p Position) token {
	// Rest of the "text:" line: white space and an optional hash comment.
	for l.off < len(l.src) && (l.src[l.off] == ' ' || l.src[l.off] == '\t') {
		l.advance()
	}
	if l.off < len(l.src) && l.src[l.off] == '#' {
		for l.off < len(l.src) && l.src[l.off] != '\n' {
			l.advance()
		}
	}
	if l.off < len(l.src) && l.src[l.off] == '\r' {
		l.advance()
	}
	if l.off >= len(l.src) || l.src[l.off] != '\n' {
		l.errs.add(p, "invalid character after text: in multi-line string")
		for l.off < len(l.src) && l.src[l.off] != '\n' {
			l.advance()
		}
	}
	if l.off < len(l.src) {
		l.advance()
	}
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			l.errs.add(p, "end of file before end of multi-line string")
			return token{kind: tokString, pos: p, text: b.String()}
		}
		start := l.off
		for l.off < len(l.src) && l.src[l.off] != '\n' {
			l.advance()
		}
		line := string(l.src[start:l.off])
		if l.off < len(l.src) {
			l.advance()
		}
		line = strings.TrimSuffix(line, "\r")
		if line == "." {
			return token{kind: tokString, pos: p, text: b.String()}
		}
		if strings.HasPrefix(line, "..") {
			line = line[1:]
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
}
