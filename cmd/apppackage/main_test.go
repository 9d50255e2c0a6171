package main

import (
	"archive/zip"
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"TEAMS_APP_ID": "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a", "BOT_APP_ID": "5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f",
		"APP_DEVELOPER_NAME": "Contoso", "APP_WEBSITE_URL": "https://contoso.example", "APP_PRIVACY_URL": "https://contoso.example/privacy",
		"APP_TERMS_URL": "https://contoso.example/terms", "APP_VALID_DOMAINS": "contoso.example, *.contoso.example", "APP_VERSION": "1.2.3",
	}
	getenv := func(k string) string { return env[k] }
	out := filepath.Join(t.TempDir(), "app.zip")
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"-out", out}, getenv, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "version 1.2.3")
	z, err := zip.OpenReader(out)
	require.NoError(t, err)
	defer z.Close()
	var names []string
	for _, f := range z.File {
		names = append(names, f.Name)
	}
	require.Equal(t, []string{"manifest.json", "color.png", "outline.png"}, names)

	stdout.Reset()
	require.Equal(t, 0, run([]string{"-manifest"}, getenv, &stdout, &stderr))
	require.Contains(t, stdout.String(), `"validDomains": ["contoso.example","*.contoso.example"]`)

	delete(env, "BOT_APP_ID")
	env["APP_WEBSITE_URL"] = "contoso.example"
	stderr.Reset()
	require.Equal(t, 2, run([]string{"-out", out}, getenv, &stdout, &stderr))
	require.Contains(t, stderr.String(), "BOT_APP_ID")
	require.Contains(t, stderr.String(), "APP_WEBSITE_URL")
}
