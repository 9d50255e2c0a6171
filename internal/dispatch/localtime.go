package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/localtime"
	"github.com/broadcast-dev/broadcast/internal/wave"
)

// A localTime broadcast reaches each recipient at the same wall-clock
// time in the recipient's own zone, in waves, one per zone:
//
//  1. It is scheduled to start LocalTimeLead before the first instant its
//     localTime occurs anywhere on Earth (UTC+14), or at once if that has
//     passed. Its start is a scheduled broadcast's (store.StartScheduled).
//  2. Its expansion resolves the audience as any other's, then groups the
//     recipients by zone a page at a time, saving its cursor (resumable):
//     each user's mailbox zone comes from the cache beside the directory,
//     else from Graph (mailboxSettings through $batch, Graph.MailboxTimeZones,
//     within the client's rate), and is cached; a user with none, or one
//     no zone table knows, gets the tenant's zone (Config.TimeZone).
//  3. Each zone's wave is recorded with its start, the instant localTime
//     occurs there (localtime: a time in a DST gap starts at the gap's end,
//     an ambiguous one at its first occurrence), and registered as due
//     then (package wave).
//  4. Every dispatcher looks for due waves with the scheduled broadcasts
//     (watchScheduled) and starts each with one script, so once; it then
//     runs the broadcast's expansion, which queues the started waves'
//     recipients, each wave from its saved cursor, under the expansion
//     lease like any expansion. The broadcast stays expanding (and
//     registered for resumption) until its last wave is queued.
//
// A cancel cancels the waves not started (sweep) and stops the running
// one as it stops any expansion. Waves are due by the dispatcher's clock
// (Config.Now).

// LocalTimeLead is how long before the first zone can reach a localTime
// broadcast's time its audience is resolved and grouped by zone: time
// for Graph to give the zones of a large audience.
const LocalTimeLead = time.Hour

// dueWaves bounds the due waves one look starts; more wait a tick.
const dueWaves = 200

// scheduleLocal sets a localTime broadcast's start (step 1).
func scheduleLocal(b *broadcast.Broadcast, lt localtime.Time, now time.Time) {
	s := lt.String()
	b.LocalTime = &s
	at := lt.Earliest().Add(-LocalTimeLead).Truncate(time.Millisecond)
	if at.After(now) {
		b.Status = broadcast.StatusScheduled
	} else {
		at = now.Truncate(time.Millisecond)
	}
	b.SendAt = &at
}

// tenantZone is the zone of recipients without one.
func (d *Dispatcher) tenantZone() (string, *time.Location) {
	if name, loc, err := localtime.Zone(d.cfg.TimeZone); err == nil {
		return name, loc
	}
	return "Etc/UTC", time.UTC
}

// checkLocalTime refuses a localTime that has passed, by more than
// broadcast.ScheduleSkew, in the zone that reaches it first of those the
// tenant's users are known to have and the tenant's own; or whose last
// possible wave is beyond the scheduling window.
func (d *Dispatcher) checkLocalTime(ctx context.Context, b *broadcast.Broadcast) error {
	lt, err := localtime.Parse(*b.LocalTime)
	if err != nil {
		return broadcast.Invalid("localTime", "%s", err)
	}
	known, err := d.waves.KnownZones(ctx, b.TenantID)
	if err != nil {
		return err
	}
	firstZone, loc := d.tenantZone()
	first := lt.In(loc)
	for _, z := range known {
		if name, loc, err := localtime.Zone(z); err == nil {
			if at := lt.In(loc); at.Before(first) {
				first, firstZone = at, name
			}
		}
	}
	return broadcast.CheckLocalTime(lt, first, firstZone, d.cfg.Now())
}

