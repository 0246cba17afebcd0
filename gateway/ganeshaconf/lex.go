package ganeshaconf

import (
	"fmt"
	"strings"
)

type tokenKind int

const (
	tEOF tokenKind = iota
	tWord
	tString
	tEquals
	tLBrace
	tRBrace
	tSemi
	tComma
	tDirective
)

type token struct {
	kind tokenKind
	text string
	pos  Pos
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tString:
		return fmt.Sprintf("string %q", t.text)
	case tWord, tDirective:
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// lexer splits one file into tokens. Bare words are maximal runs of
// anything but blanks and the punctuation below: a superset of Ganesha's
// terminals (paths, numbers, addresses, CIDR networks, netgroups, globs),
// whose meaning is decided by the parameter that takes them.
type lexer struct {
	src  []byte
	off  int
	file string
	line int
}

func isSep(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\f', '\n', '\v', '=', ';', ',', '{', '}', '#', '"', '\'':
		return true
	}
	return false
}

// skip passes blanks, newlines and comments.
func (l *lexer) skip() {
	for l.off < len(l.src) {
		switch c := l.src[l.off]; c {
		case '\n':
			l.line++
			l.off++
		case ' ', '\t', '\r', '\f', '\v':
			l.off++
		case '#':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.off++
			}
		default:
			return
		}
	}
}

func (l *lexer) pos() Pos { return Pos{File: l.file, Line: l.line} }

// next returns the next token; quoted strings are tokens in any place,
// so that the parser can say where one is out of place.
func (l *lexer) next() (token, error) {
	l.skip()
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: l.pos()}, nil
	}
	pos := l.pos()
	c := l.src[l.off]
	var k tokenKind
	switch c {
	case '=':
		k = tEquals
	case '{':
		k = tLBrace
	case '}':
		k = tRBrace
	case ';':
		k = tSemi
	case ',':
		k = tComma
	}
	if k != tEOF {
		l.off++
		return token{kind: k, text: string(c), pos: pos}, nil
	}
	switch c {
	case '"':
		return l.quoted(pos, '"', true)
	case '\'':
		return l.quoted(pos, '\'', false)
	}
	start := l.off
	for l.off < len(l.src) && !isSep(l.src[l.off]) {
		l.off++
	}
	w := string(l.src[start:l.off])
	if strings.HasPrefix(w, "%") {
		return token{kind: tDirective, text: w, pos: pos}, nil
	}
	return token{kind: tWord, text: w, pos: pos}, nil
}

// quoted reads a string up to its closing quote. Double-quoted strings
// take Ganesha's escapes (\n \t \r, and \C for any other C).
func (l *lexer) quoted(pos Pos, q byte, esc bool) (token, error) {
	l.off++ // the opening quote
	var b strings.Builder
	for l.off < len(l.src) {
		c := l.src[l.off]
		l.off++
		switch {
		case c == q:
			return token{kind: tString, text: b.String(), pos: pos}, nil
		case c == '\n':
			l.line++
		case c == '\\' && esc && l.off < len(l.src):
			c = l.src[l.off]
			l.off++
			switch c {
			case 'n':
				c = '\n'
			case 't':
				c = '\t'
			case 'r':
				c = '\r'
			case '\n':
				l.line++
			}
		}
		b.WriteByte(c)
	}
	return token{}, &Error{pos, "string not closed (missing " + string(q) + ")"}
}

// directiveArg reads the argument of %include, %dir or %url: a quoted
// string or a bare run of characters up to a blank, ";" or "#".
func (l *lexer) directiveArg() (string, error) {
	l.skip()
	pos := l.pos()
	if l.off < len(l.src) && l.src[l.off] == '"' {
		t, err := l.quoted(pos, '"', false)
		if err != nil {
			return "", err
		}
		if t.text == "" {
			return "", &Error{pos, "empty name after directive"}
		}
		return t.text, nil
	}
	start := l.off
	for l.off < len(l.src) {
		c := l.src[l.off]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v' || c == ';' || c == '#' || c == '{' || c == '}' {
			break
		}
		l.off++
	}
	if l.off == start {
		return "", &Error{pos, "a directive needs a file name or URL"}
	}
	return string(l.src[start:l.off]), nil
}
