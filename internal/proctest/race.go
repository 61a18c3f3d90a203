//go:build race

package proctest

// raceEnabled: the test binary runs under the race detector, so Build adds -race.
const raceEnabled = true
