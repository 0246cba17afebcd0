package nfsclient

import (
	"context"
	"errors"
	"slices"
	"strings"

	"nfsgw/gateway/nfs4"
)

// This file holds the Client's convenience methods on the namespace. They
// retry NFS4ERR_DELAY and NFS4ERR_GRACE (see Options.RetryTimeout) and
// return other failures as *StatusError.

// splitPath returns the components of a slash-separated path, without
// empty and "." components; ".." is kept (LookupPath maps it to LOOKUPP).
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// LookupPath resolves a slash-separated path from the server's root
// (PUTROOTFH, then LOOKUP per component, LOOKUPP for "..") and returns the
// file handle and the DefaultAttrs of the object. "" and "/" are the root.
// Long paths are resolved in several COMPOUNDs within the session's
// operation limit.
func (cl *Client) LookupPath(ctx context.Context, path string) ([]byte, Attrs, error) {
	comps := splitPath(path)
	per := cl.maxOps - 4 // SEQUENCE, PUT*FH, GETFH, GETATTR
	if per < 1 {
		per = 1
	}
	var fh []byte
	for first := true; first || len(comps) > 0; first = false {
		n := min(per, len(comps))
		chunk := comps[:n]
		comps = comps[n:]
		last := len(comps) == 0
		r, err := cl.call(ctx, func(c *Compound) {
			if fh == nil {
				c.PutRootFH()
			} else {
				c.PutFH(fh)
			}
			for _, name := range chunk {
				if name == ".." {
					c.LookupP()
				} else {
					c.Lookup(name)
				}
			}
			c.GetFH()
			if last {
				c.Getattr(DefaultAttrs)
			}
		})
		if err != nil {
			return nil, Attrs{}, err
		}
		fh = r.Ops[n+1].Res.(*GetFHRes).FH
		if last {
			return fh, r.Ops[n+2].Res.(*GetattrRes).Attrs, nil
		}
	}
	panic("unreachable")
}

// Getattr returns the DefaultAttrs of fh.
func (cl *Client) Getattr(ctx context.Context, fh []byte) (Attrs, error) {
	return cl.GetattrMask(ctx, fh, DefaultAttrs)
}

// GetattrMask returns the attributes in mask of fh. It does not allocate
// beyond the reply itself unless string or list attributes are asked for.
func (cl *Client) GetattrMask(ctx context.Context, fh []byte, mask nfs4.Bitmap) (Attrs, error) {
	var a Attrs
	err := cl.retry(ctx, func() error {
		c := cl.getCompound()
		defer cl.putCompound(c)
		c.PutFH(fh).Getattr(mask)
		var rr replyReader
		if err := cl.exec(ctx, c, &rr); err != nil {
			return err
		}
		if err := rr.begin(); err != nil {
			return err
		}
		if err := rr.expect(nfs4.OpPutFH); err != nil {
			return err
		}
		if err := rr.expect(nfs4.OpGetattr); err != nil {
			return err
		}
		a = Attrs{}
		if err := DecodeFattr(&rr.d, &a); err != nil {
			return &DecodeError{Index: rr.i - 1, Op: nfs4.OpGetattr, Err: err}
		}
		return rr.finish()
	})
	return a, err
}

// Access checks access rights (nfs4.Access* bits) on fh and returns the
// supported and granted masks.
func (cl *Client) Access(ctx context.Context, fh []byte, mask uint32) (supported, access uint32, err error) {
	r, err := cl.call(ctx, func(c *Compound) { c.PutFH(fh).Access(mask) })
	if err != nil {
		return 0, 0, err
	}
	res := r.Ops[1].Res.(*AccessRes)
	return res.Supported, res.Access, nil
}

// Setattr sets attributes of fh with the anonymous stateid (use
// OpenFile.Setattr to change the size of an open file).
func (cl *Client) Setattr(ctx context.Context, fh []byte, attrs *SetAttrs) error {
	return cl.setattr(ctx, fh, nfs4.AnonStateid, attrs)
}

func (cl *Client) setattr(ctx context.Context, fh []byte, sid nfs4.Stateid, attrs *SetAttrs) error {
	_, err := cl.call(ctx, func(c *Compound) { c.PutFH(fh).Setattr(sid, attrs) })
	return err
}

