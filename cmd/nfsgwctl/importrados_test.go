//go:build !noceph

package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"nfsgw/gateway/exportdb"
	"nfsgw/internal/radosconn"
)

// TestImportGaneshaIntoRADOS: --pool adds the imported exports to the
// cluster's export table in one update; importing the same ids again is
// refused whole and changes nothing.
func TestImportGaneshaIntoRADOS(t *testing.T) {
	conn, ioctx, ns := radosconn.TestIOContext(t)
	pool, _ := ioctx.GetPoolName()
	args := []string{"import-ganesha", "--ceph-conf", os.Getenv("CEPH_CONF"), "--pool", pool, "--ns", ns, ganeshaTestdata + "mixed/ganesha.conf"}
	code, out, errs := ctl(t, args...)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "imported 3 export(s) into object nfsgw.exports") {
		t.Errorf("stderr:\n%s", errs)
	}
	st, err := exportdb.Open(conn, ioctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tbl, err := st.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, e := range tbl.Exports {
		ids = append(ids, e.ID)
	}
	if len(ids) != 3 || ids[0] != 10 || ids[1] != 11 || ids[2] != 20 {
		t.Fatalf("table holds %v, want Ganesha's ids 10 11 20", ids)
	}
	if code, _, errs := ctl(t, args...); code != exitFail || !strings.Contains(errs, "10") {
		t.Fatalf("a second import: exit %d\n%s", code, errs)
	}
	again, _ := st.Read(context.Background())
	if again.Version != tbl.Version || len(again.Exports) != 3 {
		t.Fatalf("a refused import changed the table: version %d → %d, %d exports", tbl.Version, again.Version, len(again.Exports))
	}
}
