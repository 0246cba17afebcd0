package admin

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MethodDrain is the full method name of Admin/Drain.
const MethodDrain = "/" + ServiceName + "/Drain"

// Drainer is implemented by a Provider that can leave for good (a
// scale-down): stop accepting connections, wait for its clients or evict
// them, leave the cluster's grace database, delete its recovery records,
// unmount cleanly and exit (docs/cluster.md).
type Drainer interface {
	// Drain starts draining and returns at once; the gateway exits when
	// it is done.
	Drain() error
}

type (
	// DrainRequest is the request of Admin/Drain.
	DrainRequest struct{}
	// DrainResponse is the response of Admin/Drain.
	DrainResponse struct{}
)

func (s *service) drain(_ context.Context, _ *DrainRequest) (*DrainResponse, error) {
	d, ok := s.p.(Drainer)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this gateway cannot drain")
	}
	if err := d.Drain(); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "drain: %v", err)
	}
	s.log.Info("drain started via admin API")
	return &DrainResponse{}, nil
}

// Drain asks the gateway to drain and exit (scale-down).
func (c *Client) Drain(ctx context.Context) error {
	if err := c.conn.Invoke(ctx, MethodDrain, &DrainRequest{}, &DrainResponse{}); err != nil {
		return clientError(err)
	}
	return nil
}
