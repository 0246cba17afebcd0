package admin

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeManager is a fakeProvider whose exports can change.
type fakeManager struct {
	*fakeProvider
	mu    sync.Mutex
	added []ExportConfig
}

func (f *fakeManager) AddExport(c ExportConfig) (ExportInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case c.Path == "":
		return ExportInfo{}, fmt.Errorf("no path: %w", ErrInvalid)
	case c.ID == 1:
		return ExportInfo{}, fmt.Errorf("id 1 is /data: %w", ErrConflict)
	case c.ID == 99:
		return ExportInfo{}, errors.New("backend exploded")
	}
	f.added = append(f.added, c)
	return ExportInfo{ID: c.ID, Pseudo: c.Pseudo, Path: c.Path, Access: "rw", Squash: c.Squash, Clients: c.Clients}, nil
}

func (f *fakeManager) RemoveExport(id uint16) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.added {
		if c.ID == id {
			f.added = append(f.added[:i:i], f.added[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("export %d: %w", id, ErrNotFound)
}

func TestAddRemoveExport(t *testing.T) {
	m := &fakeManager{fakeProvider: newFake()}
	c, _ := startServer(t, m)
	ctx := ctxT(t)
	uid := uint32(1234)
	want := ExportConfig{ID: 7, Pseudo: "/p", Path: "/srv/p", Squash: "none", Clients: []string{"10.0.0.0/8"}, AnonUID: &uid}
	info, err := c.AddExport(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != 7 || info.Pseudo != "/p" || info.Squash != "none" {
		t.Fatalf("AddExport answered %+v", info)
	}
	if len(m.added) != 1 || !reflect.DeepEqual(m.added[0], want) {
		t.Fatalf("the provider got %+v, want %+v", m.added, want)
	}
	if err := c.RemoveExport(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if len(m.added) != 0 {
		t.Fatal("not removed")
	}

	// Each failure keeps its kind across the wire.
	err = c.RemoveExport(ctx, 7)
	if !errors.Is(err, ErrNotFound) || status.Code(err) != codes.NotFound {
		t.Fatalf("remove twice: %v", err)
	}
	_, err = c.AddExport(ctx, ExportConfig{ID: 1, Pseudo: "/x", Path: "/x"})
	if !errors.Is(err, ErrConflict) || status.Code(err) != codes.AlreadyExists {
		t.Fatalf("conflict: %v", err)
	}
	_, err = c.AddExport(ctx, ExportConfig{ID: 8, Pseudo: "/x"})
	if !errors.Is(err, ErrInvalid) || status.Code(err) != codes.InvalidArgument {
		t.Fatalf("invalid: %v", err)
	}
	_, err = c.AddExport(ctx, ExportConfig{ID: 99, Pseudo: "/x", Path: "/x"})
	if status.Code(err) != codes.Internal || errors.Is(err, ErrInvalid) || errors.Is(err, ErrConflict) {
		t.Fatalf("internal: %v", err)
	}
}

func TestExportsUnimplemented(t *testing.T) {
	c, _ := startServer(t, newFake()) // a Provider that is not an ExportManager
	ctx := ctxT(t)
	if _, err := c.AddExport(ctx, ExportConfig{ID: 2, Pseudo: "/x", Path: "/x"}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("add: %v", err)
	}
	if err := c.RemoveExport(ctx, 2); status.Code(err) != codes.Unimplemented {
		t.Fatalf("remove: %v", err)
	}
}
