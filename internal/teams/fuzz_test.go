package teams_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/broadcast-dev/broadcast/internal/teams"
)

// Any text and card build a well-formed activity that carries them, or
// are refused; the payload size is the UTF-16 length Teams counts.
func FuzzActivity(f *testing.F) {
	f.Add("Hello **all**", []byte(nil), true)
	f.Add("", []byte(`{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Q&A <today> 🎉"}]}`), false)
	f.Add("preview", []byte(` {"a":[1,2,{"b":null}]} `), true)
	f.Add("", []byte(`null`), true)
	f.Add("x", []byte(`[1]`), false)
	f.Add("\xff\xfe", []byte(`{"s":"\xff"}`), true)
	f.Fuzz(func(t *testing.T, text string, card []byte, alert bool) {
		act, err := teams.Activity(text, card, alert)
		trimmed := bytes.TrimSpace(card)
		hasCard := len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null"))
		if err != nil {
			if hasCard && json.Valid(trimmed) && trimmed[0] == '{' {
				t.Fatalf("a JSON object card refused: %v", err)
			}
			if !hasCard && text != "" {
				t.Fatalf("a text message refused: %v", err)
			}
			return
		}
		if !json.Valid(act) {
			t.Fatalf("invalid JSON built: %q", act)
		}
		var got struct {
			Type        string
			Text        *string
			TextFormat  string
			Summary     string
			Attachments []struct {
				ContentType string
				Content     json.RawMessage
			}
			ChannelData *struct{ Notification struct{ Alert bool } }
		}
		if err := json.Unmarshal(act, &got); err != nil {
			t.Fatalf("decode the activity: %v", err)
		}
		if got.Type != "message" {
			t.Fatalf("type %q", got.Type)
		}
		// JSON carries valid UTF-8 only: each invalid byte becomes U+FFFD.
		valid := string([]rune(text))
		if hasCard {
			if got.Text != nil || len(got.Attachments) != 1 || got.Attachments[0].ContentType != teams.ContentTypeAdaptiveCard {
				t.Fatalf("a card message must be the card alone: %s", act)
			}
			if !sameJSON(t, got.Attachments[0].Content, trimmed) {
				t.Fatalf("the card changed:\n%s\n%s", trimmed, got.Attachments[0].Content)
			}
			if got.Summary != valid {
				t.Fatalf("summary %q, want %q", got.Summary, valid)
			}
		} else if got.Text == nil || *got.Text != valid || got.TextFormat != "markdown" || len(got.Attachments) != 0 {
			t.Fatalf("a text message must be its markdown text: %s", act)
		}
		if (got.ChannelData != nil && got.ChannelData.Notification.Alert) != alert {
			t.Fatalf("alert %v not carried: %s", alert, act)
		}
	})
}

// PayloadSize counts what Teams counts: UTF-16 code units, an invalid
// UTF-8 byte as one.
func FuzzPayloadSize(f *testing.F) {
	f.Add([]byte("plain"))
	f.Add([]byte("🎉 é 中"))
	f.Add([]byte("\xff\xc3\x28\xed\xa0\x80"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := len(utf16.Encode([]rune(string(b))))
		if got := teams.PayloadSize(b); got != want {
			t.Fatalf("PayloadSize(%q) = %d, want %d", b, got, want)
		}
		if n := teams.PayloadSize(b); n > len(b) || (len(b) > 0 && n < utf8.RuneCount(b)) {
			t.Fatalf("PayloadSize(%q) = %d out of [runes, bytes]", b, n)
		}
	})
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if err := da.Decode(&x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := db.Decode(&y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
