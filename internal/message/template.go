package message

import (
	"bytes"
	"encoding/json"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// TemplateCardVersion is the Adaptive Card version a template renders to.
// The card uses only what 1.2 has (TextBlock with wrap, Image, Action.OpenUrl);
// 1.4 is declared because every Teams client renders it, desktop, web and
// mobile, where 1.5 features are not all rendered on mobile.
const TemplateCardVersion = "1.4"

type card struct {
	Type    string         `json:"type"`
	Version string         `json:"version"`
	Body    []cardElement  `json:"body"`
	Actions []cardAction   `json:"actions,omitempty"`
	MSTeams map[string]any `json:"msteams,omitempty"`
}

type cardElement struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	URL      string `json:"url,omitempty"`
	AltText  string `json:"altText,omitempty"`
	Size     string `json:"size,omitempty"`
	Weight   string `json:"weight,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Wrap     bool   `json:"wrap,omitempty"`
	Spacing  string `json:"spacing,omitempty"`
}

type cardAction struct {
	Type  string   `json:"type"`
	Title string   `json:"title"`
	URL   string   `json:"url,omitempty"`
	Verb  string   `json:"verb,omitempty"`
	Data  *ackData `json:"data,omitempty"`
	Style string   `json:"style,omitempty"`
}

// TemplateCard renders a validated template to an Adaptive Card: the title
// as a large bold heading, the image across the card, the summary as
// markdown, the author as a small subtle line, each button as an
// Action.OpenUrl, and the acknowledge button, last, as an Action.Execute
// (AckVerb) whose data names the broadcast (BroadcastIDToken, filled in by
// ForBroadcast when the message is sent). The card is full width in Teams, as an announcement wants.
// Placeholders pass through as they are; they are filled per recipient.
func TemplateCard(t broadcast.Template) json.RawMessage {
	c := card{Type: "AdaptiveCard", Version: TemplateCardVersion, MSTeams: map[string]any{"width": "Full"}}
	c.Body = append(c.Body, cardElement{Type: "TextBlock", Text: t.Title, Size: "Large", Weight: "Bolder", Wrap: true})
	if t.ImageURL != "" {
		c.Body = append(c.Body, cardElement{Type: "Image", URL: t.ImageURL, AltText: t.Title, Size: "Stretch", Spacing: "Medium"})
	}
	if t.Summary != "" {
		c.Body = append(c.Body, cardElement{Type: "TextBlock", Text: t.Summary, Wrap: true, Spacing: "Medium"})
	}
	if t.Author != "" {
		c.Body = append(c.Body, cardElement{Type: "TextBlock", Text: t.Author, Size: "Small", Weight: "Lighter", IsSubtle: true, Wrap: true, Spacing: "Medium"})
	}
	for _, b := range t.Buttons {
		c.Actions = append(c.Actions, cardAction{Type: "Action.OpenUrl", Title: b.Title, URL: b.URL})
	}
	if t.Acknowledge != nil {
		c.Actions = append(c.Actions, cardAction{Type: "Action.Execute", Title: t.Acknowledge.Title, Verb: AckVerb,
			Data: &ackData{BroadcastID: BroadcastIDToken}, Style: "positive"})
	}
	out, _ := marshal(c) // strings, bools and a map of strings always encode
	return out
}

// marshal encodes a card as JSON without escaping '<', '>' and '&':
// markdown keeps them at one unit each.
func marshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
