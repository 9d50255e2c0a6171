package broadcast

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestApprovalPolicyRequires(t *testing.T) {
	many := make([]string, 6)
	for i := range many {
		many[i] = "u" + strings.Repeat("x", i)
	}
	all := Audience{AllUsers: true}
	group := Audience{GroupIDs: []string{"g"}}
	few := Audience{UserIDs: many[:2], UPNs: many[:3]} // 5 listed
	more := Audience{UserIDs: many}
	for _, c := range []struct {
		policy string
		a      Audience
		want   string
	}{
		{"never", all, ""},
		{"", more, ""},
		{"always", few, "always"},
		{"all-users", all, "all-users"},
		{"all-users", group, ""},
		{"audience-over:5", few, ""},
		{"audience-over:5", more, "audience-over:5"},
		{"audience-over:5", group, "audience-over:5"}, // a group's size is unknown at create
		{"audience-over:5", all, "audience-over:5"},
		{"all-users,audience-over:5", all, "all-users"},
	} {
		p, err := ParseApprovalPolicy(c.policy)
		require.NoError(t, err, c.policy)
		require.Equal(t, c.want, p.Requires(c.a), "%s %+v", c.policy, c.a)
	}
}

func TestDecodeDecisionRequest(t *testing.T) {
	req, err := DecodeDecisionRequest(strings.NewReader(""), DecisionApproved)
	require.NoError(t, err)
	require.Empty(t, req.Comment)
	req, err = DecodeDecisionRequest(strings.NewReader(`{"comment":"  fine by me "}`), DecisionApproved)
	require.NoError(t, err)
	require.Equal(t, "fine by me", req.Comment)
	for body, problem := range map[string]string{
		``:                 "empty",
		`{}`:               "required",
		`{"comment":"  "}`: "required",
		`{"comment":"` + strings.Repeat("é", MaxCommentChars+1) + `"}`: "at most 1000",
		`{"comment":"no","by":"me"}`:                                   "unknown field",
	} {
		_, err := DecodeDecisionRequest(strings.NewReader(body), DecisionRejected)
		var v *ValidationError
		require.ErrorAs(t, err, &v, body)
		require.Contains(t, v.Error(), problem, body)
	}
}
