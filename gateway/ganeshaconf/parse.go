// Package ganeshaconf reads NFS-Ganesha configuration files, as Ganesha's
// own parser does (src/config_parsing: a flex scanner and a bison grammar),
// and turns their EXPORT blocks into nfsgw exports (Import).
//
// The grammar, as Ganesha accepts it rather than as its documentation
// describes it:
//
//	config     = { definition | directive }
//	definition = NAME "=" [ value { "," value } ] ";"
//	           | NAME "{" { definition } "}"
//	directive  = "%include" PATH | "%url" URL | "%dir" PATH   (top level only)
//	value      = bare word | "double quoted" | 'single quoted' | ("-"|"~") number
//
// Names of blocks and parameters are case-insensitive (Ganesha compares
// them with strcasecmp); "#" starts a comment anywhere outside quotes;
// double-quoted strings may span lines and know the escapes \n \t \r and
// \<any> (that character); single-quoted strings have no escapes. An
// included file is parsed as if its text stood in place of the directive;
// a relative path is relative to the directory of the top file, as in
// Ganesha started with an absolute path (given a relative one, Ganesha
// uses its working directory). %url fetches through a caller-supplied function (rados:// URLs
// in ceph-mgr and Rook deployments).
//
// Every input size is bounded (Limits), so a hostile or corrupt file can
// neither hang the parser nor exhaust memory.
package ganeshaconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Pos is where something was written: a file (or URL) and a 1-based line.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.File == "" {
		return fmt.Sprintf("line %d", p.Line)
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Value is one element of a parameter's value list, unquoted.
type Value struct {
	Text string
	// Quoted reports whether the value was written in quotes.
	Quoted bool
	Pos    Pos
}

// Param is one "Name = values;" statement.
type Param struct {
	// Name is as written; compare it with strings.EqualFold.
	Name   string
	Values []Value
	Pos    Pos
}

// Text returns the values joined by ", ", as an operator would read them.
func (p *Param) Text() string {
	s := make([]string, len(p.Values))
	for i, v := range p.Values {
		s[i] = v.Text
	}
	return strings.Join(s, ", ")
}

// Block is a named block, or the root of a file (Name empty). Params and
// Blocks keep the order of the file: Ganesha matches CLIENT blocks in that
// order.
type Block struct {
	Name   string
	Pos    Pos
	Params []*Param
	Blocks []*Block
}

// Param returns the last parameter called name (any case), or nil: when a
// parameter is repeated, the last one counts, as in Ganesha.
func (b *Block) Param(name string) *Param {
	var found *Param
	for _, p := range b.Params {
		if strings.EqualFold(p.Name, name) {
			found = p
		}
	}
	return found
}

// Sub returns the sub-blocks called name (any case), in order.
func (b *Block) Sub(name string) []*Block {
	var out []*Block
	for _, s := range b.Blocks {
		if strings.EqualFold(s.Name, name) {
			out = append(out, s)
		}
	}
	return out
}

// Limits bound what a configuration may make the parser do.
type Limits struct {
	// MaxBytes bounds the total size of all files read (default 16 MiB).
	MaxBytes int
	// MaxDepth bounds block nesting (default 16; Ganesha nests 3 deep).
	MaxDepth int
	// MaxIncludes bounds how many files and URLs are read in all, and
	// MaxIncludeDepth how deeply includes nest (defaults 1000 and 16).
	MaxIncludes     int
	MaxIncludeDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 16 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 16
	}
	if l.MaxIncludes <= 0 {
		l.MaxIncludes = 1000
	}
	if l.MaxIncludeDepth <= 0 {
		l.MaxIncludeDepth = 16
	}
	return l
}

// Options say how to read the files a configuration includes.
type Options struct {
	// ReadFile reads an included file (default os.ReadFile). Nil with
	// NoIncludes set refuses %include and %dir.
	ReadFile func(path string) ([]byte, error)
	// ReadDir lists a %dir directory's file names (default os.ReadDir).
	ReadDir func(path string) ([]string, error)
	// FetchURL reads a %url (rados://POOL/NAMESPACE/OBJECT). Nil: %url
	// is an error that says so.
	FetchURL func(url string) ([]byte, error)
	// NoIncludes refuses %include and %dir (for text without a file).
	NoIncludes bool
	Limits     Limits
}

// Error is a syntax error or an include that could not be read.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ParseFile reads the configuration file path and everything it includes.
func ParseFile(path string, o Options) (*Block, error) {
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	b, err := o.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseTop(path, filepath.Dir(path), b, o)
}

