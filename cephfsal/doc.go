// Package cephfsal will serve CephFS through libcephfs' handle-based
// ceph_ll_* API, behind the same fsal.FS interface as the local backend and
// tested with the same conformance suite (gateway/fsal/fsaltest) against a
// real, throwaway Ceph cluster. It is the next step after the engine; see
// docs/architecture.md. Its cgo will live in one small internal package
// (go-ceph has no ll API), and handles will be byte-identical to
// NFS-Ganesha 4.3's FSAL_CEPH handles (gateway/fh already has the layout).
package cephfsal
