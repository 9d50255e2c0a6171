package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/spf13/cobra"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

func (a *app) remindCmd() *cobra.Command {
	var to, messageFile, key string
	var w watchFlags
	cmd := &cobra.Command{
		Use:   "remind ID --to unacknowledged|unread",
		Short: "Remind the recipients who did not acknowledge or read a broadcast",
		Long: `Send a reminder of a broadcast, as a broadcast of its own (kind reminder), to
the recipients it was delivered to who have not acknowledged it (it must have
an acknowledge button) or who have not read it. "unread" reaches only the
recipients whose read receipts are known to be on: the others may have read it
and are left out, and counted. Recipients it was never delivered to are not
reminded. The message is the broadcast's, led by "Reminder: ", or the JSON
message object in --message-file (as create's message field takes it).
Prints the reminder's id, then whom it chose.`,
		Example: `  bcast remind 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --to unacknowledged
  bcast remind 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --to unread --message-file reminder.json --watch`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to != string(broadcast.RemindUnacknowledged) && to != string(broadcast.RemindUnread) {
				return usageError("--to must be %s or %s", broadcast.RemindUnacknowledged, broadcast.RemindUnread)
			}
			body := map[string]any{"to": to}
			if messageFile != "" {
				m, err := readMessageFile(messageFile, cmd.InOrStdin())
				if err != nil {
					return err
				}
				body["message"] = m
			}
			req := request{method: http.MethodPost, path: "/v1/broadcasts/" + url.PathEscape(args[0]) + "/remind", json: body, header: http.Header{}}
			if key != "" {
				req.header.Set(broadcast.IdempotencyHeader, key)
			}
			var b Broadcast
			hdr, err := a.client.do(cmd.Context(), req, &b)
			if err != nil {
				return err
			}
			a.printf("%s\n", b.ID)
			if r := b.Reminder; r != nil {
				fmt.Fprintf(a.errOut, "bcast: %s\n", reminderLine(r))
			}
			if hdr.Get("Idempotent-Replayed") == "true" {
				fmt.Fprintf(a.errOut, "bcast: the Idempotency-Key %q was used before: this is that reminder\n", key)
			}
			if w.watch {
				return a.watch(cmd.Context(), b.ID, &w)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "whom to remind: unacknowledged or unread")
	cmd.Flags().StringVar(&messageFile, "message-file", "", "a JSON `FILE` with the reminder's message object (- reads standard input)")
	cmd.Flags().StringVar(&key, "idempotency-key", "", "a `KEY` that makes a retried remind return the first reminder instead of a second")
	w.add(cmd.Flags(), true)
	return cmd
}

// readMessageFile reads a message object; the API checks it.
func readMessageFile(path string, stdin io.Reader) (json.RawMessage, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(stdin)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("--message-file: %w", err)
	}
	if !json.Valid(raw) {
		return nil, usageError("--message-file %s: not JSON: give a message object such as {\"text\": \"...\"}", path)
	}
	return raw, nil
}

// reminderLine says whom a reminder chose and left out.
func reminderLine(r *broadcast.Reminder) string {
	s := fmt.Sprintf("reminds %d of the %d delivered (%s)", r.Recipients, r.Delivered, r.To)
	switch r.To {
	case broadcast.RemindUnacknowledged:
		s += fmt.Sprintf("; %d acknowledged", r.Acknowledged)
	case broadcast.RemindUnread:
		s += fmt.Sprintf("; %d read; %d left out: read receipts unknown", r.Read, r.ReceiptsUnknown)
	}
	if r.NotDelivered > 0 {
		s += fmt.Sprintf("; %d never delivered, not reminded", r.NotDelivered)
	}
	return s
}
