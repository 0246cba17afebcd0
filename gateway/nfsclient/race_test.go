//go:build race

package nfsclient

// raceEnabled: the race detector changes allocation counts.
const raceEnabled = true
