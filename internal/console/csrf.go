package console

import (
	"crypto/subtle"
	"net/http"
)

// CSRF: every state-changing request must carry the session's token, in
// the form field CSRFField (the pages' forms) or the header CSRFHeader
// (scripts). The token is random per session and kept server-side with
// it, so a page of another site can neither read nor guess it. On top,
// net/http's CrossOriginProtection refuses cross-origin unsafe requests
// by their Sec-Fetch-Site and Origin headers, and the session cookie is
// SameSite=Lax.
const (
	CSRFField  = "csrf"
	CSRFHeader = "X-CSRF-Token"
)

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func validCSRF(r *http.Request, s *session) bool {
	tok := r.Header.Get(CSRFHeader)
	if tok == "" {
		tok = r.PostFormValue(CSRFField)
	}
	return tok != "" && s.CSRF != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) == 1
}
