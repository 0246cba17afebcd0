//go:build !noceph

package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ceph/go-ceph/rados"

	"nfsgw/gateway/config"
	"nfsgw/gateway/exportdb"
	"nfsgw/internal/radosconn"
)

// maxObject bounds a configuration object read for %url.
const maxObject = 16 << 20

// radosFetcher reads %url rados://POOL/[NAMESPACE/]OBJECT includes (how
// cephadm, ceph-mgr's nfs module and Rook keep Ganesha's exports),
// connecting on first use.
type radosFetcher struct {
	conf, user, keyring string
	timeout             time.Duration
	conn                *rados.Conn
}

func (f *radosFetcher) fetch(url string) ([]byte, error) {
	rest, ok := strings.CutPrefix(url, "rados://")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("want rados://POOL/NAMESPACE/OBJECT or rados://POOL/OBJECT")
	}
	pool, ns, obj := parts[0], "", parts[len(parts)-1]
	if len(parts) == 3 {
		ns = parts[1]
	}
	if f.conn == nil {
		c, err := radosconn.Connect(radosconn.Options{ConfPath: f.conf, User: f.user, Keyring: f.keyring, Timeout: f.timeout})
		if err != nil {
			return nil, err
		}
		f.conn = c
	}
	io, err := f.conn.OpenIOContext(pool)
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", pool, err)
	}
	defer io.Destroy()
	io.SetNamespace(ns)
	st, err := io.Stat(obj)
	if err != nil {
		return nil, err
	}
	if st.Size > maxObject {
		return nil, fmt.Errorf("object of %d bytes (at most %d)", st.Size, maxObject)
	}
	buf := make([]byte, st.Size)
	for off := 0; off < len(buf); {
		n, err := io.Read(obj, buf[off:], uint64(off))
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return buf[:off], nil
		}
		off += n
	}
	return buf, nil
}

func (f *radosFetcher) close() {
	if f.conn != nil {
		f.conn.Shutdown()
	}
}

// importToRADOS adds the imported exports to the cluster's export table in
// one version-asserted update (all or none: an id or pseudo path already
// there refuses the whole import), so every gateway applies them at once.
func importToRADOS(c *importCmd, list []config.Export, timeout time.Duration) (string, error) {
	conn, err := radosconn.Connect(radosconn.Options{ConfPath: c.conf, User: c.user, Keyring: c.keyring, Timeout: timeout})
	if err != nil {
		return "", err
	}
	defer conn.Shutdown()
	ioctx, err := openPool(conn, c.pool, true)
	if err != nil {
		return "", err
	}
	defer ioctx.Destroy()
	ioctx.SetNamespace(c.ns)
	st, err := exportdb.Open(conn, ioctx, c.oid)
	if err != nil {
		return "", err
	}
	defer st.Close()
	defer st.NotifyWait()
	ctx, cancel := context.WithTimeout(context.Background(), max(timeout, 30*time.Second))
	defer cancel()
	if _, err := st.Create(ctx); err != nil {
		return "", err
	}
	_, err = st.Update(ctx, exportdb.Func{Name: fmt.Sprintf("import %d exports", len(list)), F: func(cur []config.Export) ([]config.Export, error) {
		return append(append([]config.Export(nil), cur...), list...), nil
	}})
	if err != nil {
		return "", err
	}
	return st.Where(), nil
}
