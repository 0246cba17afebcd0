//go:build race

package grace

const raceEnabled = true
