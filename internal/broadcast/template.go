package broadcast

import "fmt"

// Limits of a template.
const (
	MaxButtons           = 6
	MaxTitleChars        = 256
	MaxAuthorChars       = 256
	MaxButtonTitleChars  = 64
	MaxTemplateTextBytes = MaxTextBytes
)

// Template is the simple form of a message, rendered to an Adaptive Card
// (message.TemplateCard): a title, an optional image, the summary in
// markdown, who sends it, and up to MaxButtons link buttons.
type Template struct {
	Title    string   `json:"title"`
	Summary  string   `json:"summary,omitempty"` // markdown
	ImageURL string   `json:"imageUrl,omitempty"`
	Author   string   `json:"author,omitempty"`
	Buttons  []Button `json:"buttons,omitempty"`
	// Acknowledge adds a button that asks each recipient to confirm they
	// took note (an Action.Execute the bot endpoint records).
	Acknowledge *Acknowledge `json:"acknowledge,omitempty"`
}

// Acknowledge is a template's acknowledge button.
type Acknowledge struct {
	Title string `json:"title"` // e.g. "Got it"
}

// Button is a template's link button.
type Button struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// validate checks the template and puts it in canonical form (no buttons
// is nil, as it decodes after encoding).
func (t *Template) validate(v *ValidationError, field string) {
	if len(t.Buttons) == 0 {
		t.Buttons = nil
	}
	// The title and the author line are TextBlocks too: markdown.
	if validateLine(v, field+".title", t.Title, MaxTitleChars, true) {
		checkMarkdownLinks(v, field+".title", t.Title)
	}
	if t.Summary != "" {
		validateText(v, field+".summary", t.Summary, MaxTemplateTextBytes)
	}
	if validateLine(v, field+".author", t.Author, MaxAuthorChars, false) {
		checkMarkdownLinks(v, field+".author", t.Author)
	}
	if t.ImageURL != "" {
		validateImageURL(v, field+".imageUrl", t.ImageURL)
	}
	if len(t.Buttons) > MaxButtons {
		v.add(field+".buttons", "%d buttons, at most %d", len(t.Buttons), MaxButtons)
		return
	}
	for i, b := range t.Buttons {
		f := fmt.Sprintf("%s.buttons[%d]", field, i)
		validateLine(v, f+".title", b.Title, MaxButtonTitleChars, true)
		validateLink(v, f+".url", b.URL)
	}
	if t.Acknowledge != nil {
		if len(t.Buttons) >= MaxButtons {
			v.add(field+".acknowledge", "the acknowledge button makes %d buttons, at most %d", len(t.Buttons)+1, MaxButtons)
		}
		validateLine(v, field+".acknowledge.title", t.Acknowledge.Title, MaxButtonTitleChars, true)
	}
}
