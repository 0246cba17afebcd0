package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"

	"nfsgw/gateway/admin"
	"nfsgw/gateway/config"
)

// startError is a configuration the gateway cannot serve, found before it
// serves anything: nfsgw prints it as one line and exits 2, like a bad
// flag, instead of logging a fatal error.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// checkStatic finds configuration errors before the gateway logs or opens
// anything: a local export whose directory is missing, a local export when
// the gateway is not root, and an address in use.
func checkStatic(cfg *config.Config) error {
	if err := checkExportDirs(cfg); err != nil {
		return err
	}
	// The real listeners are bound only once the exports are open (a
	// CephFS mount may take a while, and a bound port looks served); so
	// try each address now, and let it go at once.
	l, err := bindListeners(cfg)
	if err != nil {
		return err
	}
	l.close()
	return checkMetricsAddr(cfg)
}

func checkExportDirs(cfg *config.Config) error {
	for _, e := range cfg.Exports {
		if _, ceph := e.CephPath(); ceph {
			continue
		}
		fi, err := os.Stat(e.Path)
		if err != nil {
			return fmt.Errorf("export %s: %w", e.Pseudo, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("export %s: %s is not a directory", e.Pseudo, e.Path)
		}
		if euid() != 0 {
			// localfs opens files by handle (open_by_handle_at), which
			// needs CAP_DAC_READ_SEARCH, and switches identities per
			// request; without root it fails deep inside with a message
			// about handle keys.
			return fmt.Errorf("export %s: the local-directory backend needs root (it opens files with open_by_handle_at and acts as each caller); run nfsgw as root, or export a CephFS path (ceph:/PATH)", e.Pseudo)
		}
	}
	return nil
}

// listeners are the gateway's bound sockets, before they are served.
type listeners struct {
	nfs   []net.Listener
	admin net.Listener // nil: no admin API
}

func (l *listeners) close() {
	for _, n := range l.nfs {
		n.Close()
	}
	if l.admin != nil {
		l.admin.Close()
	}
}

// bindListeners binds the NFS addresses and the admin API. Failures are
// startErrors: an address in use or a bad certificate is configuration.
func bindListeners(cfg *config.Config) (*listeners, error) {
	l := &listeners{}
	for _, addr := range cfg.Listen {
		n, err := net.Listen("tcp", addr)
		if err != nil {
			l.close()
			return nil, &startError{err} // names the address already
		}
		l.nfs = append(l.nfs, n)
	}
	if cfg.Admin == admin.Disabled {
		return l, nil
	}
	a, err := admin.ParseAddr(cfg.Admin)
	if err != nil {
		l.close()
		return nil, &startError{err}
	}
	var tc *tls.Config
	if cfg.AdminTLS.Enabled() {
		if tc, err = admin.ServerTLS(cfg.AdminTLS.Cert, cfg.AdminTLS.Key, cfg.AdminTLS.ClientCA); err != nil {
			l.close()
			return nil, &startError{fmt.Errorf("admin API: %w", err)}
		}
	}
	if l.admin, err = admin.Listen(context.Background(), a, tc); err != nil {
		l.close()
		return nil, &startError{fmt.Errorf("admin API: %w", err)} // names the address already
	}
	return l, nil
}

// euid is the effective user id; tests replace it to check the non-root
// refusal while running as root.
var euid = os.Geteuid
