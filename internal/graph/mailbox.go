package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

// MailboxTimeZones reads the time zone of users' mailboxes
// (mailboxSettings/timeZone, permission MailboxSettings.Read) through
// $batch, MaxBatch users a request, each counted in the client's
// directory rate as Graph counts it. The zone is a Windows or an IANA
// name as the user set it, "" when unset; a user without a mailbox (Graph
// answers 404, MailboxNotEnabledForRESTAPI) is absent from the map.
func (c *Client) MailboxTimeZones(ctx context.Context, userIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(userIDs))
	for i := 0; i < len(userIDs); i += MaxBatch {
		ids := userIDs[i:min(i+MaxBatch, len(userIDs))]
		urls := make([]string, len(ids))
		for j, id := range ids {
			urls[j] = "/users/" + url.PathEscape(id) + "/mailboxSettings/timeZone"
		}
		err := c.getBatch(ctx, "read the time zone of", ids, urls, true, func(j int, body json.RawMessage) error {
			var tz struct {
				Value *string `json:"value"`
			}
			if err := json.Unmarshal(body, &tz); err != nil {
				return fmt.Errorf("graph: time zone of %s: decode: %w", ids[j], err)
			}
			if tz.Value != nil {
				out[ids[j]] = *tz.Value
			} else {
				out[ids[j]] = ""
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
