package api

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/engage"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/wave"
)

// BroadcastStatus is the answer of GET /v1/broadcasts/{id}: the broadcast
// with its engagement counters beside its delivery counters.
type BroadcastStatus struct {
	*broadcast.Broadcast
	Engagement engage.Counts `json:"engagement"`
}

// status reads a broadcast and its engagement counters.
func (s *Server) status(ctx context.Context, id string) (BroadcastStatus, error) {
	b, err := s.store.Broadcast(ctx, id)
	if err != nil {
		return BroadcastStatus{}, err
	}
	counts, err := s.engage.Counts(ctx, id)
	if err != nil {
		return BroadcastStatus{}, err
	}
	if b.LocalTime != nil {
		if b.Zones, err = wave.New(s.store.Client(), s.store.Keyspace).Zones(ctx, b); err != nil {
			return BroadcastStatus{}, err
		}
	}
	return BroadcastStatus{Broadcast: b, Engagement: counts}, nil
}

// EngagementReport is the answer of GET /v1/broadcasts/{id}/engagement.
type EngagementReport struct {
	BroadcastID string `json:"broadcastId"`
	// Delivered is how many recipients got the message (the sent count).
	Delivered int64         `json:"delivered"`
	Counts    engage.Counts `json:"counts"`
	// Since is when the series starts: the send's start (else the
	// creation).
	Since  time.Time     `json:"since"`
	Series engage.Series `json:"series"`
	// Deliveries is the send's outcomes over time, in the same buckets.
	Deliveries store.DeliverySeries `json:"deliveries"`
	// Departments is the breakdown by the directory cache's department
	// (?breakdown=department): recipients delivered, and of them those
	// who read, acknowledged, reacted and replied. "" is no department.
	Departments []DepartmentEngagement `json:"departments,omitempty"`
}

// DepartmentEngagement is one department's row of the breakdown.
type DepartmentEngagement struct {
	Department   string `json:"department"`
	Delivered    int64  `json:"delivered"`
	Read         int64  `json:"read"`
	Acknowledged int64  `json:"acknowledged"`
	Reacted      int64  `json:"reacted"`
	Replied      int64  `json:"replied"`
}

// RepliesPage is the answer of GET /v1/broadcasts/{id}/replies.
type RepliesPage struct {
	Replies    []engage.Reply `json:"replies"`
	NextCursor string         `json:"nextCursor,omitempty"`
}

// RecipientRow is a recipient as GET /v1/broadcasts/{id}/recipients lists
// it: its delivery and its engagement.
type RecipientRow struct {
	broadcast.Recipient
	engage.Engagement
}

// Engagement filters of the recipients' list.
const (
	EngagementRead           = "read"
	EngagementUnread         = "unread"
	EngagementAcknowledged   = "acknowledged"
	EngagementUnacknowledged = "unacknowledged"
)

var (
	engagementFilters = map[string]bool{EngagementRead: true, EngagementUnread: true, EngagementAcknowledged: true, EngagementUnacknowledged: true}
	engagementNames   = strings.Join([]string{EngagementRead, EngagementUnread, EngagementAcknowledged, EngagementUnacknowledged}, ", ")
)

// filterPages bounds the pages of sent recipients one filtered page looks
// at: a filtered page may be shorter than its limit (even empty) and have
// a next cursor.
const filterPages = 10

// breakdownPage is how many recipients a breakdown reads at a time.
const breakdownPage = 1000

