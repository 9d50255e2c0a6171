package testenv

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs a package's tests, stops the servers they shared, then fails
// the run if goroutines are left (go.uber.org/goleak): a worker whose
// owner did not stop it, a connection nobody closed. A package whose tests
// start workers calls it from its TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	for _, s := range []*server{&sharedNATS, &sharedRedis} {
		if s.stop != nil {
			s.stop()
		}
	}
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: goroutines left after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
