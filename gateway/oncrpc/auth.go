package oncrpc

import (
	"nfsgw/gateway/xdr"
)

// Authentication flavors (RFC 5531 section 8.2). Only these two are
// accepted by the server.
const (
	FlavorNone uint32 = 0 // AUTH_NONE
	FlavorSys  uint32 = 1 // AUTH_SYS, also known as AUTH_UNIX

	// AuthNone is FlavorNone under its RFC name. There is no AuthSys
	// constant because AuthSys names the credential type.
	AuthNone = FlavorNone
)

// Authentication status codes carried by an AUTH_ERROR rejection
// (RFC 5531 section 9).
const (
	AuthOK           uint32 = 0 // AUTH_OK
	AuthBadCred      uint32 = 1 // AUTH_BADCRED: bad credential
	AuthRejectedCred uint32 = 2 // AUTH_REJECTEDCRED: client must begin a new session
	AuthBadVerf      uint32 = 3 // AUTH_BADVERF: bad verifier
	AuthRejectedVerf uint32 = 4 // AUTH_REJECTEDVERF: verifier expired or replayed
	AuthTooWeak      uint32 = 5 // AUTH_TOOWEAK: rejected for security reasons
)

// Limits from RFC 5531: an opaque_auth body is at most 400 bytes; the
// AUTH_SYS machine name at most 255 bytes and the group list 16 entries.
const (
	MaxAuthBytes       = 400
	MaxMachineNameLen  = 255
	MaxAuthSysGroups   = 16
	authSysFixedFields = 4 * 4 // stamp, name length, uid, gid
)

// AuthSys is an AUTH_SYS credential (RFC 5531 appendix A).
type AuthSys struct {
	Stamp       uint32
	MachineName string // at most MaxMachineNameLen bytes
	UID, GID    uint32
	GIDs        []uint32 // supplementary groups, at most MaxAuthSysGroups
}

// Cred is an opaque_auth as it travels on the wire: a flavor and a body of
// at most MaxAuthBytes bytes.
type Cred struct {
	Flavor uint32
	Body   []byte
}

// CredNone returns the AUTH_NONE credential.
func CredNone() Cred { return Cred{Flavor: FlavorNone} }

// CredSys returns an AUTH_SYS credential with a's encoded body. Values past
// the protocol limits are encoded as given, so tests can build malformed
// credentials; a server rejects them with AUTH_BADCRED.
func CredSys(a AuthSys) Cred {
	e := xdr.NewEncoder(make([]byte, 0, authSysFixedFields+len(a.MachineName)+3+4+4*len(a.GIDs)))
	e.Uint32(a.Stamp)
	e.String(a.MachineName)
	e.Uint32(a.UID)
	e.Uint32(a.GID)
	e.Uint32(uint32(len(a.GIDs)))
	for _, g := range a.GIDs {
		e.Uint32(g)
	}
	return Cred{Flavor: FlavorSys, Body: e.Buf}
}

// decodeAuthSys parses an AUTH_SYS body. It reports false for anything
// malformed, including trailing bytes: XDR leaves no room for slack inside
// a counted opaque, so extra bytes mean the peer encoded something else.
//
// lastName lets a connection reuse the string of the previous call's
// machine name; clients send the same name on every call, and the
// comparison avoids an allocation per call (strings are immutable, so
// sharing one is safe). The group list is always freshly allocated because
// handlers may keep it (for example in a file's credential) after the call.
func decodeAuthSys(body []byte, lastName string, a *AuthSys) bool {
	d := xdr.NewDecoder(body)
	a.Stamp = d.Uint32()
	name := d.Opaque(MaxMachineNameLen)
	a.UID = d.Uint32()
	a.GID = d.Uint32()
	n := d.Count(MaxAuthSysGroups, 4)
	if d.Err() != nil {
		return false
	}
	if n > 0 {
		a.GIDs = make([]uint32, n)
		for i := range a.GIDs {
			a.GIDs[i] = d.Uint32()
		}
	} else {
		a.GIDs = nil
	}
	if d.Err() != nil || d.Remaining() != 0 {
		return false
	}
	if string(name) == lastName {
		a.MachineName = lastName
	} else {
		a.MachineName = string(name)
	}
	return true
}
