package pipelinetest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/localtime"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// A broadcast at 09:00 in each recipient's zone, created before New
// York's clocks go forward (2026-03-08) for the day after, end to end:
// the API lists its zone waves, and each zone's users receive the message
// (in the simulator) at the instant 09:00 occurs there, New York's at
// 13:00 UTC (summer time); users without a zone at the tenant's.
func TestLocalTimeDeliveredAcrossDaylightSaving(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC))
	e := pipelinetest.Start(t, pipelinetest.Options{Now: clock.Now, TimeZone: "Tokyo Standard Time",
		Sim: teamsim.Config{UsersPerTenant: 24, InstalledFraction: 0.5, Seed: 5,
			TimeZones: []string{"Eastern Standard Time", "W. Europe Standard Time", ""}}})

	code, body := postJSON(t, e.API, "/v1/broadcasts",
		`{"message":{"text":"Good morning"},"audience":{"allUsers":true},"localTime":"2026-03-09T09:00"}`)
	require.Equal(t, http.StatusAccepted, code, string(body))
	b := decodeBroadcast(t, body)
	require.Equal(t, "2026-03-09T09:00", *b.LocalTime)

	starts := map[string]time.Time{
		"Asia/Tokyo":       time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC),
		"Europe/Berlin":    time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC),
		"America/New_York": time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC),
	}
	byZone := map[string][]string{}
	for _, u := range members(e) {
		z, _, err := localtime.Zone(e.Sim.TimeZone(e.Tenant, u.ID))
		if err != nil {
			z = "Asia/Tokyo" // no zone: the tenant's
		}
		byZone[z] = append(byZone[z], u.ID)
	}
	require.Len(t, byZone, len(starts))

	status := func() broadcast.Broadcast {
		rec := httptest.NewRecorder()
		e.API.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/broadcasts/"+b.ID, nil))
		require.Equal(t, http.StatusOK, rec.Code)
		var got broadcast.Broadcast
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		return got
	}
	require.Eventually(t, func() bool { return len(status().Zones) == len(starts) }, time.Minute, 20*time.Millisecond)
	for _, z := range status().Zones {
		require.Equal(t, broadcast.ZonePending, z.State)
		require.True(t, starts[z.Zone].Equal(z.StartAt), "%s at %s", z.Zone, z.StartAt)
		require.EqualValues(t, len(byZone[z.Zone]), z.Recipients)
	}

	delivered := func(users []string) bool {
		for _, u := range users {
			if len(e.Sim.UserDeliveries(e.Tenant, u)) != 1 {
				return false
			}
		}
		return true
	}
	var done []string
	for _, zone := range []string{"Asia/Tokyo", "Europe/Berlin", "America/New_York"} {
		clock.Set(starts[zone].Add(-time.Millisecond))
		clock.Read(t, 5)
		require.EqualValues(t, len(done), e.Sim.Ledger().Deliveries, "none of %s before its start", zone)

		clock.Set(starts[zone])
		require.Eventually(t, func() bool { return delivered(byZone[zone]) }, time.Minute, 20*time.Millisecond, zone)
		done = append(done, byZone[zone]...)
		require.True(t, delivered(done))
	}
	end := e.WaitCompleted(b.ID, time.Minute)
	require.EqualValues(t, len(done), end.Counts.Sent)
	require.EqualValues(t, len(done), e.Sim.Ledger().Deliveries, "each member once")
	for _, z := range status().Zones {
		require.Equal(t, broadcast.ZoneDone, z.State, z.Zone)
	}
}
