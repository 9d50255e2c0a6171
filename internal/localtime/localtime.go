// Package localtime turns a wall-clock time ("2026-12-08T09:00") into the
// instant it occurs in a time zone, and reads the zone names Graph gives a
// user's mailbox (Windows names such as "W. Europe Standard Time", or IANA
// names such as "Europe/Berlin").
//
// Daylight-saving changes: a wall-clock time that does not occur in the
// zone that day (02:30 when clocks jump from 02:00 to 03:00) is taken at
// the first instant after the gap (03:00 local); one that occurs twice
// (01:30 when clocks go back from 02:00 to 01:00) at its first occurrence
// (the earlier instant, still in summer time).
package localtime

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // zones resolve the same on every host, with or without a system zoneinfo
)

// Layout is the format of a wall-clock time: date and minute, no zone.
const Layout = "2006-01-02T15:04"

// The UTC offsets in use on Earth lie between UTC+14 (Kiribati's Line
// Islands) and UTC-12 (Baker Island): a wall-clock time occurs somewhere
// between Earliest and Latest.
const (
	maxAhead  = 14 * time.Hour
	maxBehind = 12 * time.Hour
)

// Time is a wall-clock time without a zone, to the minute.
type Time struct{ wall time.Time } // its fields read in UTC

// Parse reads a wall-clock time in Layout.
func Parse(s string) (Time, error) {
	t, err := time.Parse(Layout, s)
	if err != nil {
		return Time{}, fmt.Errorf("must be a local time %s, such as \"2026-12-08T09:00\", got %q", "YYYY-MM-DDTHH:MM", s)
	}
	return Time{t}, nil
}

// String formats t in Layout.
func (t Time) String() string { return t.wall.Format(Layout) }

// Earliest is the first instant t occurs anywhere (at UTC+14).
func (t Time) Earliest() time.Time { return t.wall.Add(-maxAhead) }

// Latest is the last instant t occurs anywhere (at UTC-12).
func (t Time) Latest() time.Time { return t.wall.Add(maxBehind) }

// In returns the instant t occurs in loc, in UTC, with the rules of the
// package comment for daylight-saving changes.
func (t Time) In(loc *time.Location) time.Time {
	w := t.wall
	at := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, loc)
	if !sameWall(at, w) {
		// In a gap: time.Date moved it by the gap's size, either way. The
		// first instant after the gap is the zone's transition, which lies
		// within a day of it.
		return transitionAfter(at.Add(-24*time.Hour), loc).UTC()
	}
	// Ambiguous when the same wall time also occurs an offset change
	// earlier; time.Date may have picked either.
	first := at
	for _, d := range []time.Duration{-3 * time.Hour, -2 * time.Hour, -time.Hour, -30 * time.Minute} {
		if e := at.Add(d); sameWall(e.In(loc), w) && e.Before(first) {
			first = e
		}
	}
	return first.UTC()
}

// sameWall reports whether at reads w's date, hour and minute on a clock.
func sameWall(at, w time.Time) bool {
	return at.Year() == w.Year() && at.Month() == w.Month() && at.Day() == w.Day() &&
		at.Hour() == w.Hour() && at.Minute() == w.Minute()
}

// transitionAfter finds the first change of loc's offset after from
// (within two days), by bisection to the second.
func transitionAfter(from time.Time, loc *time.Location) time.Time {
	_, off := from.In(loc).Zone()
	lo, hi := from, from.Add(48*time.Hour)
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if _, o := mid.In(loc).Zone(); o == off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi.Truncate(time.Second)
}

// ErrUnknownZone is returned for a zone name neither IANA nor Windows knows.
var ErrUnknownZone = errors.New("unknown time zone")

// Zone reads a zone name as Graph gives it (Windows or IANA) and returns
// its IANA name and location. "UTC", "Etc/UTC" and Windows' "UTC" are
// Etc/UTC.
func Zone(name string) (string, *time.Location, error) {
	name = strings.TrimSpace(name)
	if name == "" || name == "Local" {
		return "", nil, fmt.Errorf("%w: %q", ErrUnknownZone, name)
	}
	if iana, ok := windowsZones[name]; ok {
		name = iana
	}
	if name == "UTC" {
		name = "Etc/UTC"
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %q", ErrUnknownZone, name)
	}
	return name, loc, nil
}
