package timeseries_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/timeseries"
)

func TestFold(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 7, 9, 0, 30, 0, time.UTC)
	minute := func(d time.Duration) string { return itoa(start.Add(d).Unix() / 60) }
	fields := map[string]string{
		"sent:m:" + minute(0):               "3",
		"failed:m:" + minute(0):             "1",
		"sent:m:" + minute(2*time.Minute):   "2",
		"sent:m:" + minute(90*time.Minute):  "4",
		"sent:m:" + minute(100*time.Minute): "1",
		"r:m:" + minute(110*time.Minute):    "-1", // moved to an earlier minute of the hour
		"r:m:" + minute(115*time.Minute):    "1",
		"sent:m:" + minute(3*time.Minute):   "0",
		"other":                             "7",
		"sent:m:x":                          "1",
	}
	minutes, hours := timeseries.Fold(fields, start)
	at := func(d time.Duration) time.Time { return start.Add(d).Truncate(time.Minute) }
	require.Equal(t, []timeseries.Bucket{
		{At: at(0), N: map[string]int64{"sent": 3, "failed": 1}},
		{At: at(2 * time.Minute), N: map[string]int64{"sent": 2}},
	}, minutes)
	require.Equal(t, []timeseries.Bucket{
		{At: start.Add(90 * time.Minute).Truncate(time.Hour), N: map[string]int64{"sent": 5}},
	}, hours)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
