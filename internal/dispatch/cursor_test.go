package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// A saved position the dispatcher cannot read is reported as corrupt, not
// read as the start: nothing is resolved or published from it.
func TestCorruptCursorIsAnErrorNotARestart(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, step, cursor string }{
		{"unknown step", "noSuchStep", ""},
		{"directory position", "allUsers", "x|00000000-0000-0000-0000-000000000000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			core, logs := observer.New(zapcore.ErrorLevel)
			e := setup(t, 50, zap.New(zapcore.NewTee(testenv.Logger(t).Core(), core)))
			ctx := context.Background()
			id := e.create(e.dispatcher(nil)) // not running: not expanded yet
			e.setMeta(id, "resolve_step", c.step, "resolve_cursor", c.cursor)
			e.run(e.dispatcher(nil))
			testenv.Eventually(t, 30*time.Second, func() bool {
				return logs.FilterMessage("expansion stopped; it resumes later").Len() > 0
			}, "the expansion stops")
			require.Contains(t, logs.FilterMessage("expansion stopped; it resumes later").All()[0].ContextMap()["error"],
				"corrupt cursor")
			b, err := e.st.Broadcast(ctx, id)
			require.NoError(t, err)
			require.Equal(t, broadcast.StatusExpanding, b.Status)
			require.Nil(t, b.AudienceSize, "nothing resolved")
			install, send := e.jobs(id)
			require.Zero(t, install+send, "nothing published")
		})
	}
}
