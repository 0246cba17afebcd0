package admin

import (
	"encoding/json"

	"google.golang.org/grpc/encoding"
)

// CodecName is the gRPC content-subtype of the admin API's JSON encoding;
// requests carry the content type "application/grpc+json".
const CodecName = "json"

// jsonCodec encodes gRPC messages as JSON. It replaces the protobuf codec so
// that the service needs no generated code (see the package comment).
type jsonCodec struct{}

func init() {
	// Registering the codec lets a peer select it by content-subtype alone
	// (grpc.CallContentSubtype("json")). Our own client and server do not
	// depend on the registry: they force the codec explicitly, so another
	// package registering a different "json" codec cannot change our wire.
	encoding.RegisterCodec(jsonCodec{})
}

func (jsonCodec) Name() string { return CodecName }

func (jsonCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

func (jsonCodec) Unmarshal(data []byte, v any) error {
	if r, ok := v.(*rawBody); ok {
		// gRPC may reuse data once Unmarshal returns, so copy it.
		*r = append((*r)[:0], data...)
		return nil
	}
	// A zero-length gRPC message is the conventional encoding of an empty
	// message (it is what protobuf produces), so accept it as the zero
	// value rather than failing with "unexpected end of JSON input".
	if len(data) == 0 {
		return nil
	}
	// Unknown fields are deliberately not rejected: a newer peer may send
	// fields this version does not know, and ignoring them is what keeps
	// adding fields a compatible change.
	return json.Unmarshal(data, v)
}

// rawBody receives a request body undecoded. The server decodes requests
// in the method handler rather than in the codec because gRPC turns any
// codec failure into an Internal status (and writes it to the wire before
// the handler can change it), which would blame the server for a caller's
// malformed request; decoding in the handler lets it answer
// InvalidArgument.
type rawBody []byte

// decodeRequest decodes a request body into req, with the same rules as
// the codec.
func decodeRequest(body rawBody, req any) error {
	return jsonCodec{}.Unmarshal(body, req)
}
