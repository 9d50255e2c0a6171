package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// apiError is an error the API answered.
type apiError struct {
	Status  int
	Code    string                 `json:"code"`
	Message string                 `json:"message"`
	Fields  []broadcast.FieldError `json:"fields"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// field returns the problem the API named for field, if any.
func (e *apiError) field(name string) string {
	if e == nil {
		return ""
	}
	for _, f := range e.Fields {
		if f.Field == name {
			return f.Problem
		}
	}
	return ""
}

// byField sorts the API's problems by the form's field that shows each
// (field maps an API field to it, "" for none): those no field shows, and
// the message of an error that names no field, are in other.
func (e *apiError) byField(field func(apiField string) string) (problems map[string]string, other []string) {
	problems = map[string]string{}
	for _, fe := range e.Fields {
		if k := field(fe.Field); k != "" && problems[k] == "" {
			problems[k] = fe.Problem
		} else if k == "" {
			other = append(other, fe.Field+": "+fe.Problem)
		}
	}
	if len(e.Fields) == 0 {
		other = append(other, e.Message)
	}
	return problems, other
}

// call makes an API call in-process as the session's user, and decodes
// the answer into out (if not nil). The request carries r's context and
// X-Request-Id. An error is an *apiError: what the API answered.
func (c *Console) call(r *http.Request, s *session, method, path string, q url.Values, body io.Reader, contentType string, out any) *apiError {
	u := path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(r.Context(), method, u, body)
	if err != nil {
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: err.Error()}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if id := r.Header.Get(api.RequestIDHeader); id != "" {
		req.Header.Set(api.RequestIDHeader, id)
	}
	rec := &recorder{header: http.Header{}}
	c.api.ServeAs(rec, req, s.principal())
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 400 {
		var eb struct {
			Error apiError `json:"error"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &eb)
		eb.Error.Status = rec.status
		if eb.Error.Message == "" {
			eb.Error.Message = http.StatusText(rec.status)
		}
		return &eb.Error
	}
	if out != nil {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return &apiError{Status: http.StatusBadGateway, Code: "bad_answer", Message: "the API's answer could not be read: " + err.Error()}
		}
	}
	return nil
}

// recorder keeps an in-process API answer.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}
