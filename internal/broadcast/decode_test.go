package broadcast

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// What the JSON of a request gets wrong is refused with the field named
// by its path: keys given twice (readers differ on which one they keep),
// invalid UTF-8 (encoding/json replaced it silently), nesting beyond
// MaxJSONDepth, unknown fields however deep.
func TestDecodeStrictNamesTheField(t *testing.T) {
	t.Parallel()
	card := func(body string) string {
		return `{"message":{"card":{"type":"AdaptiveCard","version":"1.5","body":[` + body + `]}},"audience":{"allUsers":true}}`
	}
	deep := strings.Repeat(`{"a":`, MaxJSONDepth) + `1` + strings.Repeat(`}`, MaxJSONDepth)
	cases := []struct {
		name, body, field, problem string
	}{
		{"duplicate key", `{"message":{"text":"a"},"audience":{"allUsers":true},"message":{"text":"b"}}`, "message", "given twice"},
		{"duplicate nested key", `{"message":{"text":"a","text":"b"},"audience":{"allUsers":true}}`, "message.text", "given twice"},
		{"duplicate key in a card", card(`{"type":"TextBlock","text":"a"},{"type":"Action.Submit","type":"TextBlock"}`), "message.card.body[1].type", "given twice"},
		{"duplicate key of digits", card(`{"type":"TextBlock","text":"a","0":1,"0":2}`), "message.card.body[0].0", "given twice"},
		{"invalid UTF-8 in text", "{\"message\":{\"text\":\"caf\xe9\"},\"audience\":{\"allUsers\":true}}", "message.text", "not valid UTF-8"},
		{"invalid UTF-8 in a title", "{\"message\":{\"template\":{\"title\":\"\xff\"}},\"audience\":{\"allUsers\":true}}", "message.template.title", "not valid UTF-8"},
		{"invalid UTF-8 in a key", "{\"message\":{\"text\":\"a\"},\"audience\":{\"allUsers\":true},\"\xff\":1}", "body", "not valid UTF-8"},
		{"lone surrogate", `{"message":{"text":"\ud800"},"audience":{"allUsers":true}}`, "message.text", "not valid Unicode"},
		{"too deep", `{"message":{"text":"a"},"audience":{"allUsers":true},"x":` + deep + `}`, "x" + strings.Repeat(".a", MaxJSONDepth-1), "nested more than 100 levels"},
		{"too deep in a card", card(strings.Repeat(`[`, MaxJSONDepth) + strings.Repeat(`]`, MaxJSONDepth)), "message.card.body" + strings.Repeat("[0]", MaxJSONDepth-3), "nested more than 100 levels"},
		{"unknown nested field", `{"message":{"template":{"title":"a","buttons":[{"title":"b","url":"https://a.example","style":"x"}]}},"audience":{"allUsers":true}}`, "message.template.buttons[0].style", "unknown field"},
		{"unknown field, case differs", `{"Message":{"text":"a"},"audience":{"allUsers":true}}`, "Message", "unknown field"},
		{"wrong type, nested", `{"message":{"text":"a"},"audience":{"allUsers":true,"exclude":{"userIds":[1]}}}`, "audience.exclude.userIds[0]", "must be a string, not a number"},
		{"not an object", `[1]`, "body", "must be an object, not an array"},
		{"trailing data", `{"message":{"text":"a"},"audience":{"allUsers":true}} {`, "body", "unexpected data after the JSON value"},
		{"malformed", `{"message":{"text":"a"},,}`, "body", "malformed JSON at byte"},
		{"cut off", `{"message":{"text":"a"`, "body", "unexpected end of input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeCreateRequest(strings.NewReader(c.body))
			var verr *ValidationError
			require.ErrorAs(t, err, &verr, "a validation error, got %v", err)
			require.Len(t, verr.Problems, 1, "%v", err)
			require.Equal(t, c.field, verr.Problems[0].Field, "%v", err)
			require.Contains(t, verr.Problems[0].Problem, c.problem)
		})
	}
}
