package export

import (
	"encoding/binary"
	"maps"
	"slices"
	"strings"
)

// PseudoNode is a directory of the pseudo-filesystem, the read-only tree
// that joins every export's pseudo path under one root so that a client
// mounting "/" can walk to all of them (RFC 7530 section 7).
type PseudoNode struct {
	// ID is stable across restarts (a hash of the path), so pseudo handles
	// survive a gateway restart like export handles do.
	ID   uint64
	Path string
	Name string
	// Parent is nil at the root. Tables made by With and Without share
	// the nodes an export change leaves alone with the table they came
	// from, so Parent may be an older version of the parent directory:
	// use Table.PseudoParent for the one of a given table.
	Parent   *PseudoNode
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
	// FNV-1a, inline: hash/fnv would allocate a hasher per node.
	h := uint64(14695981039346656037)
	for i := 0; i < len(p); i++ {
		h ^= uint64(p[i])
		h *= 1099511628211
	}
	// Keep ids clear of 0 and 1 (reserved for "none" and the root).
	return h | 2
}

// buildPseudo builds the tree from t.list. It runs on every export change,
// so with 15,000 exports it must stay cheap: node paths and names are
// slices of the exports' own pseudo paths, and only directories with
// children get a name map.
func (t *Table) buildPseudo() {
	t.pseudoRoot = &PseudoNode{ID: 1, Path: "/"}
	t.pseudoByID = make(map[uint64]*PseudoNode, len(t.list)+1)
	t.pseudoByID[1] = t.pseudoRoot
	var parents []*PseudoNode
	for _, e := range t.list {
		n := t.pseudoRoot
		p := e.Pseudo // clean and absolute
		for start := 1; start < len(p); {
			end := strings.IndexByte(p[start:], '/')
			if end < 0 {
				end = len(p)
			} else {
				end += start
			}
			part := p[start:end]
			c := n.byName[part]
			if c == nil {
				c = &PseudoNode{ID: pseudoID(p[:end]), Path: p[:end], Name: part, Parent: n}
				if n.byName == nil {
					n.byName = map[string]*PseudoNode{}
					parents = append(parents, n)
				}
				n.byName[part] = c
				n.Children = append(n.Children, c)
				t.pseudoByID[c.ID] = c
			}
			n = c
			start = end + 1
		}
		n.Export = e
	}
	for _, n := range parents {
		slices.SortFunc(n.Children, func(a, b *PseudoNode) int { return strings.Compare(a.Name, b.Name) })
	}
}

// PseudoParent returns n's parent directory in t, or nil at the root.
func (t *Table) PseudoParent(n *PseudoNode) *PseudoNode {
	if n.Parent == nil {
		return nil
	}
	if p := t.pseudoByID[n.Parent.ID]; p != nil {
		return p
	}
	return n.Parent
}

// copyNode returns a copy of n that the caller may change: its own name
// map and child list.
func copyNode(n *PseudoNode) *PseudoNode {
	c := *n
	c.byName = maps.Clone(n.byName)
	c.Children = slices.Clone(n.Children)
	return &c
}

// setChild makes c the child of dir called c.Name, keeping Children sorted.
func (dir *PseudoNode) setChild(c *PseudoNode) {
	if dir.byName == nil {
		dir.byName = map[string]*PseudoNode{}
	}
	dir.byName[c.Name] = c
	i, found := slices.BinarySearchFunc(dir.Children, c.Name, func(x *PseudoNode, name string) int { return strings.Compare(x.Name, name) })
	if found {
		dir.Children[i] = c
	} else {
		dir.Children = slices.Insert(dir.Children, i, c)
	}
}

func (dir *PseudoNode) dropChild(name string) {
	delete(dir.byName, name)
	dir.Children = slices.DeleteFunc(dir.Children, func(x *PseudoNode) bool { return x.Name == name })
}

// copyPath gives t its own copies of the directories from the root down
// to the last existing one on the clean path p (path copying: everything
// else stays shared with the table t was made from), creating the missing
// ones, and returns the node at p.
func (t *Table) copyPath(p string) *PseudoNode {
	n := copyNode(t.pseudoRoot)
	t.pseudoRoot = n
	t.pseudoByID[n.ID] = n
	for start := 1; start < len(p); {
		end := strings.IndexByte(p[start:], '/')
		if end < 0 {
			end = len(p)
		} else {
			end += start
		}
		part := p[start:end]
		var c *PseudoNode
		if old := n.byName[part]; old != nil {
			c = copyNode(old)
		} else {
			c = &PseudoNode{ID: pseudoID(p[:end]), Path: p[:end], Name: part}
		}
		c.Parent = n
		n.setChild(c)
		t.pseudoByID[c.ID] = c
		n = c
		start = end + 1
	}
	return n
}

// pseudoAdd mounts e in t's pseudo tree, which t shares with an older
// table until copyPath gives it its own nodes.
func (t *Table) pseudoAdd(e *Export) {
	t.copyPath(e.Pseudo).Export = e
}

// pseudoRemove unmounts e, dropping the directories that only led to it.
func (t *Table) pseudoRemove(e *Export) {
	n := t.copyPath(e.Pseudo)
	n.Export = nil
	for n.Parent != nil && n.Export == nil && len(n.Children) == 0 {
		n.Parent.dropChild(n.Name)
		delete(t.pseudoByID, n.ID)
		n = n.Parent
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
