//go:build !noceph

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ceph/go-ceph/rados"

	"nfsgw/grace"
	"nfsgw/grace/radosdb"
	"nfsgw/internal/radosconn"
	"nfsgw/recovery/radosstore"
)

// countRecords returns how many clients node's recovery records hold and
// in which epochs, for dump -v (a variable so that tests can replace it).
var countRecords = radosstore.Count

// runGrace runs a grace subcommand and returns the exit status.
func runGrace(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	g := o.grace
	fail := func(err error) int {
		fmt.Fprintf(stderr, "nfsgwctl: grace %s: %v\n", g.op, err)
		return exitFail
	}
	conn, err := radosconn.Connect(radosconn.Options{ConfPath: g.conf, User: g.user, Keyring: g.keyring, Timeout: o.timeout})
	if err != nil {
		return fail(err)
	}
	defer conn.Shutdown()
	ioctx, err := openPool(conn, g.pool, g.op == "add")
	if err != nil {
		return fail(err)
	}
	defer ioctx.Destroy()
	ioctx.SetNamespace(g.ns)
	db, err := radosdb.Open(conn, ioctx, g.oid)
	if err != nil {
		return fail(err)
	}
	defer db.Close()

	switch g.op {
	case "dump":
		d, err := db.Read(ctx)
		if err != nil {
			return fail(err)
		}
		io.WriteString(stdout, d.Dump())
		if g.verbose {
			if err := dumpLiveness(ctx, db, d, stdout); err != nil {
				return fail(err)
			}
		}
		return exitOK
	case "member":
		d, err := db.Read(ctx)
		if err != nil {
			return fail(err)
		}
		var missing []string
		for _, n := range g.nodes {
			if _, ok := d.Members[n]; !ok {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return fail(fmt.Errorf("not a member: %s", quoteAll(missing)))
		}
		return exitOK
	case "add":
		if _, err := db.Create(ctx); err != nil {
			return fail(err)
		}
	case "remove":
		if !g.force {
			for _, n := range g.nodes {
				alive, h, err := db.Liveness(ctx, n)
				if err != nil {
					return fail(err)
				}
				if alive {
					return fail(fmt.Errorf("%s is alive (liveness lock held by %s): stop it first, or use --force", n, h))
				}
			}
		}
	}
	if _, err := db.Update(ctx, graceMutation(g)); err != nil {
		return fail(err)
	}
	return exitOK
}

// graceMutation is what a changing subcommand does, as one all-or-nothing
// change of the database.
func graceMutation(g *graceCmd) grace.Mutation {
	switch g.op {
	case "add":
		return grace.Add{Nodes: g.nodes}
	case "remove":
		return grace.Remove{Nodes: g.nodes}
	case "start":
		return grace.Start{Nodes: g.nodes}
	}
	s := make(grace.Seq, len(g.nodes))
	for i, n := range g.nodes {
		switch g.op {
		case "join":
			s[i] = grace.Join{Node: n, OnlyInGrace: true}
		case "lift":
			s[i] = grace.Lift{Node: n}
		case "enforce":
			s[i] = grace.Enforce{Node: n}
		case "noenforce":
			s[i] = grace.Unenforce{Node: n}
		}
	}
	return s
}

// openPool opens the pool, creating it first for add (as Ganesha's tool
// does); for anything else a missing pool means there is no database.
func openPool(conn *rados.Conn, pool string, create bool) (*rados.IOContext, error) {
	ioctx, err := conn.OpenIOContext(pool)
	if err == nil {
		return ioctx, nil
	}
	if !errors.Is(err, rados.ErrNotFound) {
		return nil, fmt.Errorf("open pool %s: %w", pool, err)
	}
	if !create {
		return nil, fmt.Errorf("pool %s does not exist: %w", pool, radosdb.ErrNoDB)
	}
	if err := conn.MakePool(pool); err != nil && !errors.Is(err, rados.ErrObjectExists) {
		return nil, fmt.Errorf("create pool %s: %w", pool, err)
	}
	ioctx, err = conn.OpenIOContext(pool)
	if err != nil {
		return nil, fmt.Errorf("open pool %s: %w", pool, err)
	}
	return ioctx, nil
}

// dumpLiveness is dump -v's table: each member, whether an instance holds
// its liveness lock now, which, and how many client records it has.
func dumpLiveness(ctx context.Context, db *radosdb.DB, d grace.DB, w io.Writer) error {
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "MEMBER\tLIVENESS\tHOLDER\tRECORDS")
	for _, n := range slices.Sorted(maps.Keys(d.Members)) {
		alive, h, err := db.Liveness(ctx, n)
		live, holder := "dead", "-"
		switch {
		case err != nil:
			live = "unknown: " + err.Error()
		case alive:
			live, holder = "alive", h.String()
		}
		records := "-"
		if countRecords != nil {
			if c, epochs, err := countRecords(ctx, db.IOContext(), n); err != nil {
				records = "error: " + err.Error()
			} else {
				records = strconv.Itoa(c)
				if len(epochs) > 0 {
					records += fmt.Sprintf(" (epochs %s)", joinEpochs(epochs))
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(n), cell(live), cell(holder), cell(records))
	}
	return tw.Flush()
}

func joinEpochs(e []uint64) string {
	s := make([]string, len(e))
	for i, v := range e {
		s[i] = strconv.FormatUint(v, 10)
	}
	return strings.Join(s, ",")
}

func quoteAll(s []string) string {
	out := ""
	for i, n := range s {
		if i > 0 {
			out += ", "
		}
		out += strconv.Quote(n)
	}
	return out
}
