package admin

import (
	"encoding/hex"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// ErrNotFound is returned by a Provider's EvictClient when no client has
// the given id. The server maps it to the gRPC NotFound code, and the
// Client maps that code back, so errors.Is(err, ErrNotFound) works on both
// sides of the wire.
var ErrNotFound = errors.New("no such client")

// Status describes the running gateway.
type Status struct {
	// NodeID is the gateway's node id (by default its host name).
	NodeID string `json:"node_id"`
	// Version is the gateway's build version.
	Version string `json:"version"`
	// StartTime is when the gateway started serving.
	StartTime time.Time `json:"start_time"`
	// Listen lists the addresses the gateway serves NFS on.
	Listen []string `json:"listen"`
	// Clients, Sessions and States count the NFSv4 state the gateway holds.
	Clients  int `json:"clients"`
	Sessions int `json:"sessions"`
	States   int `json:"states"`
	// InGrace reports whether the server is in its grace period, during
	// which only reclaims are allowed.
	InGrace bool `json:"in_grace"`
	// Grace is the grace machine's state; nil when the gateway keeps no
	// recovery state.
	Grace *GraceStatus `json:"grace,omitempty"`
}

// GraceStatus is where the gateway is in the grace protocol
// (docs/cluster.md).
type GraceStatus struct {
	// Cluster: the grace database is shared in RADOS (else in memory).
	Cluster bool `json:"cluster"`
	// Phase is the machine's phase (waiting, reclaim, enforcing, normal...).
	Phase string `json:"phase"`
	// Gate says what the engine grants: closed, enforce, reclaim or open.
	Gate string `json:"gate"`
	// Current and Recovery are the database's epochs C and R (R = 0: no
	// grace period anywhere).
	Current  uint64 `json:"current_epoch"`
	Recovery uint64 `json:"recovery_epoch"`
	// Flags are the node's own flags in the database: "N" need, "E"
	// enforcing.
	Flags string `json:"flags"`
	// Pending counts the clients that have not finished reclaiming.
	Pending int `json:"pending"`
	// Waiting lists the members the node waits for to enforce.
	Waiting []string `json:"waiting,omitempty"`
	// Tardy: the restart found no session left to reset; nothing may be
	// reclaimed.
	Tardy bool `json:"tardy,omitempty"`
	// Since is when the node last stopped granting new state (zero while
	// it grants).
	Since time.Time `json:"since,omitzero"`
	// Epoch is the recovery epoch the node's store began.
	Epoch uint64 `json:"epoch"`
	// LastError is the last failed write or store call, retried.
	LastError string `json:"last_error,omitempty"`
}

// ExportInfo describes one export.
type ExportInfo struct {
	// ID is the export's id, as embedded in its file handles.
	ID uint16 `json:"id"`
	// Pseudo is the export's path in the NFSv4 pseudo file system.
	Pseudo string `json:"pseudo"`
	// Path is the exported directory on the gateway.
	Path string `json:"path"`
	// Access is "rw" or "ro".
	Access string `json:"access"`
	// Squash is the identity squashing mode: "root", "none" or "all".
	Squash string `json:"squash"`
	// Clients lists the networks allowed to mount; empty means any.
	Clients []string `json:"clients"`
}

// ClientInfo describes one NFSv4 client record.
type ClientInfo struct {
	// ID is the NFSv4 clientid. It travels as a JSON string because
	// clientids use all 64 bits and JSON numbers are doubles in most
	// languages, which would silently round them.
	ID uint64 `json:"id,string"`
	// Owner is the client's co_ownerid in printable form; see
	// PrintableOwner.
	Owner string `json:"owner"`
	// Addr is the client's network address.
	Addr string `json:"addr"`
	// MinorVersion is the NFSv4 minor version the client established.
	MinorVersion uint32 `json:"minor_version"`
	// Confirmed reports whether the client record is confirmed.
	Confirmed bool `json:"confirmed"`
	// Sessions and States count the client's sessions and state ids.
	Sessions int `json:"sessions"`
	States   int `json:"states"`
	// LastRenew is when the client last renewed its lease.
	LastRenew time.Time `json:"last_renew"`
}

// PrintableOwner renders an NFSv4 client owner (an opaque byte string) for
// display: as is when it is UTF-8 text without control characters, which
// is what Linux and most other clients send, otherwise as "0x" followed by
// its hex encoding. Control characters are hex-encoded too because they
// would corrupt terminal tables and logs.
func PrintableOwner(owner []byte) string {
	if utf8.Valid(owner) {
		printable := true
		for _, r := range string(owner) {
			if !strconv.IsPrint(r) {
				printable = false
				break
			}
		}
		if printable {
			return string(owner)
		}
	}
	return "0x" + hex.EncodeToString(owner)
}

// The request and response messages of the service. They are exported so
// that a peer written without this package's Client can see the wire
// contract in one place.
type (
	// StatusRequest is the request of Admin/Status.
	StatusRequest struct{}
	// StatusResponse is the response of Admin/Status.
	StatusResponse struct {
		Status Status `json:"status"`
	}
	// ListExportsRequest is the request of Admin/ListExports.
	ListExportsRequest struct{}
	// ListExportsResponse is the response of Admin/ListExports.
	ListExportsResponse struct {
		Exports []ExportInfo `json:"exports"`
	}
	// ListClientsRequest is the request of Admin/ListClients.
	ListClientsRequest struct{}
	// ListClientsResponse is the response of Admin/ListClients.
	ListClientsResponse struct {
		Clients []ClientInfo `json:"clients"`
	}
	// EvictClientRequest is the request of Admin/EvictClient.
	EvictClientRequest struct {
		// ID is the clientid to evict, a JSON string for the reason
		// given on ClientInfo.ID.
		ID uint64 `json:"id,string"`
	}
	// EvictClientResponse is the response of Admin/EvictClient.
	EvictClientResponse struct{}
)
