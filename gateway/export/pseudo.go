package export

import (
	"encoding/binary"
	"hash/fnv"
	"path"
	"sort"
	"strings"
)

// PseudoNode is a directory of the pseudo-filesystem, the read-only tree
// that joins every export's pseudo path under one root so that a client
// mounting "/" can walk to all of them (RFC 7530 section 7).
type PseudoNode struct {
	// ID is stable across restarts (a hash of the path), so pseudo handles
	// survive a gateway restart like export handles do.
	ID       uint64
	Path     string
	Name     string
	Parent   *PseudoNode // nil at the root
	Children []*PseudoNode
	// Export is set when an export is mounted at this path; the node is
	// then a junction and lookups continue in the export.
	Export *Export
	byName map[string]*PseudoNode
}

// Child returns the child called name, or nil.
func (n *PseudoNode) Child(name string) *PseudoNode { return n.byName[name] }

// Key is the backend key of the node inside a pseudo handle.
func (n *PseudoNode) Key() []byte { return binary.BigEndian.AppendUint64(nil, n.ID) }

func pseudoID(p string) uint64 {
	if p == "/" {
		return 1
	}
	h := fnv.New64a()
	h.Write([]byte(p))
	// Keep ids clear of 0 and 1 (reserved for "none" and the root).
	return h.Sum64() | 2
}

func (t *Table) buildPseudo() {
	t.pseudoRoot = &PseudoNode{ID: 1, Path: "/", byName: map[string]*PseudoNode{}}
	t.pseudoByID = map[uint64]*PseudoNode{1: t.pseudoRoot}
	for _, e := range t.list {
		n := t.pseudoRoot
		if e.Pseudo != "/" {
			for _, part := range strings.Split(strings.TrimPrefix(e.Pseudo, "/"), "/") {
				c := n.byName[part]
				if c == nil {
					p := path.Join(n.Path, part)
					c = &PseudoNode{ID: pseudoID(p), Path: p, Name: part, Parent: n, byName: map[string]*PseudoNode{}}
					n.byName[part] = c
					n.Children = append(n.Children, c)
					t.pseudoByID[c.ID] = c
				}
				n = c
			}
		}
		n.Export = e
	}
	for _, n := range t.pseudoByID {
		sort.Slice(n.Children, func(i, j int) bool { return n.Children[i].Name < n.Children[j].Name })
	}
}

// PseudoRoot returns the root of the pseudo-filesystem.
func (t *Table) PseudoRoot() *PseudoNode { return t.pseudoRoot }

// PseudoByKey returns the pseudo node whose key is k, or nil.
func (t *Table) PseudoByKey(k []byte) *PseudoNode {
	if len(k) != 8 {
		return nil
	}
	return t.pseudoByID[binary.BigEndian.Uint64(k)]
}

// PseudoNodeOf returns the pseudo node at which export e is mounted.
func (t *Table) PseudoNodeOf(e *Export) *PseudoNode {
	return t.pseudoByID[pseudoID(e.Pseudo)]
}
