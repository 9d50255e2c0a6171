package teamsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// maxActivityUnits is Teams' message limit: about 100 KB, the whole
	// payload counted in UTF-16 code units.
	maxActivityUnits = 100 * 1024
	// maxActivityBytes: a body longer than this has more than
	// maxActivityUnits units whatever it holds (a UTF-8 sequence is at most
	// 3 bytes per unit), so reading stops there.
	maxActivityBytes = 3 * maxActivityUnits
	// maxCreateBytes bounds a create-conversation body.
	maxCreateBytes = 64 << 10
)

// activityIn is what the simulator reads of a posted activity.
type activityIn struct {
	Type        string         `json:"type"`
	Text        string         `json:"text"`
	Attachments []attachmentIn `json:"attachments"`
}

type attachmentIn struct {
	ContentType string          `json:"contentType"`
	Content     json.RawMessage `json:"content"`
	ContentURL  string          `json:"contentUrl"`
}

// checkedActivity is the outcome of validating a posted activity.
type checkedActivity struct {
	status  int // 0 when valid, else 400 or 413
	code    string
	message string
	hash    string
	split   bool // text and attachments: Teams splits it and answers without an id
}

// checkActivity validates body as a message activity and hashes its
// content. tooBig means the body was longer than maxActivityBytes.
func checkActivity(body []byte, tooBig bool) checkedActivity {
	if tooBig || utf16Units(body) > maxActivityUnits {
		return checkedActivity{status: http.StatusRequestEntityTooLarge, code: codeMessageSizeTooBig}
	}
	bad := func(msg string) checkedActivity {
		return checkedActivity{status: http.StatusBadRequest, code: codeBadArgument, message: msg}
	}
	var a activityIn
	if err := json.Unmarshal(body, &a); err != nil {
		return bad("The activity is not valid JSON: " + err.Error())
	}
	switch {
	case a.Type == "":
		return bad("Activity type is required.")
	case !strings.EqualFold(a.Type, "message"):
		return bad("Activity type '" + a.Type + "' cannot be sent to a conversation here; use 'message'.")
	case strings.TrimSpace(a.Text) == "" && len(a.Attachments) == 0:
		return bad("Activity must contain text or attachments.")
	}
	for i, at := range a.Attachments {
		if at.ContentType == "" {
			return bad("Attachment " + strconv.Itoa(i) + " has no contentType.")
		}
	}
	return checkedActivity{hash: contentHash(a.Text, a.Attachments), split: a.Text != "" && len(a.Attachments) > 0}
}

// utf16Units is the length of b in UTF-16 code units. An invalid UTF-8
// byte counts as one unit, a character outside the BMP as two.
func utf16Units(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
		i += size
	}
	return n
}

// readBody reads the request body into *buf, up to limit bytes; tooBig
// says there was more.
func readBody(r *http.Request, buf *[]byte, limit int) (body []byte, tooBig bool, err error) {
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, rerr := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > limit {
			*buf = b
			return b[:limit], true, nil
		}
		if errors.Is(rerr, io.EOF) {
			*buf = b
			return b, false, nil
		}
		if rerr != nil {
			*buf = b
			return nil, false, rerr
		}
	}
}

// ContentHash is the Delivery.ContentHash the simulator records for an
// activity posted as body: a test compares what each user received with
// what they were meant to receive (a personalised message, for instance)
// without the simulator keeping every message.
func ContentHash(body []byte) string { return checkActivity(body, false).hash }
