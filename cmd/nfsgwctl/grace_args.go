package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"nfsgw/grace"
)

// graceCmd is a parsed "grace ..." command line. The grace commands talk
// to RADOS directly, not to a gateway: they work while every gateway is
// down, which is when an operator needs them most.
type graceCmd struct {
	op      string
	nodes   []string
	conf    string
	user    string
	keyring string
	pool    string
	ns      string
	oid     string
	verbose bool // dump -v
	force   bool // remove --force
}

// graceOps are the subcommands, named and meaning what they mean for
// Ganesha's ganesha-rados-grace.
var graceOps = []string{"dump", "add", "remove", "start", "join", "lift", "enforce", "noenforce", "member"}

const graceUsage = `usage: nfsgwctl grace [flags] dump|add|remove|start|join|lift|enforce|noenforce|member [NODE...]

The cluster's grace database in RADOS, in NFS-Ganesha's rados_cluster format
(ganesha-rados-grace works on the same object):
  dump [-v]           print it as ganesha-rados-grace does; -v adds each
                      member's liveness (lock holder) and record count
  add NODE...         make nodes members (enforcing); creates pool and object
  remove NODE...      take nodes out; a live node needs --force
  start NODE...       the nodes need grace; starts a grace period if none runs
  join NODE...        the nodes need grace, if a grace period is running
  lift NODE...        the nodes are done reclaiming; the last one ends grace
  enforce NODE...     mark nodes as refusing new state
  noenforce NODE...   let nodes grant new state again (not during grace)
  member NODE...      exit 0 if all are members, 1 if not
Refusals (lift or remove while a member does not enforce, noenforce during
grace) exit 1 with the reason; bad usage exits 2.

Flags:
`

func defaultCephConf() string {
	if c := os.Getenv("CEPH_CONF"); c != "" {
		return c
	}
	return "/etc/ceph/ceph.conf"
}

func parseGraceArgs(args []string, stderr io.Writer) (*graceCmd, error) {
	g := &graceCmd{}
	fl := flag.NewFlagSet("nfsgwctl grace", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&g.conf, "ceph-conf", defaultCephConf(), "ceph.conf (default: $CEPH_CONF, else /etc/ceph/ceph.conf)")
	fl.StringVar(&g.user, "ceph-user", "admin", "cephx user, without \"client.\"")
	fl.StringVar(&g.keyring, "ceph-keyring", "", "keyring (default: what ceph.conf says)")
	fl.StringVar(&g.pool, "pool", "nfsgw", "RADOS pool")
	fl.StringVar(&g.ns, "ns", "", "RADOS namespace")
	fl.StringVar(&g.oid, "oid", "grace", "grace object name")
	fl.BoolVar(&g.verbose, "v", false, "dump: add liveness and record counts")
	fl.BoolVar(&g.force, "force", false, "remove: even nodes whose liveness lock is held")
	fl.Usage = func() {
		fmt.Fprint(fl.Output(), graceUsage)
		fl.PrintDefaults()
	}
	// Flags may come anywhere: "grace dump -v" and "grace -v dump".
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		rest := fl.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) == 0 {
		pos = []string{"dump"} // as ganesha-rados-grace
	}
	g.op, g.nodes = pos[0], pos[1:]
	if !slices.Contains(graceOps, g.op) {
		return nil, &usageError{fmt.Sprintf("grace: unknown command %q (want %s)", g.op, strings.Join(graceOps, ", "))}
	}
	switch {
	case g.op == "dump" && len(g.nodes) > 0:
		return nil, &usageError{"grace dump takes no nodes"}
	case g.op != "dump" && len(g.nodes) == 0:
		return nil, &usageError{fmt.Sprintf("usage: nfsgwctl grace %s NODE...", g.op)}
	case g.verbose && g.op != "dump":
		return nil, &usageError{"-v is for grace dump"}
	case g.force && g.op != "remove":
		return nil, &usageError{"--force is for grace remove"}
	case g.pool == "" || g.oid == "":
		return nil, &usageError{"grace: --pool and --oid must not be empty"}
	}
	for _, n := range g.nodes {
		// Only new members must be valid node ids; a database written by
		// Ganesha may hold other names, and they must stay reachable.
		if g.op == "add" {
			if err := grace.ValidNodeID(n); err != nil {
				return nil, &usageError{err.Error()}
			}
		} else if n == "" {
			return nil, &usageError{"grace: empty node id"}
		}
	}
	return g, nil
}
