package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultSocket is where the admin API listens when nothing else is
// configured, and where nfsgwctl looks for it: a unix socket that only
// root may use, because the API can add an export of any directory.
const DefaultSocket = "unix:/run/nfsgw/admin.sock"

// Disabled is the admin address that turns the admin API off.
const Disabled = "none"

// Addr is a parsed admin API address.
type Addr struct {
	// Network is "unix" or "tcp".
	Network string
	// Address is the socket path or host:port.
	Address string
}

func (a Addr) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Address
	}
	return a.Address
}

// ParseAddr parses "unix:PATH", an absolute PATH (a unix socket) or
// "host:port" (TCP).
func ParseAddr(s string) (Addr, error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok || strings.HasPrefix(s, "/") {
		if !ok {
			p = s
		}
		if p == "" {
			return Addr{}, fmt.Errorf("admin address %q: unix socket path missing", s)
		}
		return Addr{Network: "unix", Address: p}, nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return Addr{}, fmt.Errorf("admin address %q: want unix:PATH or host:port", s)
	}
	return Addr{Network: "tcp", Address: s}, nil
}

// Loopback reports whether a TCP address can only be reached from this
// host: a loopback IP or "localhost". An empty host means every
// interface, and other host names may resolve anywhere, so neither is.
func (a Addr) Loopback() bool {
	if a.Network != "tcp" {
		return false
	}
	host, _, err := net.SplitHostPort(a.Address)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ServerTLS builds the TLS configuration of a TCP admin API that requires
// client certificates signed by clientCA (mutual TLS): whoever holds such a
// certificate may administer the gateway.
func ServerTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" || clientCAFile == "" {
		return nil, errors.New("admin_tls needs cert, key and client_ca")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("admin_tls: %w", err)
	}
	pool, err := loadPool(clientCAFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
		// gRPC clients insist on ALPN h2.
		NextProtos: []string{"h2"},
	}, nil
}

// ClientTLS builds the TLS configuration nfsgwctl presents to a TCP admin
// API: its own certificate, and the CA that signed the gateway's.
func ClientTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, errors.New("TLS needs a client certificate, its key and the gateway's CA")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA certificates: no PEM certificate in %s", file)
	}
	return pool, nil
}

// Listen opens the admin API's listener on addr. A unix socket is made
// mode 0600 (its directory is created 0700 if missing); a socket file left
// by a gateway that died is replaced, one that a running gateway answers
// on is an error. A TCP listener is wrapped in TLS when tlsConf is set.
// Errors do not repeat an "admin API" prefix: callers add their own.
func Listen(ctx context.Context, addr Addr, tlsConf *tls.Config) (net.Listener, error) {
	var lc net.ListenConfig
	if addr.Network != "unix" {
		l, err := lc.Listen(ctx, "tcp", addr.Address)
		if err != nil {
			return nil, err
		}
		if tlsConf != nil {
			l = tls.NewListener(l, tlsConf)
		}
		return l, nil
	}
	path := addr.Address
	if err := os.MkdirAll(filepath.Dir(path), 0700); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use by another running nfsgw (give this one its own --admin unix:PATH, or --admin none)", path)
		}
		// Nobody answers: a dead gateway's socket file.
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	l, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	// Before anything is served: the socket must not be usable by other
	// users even for a moment (connecting to a unix socket needs write
	// permission on it, which the usual umask already withholds).
	if err := os.Chmod(path, 0600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
