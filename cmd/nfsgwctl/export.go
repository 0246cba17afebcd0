package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"nfsgw/gateway/admin"
)

// exportCmd is a parsed "export add|remove|update|list|init" command line.
// With --pool it works on the cluster's export table in RADOS (every
// gateway of the cluster follows it); without, add and remove go to one
// gateway's admin API.
type exportCmd struct {
	op  string // "add", "remove", "update", "list" or "init"
	cfg admin.ExportConfig

	// RADOS (--pool given).
	rados   bool
	conf    string
	user    string
	keyring string
	pool    string
	ns      string
	oid     string
	cephFS  string          // the export's ceph_fs
	set     map[string]bool // flags given (update changes only those)
	noCheck bool            // --no-dir-check
}

type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// optUint32 is a flag that records whether it was given.
type optUint32 struct{ v **uint32 }

func (o optUint32) String() string {
	if o.v == nil || *o.v == nil {
		return ""
	}
	return fmt.Sprint(**o.v)
}

func (o optUint32) Set(s string) error {
	var n uint32
	if _, err := fmt.Sscan(s, &n); err != nil {
		return fmt.Errorf("not a number: %q", s)
	}
	*o.v = &n
	return nil
}

var exportOps = []string{"add", "remove", "update", "list", "init"}

func parseExportArgs(args []string, stderr io.Writer) (*exportCmd, error) {
	if len(args) == 0 || !slices.Contains(exportOps, args[0]) {
		return nil, &usageError{"usage: nfsgwctl export add|remove|update|list|init [--pool P [--ns N]] --id N ..."}
	}
	e := &exportCmd{op: args[0], set: map[string]bool{}}
	fl := flag.NewFlagSet("nfsgwctl export "+e.op, flag.ContinueOnError)
	fl.SetOutput(stderr)
	var id uint
	var clients stringsFlag
	if e.op != "list" && e.op != "init" {
		fl.UintVar(&id, "id", 0, "export id, 1..65535 (carried in file handles: keep it stable)")
	}
	if e.op == "add" || e.op == "update" {
		fl.StringVar(&e.cfg.Pseudo, "pseudo", "", "pseudo path clients mount, e.g. /projects/a")
		fl.StringVar(&e.cfg.Path, "path", "", "directory to export, or ceph:/PATH")
		fl.StringVar(&e.cfg.Access, "access", "rw", "rw or ro")
		fl.StringVar(&e.cfg.Squash, "squash", "root", "root, none or all")
		fl.Var(&clients, "client", "network allowed to mount (address or CIDR; repeatable; default all)")
		fl.Var(optUint32{&e.cfg.AnonUID}, "anon-uid", "uid of squashed callers (default 65534)")
		fl.Var(optUint32{&e.cfg.AnonGID}, "anon-gid", "gid of squashed callers (default 65534)")
		fl.StringVar(&e.cephFS, "ceph-fs", "", "RADOS table: the export's CephFS filesystem (default: the cluster's default)")
		fl.BoolVar(&e.noCheck, "no-dir-check", false, "RADOS table: do not check that the directory exists on CephFS")
	}
	fl.StringVar(&e.pool, "pool", "", "RADOS pool of the cluster's export table (cluster mode); without it, the gateway's admin API")
	fl.StringVar(&e.ns, "ns", "", "RADOS namespace")
	fl.StringVar(&e.oid, "oid", "nfsgw.exports", "export table object name")
	fl.StringVar(&e.conf, "ceph-conf", defaultCephConf(), "ceph.conf (default: $CEPH_CONF, else /etc/ceph/ceph.conf)")
	fl.StringVar(&e.user, "ceph-user", "admin", "cephx user, without \"client.\"")
	fl.StringVar(&e.keyring, "ceph-keyring", "", "keyring (default: what ceph.conf says)")
	if err := fl.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 {
		return nil, &usageError{fmt.Sprintf("export %s: unexpected arguments %q", e.op, fl.Args())}
	}
	fl.Visit(func(f *flag.Flag) { e.set[f.Name] = true })
	e.rados = e.pool != ""
	switch {
	case !e.rados && (e.op == "update" || e.op == "list" || e.op == "init"):
		return nil, &usageError{fmt.Sprintf("export %s works on the cluster's export table in RADOS: give --pool (and --ns)", e.op)}
	case !e.rados && (e.set["ns"] || e.set["oid"] || e.set["ceph-fs"] || e.set["no-dir-check"]):
		return nil, &usageError{fmt.Sprintf("export %s: --ns, --oid, --ceph-fs and --no-dir-check are for the RADOS table (--pool)", e.op)}
	case e.rados && e.oid == "":
		return nil, &usageError{"export: --oid must not be empty"}
	}
	if e.op == "list" || e.op == "init" {
		return e, nil
	}
	if id < 1 || id > 65535 {
		return nil, &usageError{fmt.Sprintf("export %s: --id must be 1..65535", e.op)}
	}
	e.cfg.ID = uint16(id)
	e.cfg.Clients = clients
	if e.op == "add" && (e.cfg.Pseudo == "" || e.cfg.Path == "") {
		return nil, &usageError{"export add: --pseudo and --path are required"}
	}
	if e.op == "update" && len(e.set) == len(radosOnlyFlags(e.set))+1 {
		return nil, &usageError{"export update: nothing to change (give --pseudo, --path, --access, ...)"}
	}
	return e, nil
}

// radosOnlyFlags are the given flags that say where the table is, not what
// an export is.
func radosOnlyFlags(set map[string]bool) []string {
	var out []string
	for _, f := range []string{"pool", "ns", "oid", "ceph-conf", "ceph-user", "ceph-keyring", "no-dir-check"} {
		if set[f] {
			out = append(out, f)
		}
	}
	return out
}

func runExport(ctx context.Context, c *admin.Client, o *options, w io.Writer) error {
	e := o.export
	if e.op == "remove" {
		if err := c.RemoveExport(ctx, e.cfg.ID); err != nil {
			return err
		}
		if o.json {
			return writeJSON(w, struct {
				Removed uint16 `json:"removed"`
			}{e.cfg.ID})
		}
		_, err := fmt.Fprintf(w, "removed export %d\n", e.cfg.ID)
		return err
	}
	info, err := c.AddExport(ctx, e.cfg)
	if err != nil {
		return err
	}
	if o.json {
		info.Clients = nonNil(info.Clients)
		return writeJSON(w, info)
	}
	_, err = fmt.Fprintf(w, "added export %d: %s -> %s (%s, squash %s)\n", info.ID, info.Pseudo, info.Path, info.Access, info.Squash)
	return err
}
