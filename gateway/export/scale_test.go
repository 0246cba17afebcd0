package export

import (
	"fmt"
	"testing"
)

func manyExports(n int) []*Export {
	list := make([]*Export, 0, n)
	for i := range n {
		list = append(list, &Export{ID: uint16(i + 1), Pseudo: fmt.Sprintf("/e/%05d", i+1)})
	}
	return list
}

// BenchmarkTable15k is the cost of building the table of 15,000 exports at
// start-up, and of one export change while they exist.
func BenchmarkTable15k(b *testing.B) {
	list := manyExports(15000)
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			if _, err := NewTable(list); err != nil {
				b.Fatal(err)
			}
		}
	})
	t, err := NewTable(list)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("add", func(b *testing.B) {
		for b.Loop() {
			if _, err := t.With(&Export{ID: 20000, Pseudo: "/e/new"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remove", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := t.Without(7); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestWithWithout(t *testing.T) {
	t0, err := NewTable(manyExports(100))
	if err != nil {
		t.Fatal(err)
	}
	before := t0.PseudoRoot().Child("e")
	t1, err := t0.With(&Export{ID: 500, Pseudo: "/new/deep/x/"})
	if err != nil {
		t.Fatal(err)
	}
	// The old table is untouched.
	if t0.ByID(500) != nil || t0.PseudoRoot().Child("new") != nil || len(t0.PseudoRoot().Children) != 1 {
		t.Fatal("With changed the table it started from")
	}
	x := t1.PseudoRoot().Child("new").Child("deep").Child("x")
	if x == nil || x.Export == nil || x.Export.ID != 500 || x.Path != "/new/deep/x" || t1.ByPseudo("/new/deep/x") == nil {
		t.Fatalf("added export not mounted: %+v", x)
	}
	if t1.PseudoByKey(x.Key()) != x || t1.PseudoNodeOf(t1.ByID(500)) != x {
		t.Fatal("added node not indexed")
	}
	// A node that both tables share resolves its parent per table.
	leaf := t1.PseudoRoot().Child("e").Child("00042")
	if leaf != before.Child("00042") {
		t.Fatal("unchanged node not shared")
	}
	if t1.PseudoParent(leaf) != t1.PseudoRoot().Child("e") || t0.PseudoParent(leaf) != before {
		t.Fatal("PseudoParent")
	}
	if got := t1.PseudoParent(t1.PseudoRoot().Child("new")); got != t1.PseudoRoot() {
		t.Fatal("PseudoParent of a new node")
	}
	names := []string{}
	for _, c := range t1.PseudoRoot().Children {
		names = append(names, c.Name)
	}
	if fmt.Sprint(names) != "[e new]" {
		t.Fatalf("root children %v", names)
	}
	// A rebuilt table has the same tree.
	rebuilt, err := NewTable(append(manyExports(100), &Export{ID: 500, Pseudo: "/new/deep/x"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(rebuilt.pseudoByID) != len(t1.pseudoByID) {
		t.Fatalf("%d pseudo nodes, rebuilt %d", len(t1.pseudoByID), len(rebuilt.pseudoByID))
	}
	for id, n := range rebuilt.pseudoByID {
		m := t1.pseudoByID[id]
		if m == nil || m.Path != n.Path || len(m.Children) != len(n.Children) || (m.Export == nil) != (n.Export == nil) {
			t.Fatalf("node %s differs from a rebuilt table", n.Path)
		}
	}

	for name, e := range map[string]*Export{
		"dup id":          {ID: 7, Pseudo: "/other"},
		"dup path":        {ID: 600, Pseudo: "/e/00007"},
		"inside export":   {ID: 600, Pseudo: "/e/00007/sub"},
		"contains export": {ID: 600, Pseudo: "/e"},
		"id 0":            {ID: 0, Pseudo: "/zero"},
	} {
		if _, err := t1.With(e); err == nil {
			t.Errorf("With %s: accepted", name)
		}
	}

	t2, gone, err := t1.Without(500)
	if err != nil || gone.ID != 500 {
		t.Fatal(err)
	}
	if t2.ByID(500) != nil || t2.ByPseudo("/new/deep/x") != nil || t2.PseudoRoot().Child("new") != nil {
		t.Fatal("removed export still there")
	}
	if t2.PseudoByKey(x.Key()) != nil || len(t2.pseudoByID) != len(t0.pseudoByID) || len(t2.All()) != 100 {
		t.Fatal("directories leading to the removed export were kept")
	}
	if t1.ByID(500) == nil || t1.PseudoRoot().Child("new") == nil {
		t.Fatal("Without changed the table it started from")
	}
	if _, _, err := t2.Without(500); err == nil {
		t.Fatal("removed twice")
	}
	t3, _, err := t2.Without(1)
	if err != nil || t3.PseudoRoot().Child("e").Child("00001") != nil || len(t3.PseudoRoot().Child("e").Children) != 99 {
		t.Fatal("remove a sibling")
	}
}

func TestRegistryUpdate(t *testing.T) {
	t0, _ := NewTable(manyExports(10))
	r := NewRegistry(t0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			if tb := r.Load(); tb.ByID(1) == nil {
				t.Error("reader saw a table without export 1")
				return
			}
		}
	}()
	for i := range 50 {
		id := uint16(100 + i)
		if _, err := r.Update(func(c *Table) (*Table, error) {
			return c.With(&Export{ID: id, Pseudo: fmt.Sprintf("/x/%d", id)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if len(r.Load().All()) != 60 {
		t.Fatalf("%d exports after 50 adds", len(r.Load().All()))
	}
	if _, err := r.Update(func(c *Table) (*Table, error) { return c.With(&Export{ID: 1, Pseudo: "/dup"}) }); err == nil {
		t.Fatal("a failed update was applied")
	}
	if len(r.Load().All()) != 60 {
		t.Fatal("failed update changed the table")
	}
}