// Parse parses configuration text; name is used in positions. Includes
// are resolved relative to the current directory unless o.NoIncludes.
func Parse(name string, src []byte, o Options) (*Block, error) {
	if o.ReadFile == nil && !o.NoIncludes {
		o.ReadFile = os.ReadFile
	}
	return parseTop(name, ".", src, o)
}

func parseTop(name, dir string, src []byte, o Options) (*Block, error) {
	if o.ReadDir == nil && !o.NoIncludes {
		o.ReadDir = func(p string) ([]string, error) {
			ents, err := os.ReadDir(p)
			if err != nil {
				return nil, err
			}
			names := make([]string, 0, len(ents))
			for _, e := range ents {
				if !e.IsDir() {
					names = append(names, e.Name())
				}
			}
			return names, nil
		}
	}
	p := &parser{opts: o, lim: o.Limits.withDefaults(), dir: dir, seen: map[string]bool{name: true}}
	root := &Block{Pos: Pos{File: name, Line: 1}}
	if err := p.file(root, name, src, 0); err != nil {
		return nil, err
	}
	return root, nil
}

type parser struct {
	opts  Options
	lim   Limits
	dir   string // where relative includes are found
	bytes int
	files int
	seen  map[string]bool // files and URLs on the current include chain
}

// file parses one file's text into root.
func (p *parser) file(root *Block, name string, src []byte, incDepth int) error {
	p.bytes += len(src)
	p.files++
	if p.bytes > p.lim.MaxBytes {
		return &Error{Pos{name, 1}, fmt.Sprintf("configuration larger than %d bytes in all", p.lim.MaxBytes)}
	}
	if p.files > p.lim.MaxIncludes {
		return &Error{Pos{name, 1}, fmt.Sprintf("more than %d included files", p.lim.MaxIncludes)}
	}
	lx := &lexer{src: src, file: name, line: 1}
	for {
		t, err := lx.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tEOF:
			return nil
		case tDirective:
			if err := p.directive(root, lx, t, incDepth); err != nil {
				return err
			}
		case tWord:
			if err := p.definition(root, lx, t, 0); err != nil {
				return err
			}
		default:
			return &Error{t.pos, fmt.Sprintf("unexpected %s at the top level (want a block or parameter name)", t)}
		}
	}
}

func (p *parser) directive(root *Block, lx *lexer, t token, incDepth int) error {
	arg, err := lx.directiveArg()
	if err != nil {
		return err
	}
	if incDepth >= p.lim.MaxIncludeDepth {
		return &Error{t.pos, fmt.Sprintf("%s nested more than %d deep", t.text, p.lim.MaxIncludeDepth)}
	}
	switch strings.ToLower(t.text) {
	case "%include":
		if p.opts.NoIncludes || p.opts.ReadFile == nil {
			return &Error{t.pos, "%include " + arg + ": includes are not read here"}
		}
		return p.include(root, t.pos, p.resolve(arg), incDepth)
	case "%dir":
		if p.opts.NoIncludes || p.opts.ReadDir == nil {
			return &Error{t.pos, "%dir " + arg + ": includes are not read here"}
		}
		return p.includeDir(root, t.pos, p.resolve(arg), incDepth)
	case "%url":
		if p.opts.FetchURL == nil {
			return &Error{t.pos, "%url " + arg + ": cannot fetch URLs here (nfsgwctl import-ganesha fetches rados:// URLs with --ceph-conf)"}
		}
		if p.seen[arg] {
			return &Error{t.pos, "%url " + arg + " includes itself"}
		}
		b, err := p.opts.FetchURL(arg)
		if err != nil {
			return &Error{t.pos, fmt.Sprintf("%%url %s: %v", arg, err)}
		}
		p.seen[arg] = true
		defer delete(p.seen, arg)
		return p.file(root, arg, b, incDepth+1)
	}
	return &Error{t.pos, "unknown directive " + t.text + " (want %include, %dir or %url)"}
}

func (p *parser) resolve(name string) string {
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(p.dir, name)
}

func (p *parser) include(root *Block, at Pos, path string, incDepth int) error {
	if p.seen[path] {
		return &Error{at, "%include " + path + " includes itself"}
	}
	b, err := p.opts.ReadFile(path)
	if err != nil {
		return &Error{at, fmt.Sprintf("%%include: %v", err)}
	}
	p.seen[path] = true
	defer delete(p.seen, path)
	return p.file(root, path, b, incDepth+1)
}

