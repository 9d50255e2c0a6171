package graph_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// Time zones are read through $batch, 20 users a request: Windows and IANA
// names as set, "" for a user without one, nothing for a guest (no
// mailbox in the tenant: 404).
func TestMailboxTimeZonesOnTheSimulator(t *testing.T) {
	t.Parallel()
	c, sim := simClient(t, teamsim.Config{UsersPerTenant: 300, Seed: 9})
	var ids []string
	guests := 0
	for _, u := range sim.Users(simTenant)[:45] {
		ids = append(ids, u.ID)
		if u.UserType == "Guest" {
			guests++
		}
	}
	zones, err := c.MailboxTimeZones(context.Background(), ids)
	require.NoError(t, err)
	require.Len(t, zones, len(ids)-guests)
	set := 0
	for _, u := range sim.Users(simTenant)[:45] {
		z, ok := zones[u.ID]
		if u.UserType == "Guest" {
			require.False(t, ok, "a guest has no mailbox")
			continue
		}
		require.Equal(t, sim.TimeZone(simTenant, u.ID), z)
		if z != "" {
			set++
		}
	}
	require.Positive(t, set)
	l := sim.Ledger()
	require.EqualValues(t, 3, l.Requests[teamsim.KindGraphBatch], "20 users a batch")
	require.EqualValues(t, 45, l.Requests[teamsim.KindGraphMailbox])
}
