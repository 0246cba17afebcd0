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
//	fixtures/walk/wNN/fNN   WalkDirs directories of WalkFiles empty files (pathwalk)

// FixtureDir is the tree's top directory.
const FixtureDir = "fixtures"

// WalkDirs and WalkFiles size fixtures/walk: enough directories that a
// path walk does not always cross the same few, few enough that both
// servers keep the whole tree in their caches, as a client statting a
// working set by path sees it.
const (
	WalkDirs  = 16
	WalkFiles = 64
)

// FixtureMarker names the file that marks a complete tree of these sizes.
// The "w" part names the walk tree, so that a tree made before it existed
// is made again.
func FixtureMarker(many, big, depth, small int) string {
	return fmt.Sprintf(".complete-%d-%d-%d-%d-w%dx%d", many, big, depth, small, WalkDirs, WalkFiles)
}

func ManyName(i int) string  { return fmt.Sprintf("f%05d", i) }
func BigName(i int) string   { return fmt.Sprintf("f%06d", i) }
func SmallName(i int) string { return fmt.Sprintf("s%04d", i) }

// WalkDirName and WalkFileName name fixtures/walk's directories and the
// files in each.
func WalkDirName(i int) string  { return fmt.Sprintf("w%02d", i) }
func WalkFileName(i int) string { return fmt.Sprintf("f%02d", i) }

// WalkComponents is the path below fixtures/walk of the i-th of its
// WalkDirs × WalkFiles files (i taken modulo their number).
func WalkComponents(i int) [2]string {
	i %= WalkDirs * WalkFiles
	if i < 0 {
		i += WalkDirs * WalkFiles
	}
	return [2]string{WalkDirName(i / WalkFiles), WalkFileName(i % WalkFiles)}
}

// DeepComponents is the path from fixtures/deep to its leaf.
func DeepComponents(depth int) []string {
	out := make([]string, 0, depth+1)
	for i := range depth {
		out = append(out, fmt.Sprintf("d%02d", i))
	}
	return append(out, "leaf")
}