// includeDir includes the files of a directory in name order; a last
// path component with * ? or [ is a glob on the names, as in Ganesha.
func (p *parser) includeDir(root *Block, at Pos, dir string, incDepth int) error {
	pattern := ""
	if base := filepath.Base(dir); strings.ContainsAny(base, "*?[") {
		pattern, dir = base, filepath.Dir(dir)
	}
	names, err := p.opts.ReadDir(dir)
	if err != nil {
		return &Error{at, fmt.Sprintf("%%dir: %v", err)}
	}
	for _, n := range sortedCopy(names) {
		if pattern != "" {
			if ok, _ := filepath.Match(pattern, n); !ok {
				continue
			}
		}
		if err := p.include(root, at, filepath.Join(dir, n), incDepth); err != nil {
			return err
		}
	}
	return nil
}

// definition parses what follows a name: "= values;" or "{ ... }".
func (p *parser) definition(parent *Block, lx *lexer, name token, depth int) error {
	if !validName(name.text) {
		return &Error{name.pos, fmt.Sprintf("%q is not a block or parameter name", name.text)}
	}
	t, err := lx.next()
	if err != nil {
		return err
	}
	switch t.kind {
	case tEquals:
		prm, err := p.values(lx, name)
		if err != nil {
			return err
		}
		parent.Params = append(parent.Params, prm)
		return nil
	case tLBrace:
		if depth >= p.lim.MaxDepth {
			return &Error{t.pos, fmt.Sprintf("blocks nested more than %d deep", p.lim.MaxDepth)}
		}
		b := &Block{Name: name.text, Pos: name.pos}
		for {
			t, err := lx.next()
			if err != nil {
				return err
			}
			switch t.kind {
			case tRBrace:
				parent.Blocks = append(parent.Blocks, b)
				return nil
			case tWord:
				if err := p.definition(b, lx, t, depth+1); err != nil {
					return err
				}
			case tEOF:
				return &Error{b.Pos, fmt.Sprintf("block %s is not closed (missing })", b.Name)}
			case tDirective:
				return &Error{t.pos, t.text + " inside a block (Ganesha reads it only between blocks)"}
			default:
				return &Error{t.pos, fmt.Sprintf("unexpected %s in block %s (want a parameter, a block or })", t, b.Name)}
			}
		}
	}
	return &Error{t.pos, fmt.Sprintf("unexpected %s after %s (want = or {)", t, name.text)}
}

// values parses a comma-separated value list up to its ";". The list may
// be empty ("Key = ;"), as Ganesha's grammar allows.
func (p *parser) values(lx *lexer, name token) (*Param, error) {
	prm := &Param{Name: name.text, Pos: name.pos}
	for {
		t, err := lx.next()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tSemi:
			if len(prm.Values) > 0 {
				return nil, &Error{t.pos, fmt.Sprintf("%s: a value is missing after \",\"", name.text)}
			}
			return prm, nil
		case tWord, tString:
			v := Value{Text: t.text, Quoted: t.kind == tString, Pos: t.pos}
			if t.kind == tWord && (t.text == "-" || t.text == "~") {
				// Ganesha's grammar: an arithmetic sign before a number,
				// possibly separated by blanks.
				n, err := lx.next()
				if err != nil {
					return nil, err
				}
				if n.kind != tWord || n.text == "" || n.text[0] < '0' || n.text[0] > '9' {
					return nil, &Error{n.pos, fmt.Sprintf("%s: %q must be followed by a number", name.text, t.text)}
				}
				v.Text += n.text
			}
			prm.Values = append(prm.Values, v)
		default:
			return nil, &Error{t.pos, fmt.Sprintf("%s: unexpected %s (want a value)", name.text, t)}
		}
		t, err = lx.next()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tSemi:
			return prm, nil
		case tComma:
			continue
		case tRBrace, tEOF:
			return nil, &Error{name.pos, fmt.Sprintf("%s: missing ; at the end of the value", name.text)}
		default:
			return nil, &Error{t.pos, fmt.Sprintf("%s: unexpected %s (want , or ;)", name.text, t)}
		}
	}
}

// validName is Ganesha's ID_CHARS: [a-zA-Z_][a-zA-Z0-9_-]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// ErrNoExports is returned by Import when the configuration has no EXPORT
// block at all.
var ErrNoExports = errors.New("no EXPORT blocks")
