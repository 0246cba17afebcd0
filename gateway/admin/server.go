package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ServiceName is the fully qualified gRPC service name.
const ServiceName = "nfsgw.admin.v1.Admin"

// Full method names, as they appear in the HTTP/2 :path.
const (
	MethodStatus      = "/" + ServiceName + "/Status"
	MethodListExports = "/" + ServiceName + "/ListExports"
	MethodListClients = "/" + ServiceName + "/ListClients"
	MethodEvictClient = "/" + ServiceName + "/EvictClient"
)

// Provider is what the gateway exposes to the admin API. The methods are
// called from gRPC handler goroutines, concurrently with each other and with
// NFS traffic, so implementations must be safe for concurrent use; they
// should return snapshots rather than live internal slices.
type Provider interface {
	// Status reports the gateway's status.
	Status() Status
	// Exports lists the exports.
	Exports() []ExportInfo
	// Clients lists the NFSv4 client records.
	Clients() []ClientInfo
	// EvictClient destroys the client with the given id and all its
	// state. It returns an error wrapping ErrNotFound when there is no
	// such client.
	EvictClient(id uint64) error
}

// adminService is the handler type of the service description;
// grpc.Server.RegisterService checks the implementation against it.
type adminService interface {
	status(context.Context, *StatusRequest) (*StatusResponse, error)
	listExports(context.Context, *ListExportsRequest) (*ListExportsResponse, error)
	listClients(context.Context, *ListClientsRequest) (*ListClientsResponse, error)
	evictClient(context.Context, *EvictClientRequest) (*EvictClientResponse, error)
	addExport(context.Context, *AddExportRequest) (*AddExportResponse, error)
	removeExport(context.Context, *RemoveExportRequest) (*RemoveExportResponse, error)
	drain(context.Context, *DrainRequest) (*DrainResponse, error)
	top(context.Context, *TopRequest) (*TopResponse, error)
}

// serviceDesc is what protoc-gen-go-grpc would generate from a .proto file;
// it is written by hand because the build has no protoc step.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*adminService)(nil),
	Methods: []grpc.MethodDesc{
		unary("Status", MethodStatus, adminService.status),
		unary("ListExports", MethodListExports, adminService.listExports),
		unary("ListClients", MethodListClients, adminService.listClients),
		unary("EvictClient", MethodEvictClient, adminService.evictClient),
		unary("AddExport", MethodAddExport, adminService.addExport),
		unary("RemoveExport", MethodRemoveExport, adminService.removeExport),
		unary("Drain", MethodDrain, adminService.drain),
		unary("Top", MethodTop, adminService.top),
	},
	Metadata: "nfsgw/gateway/admin (hand-written, JSON codec)",
}

// unary builds a method description around a typed handler, doing what
// generated code does for each method: decode the request, then run the
// handler through the interceptor chain. Unlike generated code it decodes
// the body itself; see rawBody.
func unary[Req, Resp any](name, fullMethod string, h func(adminService, context.Context, *Req) (*Resp, error)) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			var body rawBody
			if err := dec(&body); err != nil {
				return nil, err // already a status; gRPC has sent it
			}
			svc := srv.(adminService)
			req := new(Req)
			if err := decodeRequest(body, req); err != nil {
				// This happens before the interceptors, so log here.
				if s, ok := svc.(*service); ok {
					s.log.Warn("malformed admin request", "method", fullMethod, "error", err)
				}
				return nil, status.Errorf(codes.InvalidArgument, "malformed %s request: %v", name, err)
			}
			if ic == nil {
				return h(svc, ctx, req)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod}
			return ic(ctx, req, info, func(ctx context.Context, r any) (any, error) {
				return h(svc, ctx, r.(*Req))
			})
		},
	}
}

// service implements adminService on top of a Provider.
type service struct {
	p   Provider
	log hclog.Logger
}

func (s *service) status(context.Context, *StatusRequest) (*StatusResponse, error) {
	return &StatusResponse{Status: s.p.Status()}, nil
}