// create runs CREATE in dir and returns the new object's handle.
func (cl *Client) create(ctx context.Context, dir []byte, a CreateArgs) ([]byte, error) {
	r, err := cl.call(ctx, func(c *Compound) { c.PutFH(dir).Create(a).GetFH() })
	if err != nil {
		return nil, err
	}
	return r.Ops[2].Res.(*GetFHRes).FH, nil
}

// Mkdir creates directory name in dir with the given mode and returns its
// file handle.
func (cl *Client) Mkdir(ctx context.Context, dir []byte, name string, mode uint32) ([]byte, error) {
	return cl.create(ctx, dir, CreateArgs{Type: nfs4.NF4DIR, Name: name, Attrs: new(SetAttrs).SetMode(mode)})
}

// Symlink creates symbolic link name in dir pointing to target and returns
// its file handle.
func (cl *Client) Symlink(ctx context.Context, dir []byte, name, target string) ([]byte, error) {
	return cl.create(ctx, dir, CreateArgs{Type: nfs4.NF4LNK, Name: name, LinkData: target, Attrs: new(SetAttrs).SetMode(0o777)})
}

// Mknod creates a special file (nfs4.NF4BLK, NF4CHR, NF4FIFO, NF4SOCK)
// and returns its file handle; spec is the device's major and minor.
func (cl *Client) Mknod(ctx context.Context, dir []byte, name string, typ, mode uint32, spec [2]uint32) ([]byte, error) {
	return cl.create(ctx, dir, CreateArgs{Type: typ, Name: name, Spec: spec, Attrs: new(SetAttrs).SetMode(mode)})
}

// Remove removes name from dir.
func (cl *Client) Remove(ctx context.Context, dir []byte, name string) error {
	_, err := cl.call(ctx, func(c *Compound) { c.PutFH(dir).Remove(name) })
	return err
}

// Rename renames srcDir/oldName to dstDir/newName.
func (cl *Client) Rename(ctx context.Context, srcDir []byte, oldName string, dstDir []byte, newName string) error {
	_, err := cl.call(ctx, func(c *Compound) {
		c.PutFH(srcDir).SaveFH().PutFH(dstDir).Rename(oldName, newName)
	})
	return err
}

// Link makes dir/name a hard link to file.
func (cl *Client) Link(ctx context.Context, file, dir []byte, name string) error {
	_, err := cl.call(ctx, func(c *Compound) {
		c.PutFH(file).SaveFH().PutFH(dir).Link(name)
	})
	return err
}

// Readlink returns the target of symbolic link fh.
func (cl *Client) Readlink(ctx context.Context, fh []byte) (string, error) {
	r, err := cl.call(ctx, func(c *Compound) { c.PutFH(fh).Readlink() })
	if err != nil {
		return "", err
	}
	return r.Ops[1].Res.(*ReadlinkRes).Link, nil
}

// ReaddirOptions tune Readdir.
type ReaddirOptions struct {
	Dircount uint32       // default 16 KiB
	Maxcount uint32       // default 64 KiB
	Attrs    *nfs4.Bitmap // default ReaddirAttrs; &nfs4.Bitmap{} for none
}

// Readdir lists directory fh with the default options.
func (cl *Client) Readdir(ctx context.Context, fh []byte) ([]DirEntry, error) {
	return cl.ReaddirWith(ctx, fh, ReaddirOptions{})
}

// ErrReaddirStuck is returned when a server answers READDIR with no entries
// and no EOF, or with the cookie it was given as the last one, either of
// which would make the listing loop forever.
var ErrReaddirStuck = errors.New("nfsclient: READDIR made no progress before EOF")

// ReaddirWith lists directory fh, issuing READDIR with the last entry's
// cookie and the returned cookie verifier until the server reports EOF
// (RFC 8881 section 18.23).
func (cl *Client) ReaddirWith(ctx context.Context, fh []byte, o ReaddirOptions) ([]DirEntry, error) {
	// Replies are kept as they are and joined once at the end: appending
	// each to one slice copied every (large) entry about twice more.
	var parts [][]DirEntry
	err := cl.ReaddirPages(ctx, fh, o, func(page []DirEntry) error {
		parts = append(parts, page)
		return nil
	})
	if len(parts) == 1 {
		return parts[0], err
	}
	return slices.Concat(parts...), err
}

