// Command nfsgwctl is the operator's client for a running nfsgw gateway's
// admin API:
//
//	nfsgwctl [--addr unix:/run/nfsgw/admin.sock] [--tls-cert F --tls-key F --tls-ca F] [--json] [--timeout 5s] status|exports|clients|evict CLIENTID|export add|remove ...
//	nfsgwctl [--timeout 5s] grace [--ceph-conf F --pool P --ns N ...] dump|add|remove|start|join|lift|enforce|noenforce|member [NODE...]
//	nfsgwctl [--json] [--timeout 5s] export add|update|remove|list|init --pool P [--ns N --ceph-conf F ...] ...
//	nfsgwctl import-ganesha [-o OUT] [--keyring-dir DIR] [--strict] GANESHA.CONF
//
// It prints aligned tables, or JSON with --json. The grace commands work on
// the cluster's grace database in RADOS directly, as NFS-Ganesha's
// ganesha-rados-grace does, and need no running gateway; so does export with
// --pool, on the cluster's export table that every gateway follows. Exit status is 0 on
// success, 1 when the gateway cannot be reached or refuses the request, and
// 2 on bad usage.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"nfsgw/gateway/admin"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// defaultAddr is where nfsgw's admin API listens unless told otherwise: a
// unix socket only root may use.
const defaultAddr = admin.DefaultSocket

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// clock is the reference for relative times ("up 2h", "30s ago"); tests
// replace it so that their expected output does not depend on how fast
// they run.
var clock = time.Now

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	addr    string
	tlsCert string
	tlsKey  string
	tlsCA   string
	version bool
	json    bool
	timeout time.Duration
	cmd     string
	args    []string
	export  *exportCmd // the export subcommand
	grace   *graceCmd  // the grace subcommand
	imp     *importCmd // the import-ganesha subcommand
}

const usageText = `usage: nfsgwctl [flags] COMMAND

Commands:
  status            show the gateway's status
  exports           list the exports
  clients           list the NFSv4 clients
  evict CLIENTID    destroy a client and all its state (id in decimal or 0x hex)
  top [-n N] [-bytes]
                    the clients with the highest operation rate (or bytes) over the last
                    10 s, with their busiest operations
  drain             scale-down: stop accepting connections, wait for the clients (or evict
                    them), leave the cluster's grace database, delete the recovery records, exit
  export add --id N --pseudo PATH --path DIR|ceph:/PATH [--access rw|ro] [--squash root|none|all]
             [--client CIDR]... [--anon-uid N] [--anon-gid N]
                    serve one more export, at once (its flags come after "add")
  export remove --id N
                    stop serving an export
  export add|update|remove|list|init --pool P [--ns N] [--oid O] [--ceph-conf F ...] ...
                    the cluster's export table in RADOS, which every gateway of
                    the cluster follows (update changes only the flags given)
  grace [flags] dump|add|remove|start|join|lift|enforce|noenforce|member [NODE...]
                    the cluster's grace database in RADOS (nfsgwctl grace -h)
  import-ganesha [-o OUT] [--keyring-dir DIR] GANESHA.CONF
                    turn NFS-Ganesha's EXPORT blocks into an nfsgw configuration with the
                    same export ids, listing what nfsgw cannot honour (nfsgwctl import-ganesha -h)

Flags:
`

