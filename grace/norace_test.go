//go:build !race

package grace

const raceEnabled = false
