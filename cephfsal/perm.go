//go:build !noceph

package cephfsal

import (
	"nfsgw/cephfsal/internal/cephll"
	"nfsgw/gateway/fsal"
)

// Credentials. Every libcephfs call carries the caller's identity as a
// UserPerm, and libcephfs checks permissions on the client side with it
// (client_permissions), so no process-wide identity is ever switched.
// UserPerms are cached by credential: AUTH_SYS allows at most 16
// supplementary groups, which fit a fixed-size, comparable key. The cache
// is bounded because clients choose their credentials freely.

const maxCachedGroups = 16

type credKey struct {
	uid, gid uint32
	n        uint8
	groups   [maxCachedGroups]uint32
}

func hashCred(k credKey) uint64 {
	h := uint64(k.uid)<<32 | uint64(k.gid)
	h = mix(h ^ uint64(k.n))
	for i := range k.n {
		h = mix(h ^ uint64(k.groups[i]))
	}
	return h
}

func isRoot(c *fsal.Cred) bool {
	return c == nil || (c.UID == 0 && c.GID == 0 && len(c.Groups) == 0)
}

// permRef is a credential in use; release it when the call is done.
type permRef struct {
	p *cephll.Perm
	r *ref[*cephll.Perm] // nil for the mount's permanent root credential
}

func (p permRef) release() {
	if p.r != nil {
		p.r.release()
	}
}

func (m *Mount) perm(c *fsal.Cred) permRef {
	if isRoot(c) {
		return permRef{p: m.root}
	}
	if len(c.Groups) > maxCachedGroups {
		// Not from AUTH_SYS; rare enough not to cache.
		p := cephll.NewPerm(c.UID, c.GID, c.Groups)
		r := &ref[*cephll.Perm]{v: p, free: (*cephll.Perm).Destroy}
		r.refs.Store(1)
		return permRef{p: p, r: r}
	}
	k := credKey{uid: c.UID, gid: c.GID, n: uint8(len(c.Groups))}
	copy(k.groups[:], c.Groups)
	if r := m.perms.get(k); r != nil {
		return permRef{p: r.v, r: r}
	}
	r := m.perms.add(k, cephll.NewPerm(c.UID, c.GID, c.Groups))
	return permRef{p: r.v, r: r}
}
