//go:build race

package nfs4

// raceEnabled: the race detector changes allocation counts.
const raceEnabled = true
