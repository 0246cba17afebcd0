package main

import (
	"nfsgw/bench/internal/benchkit"

	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// fixtureSpec is the size of bench/nfsbench's fixture tree (its flags
// -many-files, -big-dir, -deep-depth, -small-files; bench/cephraw has the
// same ones).
type fixtureSpec struct {
	many, big, depth, small int
}

func (s fixtureSpec) args() []string {
	return []string{"-many-files", fmt.Sprint(s.many), "-big-dir", fmt.Sprint(s.big),
		"-deep-depth", fmt.Sprint(s.depth), "-small-files", fmt.Sprint(s.small)}
}

// makeFixturesNFS makes fixtures/{many,big,deep/d00/…/leaf,small,walk} below dir
// over NFS, file by file: too slow for the 100,000-entry directory, so big
// stays empty and readdirbig is left out.
func makeFixturesNFS(ctx context.Context, cl *nfsclient.Client, dir []byte, many, small, depth int) error {
	top, err := cl.Mkdir(ctx, dir, benchkit.FixtureDir, 0o777)
	if err != nil {
		return err
	}
	fhs := map[string][]byte{}
	for _, d := range []string{"many", "big", "small", "deep"} {
		if fhs[d], err = cl.Mkdir(ctx, top, d, 0o777); err != nil {
			return err
		}
	}
	d := fhs["deep"]
	comps := benchkit.DeepComponents(depth)
	for _, c := range comps[:len(comps)-1] {
		if d, err = cl.Mkdir(ctx, d, c, 0o777); err != nil {
			return err
		}
	}
	data := make([]byte, 4096)
	for i := range data {
		data[i] = byte(i * 7)
	}
	put := func(dir []byte, name string, data []byte) error {
		f, err := cl.Create(ctx, dir, name, 0o666)
		if err != nil {
			return err
		}
		if len(data) > 0 {
			if _, _, err := f.WriteAll(ctx, data, 0, nfs4.FileSync); err != nil {
				f.Close(ctx)
				return err
			}
		}
		return f.Close(ctx)
	}
	if err := put(d, "leaf", data); err != nil {
		return err
	}
	walk, err := cl.Mkdir(ctx, top, "walk", 0o777)
	if err != nil {
		return err
	}
	for i := range benchkit.WalkDirs {
		wd, err := cl.Mkdir(ctx, walk, benchkit.WalkDirName(i), 0o777)
		if err != nil {
			return err
		}
		if err := parallel(8, benchkit.WalkFiles, func(j int) error { return put(wd, benchkit.WalkFileName(j), nil) }); err != nil {
			return err
		}
	}
	if err := parallel(8, many, func(i int) error { return put(fhs["many"], benchkit.ManyName(i), nil) }); err != nil {
		return err
	}
	return parallel(8, small, func(i int) error { return put(fhs["small"], benchkit.SmallName(i), data) })
}

// lookupOrMkdir returns the handle of name in dir, making it if need be.
func lookupOrMkdir(ctx context.Context, cl *nfsclient.Client, dir []byte, name string, mayExist bool) ([]byte, error) {
	if mayExist {
		c := cl.NewCompound("")
		c.PutFH(dir).Lookup(name).GetFH()
		if r, err := cl.Do(ctx, c); err == nil && r.Err() == nil {
			return r.Ops[2].Res.(*nfsclient.GetFHRes).FH, nil
		}
	}
	fh, err := cl.Mkdir(ctx, dir, name, 0o777)
	if nfsclient.StatusOf(err) == nfs4.ErrExist {
		c := cl.NewCompound("")
		c.PutFH(dir).Lookup(name).GetFH()
		r, err := cl.Do(ctx, c)
		if err != nil {
			return nil, err
		}
		if err := r.Err(); err != nil {
			return nil, err
		}
		return r.Ops[2].Res.(*nfsclient.GetFHRes).FH, nil
	}
	return fh, err
}

// removeTreeNFS removes parent/name and everything below it.
func removeTreeNFS(ctx context.Context, cl *nfsclient.Client, parent []byte, name string) error {
	c := cl.NewCompound("")
	c.PutFH(parent).Lookup(name).GetFH()
	r, err := cl.Do(ctx, c)
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		if nfsclient.StatusOf(err) == nfs4.ErrNoent {
			return nil
		}
		return err
	}
	fh := r.Ops[2].Res.(*nfsclient.GetFHRes).FH
	ents, err := cl.ReaddirWith(ctx, fh, nfsclient.ReaddirOptions{Attrs: &nfs4.Bitmap{}})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var dirs []string
	err = parallel(8, len(ents), func(i int) error {
		err := cl.Remove(ctx, fh, ents[i].Name)
		if nfsclient.StatusOf(err) == nfs4.ErrNotempty {
			mu.Lock()
			dirs = append(dirs, ents[i].Name)
			mu.Unlock()
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := removeTreeNFS(ctx, cl, fh, d); err != nil {
			return err
		}
	}
	return cl.Remove(ctx, parent, name)
}

// parallel runs fn(0..n-1) on conc goroutines and returns the first error.
func parallel(conc, n int, fn func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
