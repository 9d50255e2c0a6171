package message

import (
	"bytes"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

// MaxActivityUnits is the payload budget of one activity in UTF-16 code
// units, as Teams counts it: Teams refuses about 100 KB; we stay below 80 KB.
const MaxActivityUnits = 80 * 1024

// Activity renders a validated message to the activity the senders post:
// a template becomes an Adaptive Card whose notification summary is the
// title; text and card go as teams.Activity puts them.
func Activity(m broadcast.Message) ([]byte, error) {
	if m.Template != nil {
		return teams.Activity(m.Template.Title, TemplateCard(*m.Template), m.Alert())
	}
	return teams.Activity(m.Text, m.Card, m.Alert())
}

// Build renders a validated message and checks the activity against the
// payload budget for its largest recipient (WorstCaseUnits). Over it, the
// error is a *broadcast.ValidationError on "message".
func Build(m broadcast.Message) ([]byte, error) {
	activity, err := Activity(m)
	if err != nil {
		return nil, broadcast.Invalid("message", "%s", err.Error())
	}
	if n := WorstCaseUnits(activity); n > MaxActivityUnits {
		return nil, broadcast.Invalid("message", "the message is %d UTF-16 units (each placeholder counted at its longest value), over Teams' budget of %d (80 KB): shorten it", n, MaxActivityUnits)
	}
	return activity, nil
}

// WorstCaseUnits is the size of the activity, in UTF-16 code units, once
// personalised for the recipient with the longest profile: each known
// placeholder counts as its field's maximum length in Entra
// (broadcast.PlaceholderMaxUnits), which Personalize never exceeds.
func WorstCaseUnits(activity []byte) int {
	n := teams.PayloadSize(activity) + bytes.Count(activity, []byte(BroadcastIDToken))*broadcastIDUnits
	for _, m := range placeholderRE.FindAllSubmatchIndex(activity, -1) {
		name := string(activity[m[2]:m[3]])
		if max, ok := broadcast.PlaceholderMaxUnits[name]; ok {
			n += max - (m[1] - m[0]) // a placeholder is ASCII: one unit a byte
		}
	}
	return n
}
