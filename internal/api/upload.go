package api

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// MaxUploadBytes bounds a multipart create: the JSON part and two CSV
// files of up to broadcast.MaxExplicitUsers rows each.
const MaxUploadBytes = 16 << 20

// Upload parts of a multipart create.
const (
	partBroadcast  = "broadcast"  // the create request's JSON
	partRecipients = "recipients" // CSV: one user id or UPN per row, added to the audience
	partExclude    = "exclude"    // CSV: the same, added to audience.exclude
)

func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// decodeUpload reads a multipart create: the part "broadcast" is the JSON
// request, "recipients" a CSV of user ids or UPNs added to its audience,
// "exclude" (optional) a CSV of users left out. Parts are streamed; the
// whole body is bounded by MaxUploadBytes.
func decodeUpload(w http.ResponseWriter, r *http.Request) (*broadcast.CreateRequest, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxUploadBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, broadcast.Invalid("body", "not valid multipart/form-data: %s", err.Error())
	}
	var req *broadcast.CreateRequest
	var ids, upns, xids, xupns []string
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, uploadError(err)
		}
		name := part.FormName()
		if seen[name] {
			return nil, broadcast.Invalid(name, "the part is given twice")
		}
		seen[name] = true
		switch name {
		case partBroadcast:
			req, err = broadcast.ReadCreateRequest(part)
		case partRecipients:
			ids, upns, err = broadcast.ReadRecipientsCSV(part, partRecipients)
		case partExclude:
			xids, xupns, err = broadcast.ReadRecipientsCSV(part, partExclude)
		default:
			err = broadcast.Invalid("body", "unknown part %q: give %q (the JSON request), %q and optionally %q (CSV files)",
				clipName(name), partBroadcast, partRecipients, partExclude)
		}
		_ = part.Close()
		if err != nil {
			return nil, uploadError(err)
		}
	}
	if req == nil {
		return nil, broadcast.Invalid(partBroadcast, "required: a part %q with the JSON request", partBroadcast)
	}
	a := &req.Audience
	a.UserIDs = append(a.UserIDs, ids...)
	a.UPNs = append(a.UPNs, upns...)
	a.Exclude.UserIDs = append(a.Exclude.UserIDs, xids...)
	a.Exclude.UPNs = append(a.Exclude.UPNs, xupns...)
	if err := req.Normalize(); err != nil {
		return nil, err
	}
	return req, nil
}

// uploadError keeps validation and size errors, and names a broken
// multipart body.
func uploadError(err error) error {
	var verr *broadcast.ValidationError
	var tooBig *http.MaxBytesError
	if errors.As(err, &verr) || errors.As(err, &tooBig) {
		return err
	}
	return broadcast.Invalid("body", "not valid multipart/form-data: %s", err.Error())
}

func clipName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
