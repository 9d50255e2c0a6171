package autopipe_test

import (
	"testing"

	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// TestMain fails the run if a test leaves a goroutine behind.
func TestMain(m *testing.M) { testenv.Main(m) }
