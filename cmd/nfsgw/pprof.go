package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"

	"github.com/hashicorp/go-hclog"
)

// pprofAddr is the --pprof address ("" for none).
var pprofAddr string

// startPprof serves net/http/pprof on addr (keep it on loopback: profiles
// reveal paths and timings) and turns on the mutex and block profiles,
// which cost a little on every contended lock, so only when asked for.
func startPprof(addr string, log hclog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	runtime.SetMutexProfileFraction(100)
	runtime.SetBlockProfileRate(100_000) // one event per 100 µs blocked
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	log.Info("pprof", "addr", l.Addr().String())
	return func() { srv.Close() }, nil
}