func (s *Server) engagement(w http.ResponseWriter, r *http.Request) {
	id, ok := broadcastID(w, r)
	if !ok {
		return
	}
	c := &queryCheck{q: r.URL.Query()}
	c.only("breakdown")
	breakdown := c.q.Get("breakdown")
	if breakdown != "" && breakdown != "department" {
		c.bad("breakdown", "must be department, got %q", breakdown)
	}
	if err := c.err(); err != nil {
		s.fail(w, err)
		return
	}
	st, err := s.status(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	b, counts := st.Broadcast, st.Engagement
	since := b.CreatedAt
	if b.StartedAt != nil {
		since = *b.StartedAt
	}
	series, err := s.engage.Series(r.Context(), id, since)
	if err != nil {
		s.fail(w, err)
		return
	}
	deliveries, err := s.store.Deliveries(r.Context(), id, since)
	if err != nil {
		s.fail(w, err)
		return
	}
	rep := EngagementReport{BroadcastID: id, Delivered: b.Counts.Sent, Counts: counts, Since: since, Series: series, Deliveries: deliveries}
	if breakdown != "" {
		if rep.Departments, err = s.departments(r.Context(), b); err != nil {
			s.fail(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, rep)
}

// departments reads every recipient who got the message, a page at a
// time, with its profile and its engagement.
func (s *Server) departments(ctx context.Context, b *broadcast.Broadcast) ([]DepartmentEngagement, error) {
	rows := map[string]*DepartmentEngagement{}
	cursor := ""
	for {
		recs, next, err := s.store.Recipients(ctx, b.ID, broadcast.StateSent, cursor, breakdownPage)
		if err != nil {
			return nil, err
		}
		ids := userIDs(recs)
		profiles, err := s.store.Profiles(ctx, b.TenantID, ids)
		if err != nil {
			return nil, err
		}
		eng, err := s.engage.Recipients(ctx, b.ID, ids)
		if err != nil {
			return nil, err
		}
		for _, u := range ids {
			dep := strings.TrimSpace(profiles[u].Department)
			row := rows[dep]
			if row == nil {
				row = &DepartmentEngagement{Department: dep}
				rows[dep] = row
			}
			row.Delivered++
			e := eng[u]
			row.Read += one(e.ReadAt != nil)
			row.Acknowledged += one(e.AcknowledgedAt != nil)
			row.Reacted += one(len(e.Reactions) > 0)
			row.Replied += one(e.RepliedAt != nil)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	out := make([]DepartmentEngagement, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Delivered != out[j].Delivered {
			return out[i].Delivered > out[j].Delivered
		}
		return out[i].Department < out[j].Department
	})
	return out, nil
}

func one(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func userIDs(recs []broadcast.Recipient) []string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.UserID
	}
	return ids
}

func (s *Server) replies(w http.ResponseWriter, r *http.Request) {
	id, ok := broadcastID(w, r)
	if !ok {
		return
	}
	c := &queryCheck{q: r.URL.Query()}
	c.only("limit", "cursor")
	limit := c.limit(100, 1000)
	if err := c.err(); err != nil {
		s.fail(w, err)
		return
	}
	if _, err := s.store.Broadcast(r.Context(), id); err != nil {
		s.fail(w, err)
		return
	}
	list, next, err := s.engage.Replies(r.Context(), id, c.q.Get("cursor"), limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, RepliesPage{Replies: list, NextCursor: next})
}

// withEngagement adds each recipient's engagement to a page.
func (s *Server) withEngagement(ctx context.Context, id string, recs []broadcast.Recipient) ([]RecipientRow, error) {
	eng, err := s.engage.Recipients(ctx, id, userIDs(recs))
	if err != nil {
		return nil, err
	}
	out := make([]RecipientRow, len(recs))
	for i, r := range recs {
		out[i] = RecipientRow{Recipient: r, Engagement: eng[r.UserID]}
	}
	return out, nil
}

// engaged lists the recipients who got the message (state sent) and match
// the engagement filter, looking at up to filterPages pages: at most
// limit of them.
func (s *Server) engaged(ctx context.Context, id, filter, cursor string, limit int) ([]RecipientRow, string, error) {
	out := []RecipientRow{}
	for range filterPages {
		recs, next, err := s.store.Recipients(ctx, id, broadcast.StateSent, cursor, limit-len(out))
		if err != nil {
			return nil, "", err
		}
		rows, err := s.withEngagement(ctx, id, recs)
		if err != nil {
			return nil, "", err
		}
		for _, r := range rows {
			read, acked := r.ReadAt != nil, r.AcknowledgedAt != nil
			// Unread is known only for a recipient whose receipts are on.
			if (filter == EngagementRead && read) || (filter == EngagementUnread && !read && r.ReceiptsOn) ||
				(filter == EngagementAcknowledged && acked) || (filter == EngagementUnacknowledged && !acked) {
				out = append(out, r)
			}
		}
		cursor = next
		if next == "" || len(out) >= limit {
			break
		}
	}
	return out, cursor, nil
}
