package teams

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ContentTypeAdaptiveCard is the attachment content type of an Adaptive Card.
const ContentTypeAdaptiveCard = "application/vnd.microsoft.card.adaptive"

type activity struct {
	Type        string       `json:"type"`
	Text        string       `json:"text,omitempty"`
	TextFormat  string       `json:"textFormat,omitempty"`
	Summary     string       `json:"summary,omitempty"`
	Attachments []attachment `json:"attachments,omitempty"`
	ChannelData *channelData `json:"channelData,omitempty"`
}

type attachment struct {
	ContentType string          `json:"contentType"`
	Content     json.RawMessage `json:"content"`
}

type channelData struct {
	Tenant       *tenantInfo   `json:"tenant,omitempty"`
	Notification *notification `json:"notification,omitempty"`
}

type notification struct {
	Alert bool `json:"alert"`
}

// Activity builds the JSON of a message activity.
//
// With a card, the message is the card alone, as an Adaptive Card
// attachment, and text (if any) becomes the activity's summary, the preview
// Teams shows in notifications. Without a card, text is sent as markdown.
// Text and an attachment are never both in the body of one activity: Teams
// would split them into two messages and answer without an id, and the
// message could then never be updated or deleted.
//
// alert asks Teams for an activity-feed notification.
func Activity(text string, card json.RawMessage, alert bool) ([]byte, error) {
	a := activity{Type: "message"}
	card = bytes.TrimSpace(card)
	hasCard := len(card) > 0 && !bytes.Equal(card, []byte("null"))
	switch {
	case hasCard:
		if !json.Valid(card) || card[0] != '{' {
			return nil, errors.New("teams: the card is not a JSON object")
		}
		a.Summary = text
		a.Attachments = []attachment{{ContentType: ContentTypeAdaptiveCard, Content: card}}
	case text != "":
		a.Text, a.TextFormat = text, "markdown"
	default:
		return nil, errors.New("teams: a message needs text or a card")
	}
	if alert {
		a.ChannelData = &channelData{Notification: &notification{Alert: true}}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Markdown and cards are full of '<', '>' and '&'; escaping them would
	// only make the payload bigger (6 units instead of 1) against Teams' limit.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		return nil, fmt.Errorf("teams: encode activity: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// PayloadSize is the length of b in UTF-16 code units, which is how Teams
// measures its message size limit (about 100 KB): a character outside the
// Basic Multilingual Plane, such as most emoji, counts twice. An invalid
// UTF-8 byte counts once.
func PayloadSize(b []byte) int {
	n := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
	}
	return n
}
