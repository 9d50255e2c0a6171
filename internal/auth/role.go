package auth

import (
	"fmt"
	"strings"
)

// Role is what a key may do; a higher role may do all a lower one may.
type Role int

// The roles, lowest first. The zero Role is no role: it allows nothing.
const (
	Viewer Role = iota + 1
	Author
	// Approver may do what an author may, and approve or reject the
	// broadcasts the approval policy holds back (never its own).
	Approver
	Admin
)

// Roles are the roles, lowest first.
var Roles = []Role{Viewer, Author, Approver, Admin}

func (r Role) String() string {
	switch r {
	case Viewer:
		return "viewer"
	case Author:
		return "author"
	case Approver:
		return "approver"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// Allows reports whether r may do what needs the role least.
func (r Role) Allows(least Role) bool { return r.Valid() && least.Valid() && r >= least }

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r >= Viewer && r <= Admin }

// ParseRole reads a role's name: viewer, author, approver or admin.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if s == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown role %q: the roles are %s", s, roleNames())
}

func roleNames() string {
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = r.String()
	}
	return strings.Join(names, ", ")
}
