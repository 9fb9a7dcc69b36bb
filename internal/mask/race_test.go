//go:build race

package mask

// The race detector makes sync.Pool drop items, so allocation counts are
// meaningless under it.
const raceEnabled = true
