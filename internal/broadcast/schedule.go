package broadcast

import (
	"time"

	"github.com/broadcast-dev/broadcast/internal/localtime"
)

// Bounds of a create request's sendAt.
const (
	// ScheduleSkew is how far in the past a sendAt may be and still be
	// accepted (and sent at once): the client's clock may be a little
	// behind ours, and a request takes time to arrive.
	ScheduleSkew = 5 * time.Second
	// MaxScheduleAhead is how far ahead a broadcast may be scheduled.
	MaxScheduleAhead = 365 * 24 * time.Hour
)

const sendAtExample = "2026-12-02T09:00:00Z"

// normalizeSendAt checks that sendAt is an RFC 3339 time and rewrites it
// in UTC to the millisecond, so that equal times read alike (a retry with
// an Idempotency-Key compares them). Whether it lies in the accepted
// window depends on the clock: CheckSendAt.
func (r *CreateRequest) normalizeSendAt(v *ValidationError) {
	if r.SendAt == nil {
		return
	}
	if *r.SendAt == "" {
		v.add("sendAt", "empty: give an RFC 3339 time such as %q, or leave sendAt out to send now", sendAtExample)
		return
	}
	t, err := time.Parse(time.RFC3339, *r.SendAt)
	if err != nil {
		v.add("sendAt", "must be an RFC 3339 time with a zone, such as %q, got %q", sendAtExample, clip(*r.SendAt))
		return
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		// In UTC it would not be an RFC 3339 time any more.
		v.add("sendAt", "year %d in UTC: out of range", y)
		return
	}
	at := t.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
	r.SendAt = &at
}

// SendTime returns the request's sendAt, and false when it has none (or
// one Normalize refused).
func (r *CreateRequest) SendTime() (time.Time, bool) {
	if r.SendAt == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, *r.SendAt)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// CheckSendAt refuses a sendAt more than ScheduleSkew in the past or more
// than MaxScheduleAhead after now, naming the field.
func CheckSendAt(at, now time.Time) error {
	switch {
	case at.Before(now.Add(-ScheduleSkew)):
		return Invalid("sendAt", "%s is in the past (it is now %s): give a future time, or leave sendAt out to send now",
			at.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case at.After(now.Add(MaxScheduleAhead)):
		return Invalid("sendAt", "%s is more than %d days ahead (it is now %s)",
			at.Format(time.RFC3339), int(MaxScheduleAhead/(24*time.Hour)), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// normalizeLocalTime checks that localTime is a wall-clock time
// (localtime.Layout) and that sendAt is not given too.
func (r *CreateRequest) normalizeLocalTime(v *ValidationError) {
	if r.LocalTime == nil {
		return
	}
	if r.SendAt != nil {
		v.add("localTime", "give either sendAt (one instant for everyone) or localTime (the same time in each recipient's zone), not both")
		return
	}
	t, err := localtime.Parse(*r.LocalTime)
	if err != nil {
		v.add("localTime", "%s", err)
		return
	}
	s := t.String()
	r.LocalTime = &s
}

// LocalTimeOf returns the request's localTime, and false when it has none
// (or one Normalize refused).
func (r *CreateRequest) LocalTimeOf() (localtime.Time, bool) {
	if r.LocalTime == nil {
		return localtime.Time{}, false
	}
	t, err := localtime.Parse(*r.LocalTime)
	return t, err == nil
}

// CheckLocalTime refuses a localTime whose first wave, at first (the
// earliest instant it occurs in the zones the tenant is known to have),
// is more than ScheduleSkew in the past, or whose last possible wave is
// more than MaxScheduleAhead after now.
func CheckLocalTime(t localtime.Time, first time.Time, firstZone string, now time.Time) error {
	switch {
	case first.Before(now.Add(-ScheduleSkew)):
		return Invalid("localTime", "%s has passed in %s (%s; it is now %s): give a later time",
			t, firstZone, first.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case t.Latest().After(now.Add(MaxScheduleAhead)):
		return Invalid("localTime", "%s is more than %d days ahead (it is now %s)",
			t, int(MaxScheduleAhead/(24*time.Hour)), now.UTC().Format(time.RFC3339))
	}
	return nil
}
