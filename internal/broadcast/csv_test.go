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

	for name, tt := range map[string]struct{ in, want string }{
		"bad cell":    {"id\n" + user1 + "\nbob\n", "line 3: \"bob\" is neither"},
		"empty cell":  {"ada@contoso.com\n,x\n", "line 2: the first column is empty"},
		"bad quoting": {"ada@contoso.com\n\"bob@contoso.com\n", "line 2: not valid CSV"},
		"bad first":   {"bob@\n", "line 1:"},
		"only header": {"userPrincipalName\n", "no recipients"},
		"empty":       {"", "no recipients"},
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
