package config

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

func TestApprovalDefaultsToNever(t *testing.T) {
	d, err := LoadDispatcher(env(base))
	require.NoError(t, err)
	require.Equal(t, Approval{}, d.Approval)
	require.Equal(t, "never", d.Approval.Policy.String())
	require.Empty(t, d.Approval.Policy.Requires(broadcast.Audience{AllUsers: true}))
}

func TestApprovalPolicyIsRead(t *testing.T) {
	d, err := LoadDispatcher(env(withVars(map[string]string{
		"APPROVAL_REQUIRED": " all-users, audience-over:500 ",
		"APPROVAL_NOTIFY":   "AAAAAAAA-0000-0000-0000-0000000000A1, aaaaaaaa-0000-0000-0000-0000000000a2",
		"CONSOLE_ADDR":      "127.0.0.1:8090",
		"CONSOLE_URL":       "https://broadcast.contoso.com/console",
	})))
	require.NoError(t, err)
	require.Equal(t, broadcast.ApprovalPolicy{AllUsers: true, Over: 500}, d.Approval.Policy)
	require.Equal(t, "all-users,audience-over:500", d.Approval.Policy.String())
	require.Equal(t, []string{"aaaaaaaa-0000-0000-0000-0000000000a1", "aaaaaaaa-0000-0000-0000-0000000000a2"}, d.Approval.Notify)
	require.Equal(t, "https://broadcast.contoso.com/console", d.Approval.ConsoleURL)
	f := map[string]bool{}
	for _, field := range d.Fields() {
		f[field.Key] = true
	}
	require.True(t, f["approval_required"] && f["approval_notify"] && f["console_url"])
}

func TestApprovalErrorsNameTheVariable(t *testing.T) {
	for name, c := range map[string]struct {
		vars map[string]string
		want string
	}{
		"unknown rule":      {map[string]string{"APPROVAL_REQUIRED": "sometimes"}, `APPROVAL_REQUIRED: rule "sometimes"`},
		"no N":              {map[string]string{"APPROVAL_REQUIRED": "audience-over:"}, `APPROVAL_REQUIRED: rule "audience-over:": want audience-over:N`},
		"zero N":            {map[string]string{"APPROVAL_REQUIRED": "audience-over:0"}, "APPROVAL_REQUIRED"},
		"negative N":        {map[string]string{"APPROVAL_REQUIRED": "all-users,audience-over:-3"}, "APPROVAL_REQUIRED"},
		"approver not GUID": {map[string]string{"APPROVAL_REQUIRED": "always", "APPROVAL_NOTIFY": "alice@contoso.com"}, `APPROVAL_NOTIFY: "alice@contoso.com" is not an Entra object id`},
		"notify, no policy": {map[string]string{"APPROVAL_NOTIFY": "aaaaaaaa-0000-0000-0000-0000000000a1"}, "APPROVAL_NOTIFY: approvers to tell, but APPROVAL_REQUIRED holds nothing back"},
		"console not URL":   {map[string]string{"CONSOLE_ADDR": "127.0.0.1:8090", "CONSOLE_URL": "console.local"}, `CONSOLE_URL: "console.local" is not an http(s) URL`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadDispatcher(env(withVars(c.vars)))
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}
