// Package admin implements nfsgw's administrative API: a small gRPC service,
// "nfsgw.admin.v1.Admin", that reports the gateway's status, exports and NFS
// clients and lets an operator evict a client. The nfsgwctl command is its
// main consumer.
//
// # Why there is no .proto file
//
// The build has no protoc step, and adding one (protoc plus
// protoc-gen-go and protoc-gen-go-grpc, pinned to versions that match the
// module's grpc and protobuf) would be a toolchain dependency for four unary
// calls. Instead the messages are plain Go structs with json tags, the
// service is described by a hand-written grpc.ServiceDesc, and both ends
// force a JSON codec registered under the name "json". The wire is still
// ordinary gRPC over HTTP/2 (length-prefixed messages, grpc-status
// trailers, deadlines, status codes); only the message encoding differs, and
// the content type is "application/grpc+json". Generic protobuf tooling such
// as grpcurl therefore cannot talk to the service, which is acceptable for a
// loopback operator interface.
//
// The messages are the wire contract: renaming a json tag is a breaking
// change. Unknown fields are ignored when decoding, so fields may be added
// without breaking older peers.
package admin