// ReaddirPages lists directory fh as ReaddirWith does, handing each
// reply's entries to fn as it arrives (fn may keep the slice); an error
// from fn ends the listing and is returned.
func (cl *Client) ReaddirPages(ctx context.Context, fh []byte, o ReaddirOptions, fn func(page []DirEntry) error) error {
	args := ReaddirArgs{Dircount: o.Dircount, Maxcount: o.Maxcount, Attrs: ReaddirAttrs}
	if args.Dircount == 0 {
		args.Dircount = 16 << 10
	}
	if args.Maxcount == 0 {
		args.Maxcount = 64 << 10
	}
	if o.Attrs != nil {
		args.Attrs = *o.Attrs
	}
	for {
		r, err := cl.call(ctx, func(c *Compound) { c.PutFH(fh).Readdir(args) })
		if err != nil {
			return err
		}
		res := r.Ops[1].Res.(*ReaddirRes)
		if err := fn(res.Entries); err != nil {
			return err
		}
		if res.EOF {
			return nil
		}
		next := res.Entries[len(res.Entries)-1:]
		if len(next) == 0 || (args.Cookie != 0 && next[0].Cookie == args.Cookie) {
			return ErrReaddirStuck
		}
		args.Cookie = next[0].Cookie
		args.Cookieverf = res.Cookieverf
	}
}

// ReturnDelegation returns a delegation with DELEGRETURN and forgets it.
func (cl *Client) ReturnDelegation(ctx context.Context, fh []byte, stateid nfs4.Stateid) error {
	cl.mu.Lock()
	delete(cl.delegs, stateid.Other)
	cl.mu.Unlock()
	_, err := cl.call(ctx, func(c *Compound) { c.PutFH(fh).DelegReturn(stateid) })
	return err
}

// Delegations returns the stateids of the delegations the client holds.
func (cl *Client) Delegations() []nfs4.Stateid {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	out := make([]nfs4.Stateid, 0, len(cl.delegs))
	for _, d := range cl.delegs {
		out = append(out, d.stateid)
	}
	return out
}

// ReadFile returns the contents of the file at path.
func (cl *Client) ReadFile(ctx context.Context, path string) ([]byte, error) {
	f, err := cl.OpenFile(ctx, path, nfs4.ShareAccessRead, nfs4.ShareDenyNone)
	if err != nil {
		return nil, err
	}
	defer f.Close(ctx)
	buf := make([]byte, 0, min(f.Attrs.Size, 64<<20)) // the size is the server's word
	chunk := make([]byte, cl.maxRead)
	for off := uint64(0); ; {
		n, eof, err := f.Read(ctx, chunk, off)
		if err != nil {
			return buf, err
		}
		buf = append(buf, chunk[:n]...)
		off += uint64(n)
		if eof {
			return buf, f.Close(ctx)
		}
		if n == 0 {
			return buf, errors.New("nfsclient: READ returned no data before EOF")
		}
	}
}

// WriteFile creates or truncates the file at path with the given mode and
// writes data (UNSTABLE writes and a COMMIT, rewritten FILE_SYNC if the
// server's write verifier changed meanwhile).
func (cl *Client) WriteFile(ctx context.Context, path string, data []byte, mode uint32) error {
	comps := splitPath(path)
	if len(comps) == 0 {
		return errors.New("nfsclient: WriteFile needs a file name")
	}
	dir, _, err := cl.LookupPath(ctx, strings.Join(comps[:len(comps)-1], "/"))
	if err != nil {
		return err
	}
	f, err := cl.Create(ctx, dir, comps[len(comps)-1], mode)
	if err != nil {
		return err
	}
	defer f.Close(ctx)
	verf, committed, err := f.WriteAll(ctx, data, 0, nfs4.Unstable)
	if errors.Is(err, ErrVerifierChanged) {
		_, _, err = f.WriteAll(ctx, data, 0, nfs4.FileSync)
		if err != nil {
			return err
		}
		return f.Close(ctx)
	}
	if err != nil {
		return err
	}
	if committed != nfs4.FileSync && len(data) > 0 {
		cv, err := f.Commit(ctx, 0, 0)
		if err != nil {
			return err
		}
		if cv != verf {
			if _, _, err := f.WriteAll(ctx, data, 0, nfs4.FileSync); err != nil {
				return err
			}
		}
	}
	return f.Close(ctx)
}
