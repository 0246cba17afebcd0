// Package cephfsal serves CephFS through libcephfs' handle-based ceph_ll_*
// API, behind the same fsal.FS interface as the local backend and tested
// with the same conformance suite (gateway/fsal/fsaltest) against a real,
// throwaway Ceph cluster.
//
// A Mount is one libcephfs client (one CephFS session, named after the
// gateway's node id so that its successor can reset it); Export serves a
// directory of it. Handles are byte-identical to NFS-Ganesha 4.3's
// FSAL_CEPH handles (inode, snapshot id, fscid), every call runs with the
// caller's credentials as a cached libcephfs UserPerm, inode references are
// cached per export so that the hot path (GETATTR) is one libcephfs call,
// byte-range locks and delegations are the MDS's own, so they hold across
// gateways. All cgo lives in internal/cephll. docs/cephfs.md ("Backend
// internals") has the details.
//
// Built with the noceph tag, the package keeps its API but NewMount fails,
// so the gateway builds where libcephfs is missing.
package cephfsal