func (s *service) listExports(context.Context, *ListExportsRequest) (*ListExportsResponse, error) {
	return &ListExportsResponse{Exports: s.p.Exports()}, nil
}

func (s *service) listClients(context.Context, *ListClientsRequest) (*ListClientsResponse, error) {
	return &ListClientsResponse{Clients: s.p.Clients()}, nil
}

func (s *service) evictClient(_ context.Context, req *EvictClientRequest) (*EvictClientResponse, error) {
	err := s.p.EvictClient(req.ID)
	switch {
	case err == nil:
		// Evicting a client breaks its mounts; leave a trace of who did
		// what even at the default log level.
		s.log.Info("client evicted via admin API", "clientid", fmt.Sprintf("0x%016x", req.ID))
		return &EvictClientResponse{}, nil
	case errors.Is(err, ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "no client with id 0x%016x", req.ID)
	default:
		if _, ok := status.FromError(err); ok {
			return nil, err // the provider chose a code itself
		}
		return nil, status.Errorf(codes.Internal, "evict client 0x%016x: %v", req.ID, err)
	}
}

// NewServer returns a gRPC server with the admin service registered on
// top of p. The server forces the JSON codec whatever content-subtype a
// request names, and turns a panicking Provider into an Internal error:
// the admin plane must not be able to take the NFS data plane down with
// it. A nil log discards log output.
func NewServer(p Provider, log hclog.Logger) *grpc.Server {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	srv := grpc.NewServer(
		grpc.ForceServerCodec(jsonCodec{}),
		grpc.ChainUnaryInterceptor(recoverInterceptor(log), logInterceptor(log)),
	)
	srv.RegisterService(&serviceDesc, &service{p: p, log: log})
	return srv
}

// recoverInterceptor converts a panic in a handler into an Internal error.
func recoverInterceptor(log hclog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("admin API handler panicked", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				resp, err = nil, status.Errorf(codes.Internal, "internal error in %s", info.FullMethod)
			}
		}()
		return h(ctx, req)
	}
}

// logInterceptor logs every call at debug level, with its outcome.
func logInterceptor(log hclog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := h(ctx, req)
		log.Debug("admin call", "method", info.FullMethod, "code", status.Code(err).String(), "elapsed", time.Since(start))
		return resp, err
	}
}

// stopGrace bounds how long stop waits for in-flight calls before it cuts
// connections; admin calls are short, so a long wait means a stuck peer.
const stopGrace = 5 * time.Second

// Serve listens on addr (see ParseAddr; plaintext) and serves the admin
// API on it until stop is called or ctx is done. It returns the bound
// address, which differs from addr when addr has port 0. stop waits for
// in-flight calls (up to a few seconds), then returns; it is safe to call
// more than once and from several goroutines.
func Serve(ctx context.Context, addr string, p Provider, log hclog.Logger) (stop func(), bound net.Addr, err error) {
	a, err := ParseAddr(addr)
	if err != nil {
		return nil, nil, err
	}
	l, err := Listen(ctx, a, nil)
	if err != nil {
		return nil, nil, err // names the address already
	}
	return ServeListener(ctx, l, p, log), l.Addr(), nil
}

// ServeListener serves the admin API on l (from Listen) like Serve; it
// lets the gateway open its listener before it serves anything, so that a
// busy address is a start-up error.
func ServeListener(ctx context.Context, l net.Listener, p Provider, log hclog.Logger) (stop func()) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	srv := NewServer(p, log)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(l); err != nil {
			log.Error("admin API server failed", "addr", l.Addr().String(), "error", err)
		}
	}()
	log.Info("serving admin API", "addr", l.Addr().String())

	var once sync.Once
	stop = func() {
		once.Do(func() {
			done := make(chan struct{})
			go func() { srv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-time.After(stopGrace):
				srv.Stop()
				<-done
			}
			<-served
		})
	}
	// Stop on ctx too, so a caller that ties the server to its lifetime
	// context need not also remember stop. The goroutine ends with the
	// server either way.
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-served:
		}
	}()
	return stop
}
