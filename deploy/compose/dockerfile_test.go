package compose

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const dockerfile = "../Dockerfile"

// dockerfileBinaries are the ./cmd/X the Dockerfile builds.
func dockerfileBinaries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	require.NoError(t, err)
	var bins []string
	for _, m := range regexp.MustCompile(`\./cmd/([a-z0-9_-]+)`).FindAllStringSubmatch(string(data), -1) {
		bins = append(bins, m[1])
	}
	return bins
}

// instructions returns the Dockerfile's instructions, continuation lines
// joined and comments dropped, grouped by stage (from FROM to FROM).
func instructions(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open(dockerfile)
	require.NoError(t, err)
	defer f.Close()
	var stages [][]string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		ins := strings.Join(strings.Fields(cur.String()), " ")
		cur.Reset()
		if strings.HasPrefix(strings.ToUpper(ins), "FROM ") {
			stages = append(stages, nil)
		}
		require.NotEmpty(t, stages, "an instruction before the first FROM: %s", ins)
		stages[len(stages)-1] = append(stages[len(stages)-1], ins)
	}
	require.NoError(t, sc.Err())
	return stages
}

// The image builds the binaries that exist, statically, and runs them as
// a non-root user on a distroless base.
func TestDockerfile(t *testing.T) {
	stages := instructions(t)
	require.Len(t, stages, 2, "a build stage and the final one")

	build := strings.Join(stages[0], "\n")
	goMod, err := os.ReadFile("../../go.mod")
	require.NoError(t, err)
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	require.NotNil(t, goVersion)
	require.Contains(t, stages[0][0], "golang:"+string(goVersion[1]), "the builder's Go is go.mod's")
	require.Contains(t, build, "CGO_ENABLED=0", "static binaries")
	require.Contains(t, build, "-trimpath")
	require.Contains(t, build, "--mount=type=cache,target=/go/pkg/mod", "the module cache survives builds")
	bins := dockerfileBinaries(t)
	for _, want := range []string{"dispatcher", "installer", "sender", "teamsim", "bcast", "healthcheck"} {
		require.Contains(t, bins, want)
	}
	for _, bin := range bins {
		require.FileExists(t, filepath.Join("..", "..", "cmd", bin, "main.go"), "the Dockerfile builds ./cmd/%s", bin)
	}

	final := stages[len(stages)-1]
	require.Regexp(t, `^FROM gcr\.io/distroless/static-debian\d+:nonroot$`, final[0])
	var user string
	for _, ins := range final {
		if u, ok := strings.CutPrefix(ins, "USER "); ok {
			user = u
		}
	}
	require.NotEmpty(t, user, "the final stage names its USER")
	name := strings.SplitN(user, ":", 2)[0]
	require.NotContains(t, []string{"root", "0"}, name, "the image runs as root")
}

// The build context is the module's sources: not .git, not the secrets,
// but everything go build needs.
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile("../../.dockerignore")
	require.NoError(t, err)
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, want := range []string{".git", "deploy/compose/secrets"} {
		require.Contains(t, patterns, want)
	}
	for _, needed := range []string{"go.mod", "go.sum", "cmd", "internal", "api"} {
		for _, p := range patterns {
			ok, err := filepath.Match(p, needed)
			require.NoError(t, err)
			require.False(t, ok || p == needed, "%s excludes %s", p, needed)
		}
	}
}
