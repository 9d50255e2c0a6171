package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// AckVerb is the verb of a template's acknowledge button.
const AckVerb = "broadcast.ack"

// BroadcastIDToken stands for the broadcast's id in a rendered activity:
// the activity is rendered, and its hash taken for an idempotent create,
// before the id is final; ForBroadcast fills it in when it is sent.
const BroadcastIDToken = "{{broadcast.id}}"

// broadcastIDUnits is how much longer the id (a UUID) is than the token.
const broadcastIDUnits = 36 - len(BroadcastIDToken)

// ackData is the data of the acknowledge button's Action.Execute.
type ackData struct {
	BroadcastID string `json:"broadcastId"`
}

// ForBroadcast fills the broadcast's id in an activity rendered with
// BroadcastIDToken.
func ForBroadcast(activity []byte, id string) []byte {
	if !bytes.Contains(activity, []byte(BroadcastIDToken)) {
		return activity
	}
	return bytes.ReplaceAll(activity, []byte(BroadcastIDToken), []byte(id))
}

// Card returns the Adaptive Card of an activity, nil if it has none.
func Card(activity []byte) (json.RawMessage, error) {
	var a struct {
		Attachments []struct {
			ContentType string          `json:"contentType"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(activity, &a); err != nil {
		return nil, fmt.Errorf("decode activity: %w", err)
	}
	for _, at := range a.Attachments {
		if at.ContentType == "application/vnd.microsoft.card.adaptive" {
			return at.Content, nil
		}
	}
	return nil, nil
}

// Acknowledged returns the card a recipient sees once they acknowledged:
// the card as sent without its acknowledge button, and a line saying when
// (in the reader's own time zone: Adaptive Cards' DATE and TIME functions).
func Acknowledged(card json.RawMessage, at time.Time) (json.RawMessage, error) {
	var c map[string]any
	if err := json.Unmarshal(card, &c); err != nil || c == nil {
		return nil, errors.New("the card is not a JSON object")
	}
	if actions, ok := c["actions"].([]any); ok {
		kept := actions[:0]
		for _, a := range actions {
			if m, ok := a.(map[string]any); ok && m["type"] == "Action.Execute" && m["verb"] == AckVerb {
				continue
			}
			kept = append(kept, a)
		}
		if len(kept) == 0 {
			delete(c, "actions")
		} else {
			c["actions"] = kept
		}
	}
	body, _ := c["body"].([]any)
	stamp := at.UTC().Format("2006-01-02T15:04:05Z")
	c["body"] = append(body, map[string]any{"type": "TextBlock", "wrap": true, "weight": "Bolder", "color": "Good",
		"spacing": "Medium", "text": "✅ Acknowledged {{DATE(" + stamp + ", SHORT)}} {{TIME(" + stamp + ")}}"})
	out, err := marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode card: %w", err)
	}
	return out, nil
}
