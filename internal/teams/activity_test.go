package teams_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/teams"
)

func TestActivity(t *testing.T) {
	t.Parallel()
	card := json.RawMessage(`{"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Q&A <today>"}]}`)
	tests := []struct {
		name    string
		text    string
		card    json.RawMessage
		alert   bool
		want    string
		wantErr string
	}{
		{
			name: "text", text: "**Hello** & <welcome>",
			want: `{"type":"message","text":"**Hello** & <welcome>","textFormat":"markdown"}`,
		},
		{
			name: "text with alert", text: "hi", alert: true,
			want: `{"type":"message","text":"hi","textFormat":"markdown","channelData":{"notification":{"alert":true}}}`,
		},
		{
			name: "card", card: card,
			want: `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Q&A <today>"}]}}]}`,
		},
		{
			name: "card and text: the text is only the summary", text: "New policy", card: card, alert: true,
			want: `{"type":"message","summary":"New policy","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Q&A <today>"}]}}],"channelData":{"notification":{"alert":true}}}`,
		},
		{name: "null card is no card", text: "hi", card: json.RawMessage("null"), want: `{"type":"message","text":"hi","textFormat":"markdown"}`},
		{name: "nothing", wantErr: "text or a card"},
		{name: "card not JSON", card: json.RawMessage(`{"type":`), wantErr: "not a JSON object"},
		{name: "card not an object", card: json.RawMessage(`[1]`), wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := teams.Activity(tt.text, tt.card, tt.alert)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got)) // exact: compact, '<' '&' not escaped

			// Never text and an attachment in one activity: Teams would split it.
			var a map[string]any
			require.NoError(t, json.Unmarshal(got, &a))
			_, hasText := a["text"]
			_, hasAttachments := a["attachments"]
			require.False(t, hasText && hasAttachments, "text and card in one activity: %s", got)
		})
	}
}

func TestPayloadSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"é", 1},                     // 2 bytes in UTF-8, 1 unit
		{"日本", 2},                    // 3 bytes each, 1 unit each
		{"😀", 2},                     // 4 bytes, a surrogate pair
		{"a😀b👍🏽", 1 + 2 + 1 + 2 + 2}, // the skin tone modifier is a character of its own
		{"\xff", 1},                  // invalid UTF-8 counts once
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, teams.PayloadSize([]byte(tt.in)), "%q", tt.in)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{" 2 ", 2 * time.Second},
		{"2.128", 2128 * time.Millisecond},
		{"0.5", 500 * time.Millisecond},
		{".5", 500 * time.Millisecond},
		{"0", 0},
		{"-1", 0},
		{"abc", 0},
		{"1e3", 0},
		{"NaN", 0},
		{"Inf", 0},
		{"0x10", 0},
		{"1.2.3", 0},
		{"99999999999999999999", 24 * time.Hour},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0}, // in the past
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, teams.ParseRetryAfter(tt.in), "%q", tt.in)
	}

	future := time.Now().Add(90 * time.Second).UTC().Format(http1123)
	got := teams.ParseRetryAfter(future)
	require.Greater(t, got, 80*time.Second)
	require.LessOrEqual(t, got, 90*time.Second)
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"
