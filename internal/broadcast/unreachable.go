package broadcast

import "time"

// Unreachable reports whether a recipient that ended with reason cannot
// receive the bot's messages until someone acts: the user blocked the bot,
// the admin disabled it, or the app is uninstalled and installing it again
// did not bring a conversation back (the Connector's 403 answers).
func (r Reason) Unreachable() bool {
	return r == ReasonBlockedByUser || r == ReasonBotDisabled || r == ReasonNotInstalled
}

// UnreachableUser is a user of a tenant whom the last broadcasts could not
// reach, for the tenant's unreachable report.
type UnreachableUser struct {
	UserID            string `json:"userId"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	DisplayName       string `json:"displayName,omitempty"`
	Reason            Reason `json:"reason"`
	// BroadcastID is the last broadcast that could not reach the user, At
	// when; Times counts the broadcasts that could not since the user was
	// last reached.
	BroadcastID string    `json:"broadcastId"`
	At          time.Time `json:"at"`
	Times       int       `json:"times"`
}
