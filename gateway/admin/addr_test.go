package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUnixSocket: the admin API on a unix socket is usable by its owner
// only (mode 0600), a dead gateway's socket file is replaced, and a live
// one is not taken over.
func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "admin.sock")
	addr := "unix:" + path

	// A socket file nobody listens on, as a killed gateway leaves it.
	if err := os.MkdirAll(filepath.Dir(path), 0700); err != nil {
		t.Fatal(err)
	}
	dead, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	dead.(*net.UnixListener).SetUnlinkOnClose(false)
	dead.Close()

	stop, _, err := Serve(context.Background(), addr, newFake(), nil)
	if err != nil {
		t.Fatalf("serving over a stale socket file: %v", err)
	}
	defer stop()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0600 {
		t.Fatalf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	c, err := Dial(ctxT(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st, err := c.Status(ctxT(t)); err != nil || st.NodeID != "node-a" {
		t.Fatalf("status over the socket: %+v %v", st, err)
	}

	_, _, err = Serve(context.Background(), addr, newFake(), nil)
	if err == nil || !strings.Contains(err.Error(), "in use by another running nfsgw") {
		t.Fatalf("second server on a live socket: %v", err)
	}
	if strings.Count(err.Error(), "admin API") > 0 {
		t.Errorf("Serve's error %q carries an admin API prefix; callers add theirs", err)
	}
}

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]Addr{
		"unix:/run/x.sock": {"unix", "/run/x.sock"},
		"/run/x.sock":      {"unix", "/run/x.sock"},
		"127.0.0.1:2050":   {"tcp", "127.0.0.1:2050"},
		"[::1]:2050":       {"tcp", "[::1]:2050"},
	} {
		if got, err := ParseAddr(in); err != nil || got != want {
			t.Errorf("ParseAddr(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"unix:", "localhost", "2050"} {
		if _, err := ParseAddr(bad); err == nil {
			t.Errorf("ParseAddr(%q) accepted", bad)
		}
	}
	for in, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true,
		"0.0.0.0:1": false, ":1": false, "10.0.0.1:1": false, "example.com:1": false} {
		a, _ := ParseAddr(in)
		if a.Loopback() != want {
			t.Errorf("%s: loopback %v, want %v", in, !want, want)
		}
	}
}

// pki is a throwaway CA with a server and a client certificate, in files.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	otherCert, otherKey                                  string // signed by another CA
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	mkCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, k, der
	}
	leaf := func(ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage) (string, string) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kd)
	}
	ca, caKey, caDER := mkCA("ca")
	other, otherKey, _ := mkCA("other-ca")
	var p pki
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	p.serverCert, p.serverKey = leaf(ca, caKey, "server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf(ca, caKey, "client", x509.ExtKeyUsageClientAuth)
	p.otherCert, p.otherKey = leaf(other, otherKey, "intruder", x509.ExtKeyUsageClientAuth)
	return p
}

// TestMutualTLS: a TCP admin API with TLS answers a client whose
// certificate the configured CA signed, and nobody else: neither a
// plaintext client nor one with a certificate from another CA.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	stc, err := ServerTLS(p.serverCert, p.serverKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ParseAddr("127.0.0.1:0")
	l, err := Listen(context.Background(), a, stc)
	if err != nil {
		t.Fatal(err)
	}
	stop := ServeListener(context.Background(), l, newFake(), nil)
	defer stop()
	addr := l.Addr().String()

	ctc, err := ClientTLS(p.clientCert, p.clientKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := DialTLS(ctxT(t), addr, ctc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st, err := c.Status(ctxT(t)); err != nil || st.NodeID != "node-a" {
		t.Fatalf("status with a client certificate: %+v %v", st, err)
	}

	refused := func(name string, tc *tls.Config) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := DialTLS(ctx, addr, tc)
		if err == nil {
			// TLS 1.3 clients finish their side of the handshake before
			// the server checks their certificate: the call fails.
			_, err = c.Status(ctx)
			c.Close()
		}
		if err == nil {
			t.Errorf("%s: admin API answered", name)
		}
	}
	refused("plaintext", nil)
	noCert := &tls.Config{RootCAs: ctc.RootCAs, MinVersion: tls.VersionTLS13}
	refused("TLS without a client certificate", noCert)
	intruder, err := ClientTLS(p.otherCert, p.otherKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	refused("client certificate of another CA", intruder)

	if _, err := ServerTLS(p.serverCert, p.serverKey, ""); err == nil {
		t.Error("ServerTLS without a client CA accepted")
	}
}
