package admin

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MethodTop is the full method name of Admin/Top.
const MethodTop = "/" + ServiceName + "/Top"

// TopTalker is one of the clients that loaded the gateway most in the last
// interval.
type TopTalker struct {
	// Addr is the client's address.
	Addr string `json:"addr"`
	// Ops counts its operations (SEQUENCE and file-handle juggling left
	// out); it may overstate by up to OpsError (the sketch's bound).
	Ops      uint64 `json:"ops"`
	OpsError uint64 `json:"ops_error,omitempty"`
	// Rate is Ops per second over the interval.
	Rate float64 `json:"rate"`
	// Bytes its READs and WRITEs moved.
	Bytes uint64 `json:"bytes"`
	// ByOp counts its operations by name.
	ByOp map[string]uint64 `json:"by_op"`
}

// TopReport is the last interval's top talkers.
type TopReport struct {
	Start   time.Time   `json:"start"`
	End     time.Time   `json:"end"`
	Total   uint64      `json:"total"`
	Lost    uint64      `json:"lost,omitempty"`
	Clients []TopTalker `json:"clients"`
}

// TopTalkers is implemented by a Provider that counts its clients' load.
type TopTalkers interface {
	// Top returns the last interval's n busiest clients, by operations
	// or, with byBytes, by bytes.
	Top(n int, byBytes bool) TopReport
}

type (
	// TopRequest is the request of Admin/Top.
	TopRequest struct {
		N       int  `json:"n"`
		ByBytes bool `json:"by_bytes,omitempty"`
	}
	// TopResponse is the response of Admin/Top.
	TopResponse struct {
		Report TopReport `json:"report"`
	}
)

func (s *service) top(_ context.Context, req *TopRequest) (*TopResponse, error) {
	t, ok := s.p.(TopTalkers)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this gateway does not count its clients' load")
	}
	n := req.N
	if n <= 0 || n > 1000 {
		n = 1000
	}
	return &TopResponse{Report: t.Top(n, req.ByBytes)}, nil
}

// Top returns the gateway's top talkers of the last interval.
func (c *Client) Top(ctx context.Context, n int, byBytes bool) (TopReport, error) {
	var resp TopResponse
	if err := c.conn.Invoke(ctx, MethodTop, &TopRequest{N: n, ByBytes: byBytes}, &resp); err != nil {
		return TopReport{}, clientError(err)
	}
	return resp.Report, nil
}
