package demo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLeaksFindTokens(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	logs := map[string]string{
		"clean":  `{"msg":"activity not authenticated","error":"unauthorized: token has invalid claims: token is expired","conversation":"a:1eyJhbGciOi"}`,
		"jwt":    `{"msg":"oops","authorization":"eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJpc3MiOiJodHRwczovL2FwaSJ9.c2ln"}`,
		"simtok": `{"msg":"oops","token":"sim.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		"secret": `{"msg":"oops","password":"hunter2"}`,
	}
	p := &processes{work: work}
	for name, content := range logs {
		require.NoError(t, os.WriteFile(filepath.Join(work, name+".log"), []byte(content), 0o600))
		p.names = append(p.names, name)
	}
	problems := p.leaks("hunter2")
	require.Len(t, problems, 3, "%v", problems)
	for _, pr := range problems {
		require.NotContains(t, pr, "clean")
	}
}
