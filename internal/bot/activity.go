package bot

import (
	"encoding/json"
	"strings"
)

// account is a Bot Framework channel account.
type account struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	AADObjectID string `json:"aadObjectId,omitempty"`
}

// activity is the part of a Bot Framework activity the endpoint reads.
type activity struct {
	Type         string  `json:"type"`
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Action       string  `json:"action"` // installationUpdate: add, remove, add-upgrade, remove-upgrade
	ReplyToID    string  `json:"replyToId"`
	Text         string  `json:"text"`
	ChannelID    string  `json:"channelId"`
	ServiceURL   string  `json:"serviceUrl"`
	From         account `json:"from"`
	Recipient    account `json:"recipient"`
	Conversation struct {
		ID               string `json:"id"`
		TenantID         string `json:"tenantId"`
		ConversationType string `json:"conversationType"`
		IsGroup          bool   `json:"isGroup"`
	} `json:"conversation"`
	MembersAdded     []account       `json:"membersAdded"`
	MembersRemoved   []account       `json:"membersRemoved"`
	ReactionsAdded   []reaction      `json:"reactionsAdded"`
	ReactionsRemoved []reaction      `json:"reactionsRemoved"`
	Value            json.RawMessage `json:"value"`
	ChannelData      struct {
		Tenant struct {
			ID string `json:"id"`
		} `json:"tenant"`
		EventType string `json:"eventType"`
	} `json:"channelData"`
}

// reaction is one of a messageReaction's reactions.
type reaction struct {
	Type string `json:"type"`
}

// Activity types and names the endpoint acts on.
const (
	typeConversationUpdate = "conversationUpdate"
	typeInstallationUpdate = "installationUpdate"
	typeMessage            = "message"
	typeMessageReaction    = "messageReaction"
	typeEvent              = "event"
	typeInvoke             = "invoke"
	nameReadReceipt        = "application/vnd.microsoft.readReceipt"
	nameCardAction         = "adaptiveCard/action"
)

// tenant is the activity's tenant, lower case.
func (a *activity) tenant() string {
	t := a.Conversation.TenantID
	if t == "" {
		t = a.ChannelData.Tenant.ID
	}
	return strings.ToLower(strings.TrimSpace(t))
}

// user is the AAD object id of the user the activity comes from, lower case.
func (a *activity) user() string { return strings.ToLower(strings.TrimSpace(a.From.AADObjectID)) }

// personal reports whether the conversation is a 1:1 chat with the bot.
func (a *activity) personal() bool {
	switch a.Conversation.ConversationType {
	case "personal":
		return true
	case "":
		return !a.Conversation.IsGroup
	}
	return false
}

// isBot reports whether m is this bot: its id is the activity's
// recipient's, or "28:<app id>".
func (a *activity) isBot(m account, appID string) bool {
	return m.ID != "" && (m.ID == a.Recipient.ID || strings.EqualFold(m.ID, "28:"+appID))
}

// botIn reports whether the bot is one of members.
func (a *activity) botIn(members []account, appID string) bool {
	for _, m := range members {
		if a.isBot(m, appID) {
			return true
		}
	}
	return false
}

// event is what an activity means for the conversation cache.
type event int

const (
	eventNone        event = iota
	eventInstalled         // the bot was added to a user's personal scope
	eventUninstalled       // the bot was removed from it
)

// classify says what the activity means for the cache.
func (a *activity) classify(appID string) event {
	switch a.Type {
	case typeInstallationUpdate:
		switch {
		case a.Action == "add" || a.Action == "add-upgrade":
			return eventInstalled
		case a.Action == "remove":
			return eventUninstalled
		}
	case typeConversationUpdate:
		switch {
		case a.botIn(a.MembersAdded, appID):
			return eventInstalled
		case a.botIn(a.MembersRemoved, appID):
			return eventUninstalled
		}
	}
	return eventNone
}