// usageError is a command line mistake; it exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// parseArgs parses the command line. Flags may come before or after the
// command, since "nfsgwctl clients --json" is as natural to type as
// "nfsgwctl --json clients".
func parseArgs(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fl := flag.NewFlagSet("nfsgwctl", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&o.addr, "addr", defaultAddr, "admin API address: unix:PATH or host:port")
	fl.StringVar(&o.tlsCert, "tls-cert", "", "client certificate for a TCP admin API with mutual TLS")
	fl.StringVar(&o.tlsKey, "tls-key", "", "key of --tls-cert")
	fl.StringVar(&o.tlsCA, "tls-ca", "", "CA certificate that signed the gateway's certificate")
	fl.BoolVar(&o.version, "version", false, "print nfsgwctl's version and exit")
	fl.BoolVar(&o.json, "json", false, "print JSON instead of tables")
	fl.DurationVar(&o.timeout, "timeout", 5*time.Second, "give up after this long")
	fl.Usage = func() {
		fmt.Fprint(fl.Output(), usageText)
		fl.PrintDefaults()
	}

	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err // flag has printed the problem and the usage
		}
		rest := fl.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is positional
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
		if len(pos) == 1 && (pos[0] == "export" || pos[0] == "grace" || pos[0] == "import-ganesha" || pos[0] == "top") {
			// These subcommands have flags of their own.
			pos = append(pos, args...)
			break
		}
	}

	if o.version {
		return o, nil
	}
	if o.timeout <= 0 {
		return nil, &usageError{"--timeout must be positive"}
	}
	if len(pos) == 0 {
		return nil, &usageError{"missing command (status, exports, clients, evict, drain, top, export, grace or import-ganesha)"}
	}
	o.cmd, o.args = pos[0], pos[1:]
	want := 0
	switch o.cmd {
	case "status", "exports", "clients", "drain":
	case "top":
		if _, _, err := parseTopArgs(o.args); err != nil {
			return nil, &usageError{err.Error()}
		}
		return o, nil
	case "evict":
		want = 1
	case "export":
		e, err := parseExportArgs(o.args, stderr)
		if err != nil {
			return nil, err
		}
		o.export = e
		return o, nil
	case "grace":
		g, err := parseGraceArgs(o.args, stderr)
		if err != nil {
			return nil, err
		}
		o.grace = g
		return o, nil
	case "import-ganesha":
		c, err := parseImportArgs(o.args, stderr)
		if err != nil {
			return nil, err
		}
		o.imp = c
		return o, nil
	default:
		return nil, &usageError{fmt.Sprintf("unknown command %q (want status, exports, clients, evict, drain, top, export, grace or import-ganesha)", o.cmd)}
	}
	if len(o.args) != want {
		if want == 0 {
			return nil, &usageError{fmt.Sprintf("%s takes no arguments", o.cmd)}
		}
		return nil, &usageError{"usage: nfsgwctl evict CLIENTID"}
	}
	if o.cmd == "evict" {
		if _, err := parseClientID(o.args[0]); err != nil {
			return nil, &usageError{err.Error()}
		}
	}
	return o, nil
}

// parseClientID accepts decimal and 0x-prefixed hex, because the clients
// table prints ids in hex and JSON output carries them in decimal.
func parseClientID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid client id %q (want a decimal or 0x-prefixed hex number)", s)
	}
	return id, nil
}

