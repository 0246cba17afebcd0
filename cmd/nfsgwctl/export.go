package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"nfsgw/gateway/admin"
)

// exportCmd is a parsed "export add|remove" command line.
type exportCmd struct {
	op  string // "add" or "remove"
	cfg admin.ExportConfig
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

func parseExportArgs(args []string, stderr io.Writer) (*exportCmd, error) {
	if len(args) == 0 || (args[0] != "add" && args[0] != "remove") {
		return nil, &usageError{"usage: nfsgwctl export add|remove --id N ..."}
	}
	e := &exportCmd{op: args[0]}
	fl := flag.NewFlagSet("nfsgwctl export "+e.op, flag.ContinueOnError)
	fl.SetOutput(stderr)
	var id uint
	var clients stringsFlag
	fl.UintVar(&id, "id", 0, "export id, 1..65535 (carried in file handles: keep it stable)")
	if e.op == "add" {
		fl.StringVar(&e.cfg.Pseudo, "pseudo", "", "pseudo path clients mount, e.g. /projects/a")
		fl.StringVar(&e.cfg.Path, "path", "", "directory to export, or ceph:/PATH")
		fl.StringVar(&e.cfg.Access, "access", "rw", "rw or ro")
		fl.StringVar(&e.cfg.Squash, "squash", "root", "root, none or all")
		fl.Var(&clients, "client", "network allowed to mount (address or CIDR; repeatable; default all)")
		fl.Var(optUint32{&e.cfg.AnonUID}, "anon-uid", "uid of squashed callers (default 65534)")
		fl.Var(optUint32{&e.cfg.AnonGID}, "anon-gid", "gid of squashed callers (default 65534)")
	}
	if err := fl.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 {
		return nil, &usageError{fmt.Sprintf("export %s: unexpected arguments %q", e.op, fl.Args())}
	}
	if id < 1 || id > 65535 {
		return nil, &usageError{fmt.Sprintf("export %s: --id must be 1..65535", e.op)}
	}
	e.cfg.ID = uint16(id)
	e.cfg.Clients = clients
	if e.op == "add" && (e.cfg.Pseudo == "" || e.cfg.Path == "") {
		return nil, &usageError{"export add: --pseudo and --path are required"}
	}
	return e, nil
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
