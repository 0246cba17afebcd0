package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"nfsgw/gateway/admin"
)

// parseTopArgs reads top's flags: -n (how many clients, default 10) and
// -bytes (order by bytes instead of operations).
func parseTopArgs(args []string) (n int, byBytes bool, err error) {
	fl := flag.NewFlagSet("top", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.IntVar(&n, "n", 10, "clients to show")
	fl.BoolVar(&byBytes, "bytes", false, "order by bytes read and written")
	if err := fl.Parse(args); err != nil {
		return 0, false, fmt.Errorf("top: %v (usage: nfsgwctl top [-n N] [-bytes])", err)
	}
	if fl.NArg() > 0 || n < 1 || n > 1000 {
		return 0, false, fmt.Errorf("usage: nfsgwctl top [-n N] [-bytes] (N from 1 to 1000)")
	}
	return n, byBytes, nil
}

func printTop(w io.Writer, rep admin.TopReport) error {
	if rep.End.IsZero() {
		_, err := fmt.Fprintln(w, "no interval finished yet (the first report comes 10 s after start)")
		return err
	}
	fmt.Fprintf(w, "%d operations from %s to %s", rep.Total, rep.Start.Format("15:04:05"), rep.End.Format("15:04:05"))
	if rep.Lost > 0 {
		fmt.Fprintf(w, " (%d samples lost)", rep.Lost)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tOPS/S\tOPS\tBYTES\tBUSIEST OPERATIONS")
	for _, c := range rep.Clients {
		type kv struct {
			op string
			n  uint64
		}
		var ops []kv
		for op, n := range c.ByOp {
			ops = append(ops, kv{op, n})
		}
		slices.SortFunc(ops, func(a, b kv) int {
			if a.n != b.n {
				if a.n > b.n {
					return -1
				}
				return 1
			}
			return strings.Compare(a.op, b.op)
		})
		var parts []string
		for i, o := range ops {
			if i == 3 {
				break
			}
			parts = append(parts, fmt.Sprintf("%s %d", o.op, o.n))
		}
		count := fmt.Sprint(c.Ops)
		if c.OpsError > 0 {
			count += fmt.Sprintf(" (±%d)", c.OpsError)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%d\t%s\n", c.Addr, c.Rate, count, c.Bytes, strings.Join(parts, ", "))
	}
	return tw.Flush()
}
