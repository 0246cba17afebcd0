// Package oncrpc implements ONC RPC version 2 (RFC 5531) over TCP, for both
// ends of a connection.
//
// A Server accepts connections and dispatches each CALL to the Handler
// registered for its program. Calls are served concurrently, also those that
// arrive pipelined on one connection, and each reply is written as soon as
// its call completes. Work is bounded per connection (MaxInflightPerConn) and
// server-wide (MaxInflightBytes of requests being served), and so are the
// replies built and not yet written (MaxReplyBytesPerConn, MaxReplyBytes,
// ReplyTimeout; see replies.go); when any is exhausted the connection's
// reader stops reading, so TCP flow control pushes back on the client
// instead of the server buffering without limit. Idle connections
// (IdleTimeout) and connections per source address (MaxConnsPerAddr) are
// bounded too, so that no peer can hold every file descriptor.
//
// The server can also call the client over the same connection (Conn.Call),
// which is how the NFSv4.1 back channel works, and a Client can serve such
// calls (Client.SetCallbackHandler).
//
// Everything a peer sends is bounded before it is allocated: records are
// limited to MaxRecordSize and buffers grow only as bytes actually arrive,
// credentials and verifiers to 400 bytes, AUTH_SYS machine names to 255
// bytes and group lists to 16 entries.
package oncrpc
