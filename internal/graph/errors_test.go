package graph_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/graph"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{"2.128", 2128 * time.Millisecond},
		{"0.7", 700 * time.Millisecond},
		{"-1", 0},
		{"1e3", 0},
		{"NaN", 0},
		{".", 0},
		{"1.2.3", 0},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, graph.ParseRetryAfter(tt.in), "%q", tt.in)
	}
}

func TestErrorIsNotFound(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("graph: install app for user u: %w", &graph.Error{Status: 404, Code: "NotFound"})
	require.ErrorIs(t, err, graph.ErrNotFound)
	require.NotErrorIs(t, &graph.Error{Status: 403}, graph.ErrNotFound)
	require.Equal(t, "404 NotFound: gone", (&graph.Error{Status: 404, Code: "NotFound", Message: "gone"}).Error())
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&graph.Error{Status: 403, Code: "Authorization_RequestDenied"}, true},
		{&graph.Error{Status: 401, Code: "InvalidAuthenticationToken"}, true},
		{&graph.Error{Status: 400, Code: "BadRequest"}, true},
		{&graph.Error{Status: 404, Code: "Request_ResourceNotFound"}, true},
		{fmt.Errorf("directory sync of t: %w", &graph.Error{Status: 403}), true},
		{&graph.Error{Status: 400, Code: "syncStateNotFound"}, false},
		{&graph.Error{Status: 410}, false},
		{&graph.Error{Status: 408}, false},
		{&graph.Error{Status: 409}, false},
		{&graph.Error{Status: 429}, false},
		{&graph.Error{Status: 500}, false},
		{&graph.Error{Status: 503}, false},
		{fmt.Errorf("%w (gave up after 6 attempts)", &graph.Error{Status: 504}), false},
		{fmt.Errorf("dial: connection refused"), false},
		{nil, false},
	} {
		require.Equal(t, tt.want, graph.Permanent(tt.err), "%v", tt.err)
	}
}
