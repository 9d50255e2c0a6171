package broadcast

import (
	"fmt"
	"regexp"
	"strings"
)

// Limits on an audience.
const (
	// MaxGroups bounds the groups of an audience, and of its exclusion.
	MaxGroups = 50
	// MaxUPNLength is Entra's limit on a user principal name.
	MaxUPNLength = 113
)

// upnRE is Entra's user principal name: a local part of A-Z a-z 0-9
// ' . - _ ! # ^ ~ (64 at most; a guest's has #EXT#), '@', a domain.
var upnRE = regexp.MustCompile(`^[A-Za-z0-9'.\-_!#^~]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$`)

// IsUPN reports whether s has the syntax of an Entra user principal name.
func IsUPN(s string) bool { return len(s) <= MaxUPNLength && upnRE.MatchString(s) }

// normalize validates the audience and puts it in canonical form: ids
// and UPNs lowercased and deduplicated in their first order.
func (a *Audience) normalize(v *ValidationError) {
	if !a.AllUsers && len(a.GroupIDs)+len(a.UserIDs)+len(a.UPNs) == 0 {
		switch {
		case a.UserIDs != nil:
			v.add("audience.userIds", "empty: list at least one user id")
		case a.UPNs != nil:
			v.add("audience.upns", "empty: list at least one user principal name")
		case a.GroupIDs != nil:
			v.add("audience.groupIds", "empty: list at least one group id")
		default:
			v.add("audience", "required: set allUsers to true, or list groupIds, userIds or upns")
		}
		return
	}
	if a.IncludeGuests && !a.AllUsers && len(a.GroupIDs) == 0 {
		v.add("audience.includeGuests", "applies to allUsers and groupIds only (users named by id or UPN are recipients whatever their type)")
	}
	a.GroupIDs = groupIDs(v, "audience.groupIds", a.GroupIDs)
	a.UserIDs = listedUserIDs(v, "audience.userIds", a.UserIDs)
	a.UPNs = upns(v, "audience.upns", a.UPNs)
	x := &a.Exclude
	x.GroupIDs = groupIDs(v, "audience.exclude.groupIds", x.GroupIDs)
	x.UserIDs = listedUserIDs(v, "audience.exclude.userIds", x.UserIDs)
	x.UPNs = upns(v, "audience.exclude.upns", x.UPNs)
	if len(x.UserIDs) == 0 {
		x.UserIDs = nil
	}
	if len(x.UPNs) == 0 {
		x.UPNs = nil
	}
	if len(x.GroupIDs) == 0 {
		x.GroupIDs = nil
	}
}

func listedUserIDs(v *ValidationError, field string, ids []string) []string {
	if len(ids) > MaxExplicitUsers {
		v.add(field, "%d ids, at most %d in one request", len(ids), MaxExplicitUsers)
		return nil
	}
	if ids == nil {
		return nil
	}
	return userIDs(v, field, ids)
}

func groupIDs(v *ValidationError, field string, ids []string) []string {
	if len(ids) > MaxGroups {
		v.add(field, "%d groups, at most %d", len(ids), MaxGroups)
		return nil
	}
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for i, id := range ids {
		if !IsGUID(id) {
			v.add(fmt.Sprintf("%s[%d]", field, i), "must be an Entra group object id (a GUID), got %q", clip(id))
			continue
		}
		id = strings.ToLower(id)
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// upns checks, lowercases and deduplicates user principal names in their
// first order; at most the first five bad ones are named.
func upns(v *ValidationError, field string, names []string) []string {
	if len(names) > MaxExplicitUsers {
		v.add(field, "%d user principal names, at most %d in one request", len(names), MaxExplicitUsers)
		return nil
	}
	if names == nil {
		return nil
	}
	seen := make(map[string]struct{}, len(names))
	out := names[:0]
	bad := 0
	for i, n := range names {
		if !IsUPN(n) {
			if bad < 5 {
				v.add(fmt.Sprintf("%s[%d]", field, i), "must be a user principal name such as ada@contoso.com (at most %d characters), got %q", MaxUPNLength, clip(n))
			}
			bad++
			continue
		}
		n = strings.ToLower(n)
		if _, dup := seen[n]; dup {
			continue
		}
		seen[n] = struct{}{}
		out = append(out, n)
	}
	if bad > 5 {
		v.add(field, "%d more are not user principal names", bad-5)
	}
	return out
}
