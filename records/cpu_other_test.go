//go:build !unix

package records_test

import (
	"testing"
	"time"
)

// cpuTime needs getrusage (Unix): the benchmarks that report CPU fail
// elsewhere; the package still builds and vets.
func cpuTime(b *testing.B) time.Duration {
	b.Fatal("cpuTime needs getrusage (Unix)")
	return 0
}
