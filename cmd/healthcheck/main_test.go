package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProbeExitsZeroOnlyOn2xx(t *testing.T) {
	for status, want := range map[int]int{200: 0, 204: 0, 301: 1, 404: 1, 503: 1} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			require.Equal(t, "/readyz", r.URL.Path)
			if status == 301 {
				// A redirect is followed; a loop ends in an error.
				http.Redirect(w, r, "/readyz", status)
				return
			}
			w.WriteHeader(status)
		}))
		var stderr bytes.Buffer
		require.Equal(t, want, run([]string{srv.URL + "/readyz"}, &stderr), "status %d: %s", status, stderr.String())
		if want != 0 {
			require.NotEmpty(t, stderr.String())
		}
		srv.Close()
	}
}

func TestProbeFailsWhenNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	var stderr bytes.Buffer
	require.Equal(t, 1, run([]string{"http://" + addr + "/healthz"}, &stderr))
	require.Contains(t, stderr.String(), "healthcheck:")
}

// A server that accepts the connection and never answers fails the probe
// once its timeout passes, not never.
func TestProbeTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	var stderr bytes.Buffer
	require.Equal(t, 1, run([]string{srv.URL + "/readyz"}, &stderr))
	require.Contains(t, stderr.String(), "deadline exceeded")
}

func TestUsage(t *testing.T) {
	var stderr bytes.Buffer
	require.Equal(t, 2, run(nil, &stderr))
	require.Equal(t, 2, run([]string{"a", "b"}, &stderr))
	require.Contains(t, stderr.String(), "usage")
	require.Equal(t, 1, run([]string{"::not a url"}, &stderr))
}
