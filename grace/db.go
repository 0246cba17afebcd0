package grace

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// The cluster-wide grace database, in the format of NFS-Ganesha's
// rados_cluster recovery backend (so that Debian's ganesha-rados-grace reads
// and writes it): two epochs and one flag byte per member. This file is the
// pure half: the value and the rules that change it. grace/radosdb keeps it
// in a RADOS object.
//
// C, the current epoch, is the epoch new client records go to. R, the
// recovery epoch, is the epoch clients may reclaim from; R = 0 means no
// grace period anywhere in the cluster.

// Member flags, one byte per member as Ganesha stores them. Unknown bits are
// preserved by every mutation.
const (
	// FlagNeed: the member has clients that must reclaim; the cluster stays
	// in grace (R != 0) while any member has it.
	FlagNeed byte = 0x1
	// FlagEnforcing: the member refuses new state. A member may let its
	// clients reclaim only once every member enforces.
	FlagEnforcing byte = 0x2
)

// MaxMembers is how many members a reader accepts, as Ganesha's readers: a
// database with more is refused as corrupt rather than half read.
const MaxMembers = 1024

// DB is one snapshot of the grace database.
type DB struct {
	C, R    uint64
	Members map[string]byte
	// Version is the RADOS object version the snapshot was read at (0 for
	// stores without versions); a write asserts it.
	Version uint64
}

// Errors of the rules and of the encoding.
var (
	// ErrNotMember: the node is not in the database (Ganesha: ENOKEY).
	ErrNotMember = errors.New("grace: not a member")
	// ErrRefused: the rules forbid the change now (for example lifting
	// while a member does not enforce, or clearing ENFORCING while the
	// cluster is in grace). Nothing is written.
	ErrRefused = errors.New("grace: refused")
	// ErrCorruptDB: the stored database cannot be read. It is never
	// rewritten by nfsgw.
	ErrCorruptDB = errors.New("grace: corrupt grace database")
	// ErrInvalidNode: a node id outside ValidNodeID.
	ErrInvalidNode = errors.New("grace: invalid node id")
)

var nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)

// ValidNodeID reports whether id may name a cluster member: it is an omap
// key, part of RADOS object names and of the CephFS session uuid.
func ValidNodeID(id string) error {
	if !nodeIDRe.MatchString(id) {
		return fmt.Errorf("%w %q: want 1 to 63 of A-Z a-z 0-9 . _ -", ErrInvalidNode, id)
	}
	return nil
}

// NewDB is the database as created: C = 1, R = 0, no members.
func NewDB() DB { return DB{C: 1, Members: map[string]byte{}} }

// Clone returns a deep copy.
func (d DB) Clone() DB {
	d.Members = maps.Clone(d.Members)
	if d.Members == nil {
		d.Members = map[string]byte{}
	}
	return d
}

// InGrace reports whether the cluster is in a grace period.
func (d DB) InGrace() bool { return d.R != 0 }

// AllEnforcing reports whether every member enforces.
func (d DB) AllEnforcing() bool {
	for _, f := range d.Members {
		if f&FlagEnforcing == 0 {
			return false
		}
	}
	return true
}

