package teamsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

const contentTypeAdaptiveCard = "application/vnd.microsoft.card.adaptive"

// cardAction is an Action.Execute of a card the bot sent: what a user's
// click sends back in an adaptiveCard/action invoke.
type cardAction struct {
	ID    string          `json:"id,omitempty"`
	Verb  string          `json:"verb,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
	Title string          `json:"-"`
}

// findExecute returns the first Action.Execute of the activity's Adaptive
// Cards, or nil: a user can click it. A card's refresh action is not one
// (Teams runs it by itself). Keys are visited in sorted order, so the
// choice is the same every time: the card's actions before its body.
func findExecute(body []byte) *cardAction {
	if !bytes.Contains(body, []byte("Action.Execute")) {
		return nil
	}
	var a activityIn
	if json.Unmarshal(body, &a) != nil {
		return nil
	}
	for _, at := range a.Attachments {
		if at.ContentType != contentTypeAdaptiveCard || len(at.Content) == 0 {
			continue
		}
		var card any
		if json.Unmarshal(at.Content, &card) != nil {
			continue
		}
		if act := walkExecute(card); act != nil {
			return act
		}
	}
	return nil
}

func walkExecute(v any) *cardAction {
	switch v := v.(type) {
	case map[string]any:
		if v["type"] == "Action.Execute" {
			act := &cardAction{}
			act.ID, _ = v["id"].(string)
			act.Verb, _ = v["verb"].(string)
			act.Title, _ = v["title"].(string)
			if d, ok := v["data"]; ok {
				act.Data, _ = json.Marshal(d)
			}
			return act
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			if k != "refresh" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			if act := walkExecute(v[k]); act != nil {
				return act
			}
		}
	case []any:
		for _, x := range v {
			if act := walkExecute(x); act != nil {
				return act
			}
		}
	}
	return nil
}

// contentHash is the content hash of a message of text and attachments
// (Delivery.ContentHash).
func contentHash(text string, atts []attachmentIn) string {
	h := sha256.New()
	h.Write([]byte(text))
	for _, at := range atts {
		h.Write([]byte{0})
		h.Write([]byte(at.ContentType))
		h.Write([]byte{0})
		if len(at.Content) > 0 {
			h.Write(at.Content)
		} else {
			h.Write([]byte(at.ContentURL))
		}
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}
