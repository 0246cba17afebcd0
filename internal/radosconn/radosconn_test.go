//go:build !noceph

package radosconn

import "testing"

func TestConnectAndNamespace(t *testing.T) {
	_, ioctx, ns := TestIOContext(t)
	if ns == "" {
		t.Fatal("no namespace")
	}
	if err := ioctx.WriteFull("probe", []byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	n, err := ioctx.Read("probe", b, 0)
	if err != nil || string(b[:n]) != "x" {
		t.Fatalf("read back %q, %v", b[:n], err)
	}
	if err := ioctx.Delete("probe"); err != nil {
		t.Fatal(err)
	}
}

func TestConnectBadConf(t *testing.T) {
	if _, err := Connect(Options{ConfPath: "/nonexistent/ceph.conf"}); err == nil {
		t.Fatal("connected with a missing ceph.conf")
	}
}
