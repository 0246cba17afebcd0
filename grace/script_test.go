package grace

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/*.txt with the actual output")

// TestScripts runs the interaction scripts in testdata/: a cluster of
// machines over one in-memory grace database, driven step by step, in the
// manner of etcd raft's interaction tests. Each command is followed by
// "----" and the output it must produce, then a blank line.
//
// Commands:
//
//	add NODE...            members added by an admin (Ganesha's add)
//	admin MUTATION NODE... an admin's write: start, join, lift, enforce, noenforce, remove
//	boot NODE [records=OWNER,OWNER...] [tardy] [grace=DUR] [fence=DUR]
//	                       the node boots and runs to quiescence
//	notify [NODE...]       snapshots of the database reach the nodes (all booted)
//	hold NODE drain|reset  the node's next drain / reset does not finish until release
//	release NODE drain|reset
//	fail NODE write|begin|reset|endgrace  the node's next such effect fails
//	tick DUR               the clock moves; every node gets a Tick
//	done NODE OWNER        RECLAIM_COMPLETE of a client
//	reclaim NODE OWNER     a reclaim by a client of the reclaim set
//	dead NODE... [for=DUR] the liveness report every node gets: these are dead
//	kill NODE              the node crashes (its machine is dropped)
//	shutdown NODE
//	dump                   the database in Ganesha's text
//	status                 phase and gate of every node
func TestScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scripts in testdata/")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type simNode struct {
	id      string
	n       *Node
	queue   []Input
	records [][]byte
	tardy   bool
	held    map[string][]Input // held effect results, by kind
	holds   map[string]bool
	fails   map[string]bool
	served  bool
	gate    GateMode
}

type sim struct {
	db    *MemDB
	now   time.Time
	nodes map[string]*simNode
	order []string
	out   *strings.Builder
}

func (s *sim) printf(format string, a ...any) { fmt.Fprintf(s.out, format, a...) }

// run steps the node's queue to quiescence, carrying out effects.
func (s *sim) run(sn *simNode) {
	for len(sn.queue) > 0 && sn.n != nil {
		in := sn.queue[0]
		sn.queue = sn.queue[1:]
		for _, e := range sn.n.Step(s.now, in) {
			if w, ok := e.(Wake); ok {
				s.printf("%s: wake in %v\n", sn.id, w.At.Sub(s.now))
			} else {
				s.printf("%s: %s\n", sn.id, e)
			}
			s.do(sn, e)
		}
	}
}

func (s *sim) do(sn *simNode, e Effect) {
	fail := func(kind string) bool {
		if sn.fails[kind] {
			delete(sn.fails, kind)
			return true
		}
		return false
	}
	result := func(kind string, in Input) {
		if sn.holds[kind] {
			delete(sn.holds, kind)
			sn.held[kind] = append(sn.held[kind], in)
			return
		}
		sn.queue = append(sn.queue, in)
	}
	switch e := e.(type) {
	case WriteDB:
		if fail("write") {
			db, _ := s.db.Read(context.Background())
			sn.queue = append(sn.queue, WriteFailed{M: e.M, DB: db, Err: errors.New("rados: timed out")})
			return
		}
		db, err := s.db.Update(context.Background(), e.M)
		if err != nil {
			sn.queue = append(sn.queue, WriteFailed{M: e.M, DB: db, Err: err})
			return
		}
		sn.queue = append(sn.queue, Written{M: e.M, DB: db})
	case BeginEpoch:
		if fail("begin") {
			sn.queue = append(sn.queue, Failed{Effect: e, Err: errors.New("store: I/O error")})
			return
		}
		sn.queue = append(sn.queue, Begun{Epoch: e.Epoch, Reclaim: sn.records})
	case ResetSessions:
		if fail("reset") {
			result("reset", Failed{Effect: e, Err: errors.New("ceph: timed out")})
			return
		}
		result("reset", Reset{Tardy: sn.tardy})
	case Drain:
		result("drain", Drained{})
	case EndStoreGrace:
		if fail("endgrace") {
			sn.queue = append(sn.queue, Failed{Effect: e, Err: errors.New("store: I/O error")})
			return
		}
		sn.records = nil
		sn.queue = append(sn.queue, StoreEnded{})
	case SetGate:
		sn.gate = e.Mode
	case Serve:
		sn.served = true
	case FenceNode:
		if o := s.nodes[e.Node]; o != nil {
			o.records = nil
		}
		db, err := s.db.Update(context.Background(), Fence(e))
		if err != nil {
			sn.queue = append(sn.queue, Failed{Effect: e, Err: err})
			return
		}
		s.printf("%s: fenced %s\n", sn.id, e.Node)
		sn.queue = append(sn.queue, Fenced(e), Snapshot{DB: db})
	case Wake, Waiting, Exit:
	}
}

func (s *sim) node(t *testing.T, id string) *simNode {
	sn := s.nodes[id]
	if sn == nil {
		sn = &simNode{id: id, held: map[string][]Input{}, holds: map[string]bool{}, fails: map[string]bool{}}
		s.nodes[id] = sn
		s.order = append(s.order, id)
		slices.Sort(s.order)
	}
	return sn
}

func (s *sim) live() []*simNode {
	var out []*simNode
	for _, id := range s.order {
		if sn := s.nodes[id]; sn.n != nil {
			out = append(out, sn)
		}
	}
	return out
}

func (s *sim) exec(t *testing.T, line string) {
	f := strings.Fields(line)
	cmd, args := f[0], f[1:]
	kv := map[string]string{}
	var pos []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			kv[k] = v
		} else {
			pos = append(pos, a)
		}
	}
	dur := func(k string, def time.Duration) time.Duration {
		v, ok := kv[k]
		if !ok {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return d
	}
	switch cmd {
	case "add":
		if _, err := s.db.Update(context.Background(), Add{Nodes: pos}); err != nil {
			s.printf("error: %v\n", err)
		}
	case "admin":
		var m Mutation
		switch pos[0] {
		case "start":
			m = Start{Nodes: pos[1:]}
		case "join":
			m = Join{Node: pos[1], OnlyInGrace: true}
		case "lift":
			m = Lift{Node: pos[1]}
		case "enforce":
			m = Enforce{Node: pos[1]}
		case "noenforce":
			m = Unenforce{Node: pos[1]}
		case "remove":
			m = Remove{Nodes: pos[1:]}
		default:
			t.Fatalf("unknown admin mutation %q", pos[0])
		}
		if _, err := s.db.Update(context.Background(), m); err != nil {
			s.printf("error: %v\n", err)
		}
	case "boot":
		sn := s.node(t, pos[0])
		sn.n = NewNode(NodeConfig{ID: sn.id, Grace: dur("grace", 10*time.Second), FenceAfter: dur("fence", 0)})
		sn.records = nil
		if r := kv["records"]; r != "" {
			for _, o := range strings.Split(r, ",") {
				sn.records = append(sn.records, []byte(o))
			}
		}
		_, sn.tardy = kv["tardy"]
		if slices.Contains(pos, "tardy") {
			sn.tardy = true
		}
		sn.served, sn.gate = false, GateClosed
		db, _ := s.db.Read(context.Background())
		sn.queue = append(sn.queue, Boot{DB: db, Records: len(sn.records) > 0})
		s.run(sn)
	case "notify":
		db, _ := s.db.Read(context.Background())
		for _, sn := range s.live() {
			if len(pos) == 0 || slices.Contains(pos, sn.id) {
				sn.queue = append(sn.queue, Snapshot{DB: db})
				s.run(sn)
			}
		}
	case "hold":
		s.node(t, pos[0]).holds[pos[1]] = true
	case "release":
		sn := s.node(t, pos[0])
		sn.queue = append(sn.queue, sn.held[pos[1]]...)
		delete(sn.held, pos[1])
		s.run(sn)
	case "fail":
		s.node(t, pos[0]).fails[pos[1]] = true
	case "tick":
		d, err := time.ParseDuration(pos[0])
		if err != nil {
			t.Fatal(err)
		}
		s.now = s.now.Add(d)
		for _, sn := range s.live() {
			sn.queue = append(sn.queue, Tick{})
			s.run(sn)
		}
	case "done", "reclaim":
		sn := s.node(t, pos[0])
		if cmd == "done" {
			sn.queue = append(sn.queue, ReclaimDone{Owner: pos[1]})
		} else {
			sn.queue = append(sn.queue, Reclaimed{Owner: pos[1]})
		}
		s.run(sn)
	case "dead":
		since := s.now.Add(-dur("for", 0))
		l := Liveness{DeadSince: map[string]time.Time{}}
		for _, id := range pos {
			l.DeadSince[id] = since
		}
		for _, sn := range s.live() {
			sn.queue = append(sn.queue, l)
			s.run(sn)
		}
	case "kill":
		sn := s.node(t, pos[0])
		sn.n, sn.queue, sn.held, sn.holds = nil, nil, map[string][]Input{}, map[string]bool{}
		sn.served, sn.gate = false, GateClosed
	case "shutdown":
		sn := s.node(t, pos[0])
		sn.queue = append(sn.queue, Shutdown{})
		s.run(sn)
	case "dump":
		db, _ := s.db.Read(context.Background())
		s.out.WriteString(db.Dump())
	case "status":
		for _, id := range s.order {
			sn := s.nodes[id]
			if sn.n == nil {
				s.printf("%s: down\n", id)
				continue
			}
			extra := ""
			if p := sn.n.Pending(); p > 0 {
				extra += fmt.Sprintf(" pending=%d", p)
			}
			if sn.n.Tardy() {
				extra += " tardy"
			}
			s.printf("%s: %s gate=%s%s\n", id, sn.n.Phase(), sn.gate, extra)
		}
	default:
		t.Fatalf("unknown command %q", cmd)
	}
}

func runScript(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &sim{db: NewMemDB(1), now: time.Unix(1_000_000, 0).UTC(), nodes: map[string]*simNode{}}
	var rewritten strings.Builder
	sc := bufio.NewScanner(f)
	lineNo := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		lineNo++
		return sc.Text(), true
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			rewritten.WriteString(line + "\n")
			continue
		}
		cmdLine := lineNo
		if sep, ok := next(); !ok || sep != "----" {
			t.Fatalf("%s:%d: command %q not followed by ----", path, cmdLine, line)
		}
		var want []string
		for {
			l, ok := next()
			if !ok || l == "" {
				break
			}
			want = append(want, l)
		}
		var out strings.Builder
		s.out = &out
		s.exec(t, line)
		got := out.String()
		exp := strings.Join(want, "\n")
		if len(want) > 0 {
			exp += "\n"
		}
		if got == "" {
			got = "ok\n"
		}
		if exp == "" {
			exp = "\n"
		}
		rewritten.WriteString(line + "\n----\n" + got + "\n")
		if got != exp && !*rewrite {
			t.Errorf("%s:%d: %s\n--- got\n%s--- want\n%s", path, cmdLine, line, got, exp)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimRight(rewritten.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
