//go:build !noceph

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"nfsgw/cephfsal"
	"nfsgw/gateway/config"
	"nfsgw/gateway/exportdb"
	"nfsgw/internal/radosconn"
)

// checkCephDir checks that a CephFS export's directory exists, with a
// mount of its own (a variable so that tests can replace it).
var checkCephDir = func(e *exportCmd, ec config.Export, timeout time.Duration) error {
	p, _ := ec.CephPath()
	user := e.user
	if ec.CephUser != "" {
		user = ec.CephUser
	}
	keyring := e.keyring
	if ec.CephKeyring != "" {
		keyring = ec.CephKeyring
	}
	m, err := cephfsal.NewMount(cephfsal.MountOptions{ConfPath: e.conf, User: user, Keyring: keyring, FSName: ec.CephFS,
		MountTimeout: max(time.Second, timeout)})
	if err != nil {
		return fmt.Errorf("checking the directory: %w", err)
	}
	defer m.Close()
	if _, err := m.Export(p, true); err != nil {
		return fmt.Errorf("%w: directory %s on CephFS: %v", exportdb.ErrRefused, p, err)
	}
	return nil
}

// runExportRADOS runs an export subcommand on the cluster's export table
// in RADOS and returns the exit status.
func runExportRADOS(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	e := o.export
	fail := func(err error) int {
		fmt.Fprintf(stderr, "nfsgwctl: export %s: %v\n", e.op, err)
		return exitFail
	}
	conn, err := radosconn.Connect(radosconn.Options{ConfPath: e.conf, User: e.user, Keyring: e.keyring, Timeout: o.timeout})
	if err != nil {
		return fail(err)
	}
	defer conn.Shutdown()
	ioctx, err := openPool(conn, e.pool, e.op == "init" || e.op == "add")
	if err != nil {
		return fail(err)
	}
	defer ioctx.Destroy()
	ioctx.SetNamespace(e.ns)
	st, err := exportdb.Open(conn, ioctx, e.oid)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	// The notify of a write must go out before the process exits.
	defer st.NotifyWait()

	switch e.op {
	case "list":
		t, err := st.Read(ctx)
		if err != nil {
			return fail(err)
		}
		if o.json {
			if err := writeJSON(stdout, struct {
				Version    uint64          `json:"version"`
				Generation uint64          `json:"generation"`
				Exports    []config.Export `json:"exports"`
			}{t.Version, t.Gen, nonNil(t.Exports)}); err != nil {
				return fail(err)
			}
			return exitOK
		}
		if err := printTable(stdout, t); err != nil {
			return fail(err)
		}
		return exitOK
	case "init":
		created, err := st.Create(ctx)
		if err != nil {
			return fail(err)
		}
		if created {
			fmt.Fprintf(stdout, "created an empty export table: %s\n", st.Where())
		} else {
			fmt.Fprintf(stdout, "export table exists: %s\n", st.Where())
		}
		return exitOK
	}

	var m exportdb.Mutation
	var checked config.Export
	switch e.op {
	case "add":
		ec := e.export()
		if !e.noCheck {
			if err := checkCeph(e, ec, o.timeout); err != nil {
				return fail(err)
			}
		}
		m = exportdb.Add{Export: ec}
	case "remove":
		m = exportdb.Remove{ID: int(e.cfg.ID)}
	case "update":
		m = exportdb.Func{Name: fmt.Sprintf("update export %d", e.cfg.ID), F: func(cur []config.Export) ([]config.Export, error) {
			for _, c := range cur {
				if c.ID != int(e.cfg.ID) {
					continue
				}
				ec := e.merge(c)
				// The directory is checked once per path; a retry after a
				// conflict does not mount again.
				if !e.noCheck && ec.Path != c.Path && (checked.Path != ec.Path || checked.CephFS != ec.CephFS) {
					if err := checkCeph(e, ec, o.timeout); err != nil {
						return nil, err
					}
					checked = ec
				}
				return exportdb.Update{Export: ec}.Apply(cur)
			}
			return nil, fmt.Errorf("export id %d: %w", e.cfg.ID, exportdb.ErrNotFound)
		}}
	}
	t, err := st.Update(ctx, m)
	if err != nil {
		return fail(err)
	}
	if o.json {
		var out any = struct {
			Removed uint16 `json:"removed"`
			Version uint64 `json:"version"`
		}{e.cfg.ID, t.Version}
		if ec := t.ByID(int(e.cfg.ID)); ec != nil && e.op != "remove" {
			out = struct {
				config.Export
				Version uint64 `json:"version"`
			}{*ec, t.Version}
		}
		if err := writeJSON(stdout, out); err != nil {
			return fail(err)
		}
		return exitOK
	}
	if e.op == "remove" {
		fmt.Fprintf(stdout, "removed export %d (table generation %d)\n", e.cfg.ID, t.Gen)
		return exitOK
	}
	ec := t.ByID(int(e.cfg.ID))
	fmt.Fprintf(stdout, "%s export %d: %s -> %s (%s, squash %s; table generation %d)\n", map[string]string{"add": "added", "update": "updated"}[e.op],
		ec.ID, ec.Pseudo, ec.Path, ec.Access, squashName(ec.Squash), t.Gen)
	return exitOK
}

// checkCeph refuses an export not on CephFS (the table is for every
// gateway), then checks its directory.
func checkCeph(e *exportCmd, ec config.Export, timeout time.Duration) error {
	if _, ok := ec.CephPath(); !ok {
		return fmt.Errorf("%w: path %q is not on CephFS (ceph:/PATH): every gateway of the cluster serves it", exportdb.ErrRefused, ec.Path)
	}
	return checkCephDir(e, ec, timeout)
}

// export is the export the flags of add describe.
func (e *exportCmd) export() config.Export {
	return config.Export{ID: int(e.cfg.ID), Pseudo: e.cfg.Pseudo, Path: e.cfg.Path, Access: e.cfg.Access, Squash: e.cfg.Squash,
		Clients: e.cfg.Clients, AnonUID: e.cfg.AnonUID, AnonGID: e.cfg.AnonGID, CephFS: e.cephFS}
}

// merge is c with the flags given to update applied.
func (e *exportCmd) merge(c config.Export) config.Export {
	n := e.export()
	if e.set["pseudo"] {
		c.Pseudo = n.Pseudo
	}
	if e.set["path"] {
		c.Path = n.Path
	}
	if e.set["access"] {
		c.Access = n.Access
	}
	if e.set["squash"] {
		c.Squash = n.Squash
	}
	if e.set["client"] {
		c.Clients = n.Clients
	}
	if e.set["anon-uid"] {
		c.AnonUID = n.AnonUID
	}
	if e.set["anon-gid"] {
		c.AnonGID = n.AnonGID
	}
	if e.set["ceph-fs"] {
		c.CephFS = n.CephFS
	}
	return c
}

func squashName(s string) string {
	if s == "" {
		return "root"
	}
	return s
}

// printTable writes the table as nfsgwctl exports does, with its version.
func printTable(w io.Writer, t exportdb.Table) error {
	fmt.Fprintf(w, "generation %d, object version %d, %d exports\n", t.Gen, t.Version, len(t.Exports))
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tPSEUDO\tPATH\tACCESS\tSQUASH\tCLIENTS")
	for _, e := range t.Exports {
		clients := "*"
		if len(e.Clients) > 0 {
			clients = strings.Join(e.Clients, ",")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, cell(e.Pseudo), cell(e.Path), cell(e.Access), cell(squashName(e.Squash)), cell(clients))
	}
	return tw.Flush()
}
