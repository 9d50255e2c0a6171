package message

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

func TestPersonalize(t *testing.T) {
	act := []byte(`{"type":"message","text":"Hi {{displayName}}, {{ department }} says {{unknown}}"}`)
	require.Equal(t, []string{"department", "displayName", "unknown"}, Placeholders(act))
	got := Personalize(act, broadcast.Profile{DisplayName: `Ada "the" <Countess>`, Department: "R&D"})
	var v struct{ Text string }
	require.NoError(t, json.Unmarshal(got, &v), "the result stays valid JSON: %s", got)
	require.Equal(t, `Hi Ada "the" <Countess>, R&D says {{unknown}}`, v.Text)

	plain := []byte(`{"text":"no placeholders"}`)
	require.Equal(t, plain, Personalize(plain, broadcast.Profile{DisplayName: "x"}))
}
