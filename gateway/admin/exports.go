package admin

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Full method names of the export calls.
const (
	MethodAddExport    = "/" + ServiceName + "/AddExport"
	MethodRemoveExport = "/" + ServiceName + "/RemoveExport"
)

// ErrConflict is returned by an ExportManager when an export to add
// clashes with one that exists (same id or pseudo path, or nested); it
// travels as the gRPC AlreadyExists code.
var ErrConflict = errors.New("conflicts with an existing export")

// ErrInvalid is returned by an ExportManager for an export description it
// cannot serve (bad path, unknown squash mode, …); it travels as the gRPC
// InvalidArgument code.
var ErrInvalid = errors.New("invalid export")

// ExportManager is implemented by a Provider whose exports can change
// while it runs. A Provider without it answers the export calls with
// Unimplemented.
type ExportManager interface {
	// AddExport starts serving one more export and returns it as served.
	AddExport(ExportConfig) (ExportInfo, error)
	// RemoveExport stops serving the export with id; the error wraps
	// ErrNotFound when there is none.
	RemoveExport(id uint16) error
}

// ExportConfig describes an export to add, with the fields and defaults
// of an export in the configuration file (docs/configuration.md).
type ExportConfig struct {
	ID      uint16   `json:"id"`
	Pseudo  string   `json:"pseudo"`
	Path    string   `json:"path"`
	Access  string   `json:"access,omitempty"`
	Squash  string   `json:"squash,omitempty"`
	Clients []string `json:"clients,omitempty"`
	AnonUID *uint32  `json:"anon_uid,omitempty"`
	AnonGID *uint32  `json:"anon_gid,omitempty"`
}

type (
	// AddExportRequest is the request of Admin/AddExport.
	AddExportRequest struct {
		Export ExportConfig `json:"export"`
	}
	// AddExportResponse is the response of Admin/AddExport.
	AddExportResponse struct {
		Export ExportInfo `json:"export"`
	}
	// RemoveExportRequest is the request of Admin/RemoveExport.
	RemoveExportRequest struct {
		ID uint16 `json:"id"`
	}
	// RemoveExportResponse is the response of Admin/RemoveExport.
	RemoveExportResponse struct{}
)

func (s *service) exportManager() (ExportManager, error) {
	m, ok := s.p.(ExportManager)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this gateway cannot change its exports at run time")
	}
	return m, nil
}

func exportError(op string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return status.Errorf(codes.NotFound, "%s: %v", op, err)
	case errors.Is(err, ErrConflict):
		return status.Errorf(codes.AlreadyExists, "%s: %v", op, err)
	case errors.Is(err, ErrInvalid):
		return status.Errorf(codes.InvalidArgument, "%s: %v", op, err)
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Internal, "%s: %v", op, err)
}

func (s *service) addExport(_ context.Context, req *AddExportRequest) (*AddExportResponse, error) {
	m, err := s.exportManager()
	if err != nil {
		return nil, err
	}
	info, err := m.AddExport(req.Export)
	if err != nil {
		return nil, exportError(fmt.Sprintf("add export %s", req.Export.Pseudo), err)
	}
	s.log.Info("export added via admin API", "id", info.ID, "pseudo", info.Pseudo, "path", info.Path)
	return &AddExportResponse{Export: info}, nil
}

func (s *service) removeExport(_ context.Context, req *RemoveExportRequest) (*RemoveExportResponse, error) {
	m, err := s.exportManager()
	if err != nil {
		return nil, err
	}
	if err := m.RemoveExport(req.ID); err != nil {
		return nil, exportError(fmt.Sprintf("remove export %d", req.ID), err)
	}
	s.log.Info("export removed via admin API", "id", req.ID)
	return &RemoveExportResponse{}, nil
}

// AddExport asks the gateway to serve one more export and returns it as
// served. A clash with an existing export satisfies errors.Is(err,
// ErrConflict), a bad description errors.Is(err, ErrInvalid).
func (c *Client) AddExport(ctx context.Context, e ExportConfig) (ExportInfo, error) {
	var resp AddExportResponse
	if err := c.conn.Invoke(ctx, MethodAddExport, &AddExportRequest{Export: e}, &resp); err != nil {
		return ExportInfo{}, clientError(err)
	}
	return resp.Export, nil
}

// RemoveExport asks the gateway to stop serving the export with id; when
// there is none the error satisfies errors.Is(err, ErrNotFound).
func (c *Client) RemoveExport(ctx context.Context, id uint16) error {
	if err := c.conn.Invoke(ctx, MethodRemoveExport, &RemoveExportRequest{ID: id}, &RemoveExportResponse{}); err != nil {
		return clientError(err)
	}
	return nil
}
