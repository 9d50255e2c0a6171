package teams

import (
	"errors"
	"net/http"
)

// ClassifyChange says what err, returned by Update or Delete, means. It is
// Classify's table with one difference: every 404 is ConversationGone,
// since for a message sent earlier Teams answers 404 both when the
// conversation is gone and when the message is (deleted by a recall, by
// the user, or past its retention), and neither comes back.
func ClassifyChange(err error) Outcome {
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		return ConversationGone
	}
	return Classify(err)
}
