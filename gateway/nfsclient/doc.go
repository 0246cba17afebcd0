// Package nfsclient is an NFSv4.0 (RFC 7530) and NFSv4.1 (RFC 8881) client
// written from the RFCs, for integration tests and benchmarks of the nfsgw
// server.
//
// It has two layers.
//
// The low level is a COMPOUND builder and reply decoder. A Compound appends
// encoded operations (c.PutRootFH(), c.Lookup("a"), c.Getattr(mask), ...,
// or c.Raw(opnum, args) for anything else, malformed arguments included),
// Client.Do sends it and returns a Reply holding every operation's opcode,
// status and decoded result (*GetattrRes, *OpenRes, ...). On an NFSv4.1
// session a SEQUENCE operation is placed first automatically, on a slot taken
// from the session's slot table, unless the caller asks otherwise. Every
// decoder is bounds-checked and returns errors instead of panicking, since
// the server under test may be wrong.
//
// The high level is a Client made by Dial that sets up the client ID and
// session (EXCHANGE_ID, CREATE_SESSION with a back channel, RECLAIM_COMPLETE
// for 4.1; SETCLIENTID and SETCLIENTID_CONFIRM for 4.0), renews the lease,
// and offers file operations: LookupPath, Getattr, Create, OpenFile,
// Readdir, Mkdir, Remove, Rename, Link, Symlink, Readlink, Setattr, and on
// an OpenFile Read, Write, Commit, Lock, Unlock and Close. A Client is safe
// for concurrent use; concurrent requests use distinct session slots.
//
// NFS status codes other than NFS4_OK surface from the high level as
// *StatusError; StatusOf extracts the code.
package nfsclient
