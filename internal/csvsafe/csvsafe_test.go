package csvsafe_test

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/csvsafe"
)

// Every cell OWASP names as a formula start gets a quote; nothing else
// changes.
func TestNeutralise(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`=HYPERLINK("https://evil.example","Click")`: `'=HYPERLINK("https://evil.example","Click")`,
		"@SUM(1+1)":            "'@SUM(1+1)",
		"+1+1":                 "'+1+1",
		"-2+3":                 "'-2+3",
		"\t=1+1":               "'\t=1+1",
		"\r=1+1":               "'\r=1+1",
		"=cmd|' /C calc'!A0":   "'=cmd|' /C calc'!A0",
		"":                     "",
		"Ada Lovelace":         "Ada Lovelace",
		"ada@contoso.com":      "ada@contoso.com",
		"'quoted":              "'quoted",
		" =1+1":                " =1+1",
		"1-2":                  "1-2",
		"2026-12-01T09:00:00Z": "2026-12-01T09:00:00Z",
	} {
		require.Equal(t, want, csvsafe.Neutralise(in), "%q", in)
	}
}

// A record reads back with its formulas quoted, and separators, quotes and
// line breaks inside cells never start a new cell or row.
func TestWriterNeutralisesEveryCell(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	w := csvsafe.NewWriter(&b)
	header := []string{"userId", "displayName", "note"}
	rows := [][]string{
		{"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "=1+1", `-1,"=2+2"`},
		{"@me", "Ada, \"Countess\"\nLovelace", "+\t"},
		{"\r=1+1", "a\rb", ""},
	}
	require.NoError(t, w.Write(header))
	for _, r := range rows {
		before := append([]string(nil), r...)
		require.NoError(t, w.Write(r))
		require.Equal(t, before, r, "the caller's record is not changed")
	}
	w.Flush()
	require.NoError(t, w.Error())
	require.True(t, strings.HasSuffix(b.String(), "\r\n"), "RFC 4180 line ends")

	got, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	require.NoError(t, err)
	require.Equal(t, [][]string{
		header,
		{"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "'=1+1", `'-1,"=2+2"`},
		{"'@me", "Ada, \"Countess\"\nLovelace", "'+\t"},
		// CRLF line ends drop a lone CR inside a cell: the quote is
		// added before, so the cell still starts with it.
		{"'=1+1", "ab", ""},
	}, got)
}
