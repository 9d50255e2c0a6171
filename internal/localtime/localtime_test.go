package localtime

import (
	"errors"
	"testing"
	"time"
)

func TestInAcrossDaylightSaving(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, zone, local, want string
	}{
		{"winter New York", "America/New_York", "2026-03-07T09:00", "2026-03-07T14:00:00Z"},
		{"summer New York", "America/New_York", "2026-03-09T09:00", "2026-03-09T13:00:00Z"},
		{"Windows name", "Eastern Standard Time", "2026-03-09T09:00", "2026-03-09T13:00:00Z"},
		{"gap: first instant after", "America/New_York", "2026-03-08T02:30", "2026-03-08T07:00:00Z"},
		{"gap start", "America/New_York", "2026-03-08T02:00", "2026-03-08T07:00:00Z"},
		{"just before the gap", "America/New_York", "2026-03-08T01:59", "2026-03-08T06:59:00Z"},
		{"ambiguous: first occurrence", "America/New_York", "2026-11-01T01:30", "2026-11-01T05:30:00Z"},
		{"after the fold", "America/New_York", "2026-11-01T02:00", "2026-11-01T07:00:00Z"},
		{"Berlin gap", "Europe/Berlin", "2026-03-29T02:30", "2026-03-29T01:00:00Z"},
		{"Berlin summer", "W. Europe Standard Time", "2026-03-30T09:00", "2026-03-30T07:00:00Z"},
		{"Berlin fold", "Europe/Berlin", "2026-10-25T02:30", "2026-10-25T00:30:00Z"},
		{"Lord Howe half-hour fold", "Australia/Lord_Howe", "2026-04-05T01:45", "2026-04-04T14:45:00Z"},
		{"no daylight saving", "India Standard Time", "2026-12-08T09:00", "2026-12-08T03:30:00Z"},
		{"UTC", "UTC", "2026-12-08T09:00", "2026-12-08T09:00:00Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lt, err := Parse(c.local)
			if err != nil {
				t.Fatal(err)
			}
			_, loc, err := Zone(c.zone)
			if err != nil {
				t.Fatal(err)
			}
			if got := lt.In(loc).Format(time.RFC3339); got != c.want {
				t.Fatalf("%s in %s = %s, want %s", c.local, c.zone, got, c.want)
			}
		})
	}
}

func TestZoneNames(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"Pacific Standard Time":   "America/Los_Angeles",
		"W. Europe Standard Time": "Europe/Berlin",
		"Tokyo Standard Time":     "Asia/Tokyo",
		"Europe/Berlin":           "Europe/Berlin",
		" America/Sao_Paulo ":     "America/Sao_Paulo",
		"UTC":                     "Etc/UTC",
	} {
		got, _, err := Zone(name)
		if err != nil || got != want {
			t.Errorf("Zone(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "Local", "Mars/Olympus", "tzone://Microsoft/Custom"} {
		if _, _, err := Zone(bad); !errors.Is(err, ErrUnknownZone) {
			t.Errorf("Zone(%q): %v, want ErrUnknownZone", bad, err)
		}
	}
}

// Every Windows name of the table resolves to a zone Go knows.
func TestWindowsTableLoads(t *testing.T) {
	t.Parallel()
	for win, iana := range windowsZones {
		if _, err := time.LoadLocation(iana); err != nil {
			t.Errorf("%q -> %q: %v", win, iana, err)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	lt, err := Parse("2026-12-08T09:00")
	if err != nil || lt.String() != "2026-12-08T09:00" {
		t.Fatalf("Parse: %v, %v", lt, err)
	}
	if got := lt.Earliest().Format(time.RFC3339); got != "2026-12-07T19:00:00Z" {
		t.Errorf("Earliest = %s", got)
	}
	if got := lt.Latest().Format(time.RFC3339); got != "2026-12-08T21:00:00Z" {
		t.Errorf("Latest = %s", got)
	}
	for _, bad := range []string{"", "2026-12-08", "2026-12-08T09:00:00", "2026-12-08T09:00Z", "2026-13-01T09:00", "2026-12-08 09:00", "2026-02-30T09:00"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
