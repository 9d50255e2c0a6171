package broadcast

import "strings"

// Profile is what the directory knows of a user: the fields an audience is
// resolved with and a message is personalised with.
type Profile struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName,omitempty"`
	GivenName         string `json:"givenName,omitempty"`
	Surname           string `json:"surname,omitempty"`
	Mail              string `json:"mail,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	JobTitle          string `json:"jobTitle,omitempty"`
	Department        string `json:"department,omitempty"`
	UserType          string `json:"userType,omitempty"` // Member or Guest
	// AccountEnabled is false for a disabled account (nil: not known).
	AccountEnabled *bool `json:"accountEnabled,omitempty"`
}

// Guest reports whether the user is a guest of the tenant.
func (p Profile) Guest() bool { return strings.EqualFold(p.UserType, "Guest") }

// ProfileFields are the placeholders a message may use, {{name}}, and
// the profile value each stands for.
var ProfileFields = map[string]func(Profile) string{
	"displayName":       func(p Profile) string { return p.DisplayName },
	"givenName":         func(p Profile) string { return p.GivenName },
	"surname":           func(p Profile) string { return p.Surname },
	"mail":              func(p Profile) string { return p.Mail },
	"userPrincipalName": func(p Profile) string { return p.UserPrincipalName },
	"jobTitle":          func(p Profile) string { return p.JobTitle },
	"department":        func(p Profile) string { return p.Department },
}