// run is main without the process: it returns the exit status, so tests
// can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "nfsgwctl: %s\nRun 'nfsgwctl -h' for usage.\n", ue.msg)
		return exitUsage
	}
	if err != nil {
		return exitUsage // a flag error, already reported by the flag package
	}

	if o.version {
		fmt.Fprintln(stdout, "nfsgwctl", version)
		return exitOK
	}

	var tc *tls.Config
	if o.tlsCert != "" || o.tlsKey != "" || o.tlsCA != "" {
		if tc, err = admin.ClientTLS(o.tlsCert, o.tlsKey, o.tlsCA); err != nil {
			fmt.Fprintf(stderr, "nfsgwctl: %v\n", err)
			return exitUsage
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.grace != nil {
		return runGrace(ctx, o, stdout, stderr)
	}
	if o.imp != nil {
		return runImport(o.imp, o.timeout, stdout, stderr)
	}
	if o.export != nil && o.export.rados {
		return runExportRADOS(ctx, o, stdout, stderr)
	}
	c, err := admin.DialTLS(ctx, o.addr, tc)
	if err != nil {
		fmt.Fprintf(stderr, "nfsgwctl: cannot reach nfsgw admin API at %s: %v\n%s", o.addr, err, unreachableHint(o.addr, err))
		return exitFail
	}
	defer c.Close()

	if err := execute(ctx, c, o, stdout, clock()); err != nil {
		fmt.Fprintf(stderr, "nfsgwctl: %s\n", describeError(o, err))
		return exitFail
	}
	return exitOK
}

// unreachableHint says what to do when the admin API cannot be reached:
// the usual causes are a gateway that is not running or serves its admin
// API elsewhere, and a socket only root may use.
func unreachableHint(addr string, err error) string {
	if errors.Is(err, fs.ErrPermission) {
		return "The admin socket is mode 0600: run nfsgwctl as the user nfsgw runs as (root).\n"
	}
	return fmt.Sprintf("Is nfsgw running? It serves its admin API on %s unless started with --admin ADDR (or admin: in its\n"+
		"config file); give nfsgwctl the same address with --addr.\n", defaultAddr)
}

// describeError turns an RPC failure into a message for the operator.
func describeError(o *options, err error) string {
	switch {
	case o.export != nil:
		if st, ok := status.FromError(err); ok {
			return fmt.Sprintf("export %s: %s (%s)", o.export.op, st.Message(), st.Code())
		}
		return fmt.Sprintf("export %s: %v", o.export.op, err)
	case errors.Is(err, admin.ErrNotFound):
		return fmt.Sprintf("%s: no client with id %s", o.cmd, o.args[0])
	case status.Code(err) == codes.Unavailable:
		// The server never returns Unavailable itself, so this is the
		// connection dropping between Dial and the call.
		return fmt.Sprintf("cannot reach nfsgw admin API at %s: %s", o.addr, status.Convert(err).Message())
	case status.Code(err) == codes.DeadlineExceeded:
		return fmt.Sprintf("%s: no answer from %s within %v", o.cmd, o.addr, o.timeout)
	}
	if st, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s: %s (%s)", o.cmd, st.Message(), st.Code())
	}
	return fmt.Sprintf("%s: %v", o.cmd, err)
}

// execute runs the command o.cmd against c and writes its output to w.
// now is the reference for relative times, passed in for tests.
func execute(ctx context.Context, c *admin.Client, o *options, w io.Writer, now time.Time) error {
	switch o.cmd {
	case "status":
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if o.json {
			st.Listen = nonNil(st.Listen)
			return writeJSON(w, st)
		}
		return printStatus(w, st, now)
	case "exports":
		ex, err := c.ListExports(ctx)
		if err != nil {
			return err
		}
		if o.json {
			ex = nonNil(ex)
			for i := range ex {
				ex[i].Clients = nonNil(ex[i].Clients)
			}
			return writeJSON(w, ex)
		}
		return printExports(w, ex)
	case "clients":
		cl, err := c.ListClients(ctx)
		if err != nil {
			return err
		}
		if o.json {
			return writeJSON(w, nonNil(cl))
		}
		return printClients(w, cl, now)
	case "export":
		return runExport(ctx, c, o, w)
	case "top":
		n, byBytes, _ := parseTopArgs(o.args)
		rep, err := c.Top(ctx, n, byBytes)
		if err != nil {
			return err
		}
		if o.json {
			return writeJSON(w, rep)
		}
		return printTop(w, rep)
	case "drain":
		if err := c.Drain(ctx); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w, "draining: the gateway stops accepting connections, waits for its clients (or evicts them), leaves the cluster and exits")
		return err
	case "evict":
		id, err := parseClientID(o.args[0])
		if err != nil {
			return err
		}
		if err := c.EvictClient(ctx, id); err != nil {
			return err
		}
		if o.json {
			return writeJSON(w, struct {
				Evicted uint64 `json:"evicted,string"`
			}{id})
		}
		_, err = fmt.Fprintf(w, "evicted client %s\n", clientID(id))
		return err
	}
	return fmt.Errorf("unknown command %q", o.cmd)
}