// NotEnforcing lists the members that do not enforce, sorted.
func (d DB) NotEnforcing() []string {
	var out []string
	for n, f := range d.Members {
		if f&FlagEnforcing == 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// AnyNeed reports whether some member needs grace.
func (d DB) AnyNeed() bool {
	for _, f := range d.Members {
		if f&FlagNeed != 0 {
			return true
		}
	}
	return false
}

// Check reports whether d is a database nfsgw will act on.
func (d DB) Check() error {
	switch {
	case d.C == 0:
		return fmt.Errorf("%w: current epoch 0", ErrCorruptDB)
	case d.R != 0 && d.R >= d.C:
		return fmt.Errorf("%w: recovery epoch %d not below current epoch %d", ErrCorruptDB, d.R, d.C)
	case len(d.Members) > MaxMembers:
		return fmt.Errorf("%w: %d members, at most %d", ErrCorruptDB, len(d.Members), MaxMembers)
	}
	return nil
}

// Dump is the text Ganesha's `ganesha-rados-grace dump` prints, byte for
// byte: "cur=C rec=R", a line of '=', then one "node\tN E" line per member
// (flags as letters, in the database's key order).
func (d DB) Dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cur=%d rec=%d\n", d.C, d.R)
	b.WriteString("======================================================\n")
	for _, n := range slices.Sorted(maps.Keys(d.Members)) {
		f := d.Members[n]
		need, enf := " ", " "
		if f&FlagNeed != 0 {
			need = "N"
		}
		if f&FlagEnforcing != 0 {
			enf = "E"
		}
		fmt.Fprintf(&b, "%s\t%s%s\n", n, need, enf)
	}
	return b.String()
}

// A Mutation is one change to the grace database. Apply is pure: given the
// snapshot it returns the new value, or ErrRefused / ErrNotMember with d
// unchanged. A store applies it to the newest snapshot, retrying on a
// version conflict, so a mutation must be correct against any snapshot.
type Mutation interface {
	Apply(d DB) (DB, error)
	String() string
}

// Join: the node needs grace: NEED|ENFORCING, and a new grace period when
// none is running (R := C, C++), which is what a restarted node with
// clients to reclaim does (Ganesha's `start` of one node). With
// OnlyInGrace it is Ganesha's `join`: nothing changes when R = 0.
type Join struct {
	Node        string
	OnlyInGrace bool
}

// Apply implements Mutation.
func (m Join) Apply(d DB) (DB, error) {
	f, ok := d.Members[m.Node]
	if !ok {
		return d, fmt.Errorf("%w: %s", ErrNotMember, m.Node)
	}
	if d.R == 0 && m.OnlyInGrace {
		return d, nil
	}
	d = d.Clone()
	if d.R == 0 {
		d.R = d.C
		d.C++
	}
	d.Members[m.Node] = f | FlagNeed | FlagEnforcing
	return d, nil
}

func (m Join) String() string { return "join " + m.Node }

// Enforce sets the node's ENFORCING flag. With Add, an unknown node becomes
// a member (enforcing, not needing): safe at any time, since a member that
// enforces grants nothing that could conflict with a reclaim.
type Enforce struct {
	Node string
	Add  bool
}

// Apply implements Mutation.
func (m Enforce) Apply(d DB) (DB, error) {
	f, ok := d.Members[m.Node]
	if !ok && !m.Add {
		return d, fmt.Errorf("%w: %s", ErrNotMember, m.Node)
	}
	if !ok {
		if err := ValidNodeID(m.Node); err != nil {
			return d, err
		}
	}
	d = d.Clone()
	d.Members[m.Node] = f | FlagEnforcing
	return d, nil
}

func (m Enforce) String() string { return "enforce " + m.Node }

// Unenforce clears the node's ENFORCING flag: it may grant new state again.
// Refused while the cluster is in grace (R != 0) or the node needs grace.
type Unenforce struct{ Node string }

// Apply implements Mutation.
func (m Unenforce) Apply(d DB) (DB, error) {
	f, ok := d.Members[m.Node]
	if !ok {
		return d, fmt.Errorf("%w: %s", ErrNotMember, m.Node)
	}
	if d.R != 0 || f&FlagNeed != 0 {
		return d, fmt.Errorf("%w: %s cannot stop enforcing during a grace period (rec=%d)", ErrRefused, m.Node, d.R)
	}
	d = d.Clone()
	d.Members[m.Node] = f &^ FlagEnforcing
	return d, nil
}

func (m Unenforce) String() string { return "noenforce " + m.Node }

// Lift clears the node's NEED flag (its clients are done reclaiming), and
// ends the grace period (R := 0) when no member needs it any more. During a
// grace period it is refused while some member does not enforce: that
// member may still be granting state that conflicts with a reclaim, so
// nobody may be let out of grace yet (Ganesha 4.3's lift returns success
// without writing in that case; here the caller learns why nothing
// happened). Lifting a node that does not need grace changes nothing.
type Lift struct{ Node string }

// Apply implements Mutation.
func (m Lift) Apply(d DB) (DB, error) {
	f, ok := d.Members[m.Node]
	if !ok {
		return d, fmt.Errorf("%w: %s", ErrNotMember, m.Node)
	}
	if err := refuseUnlessAllEnforce(d, "lift "+m.Node); err != nil {
		return d, err
	}
	d = d.Clone()
	d.Members[m.Node] = f &^ FlagNeed
	if !d.AnyNeed() {
		d.R = 0
	}
	return d, nil
}

func (m Lift) String() string { return "lift " + m.Node }

// Fence takes a dead member's place in one update: its NEED is cleared (its
// records were deleted and its session reset) and it is left enforcing, so
// that it grants nothing if it comes back before it rejoins; R := 0 when no
// NEED is left.
type Fence struct{ Node string }

// Apply implements Mutation.
func (m Fence) Apply(d DB) (DB, error) {
	f, ok := d.Members[m.Node]
	if !ok {
		return d, fmt.Errorf("%w: %s", ErrNotMember, m.Node)
	}
	d = d.Clone()
	d.Members[m.Node] = (f &^ FlagNeed) | FlagEnforcing
	if !d.AnyNeed() {
		d.R = 0
	}
	return d, nil
}

func (m Fence) String() string { return "fence " + m.Node }

// Add makes nodes members, enforcing (as Ganesha's `add` does): a new
// member grants nothing until it has started and seen R = 0, so it never
// lets a restarted node reset its session under state it granted. Existing
// members are left as they are.
type Add struct{ Nodes []string }

// Apply implements Mutation.
func (m Add) Apply(d DB) (DB, error) {
	for _, n := range m.Nodes {
		if err := ValidNodeID(n); err != nil {
			return d, err
		}
	}
	d = d.Clone()
	for _, n := range m.Nodes {
		if _, ok := d.Members[n]; !ok {
			d.Members[n] = FlagEnforcing
		}
	}
	return d, nil
}

func (m Add) String() string { return "add " + strings.Join(m.Nodes, " ") }

// Remove takes nodes out of the database. Like Lift it is refused during a
// grace period while some member (removed ones included) does not enforce:
// an operator who knows such a member is dead marks it enforcing first
// (Enforce), which is the statement "it grants nothing". Removing the last
// member that needs grace ends the grace period. Ganesha 4.3's remove
// differs twice: it is a silent no-op where this is refused, and it counts
// removed nodes without NEED as lifted, ending a grace period that another
// member still needs; here R stays while any remaining member needs grace.
type Remove struct {
	Nodes []string
}

// Apply implements Mutation.
func (m Remove) Apply(d DB) (DB, error) {
	if err := refuseUnlessAllEnforce(d, m.String()); err != nil {
		return d, err
	}
	for _, n := range m.Nodes {
		if _, ok := d.Members[n]; !ok {
			return d, fmt.Errorf("%w: %s", ErrNotMember, n)
		}
	}
	d = d.Clone()
	for _, n := range m.Nodes {
		delete(d.Members, n)
	}
	if d.R != 0 && !d.AnyNeed() {
		d.R = 0
	}
	return d, nil
}

func (m Remove) String() string { return "remove " + strings.Join(m.Nodes, " ") }

// refuseUnlessAllEnforce is the rule Lift and Remove share: in a grace
// period, nobody leaves it while a member may still grant new state.
func refuseUnlessAllEnforce(d DB, what string) error {
	if d.R == 0 {
		return nil
	}
	if ne := d.NotEnforcing(); len(ne) > 0 {
		return fmt.Errorf("%w: %s during a grace period (rec=%d): not enforcing: %s (a member known to be dead can be marked with enforce first)",
			ErrRefused, what, d.R, strings.Join(ne, ", "))
	}
	return nil
}

// Start begins a grace period for the nodes as Ganesha's `start` does:
// each is joined (NEED|ENFORCING), R := C and C++ when no grace is running.
type Start struct{ Nodes []string }

// Apply implements Mutation.
func (m Start) Apply(d DB) (DB, error) {
	s := make(Seq, len(m.Nodes))
	for i, n := range m.Nodes {
		s[i] = Join{Node: n}
	}
	return s.Apply(d)
}

func (m Start) String() string { return "start " + strings.Join(m.Nodes, " ") }

// Seq applies mutations in order as one change: all of them or, at the
// first error, none (what a command naming several nodes needs).
type Seq []Mutation

// Apply implements Mutation.
func (s Seq) Apply(d DB) (DB, error) {
	orig := d
	for _, m := range s {
		var err error
		if d, err = m.Apply(d); err != nil {
			return orig, err
		}
	}
	return d, nil
}

func (s Seq) String() string {
	parts := make([]string, len(s))
	for i, m := range s {
		parts[i] = m.String()
	}
	return strings.Join(parts, "; ")
}

// Noop changes nothing; a runner uses it to read the database through the
// same path as a write.
type Noop struct{}

// Apply implements Mutation.
func (Noop) Apply(d DB) (DB, error) { return d, nil }

func (Noop) String() string { return "noop" }

// Equal reports whether two snapshots hold the same epochs and members
// (versions aside).
func (d DB) Equal(o DB) bool {
	return d.C == o.C && d.R == o.R && maps.Equal(d.Members, o.Members)
}
