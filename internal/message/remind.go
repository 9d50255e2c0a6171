package message

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// HasAck reports whether an activity's card has the acknowledge button
// (an Action.Execute with AckVerb, anywhere in the card).
func HasAck(activity []byte) bool {
	card, err := Card(activity)
	if err != nil || card == nil {
		return false
	}
	var c any
	if json.Unmarshal(card, &c) != nil {
		return false
	}
	return hasAck(c)
}

func hasAck(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		if v["type"] == "Action.Execute" && v["verb"] == AckVerb {
			return true
		}
		for _, e := range v {
			if hasAck(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasAck(e) {
				return true
			}
		}
	}
	return false
}

// Reminder returns the original's message as a reminder shows it: its
// text, its template's title or its card's summary prefixed with prefix,
// and a card's body led by the prefix in bold. An empty prefix, or a card
// that is no JSON object, leaves that part as it was.
func Reminder(m broadcast.Message, prefix string) broadcast.Message {
	if strings.TrimSpace(prefix) == "" {
		return m
	}
	out := m
	if m.Text != "" {
		out.Text = prefix + m.Text
	}
	if m.Template != nil {
		t := *m.Template
		t.Title = prefix + t.Title
		if utf8.RuneCountInString(t.Title) > broadcast.MaxTitleChars {
			t.Title = string([]rune(t.Title)[:broadcast.MaxTitleChars])
		}
		out.Template = &t
	}
	if len(m.Card) > 0 {
		var c map[string]any
		if json.Unmarshal(m.Card, &c) == nil && c != nil {
			body, _ := c["body"].([]any)
			lead := map[string]any{"type": "TextBlock", "text": strings.TrimSpace(prefix), "weight": "Bolder", "wrap": true}
			c["body"] = append([]any{lead}, body...)
			if card, err := marshal(c); err == nil {
				out.Card = card
			}
		}
	}
	return out
}