// nonNil makes empty lists print as [] rather than null in JSON output, so
// scripts can iterate over them without a null check.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// printStatus writes the status as an aligned key/value list.
func printStatus(w io.Writer, st admin.Status, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "Node ID:\t%s\n", cell(st.NodeID))
	fmt.Fprintf(tw, "Version:\t%s\n", cell(st.Version))
	started := "-"
	if !st.StartTime.IsZero() {
		started = fmt.Sprintf("%s (up %s)", st.StartTime.Format(time.RFC3339), age(now.Sub(st.StartTime)))
	}
	fmt.Fprintf(tw, "Started:\t%s\n", started)
	fmt.Fprintf(tw, "Listen:\t%s\n", cell(strings.Join(st.Listen, ", ")))
	fmt.Fprintf(tw, "Grace period:\t%s\n", yesNo(st.InGrace))
	if g := st.Grace; g != nil {
		fmt.Fprintf(tw, "Grace phase:\t%s (gate %s)\n", g.Phase, g.Gate)
		fmt.Fprintf(tw, "Grace database:\tcur=%d rec=%d, own flags %q%s\n", g.Current, g.Recovery, g.Flags, map[bool]string{true: ", cluster", false: ", single node"}[g.Cluster])
		if g.Pending > 0 {
			fmt.Fprintf(tw, "Clients to reclaim:\t%d\n", g.Pending)
		}
		if len(g.Waiting) > 0 {
			fmt.Fprintf(tw, "Waiting for:\t%s\n", strings.Join(g.Waiting, " "))
		}
		if g.Tardy {
			fmt.Fprintf(tw, "Tardy restart:\tyes (no reclaims)\n")
		}
		if !g.Since.IsZero() {
			fmt.Fprintf(tw, "New state refused since:\t%s\n", g.Since.Format(time.RFC3339))
		}
		if g.LastError != "" {
			fmt.Fprintf(tw, "Last error:\t%s\n", g.LastError)
		}
	}
	fmt.Fprintf(tw, "Clients:\t%d\n", st.Clients)
	fmt.Fprintf(tw, "Sessions:\t%d\n", st.Sessions)
	fmt.Fprintf(tw, "States:\t%d\n", st.States)
	return tw.Flush()
}

// printExports writes one row per export.
func printExports(w io.Writer, ex []admin.ExportInfo) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tPSEUDO\tPATH\tACCESS\tSQUASH\tCLIENTS")
	for _, e := range ex {
		clients := "*" // no list means any client may mount
		if len(e.Clients) > 0 {
			clients = strings.Join(e.Clients, ",")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, cell(e.Pseudo), cell(e.Path), cell(e.Access), cell(e.Squash), cell(clients))
	}
	return tw.Flush()
}

// printClients writes one row per client. The owner goes last because it
// is the longest and least predictable column.
func printClients(w io.Writer, cl []admin.ClientInfo, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tADDR\tMINOR\tCONFIRMED\tSESSIONS\tSTATES\tLAST RENEW\tOWNER")
	for _, c := range cl {
		renew := "-"
		if !c.LastRenew.IsZero() {
			renew = age(now.Sub(c.LastRenew)) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t4.%d\t%s\t%d\t%d\t%s\t%s\n", clientID(c.ID), cell(c.Addr), c.MinorVersion,
			yesNo(c.Confirmed), c.Sessions, c.States, renew, cell(c.Owner))
	}
	return tw.Flush()
}

// clientID formats a clientid in fixed-width hex: the high half is the
// server's boot verifier and the low half a counter, which hex shows.
func clientID(id uint64) string { return fmt.Sprintf("0x%016x", id) }

// age renders a duration to the second; sub-second precision is noise in
// a table.
func age(d time.Duration) string {
	if d < 0 {
		d = 0 // clock skew between the gateway and this host
	}
	return d.Round(time.Second).String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// cell makes a string safe for a table cell: "-" when empty, and quoted
// when it holds tabs, newlines or other non-printable characters, which
// would break the alignment or the terminal.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
