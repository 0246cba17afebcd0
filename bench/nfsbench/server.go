package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is an nfsgw process started by the bench.
type server struct {
	cmd  *exec.Cmd
	addr string
	dir  string // the exported directory
	log  *logBuffer
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// logBuffer keeps the server's output: every warning and error line, and
// the last few kilobytes of everything.
type logBuffer struct {
	mu       sync.Mutex
	partial  []byte
	tail     []string
	warnings []string
	dropped  int
}

const (
	logTailLines = 40
	logMaxWarn   = 200
)

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		l.tail = append(l.tail, line)
		if len(l.tail) > logTailLines {
			l.tail = l.tail[len(l.tail)-logTailLines:]
		}
		if isWarning(line) {
			if len(l.warnings) < logMaxWarn {
				l.warnings = append(l.warnings, line)
			} else {
				l.dropped++
			}
		}
	}
	if len(l.partial) > 64<<10 { // a line without end: keep it bounded
		l.partial = l.partial[len(l.partial)-64<<10:]
	}
	return len(p), nil
}

// isWarning reports whether an hclog line is at level WARN or ERROR.
func isWarning(line string) bool {
	return strings.Contains(line, "[WARN]") || strings.Contains(line, "[ERROR]") ||
		strings.Contains(line, "panic:") || strings.Contains(line, "fatal error:")
}

func (l *logBuffer) Warnings() (lines []string, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.warnings...), l.dropped
}

func (l *logBuffer) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.tail, "\n")
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startServer starts bin exporting dir at /export on a free loopback port
// and waits until it accepts connections. The child inherits the bench's
// RLIMIT_NOFILE (raised by raiseNofile before).
func startServer(bin, dir string, extra []string) (*server, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("nfsgw binary: %w (run make build)", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// Every client of the bench comes from 127.0.0.1: the per-address
	// limit, meant for real hosts, would refuse most of them. A benchmark
	// server keeps no state across runs and needs no admin API (nfsgw's
	// defaults would share both between runs).
	args := append([]string{"--listen", addr, "--export", "/export=" + dir, "--squash", "none",
		"--max-connections-per-address", "-1", "--admin", "none", "--state-dir", "none"}, extra...)
	s := &server{addr: addr, dir: dir, log: &logBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	// Its own process group, so that a ^C at the terminal reaches only
	// the bench, which then stops the server in order.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("nfsgw exited during start (%v):\n%s", s.err, s.log.Tail())
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("nfsgw did not listen on %s:\n%s", addr, s.log.Tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// exited reports whether the server process has ended.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the server's pid and waits for it to exit,
// killing it after 15 s. It returns how long the shutdown took.
func (s *server) stop() (time.Duration, error) {
	if s.exited() {
		return 0, fmt.Errorf("nfsgw had already exited: %v", s.err)
	}
	start := time.Now()
	if err := syscall.Kill(s.pid(), syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		syscall.Kill(s.pid(), syscall.SIGKILL)
		<-s.done
		return time.Since(start), errors.New("nfsgw did not stop within 15 s of SIGTERM; killed")
	}
	took := time.Since(start)
	if s.err != nil {
		return took, fmt.Errorf("nfsgw exit: %v", s.err)
	}
	return took, nil
}

// procStat is what the bench reads of a process from /proc.
type procStat struct {
	cpu     time.Duration // user + system
	threads int
}

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture).
const userHZ = 100

// readProcStat reads utime, stime and num_threads from /proc/PID/stat.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

func parseProcStat(s string) (procStat, error) {
	// The command name is in parentheses and may hold spaces; the fields
	// after it start with field 3 (state).
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 18 {
		return procStat{}, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	threads, err3 := strconv.Atoi(f[17])           // field 20
	if err := errors.Join(err1, err2, err3); err != nil {
		return procStat{}, err
	}
	return procStat{cpu: time.Duration(utime+stime) * time.Second / userHZ, threads: threads}, nil
}

// readRSS returns VmRSS and VmHWM of a process, in bytes.
func readRSS(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) != 2 || fs[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, hwm, sc.Err()
}

// readNofileLimit returns the soft "Max open files" limit of a process.
func readNofileLimit(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if f[0] == "unlimited" {
					return -1, nil
				}
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no Max open files limit")
}

// countFDs returns the number of open file descriptors of a process.
func countFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// readSystemCPU returns the CPU time all CPUs spent busy (everything but
// idle and iowait) since boot, from the first line of /proc/stat.
func readSystemCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseSystemCPU(string(b))
}

func parseSystemCPU(s string) (time.Duration, error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("malformed /proc/stat")
	}
	var busy int64
	// user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already counted in user and nice.
	for i, v := range f[1:min(len(f), 9)] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}

// selfCPU returns the bench process's user + system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseNofile raises RLIMIT_NOFILE to at least want (the hard limit too
// if need be, which needs CAP_SYS_RESOURCE) and returns the new soft
// limit. Setting it with syscall.Setrlimit also makes processes started
// afterwards (the server) inherit it: Go otherwise restores the limit it
// found at start-up in its children.
func raiseNofile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	next := lim
	next.Cur = max(lim.Cur, min(want, lim.Max))
	if want > lim.Max {
		next.Cur, next.Max = want, want
	}
	err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next)
	if err != nil && want > lim.Max {
		// Not privileged: settle for the hard limit.
		next = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next)
		if err2 != nil {
			return lim.Cur, err2
		}
		return next.Cur, fmt.Errorf("RLIMIT_NOFILE hard limit %d < %d wanted: %w", lim.Max, want, err)
	}
	if err != nil {
		return lim.Cur, err
	}
	return next.Cur, nil
}