// expandWaves groups a localTime broadcast's audience by zone if that is
// not done, then queues the recipients of its started waves. It reports
// whether every wave is queued.
func (d *Dispatcher) expandWaves(ctx context.Context, b *broadcast.Broadcast, log *zap.Logger) (bool, error) {
	cursor, grouped, err := d.waves.Grouping(ctx, b.ID)
	if err != nil {
		return false, err
	}
	if !grouped {
		if err := d.groupByZone(ctx, b, cursor, log); err != nil {
			return false, err
		}
	}
	// Read again after queuing: a wave another dispatcher started
	// meanwhile found the lease held here and left its queuing to us.
	for {
		waves, err := d.waves.Waves(ctx, b.ID)
		if err != nil {
			return false, err
		}
		all, queued := true, false
		for _, w := range waves {
			switch w.State {
			case broadcast.ZoneStarted:
				if err := d.expandWave(ctx, b, w, log); err != nil {
					return false, err
				}
				queued = true
			case broadcast.ZonePending:
				all = false
			}
		}
		if !queued {
			return all, nil
		}
	}
}

// groupByZone puts each recipient of the resolved audience, a page at a
// time from cursor, in the wave of their zone, then records the waves.
func (d *Dispatcher) groupByZone(ctx context.Context, b *broadcast.Broadcast, cursor string, log *zap.Logger) error {
	if cursor != "" {
		log.Info("resuming the grouping by time zone")
	}
	defName, _ := d.tenantZone()
	for {
		users, err := d.store.AudienceMembers(ctx, b.ID, cursor, int64(d.cfg.PageSize))
		if err != nil {
			return err
		}
		if len(users) == 0 {
			break
		}
		zones, err := d.zonesOf(ctx, b.TenantID, users)
		if err != nil {
			return err
		}
		byZone := make(map[string][]string)
		for _, u := range users {
			z := zones[u]
			if z == "" {
				z = defName
			}
			byZone[z] = append(byZone[z], u)
		}
		cursor = users[len(users)-1]
		if err := d.waves.Group(ctx, b.ID, d.holder, cursor, byZone); err != nil {
			return err
		}
		if len(users) < d.cfg.PageSize {
			break
		}
	}
	lt, err := localtime.Parse(*b.LocalTime)
	if err != nil {
		return fmt.Errorf("broadcast %s: stored localTime: %w", b.ID, err)
	}
	zones, err := d.waves.GroupedZones(ctx, b.ID)
	if err != nil {
		return err
	}
	starts := make(map[string]time.Time, len(zones))
	fields := make([]string, 0, len(zones))
	for _, z := range zones {
		_, loc, err := localtime.Zone(z)
		if err != nil {
			return fmt.Errorf("wave of zone %q: %w", z, err)
		}
		starts[z] = lt.In(loc)
		fields = append(fields, z+"="+starts[z].Format(time.RFC3339))
	}
	if err := d.waves.FinishGrouping(ctx, b.ID, d.holder, starts); err != nil {
		return err
	}
	log.Info("audience grouped by time zone", zap.Int("zones", len(zones)), zap.String("waves", strings.Join(fields, " ")))
	return nil
}

// zonesOf returns the IANA zones of users: cached, else read from Graph
// and cached. A user without one, or with one no table knows, is absent.
func (d *Dispatcher) zonesOf(ctx context.Context, tenant string, users []string) (map[string]string, error) {
	now := d.cfg.Now()
	names, err := d.waves.CachedZones(ctx, tenant, users, now)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, u := range users {
		if _, ok := names[u]; !ok {
			missing = append(missing, u)
		}
	}
	if len(missing) > 0 {
		dir, err := d.usersFor(tenant)
		if err != nil {
			return nil, err
		}
		mb, ok := dir.(Mailboxes)
		if !ok {
			return nil, errors.New("the tenant's directory cannot read mailbox time zones")
		}
		read, err := mb.MailboxTimeZones(ctx, missing)
		if err != nil {
			return nil, inGraph("mailbox time zones", err)
		}
		got := make(map[string]string, len(missing))
		var known []string
		for _, u := range missing {
			z := read[u] // "" for no mailbox or no zone: the tenant's
			got[u], names[u] = z, z
			if iana, _, err := localtime.Zone(z); err == nil {
				known = append(known, iana)
			} else if z != "" {
				d.log.Debug("mailbox time zone unknown; the tenant's is used", zap.String("tenant_id", tenant),
					zap.String("user_id", u), zap.String("zone", z))
			}
		}
		if err := d.waves.CacheZones(ctx, tenant, got, known, now); err != nil {
			return nil, err
		}
	}
	out := make(map[string]string, len(names))
	for u, z := range names {
		if iana, _, err := localtime.Zone(z); err == nil {
			out[u] = iana
		}
	}
	return out, nil
}

