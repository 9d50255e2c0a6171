package broadcast

import (
	"encoding/json"
	"io"
	"time"
)

// What an author composing a broadcast asks before creating it: the
// message as one recipient will get it, and how many people the audience
// names. Neither changes anything.

// RenderRequest is the body of POST /v1/tenants/{tenant}/render: a message
// to render as the senders would, personalised for the user As names (a
// user id or a user principal name of the directory cache), or with its
// placeholders left as they are when As is empty.
type RenderRequest struct {
	Message Message `json:"message"`
	As      string  `json:"as,omitempty"`
}

// Rendering is the answer of a render: the activity the user gets, its
// Adaptive Card (a text message has none), and the payload budget.
type Rendering struct {
	Activity json.RawMessage `json:"activity"`
	Card     json.RawMessage `json:"card,omitempty"`
	// Units is the activity's size in UTF-16 units with each placeholder
	// counted at its longest value: what a create checks against MaxUnits.
	Units    int `json:"units"`
	MaxUnits int `json:"maxUnits"`
	// As is the profile the placeholders were filled from.
	As *Profile `json:"as,omitempty"`
}

// DecodeRenderRequest reads a render request strictly and validates the
// message as a create's, and the user As names.
func DecodeRenderRequest(r io.Reader) (*RenderRequest, error) {
	var req RenderRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	v := &ValidationError{}
	req.Message.validate(v)
	if req.As != "" {
		req.As = checkUser(v, "as", req.As)
	}
	return &req, v.orNil()
}

// SizeRequest is the body of POST /v1/tenants/{tenant}/audience-size.
type SizeRequest struct {
	Audience Audience `json:"audience"`
}

// DecodeSizeRequest reads an audience-size request strictly and validates
// its audience as a create's.
func DecodeSizeRequest(r io.Reader) (*SizeRequest, error) {
	var req SizeRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	v := &ValidationError{}
	req.Audience.normalize(v)
	return &req, v.orNil()
}

// AudienceSize is how many recipients an audience names, counted from the
// directory cache before anything is sent. It is exact only when every
// part of the audience could be counted there: the members of groups are
// read from Microsoft Graph when the broadcast starts, and users the cache
// does not know may or may not exist.
type AudienceSize struct {
	// Size counts the distinct recipients the cache knows, exclusions
	// applied (those the cache can tell).
	Size  int64 `json:"size"`
	Exact bool  `json:"exact"`
	// UnknownUsers are the ids and UPNs of the audience the cache does not
	// know: looked up in Graph when sent, reported unresolved if absent.
	UnknownUsers int `json:"unknownUsers,omitempty"`
	// GroupMembers is how many more recipients the groups of the audience
	// may add, at most: the members Microsoft Graph counts in the
	// CountedGroups (guests, disabled accounts, users counted already and
	// members of two groups not removed).
	GroupMembers  int64 `json:"groupMembers,omitempty"`
	CountedGroups int   `json:"countedGroups,omitempty"`
	// UncountedGroups are the groups (to include or exclude) whose
	// members are not counted.
	UncountedGroups int `json:"uncountedGroups,omitempty"`
	// DirectorySyncedAt is when the tenant's directory cache was last
	// synced with Graph; absent if never (then allUsers counts nobody).
	DirectorySyncedAt *time.Time `json:"directorySyncedAt,omitempty"`
}
