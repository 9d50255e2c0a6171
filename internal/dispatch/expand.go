package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// The expansion of one broadcast is a pipeline of four stages, each in a
// goroutine of its own, with at most one page waiting between two stages:
//
//	read     the next page of the resolved audience
//	record   look up conversations, add the recipients with their counters
//	publish  publish the page's jobs without waiting for their acks
//	ack      wait for the page's acks, then save the cursor past the page
//
// So Graph, Redis, the encoding of jobs and JetStream work at the same time,
// and at most seven pages are in memory whatever the audience's size: one in
// each stage and one waiting before each of the last three. The connection
// bounds the acks outstanding (queue.MaxPendingAcks). The ack stage takes
// pages in order, so the saved cursor only ever passes pages whose
// recipients are recorded and whose jobs are stored: a dispatcher that dies
// resumes at the first page it may not have finished, and redoes at most the
// pages that were in the pipeline.

// page is one page of the audience on its way through the pipeline.
type page struct {
	users []string
	after string // the cursor after the page; "" after the last
}

// recorded is a page whose recipients are recorded, with their jobs.
type recorded struct {
	items []queue.Item
	after string
}

// published is a page whose jobs are on their way to the stream.
type published struct {
	acks  *queue.Acks
	items []queue.Item
	after string
}

// source is what an expansion queues: next reads one page at a cursor
// and returns the cursor after it ("" after the last page); save records
// that everything before a cursor is queued.
type source struct {
	next func(ctx context.Context, cursor string) ([]string, string, error)
	save func(ctx context.Context, after string) error
}

// errStopped is returned when the pipeline stopped before the last page
// without an error of its own: its context ended.
var errStopped = errors.New("expansion stopped before the last page")

// expandFrom runs the pipeline from cursor to the last page of the audience.
func (d *Dispatcher) expandFrom(ctx context.Context, b *broadcast.Broadcast, cursor string, src source) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup

	// read. A page that cannot be read stops the reading only: the pages
	// before it still go through, so that their cursor is saved.
	next := src.next
	pages := make(chan page, 1)
	var readErr error
	var last bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pages)
		for {
			if d.pageRead != nil {
				if err := d.pageRead(cursor); err != nil {
					readErr = fmt.Errorf("read audience page: %w", err)
					return
				}
			}
			users, after, err := next(ctx, cursor)
			if err != nil {
				readErr = fmt.Errorf("read audience page: %w", err)
				return
			}
			select {
			case pages <- page{users: users, after: after}:
			case <-ctx.Done():
				return
			}
			if after == "" {
				last = true
				return
			}
			cursor = after
		}
	}()

	// ack. Once a page fails, the pages behind it are only drained: the
	// cursor must not pass a page whose jobs may be missing.
	pubs := make(chan published, 1)
	var ackErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for p := range pubs {
			if ackErr != nil {
				continue
			}
			if err := p.acks.Wait(ctx); err != nil {
				ackErr = fmt.Errorf("publish jobs: %w", err)
				cancel()
				continue
			}
			countPublished(b.TenantID, p.items)
			if p.after != "" {
				if err := src.save(ctx, p.after); err != nil {
					ackErr = err
					cancel()
				}
			}
		}
	}()

	// publish. Its context is the pipeline's: a failure anywhere stops it.
	recs := make(chan recorded, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pubs)
		for r := range recs {
			pubs <- published{acks: d.pub.PublishAsync(ctx, r.items), items: r.items, after: r.after}
		}
	}()

	// record, in this goroutine.
	var recErr error
	for p := range pages {
		if recErr != nil || ctx.Err() != nil {
			continue // drain: the reader stops at the cancelled context
		}
		items, err := d.recordPage(ctx, b, p.users)
		if err != nil {
			recErr = err
			cancel()
			continue
		}
		recs <- recorded{items: items, after: p.after}
	}
	close(recs)
	wg.Wait()

	if err := errors.Join(recErr, ackErr, readErr); err != nil {
		return err
	}
	if !last {
		return errStopped
	}
	return nil
}

// pager returns the function that reads one page of the resolved audience
// at a cursor and returns the cursor after it ("" after the last page).
func (d *Dispatcher) pager(b *broadcast.Broadcast) func(ctx context.Context, cursor string) ([]string, string, error) {
	return func(ctx context.Context, cursor string) ([]string, string, error) {
		after, err := expansionAfter(cursor)
		if err != nil {
			return nil, "", err
		}
		ids, err := d.store.AudienceMembers(ctx, b.ID, after, int64(d.cfg.PageSize))
		if err != nil {
			return nil, "", err
		}
		next := ""
		if len(ids) == d.cfg.PageSize {
			next = cursorKind + ids[len(ids)-1]
		}
		return ids, next, nil
	}
}

// recordPage records a page of recipients and returns their jobs: a send
// job where the conversation is known, an install job otherwise.
func (d *Dispatcher) recordPage(ctx context.Context, b *broadcast.Broadcast, users []string) ([]queue.Item, error) {
	if len(users) == 0 {
		return nil, nil
	}
	convs, err := d.store.Conversations(ctx, b.TenantID, users)
	if err != nil {
		return nil, err
	}
	news := make([]store.NewRecipient, len(users))
	for i, u := range users {
		news[i] = store.NewRecipient{UserID: u, State: broadcast.StateInstalling}
		if c, ok := convs[u]; ok {
			news[i] = store.NewRecipient{UserID: u, State: broadcast.StatePending, ConversationID: c}
		}
	}
	added, err := d.store.AddRecipients(ctx, b.ID, news)
	if err != nil {
		return nil, err
	}
	metrics.RecipientsRecorded(b.TenantID, len(users))
	items := make([]queue.Item, 0, len(added))
	for _, a := range added {
		// Existing recipients (a resumed page) get their job again; the
		// stream or the sender drops it if it was already done.
		job := broadcast.Job{BroadcastID: b.ID, TenantID: b.TenantID, UserID: a.UserID}
		switch a.State {
		case broadcast.StatePending:
			job.ConversationID = convs[a.UserID]
			items = append(items, queue.Item{Stage: broadcast.StageSend, Job: job})
		case broadcast.StateInstalling:
			items = append(items, queue.Item{Stage: broadcast.StageInstall, Job: job})
		}
	}
	return items, nil
}

// countPublished counts a page's jobs stored by the stream, by stage.
func countPublished(tenant string, items []queue.Item) {
	var install, send int
	for _, it := range items {
		if it.Stage == broadcast.StageInstall {
			install++
		} else {
			send++
		}
	}
	if install > 0 {
		metrics.JobsPublished(tenant, string(broadcast.StageInstall), install)
	}
	if send > 0 {
		metrics.JobsPublished(tenant, string(broadcast.StageSend), send)
	}
}
