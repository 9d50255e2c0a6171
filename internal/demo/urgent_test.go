package demo

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

func TestUrgentAudience(t *testing.T) {
	t.Parallel()
	var users []teamsim.User
	for i := range 1000 {
		users = append(users, teamsim.User{ID: fmt.Sprint(i), UserType: "Member", Blocked: i%2 == 1})
	}
	got := urgentAudience(users, 20)
	require.Len(t, got, 20)
	seen := map[string]bool{}
	for _, u := range got {
		require.True(t, deliverable(u), u.ID)
		var i int
		fmt.Sscan(u.ID, &i)
		require.GreaterOrEqual(t, i, 700, "among the last 30%")
		require.False(t, seen[u.ID], "picked twice: %s", u.ID)
		seen[u.ID] = true
	}
	require.Len(t, urgentAudience(users[:10], 20), 1, "no more than there are: only 8 of 7, 8, 9")
}

func TestTrimPprofTop(t *testing.T) {
	t.Parallel()
	out := "File: sender\nBuild ID: abc\nType: cpu\nTime: 2026-11-22\nDuration: 20s, Total samples = 9s (45%)\nShowing nodes accounting for 5s\n      flat  flat%   sum%        cum   cum%\n     1s 11% 11%  2s 22%  runtime.futex\n\n"
	require.Equal(t, "Duration: 20s, Total samples = 9s (45%)\nShowing nodes accounting for 5s\n      flat  flat%   sum%        cum   cum%\n     1s 11% 11%  2s 22%  runtime.futex", trimPprofTop(out))
}
