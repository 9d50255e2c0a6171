package broadcast

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A card built in Go, not decoded with a request, is scanned as a decoded
// one is.
func TestCardScannedWhenNotDecoded(t *testing.T) {
	t.Parallel()
	m := Message{Card: []byte(`{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"a","text":"b"}]}`)}
	err := m.Validate()
	require.ErrorContains(t, err, "message.card.body[0].text: given twice")
	m.Card = []byte(`{"type":"AdaptiveCard","version":"1.5","body":` + strings.Repeat("[", MaxJSONDepth+1) + strings.Repeat("]", MaxJSONDepth+1) + `}`)
	require.ErrorContains(t, m.Validate(), "nested more than 100 levels")
}

// The bodies that cost the most to validate cost memory linear in their
// size: a card nested as deep as the body limit allows (the probe's
// 4,990 levels took 370 MB for 155 KB), as deep as its elements may go,
// and as wide as it can be, with a string or an empty value at every
// node. Not parallel: the bytes allocated are the process's.
func TestValidationAllocatesLinearly(t *testing.T) {
	const (
		begin = `{"message":{"card":{"type":"AdaptiveCard","version":"1.5","body":[`
		end   = `]}},"audience":{"allUsers":true}}`
		// The depth of the Submit's data in a body, and of the 31st
		// Container's items.
		dataLevels      = MaxJSONDepth - 9
		containerLevels = maxCardDepth - 1
	)
	// submit opens and closes an Action.Submit whose data is an array
	// nested levels deep in objects.
	submit := func(levels int) (string, string) {
		return `{"type":"ActionSet","actions":[{"type":"Action.Submit","data":` + strings.Repeat(`{"a":`, levels) + `[`,
			`]` + strings.Repeat(`}`, levels) + `}]}`
	}
	deep, deepEnd := submit(dataLevels)
	wide, wideEnd := submit(0)
	containers := strings.Repeat(`{"type":"Container","items":[`, containerLevels)
	containersEnd := strings.Repeat(`]}`, containerLevels)
	// fill puts as many units between prefix and suffix as a card may hold.
	fill := func(prefix, unit, suffix string) string {
		n := (MaxCardBytes - len(prefix) - len(suffix)) / (len(unit) + 1)
		return prefix + strings.TrimSuffix(strings.Repeat(unit+",", n), ",") + suffix
	}
	bodies := map[string]string{
		"probe's 4,990 levels":    begin + strings.Repeat(`{"type":"Container","items":[`, 4990) + strings.Repeat(`]}`, 4990) + end,
		"deepest data, strings":   fill(begin+deep, `"x"`, deepEnd+end),
		"deepest data, objects":   fill(begin+deep, `{}`, deepEnd+end),
		"deepest data, bad texts": fill(begin+deep, `"{{x}}\u0000"`, deepEnd+end),
		"deepest placeholders":    fill(begin+deep, `"{{mail}}"`, deepEnd+end),
		"deepest elements":        fill(begin+containers, `{"type":"TextBlock","text":"[x](https://a.example)"}`, containersEnd+end),
		"deepest bad elements":    fill(begin+containers, `{"type":"Image","url":"http://a"}`, containersEnd+end),
		"widest":                  fill(begin+wide, `[]`, wideEnd+end),
	}
	for name, body := range bodies {
		_, err := DecodeCreateRequest(strings.NewReader(body))
		allocated := allocatedBytes(func() { _, _ = DecodeCreateRequest(strings.NewReader(body)) })
		t.Logf("%s: %d bytes, %d allocated (%.1f a byte): %.100v", name, len(body), allocated, float64(allocated)/float64(len(body)), err)
		require.LessOrEqual(t, allocated, uint64(maxAllocatedPerByte*len(body)),
			"%s: %d bytes allocated for a %d-byte body", name, allocated, len(body))
	}
}

// maxAllocatedPerByte bounds the bytes validation allocates per byte of
// the body: a card decoded into maps and slices takes a few tens of
// bytes per byte of its smallest nodes.
const maxAllocatedPerByte = 64

// allocatedBytes returns the bytes f allocates, the average of a few runs.
func allocatedBytes(f func()) uint64 {
	const runs = 3
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}
