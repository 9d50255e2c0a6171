package broadcast

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadRecipientsCSV(t *testing.T) {
	ids, upns, err := ReadRecipientsCSV(strings.NewReader("\ufeffuserPrincipalName,name\n"+
		"ada@contoso.com,Ada\r\n"+user1+"\n\n  bob@contoso.com\n\"x_f.example#EXT#@contoso.onmicrosoft.com\"\n"), "recipients")
	require.NoError(t, err)
	require.Equal(t, []string{user1}, ids)
	require.Equal(t, []string{"ada@contoso.com", "bob@contoso.com", "x_f.example#EXT#@contoso.onmicrosoft.com"}, upns)

	_, upns, err = ReadRecipientsCSV(strings.NewReader("ada@contoso.com\n"), "recipients")
	require.NoError(t, err, "no header")
	require.Equal(t, []string{"ada@contoso.com"}, upns)

	for _, h := range []string{"userId", "ID", "User Principal Name", "user_id", "Object-Id", "E-mail", " UPN ", "AadId"} {
		ids, _, err := ReadRecipientsCSV(strings.NewReader(h+",name\n"+user1+",Ada\n"), "recipients")
		require.NoError(t, err, "header %q", h)
		require.Equal(t, []string{user1}, ids, "header %q", h)
	}

	for name, tt := range map[string]struct{ in, want string }{
		"bad cell":    {"id\n" + user1 + "\nbob\n", "line 3: \"bob\" is neither"},
		"empty cell":  {"ada@contoso.com\n,x\n", "line 2: the first column is empty"},
		"bad quoting": {"ada@contoso.com\n\"bob@contoso.com\n", "line 2: not valid CSV"},
		"bad first":   {"bob@\n", "line 1:"},
		// A first row that is no known header is a recipient, refused
		// when it is neither an id nor a UPN: never silently dropped.
		"first row not a header": {"jdoe\n" + user1 + "\n", `line 1: "jdoe" is neither a user object id (a GUID), a user principal name, nor a header naming the column (userId, id,`},
		"unknown header":         {"Employee,Email\n" + user1 + "\n", `line 1: "Employee" is neither`},
		"only header":            {"userPrincipalName\n", "no recipients"},
		"empty":                  {"", "no recipients"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := ReadRecipientsCSV(strings.NewReader(tt.in), "recipients")
			var v *ValidationError
			require.True(t, errors.As(err, &v), "%v", err)
			require.Equal(t, "recipients", v.Problems[0].Field)
			require.Contains(t, v.Problems[0].Problem, tt.want)
		})
	}
}
