package benchkit

import "fmt"

// The fixture tree the read-side workloads use, by name, so that
// bench/nfsbench (which makes it with system calls and reads it over NFS),
// bench/cephraw (which makes it and reads it through libcephfs) and
// bench/vsganesha (which makes it over NFS as a fallback) agree on it:
//
//	fixtures/many/fNNNNN    -many-files empty files (getattrmany, readdir)
//	fixtures/big/fNNNNNN    -big-dir empty files (readdirbig)
//	fixtures/deep/d00/…/dNN/leaf   a path -deep-depth directories deep
//	fixtures/small/sNNNN    -small-files files of 4 KiB (smallread, connect)

// FixtureDir is the tree's top directory.
const FixtureDir = "fixtures"

// FixtureMarker names the file that marks a complete tree of these sizes.
func FixtureMarker(many, big, depth, small int) string {
	return fmt.Sprintf(".complete-%d-%d-%d-%d", many, big, depth, small)
}

func ManyName(i int) string  { return fmt.Sprintf("f%05d", i) }
func BigName(i int) string   { return fmt.Sprintf("f%06d", i) }
func SmallName(i int) string { return fmt.Sprintf("s%04d", i) }

// DeepComponents is the path from fixtures/deep to its leaf.
func DeepComponents(depth int) []string {
	out := make([]string, 0, depth+1)
	for i := range depth {
		out = append(out, fmt.Sprintf("d%02d", i))
	}
	return append(out, "leaf")
}