// expandWave queues a started wave's recipients from its cursor, then
// records it done.
func (d *Dispatcher) expandWave(ctx context.Context, b *broadcast.Broadcast, w wave.Wave, log *zap.Logger) error {
	zone := w.Zone.Zone
	src := source{
		next: func(ctx context.Context, cursor string) ([]string, string, error) {
			ids, err := d.waves.Members(ctx, b.ID, zone, cursor, int64(d.cfg.PageSize))
			if err != nil {
				return nil, "", err
			}
			next := ""
			if len(ids) == d.cfg.PageSize {
				next = ids[len(ids)-1]
			}
			return ids, next, nil
		},
		save: func(ctx context.Context, after string) error {
			return d.waves.SaveCursor(ctx, b.ID, d.holder, zone, after)
		},
	}
	if err := d.expandFrom(ctx, b, w.Cursor, src); err != nil {
		return err
	}
	if err := d.waves.Finish(ctx, b.ID, d.holder, zone); err != nil {
		return err
	}
	log.Info("time zone wave queued", zap.String("zone", zone), zap.Int64("recipients", w.Recipients),
		zap.Time("start_at", w.StartAt))
	return nil
}

// startDueWaves starts the waves due by the dispatcher's clock and runs
// their broadcasts' expansion here. The waves it leaves registered (another
// deployment's tenants', or not startable yet) are passed over, a page at
// a time, so that however many there are they never hide a due one.
func (d *Dispatcher) startDueWaves(ctx context.Context) error {
	now := d.cfg.Now()
	var kept int64
	for {
		due, err := d.waves.Due(ctx, now, kept, dueWaves)
		if err != nil {
			return err
		}
		for _, w := range due {
			id, zone := w[0], w[1]
			verdict, err := d.waves.Start(ctx, id, zone, now, d.cfg.Tenants)
			if err != nil {
				return err
			}
			log := d.log.With(zap.String("broadcast_id", id), zap.String("zone", zone))
			switch {
			case verdict == "started":
				log.Info("time zone wave started")
				d.start(id)
			case verdict == "canceled", verdict == "missing", strings.HasPrefix(verdict, "wave "):
				// Settled and unregistered.
			default: // early, foreign, or its broadcast's status: left registered
				kept++
				if verdict != "early" && verdict != "foreign" {
					log.Debug("time zone wave not started", zap.String("verdict", verdict))
				}
			}
		}
		if len(due) < dueWaves {
			return nil
		}
	}
}

// cancelWaves cancels the waves of a canceled broadcast not started yet.
func (d *Dispatcher) cancelWaves(ctx context.Context, id string, log *zap.Logger) error {
	n, err := d.waves.CancelPending(ctx, id)
	if err == nil && n > 0 {
		log.Info("time zone waves canceled before their start", zap.Int("waves", n))
	}
	return err
}

// wavesPosition is where a localTime broadcast's grouping and waves stand,
// for the stall detection (position).
func (d *Dispatcher) wavesPosition(ctx context.Context, id string) (string, error) {
	cursor, grouped, err := d.waves.Grouping(ctx, id)
	if err != nil || !grouped {
		return cursor, err
	}
	ws, err := d.waves.Waves(ctx, id)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.Zone.Zone + "|" + string(w.State) + "|" + w.Cursor + "\x00")
	}
	return b.String(), nil
}
