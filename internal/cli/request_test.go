package cli_test

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/cli"
)

// recorded is a request the recording server received.
type recorded struct {
	method, path, contentType, key string
	authorization                  string
	body                           []byte
	parts                          map[string][]byte
}

// recorder answers every request with answer and keeps what it received:
// the requests the CLI builds for the contract's routes that this branch
// does not serve yet (preview, edit, recall, schedule, the multipart create).
func recorder(t *testing.T, status int, answer string) (server, func() recorded) {
	t.Helper()
	var mu sync.Mutex
	var last recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := recorded{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), key: r.Header.Get("Idempotency-Key"),
			authorization: r.Header.Get("Authorization"), body: body}
		if mt, params, err := mime.ParseMediaType(rec.contentType); err == nil && mt == "multipart/form-data" {
			rec.parts = map[string][]byte{}
			mr := multipart.NewReader(strings.NewReader(string(body)), params["boundary"])
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				raw, _ := io.ReadAll(p)
				rec.parts[p.FormName()] = raw
			}
		}
		mu.Lock()
		last = rec
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return server{url: srv.URL, key: "bk_recorded"}, func() recorded { mu.Lock(); defer mu.Unlock(); return last }
}

const answer = `{"id":"6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d","status":"scheduled","counts":{"total":0},"round":2,"queued":40}`

func TestCreateRequestFromFlags(t *testing.T) {
	t.Parallel()
	api, last := recorder(t, http.StatusAccepted, answer)
	code, out, stderr := bcast(t, api, "schedule", "--tenant", "9b2c3d4e-5f60-4718-293a-4b5c6d7e8f90",
		"--title", "Benefits", "--summary", "Hello {{givenName}}", "--image", "https://contoso.com/b.png", "--author", "HR",
		"--button", "Enrol=https://hr.contoso.com/enrol", "--button", "FAQ=https://hr.contoso.com/faq",
		"--all-users", "--include-guests", "--group", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "--upn", "ada@contoso.com",
		"--exclude-user", "11111111-2222-3333-4444-555555555555", "--exclude-group", "22222222-2222-3333-4444-555555555555", "--exclude-upn", "ceo@contoso.com",
		"--priority", "urgent", "--send-at", "2026-12-24T09:00:00+01:00", "--idempotency-key", "xmas-2026", "--no-notify")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d\n", out)
	r := last()
	require.Equal(t, "POST /v1/broadcasts", r.method+" "+r.path)
	require.Equal(t, "application/json", r.contentType)
	require.Equal(t, "xmas-2026", r.key)
	require.JSONEq(t, `{"tenantId":"9b2c3d4e-5f60-4718-293a-4b5c6d7e8f90",
		"message":{"template":{"title":"Benefits","summary":"Hello {{givenName}}","imageUrl":"https://contoso.com/b.png","author":"HR",
			"buttons":[{"title":"Enrol","url":"https://hr.contoso.com/enrol"},{"title":"FAQ","url":"https://hr.contoso.com/faq"}]},"notify":false},
		"audience":{"allUsers":true,"includeGuests":true,"groupIds":["0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"],"upns":["ada@contoso.com"],
			"exclude":{"userIds":["11111111-2222-3333-4444-555555555555"],"groupIds":["22222222-2222-3333-4444-555555555555"],"upns":["ceo@contoso.com"]}},
		"priority":"urgent","sendAt":"2026-12-24T08:00:00Z"}`, string(r.body))

	// A relative --send-at is from now.
	code, _, stderr = bcast(t, api, "create", "--text", "later", "--all-users", "--send-at", "2h")
	require.Equal(t, 0, code, stderr)
	var body struct {
		SendAt time.Time `json:"sendAt"`
	}
	require.NoError(t, json.Unmarshal(last().body, &body))
	require.WithinDuration(t, time.Now().Add(2*time.Hour), body.SendAt, time.Minute)

	// --local-time: the same time in each recipient's zone, as given.
	code, _, stderr = bcast(t, api, "schedule", "--text", "at nine", "--all-users", "--local-time", "2026-12-08T09:00")
	require.Equal(t, 0, code, stderr)
	require.JSONEq(t, `{"message":{"text":"at nine"},"audience":{"allUsers":true},"localTime":"2026-12-08T09:00"}`, string(last().body))

	// A card file and a recipients CSV: multipart, the file as it is.
	dir := t.TempDir()
	card := filepath.Join(dir, "card.json")
	require.NoError(t, os.WriteFile(card, []byte(`{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Hi {{displayName}}"}]}`), 0o600))
	list := filepath.Join(dir, "people.csv")
	require.NoError(t, os.WriteFile(list, []byte("upn\nada@contoso.com\nbob@contoso.com\n"), 0o600))
	code, _, stderr = bcast(t, api, "create", "--card", card, "--csv", list)
	require.Equal(t, 0, code, stderr)
	r = last()
	require.True(t, strings.HasPrefix(r.contentType, "multipart/form-data; boundary="), r.contentType)
	require.JSONEq(t, `{"message":{"card":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Hi {{displayName}}"}]}},"audience":{}}`, string(r.parts["broadcast"]))
	require.Equal(t, "upn\nada@contoso.com\nbob@contoso.com\n", string(r.parts["recipients"]))
}

func TestPreviewEditRecallRequests(t *testing.T) {
	t.Parallel()
	api, last := recorder(t, http.StatusAccepted, answer)
	id := "6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d"

	code, out, stderr := bcast(t, api, "preview", id, "--to", "ada@contoso.com")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, id+"\n", out)
	r := last()
	require.Equal(t, "POST /v1/broadcasts/"+id+"/preview", r.method+" "+r.path)
	require.JSONEq(t, `{"to":"ada@contoso.com"}`, string(r.body))

	code, _, stderr = bcast(t, api, "preview", "--tenant", "9b2c3d4e-5f60-4718-293a-4b5c6d7e8f90", "--to", "ada@contoso.com", "--text", "Hi {{displayName}}")
	require.Equal(t, 0, code, stderr)
	r = last()
	require.Equal(t, "POST /v1/previews", r.method+" "+r.path)
	require.JSONEq(t, `{"tenantId":"9b2c3d4e-5f60-4718-293a-4b5c6d7e8f90","message":{"text":"Hi {{displayName}}"},"to":"ada@contoso.com"}`, string(r.body))

	code, out, stderr = bcast(t, api, "edit", id, "--text", "Corrected")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "edit round 2: 40 messages queued\n", out)
	r = last()
	require.Equal(t, "POST /v1/broadcasts/"+id+"/edit", r.method+" "+r.path)
	require.JSONEq(t, `{"message":{"text":"Corrected"}}`, string(r.body))

	code, out, stderr = bcast(t, api, "recall", id)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "recall: 40 deletes queued\n", out)
	r = last()
	require.Equal(t, "POST /v1/broadcasts/"+id+"/recall", r.method+" "+r.path)
	require.JSONEq(t, `{}`, string(r.body))

	code, _, stderr = bcast(t, api, "preview", id)
	require.Equal(t, cli.ExitUsage, code)
	require.Contains(t, stderr, "--to is required")
}

// An answer that is not the API's JSON error body is still shown.
func TestNonJSONError(t *testing.T) {
	t.Parallel()
	api, _ := recorder(t, http.StatusBadGateway, "upstream gone")
	code, _, stderr := bcast(t, api, "status", "6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d")
	require.Equal(t, cli.ExitError, code)
	require.Contains(t, stderr, "502 Bad Gateway: upstream gone")
}

// status lists a localTime broadcast's zones, one a line.
func TestStatusShowsZones(t *testing.T) {
	t.Parallel()
	api, _ := recorder(t, http.StatusOK, `{"id":"6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d","status":"expanding","priority":"normal",
		"createdAt":"2026-12-07T10:00:00Z","sendAt":"2026-12-07T18:00:00Z","localTime":"2026-12-08T09:00","counts":{"total":12,"sent":12},
		"zones":[{"zone":"Asia/Tokyo","startAt":"2026-12-08T00:00:00Z","recipients":12,"state":"done"},
		{"zone":"Europe/Berlin","startAt":"2026-12-08T08:00:00Z","recipients":30,"state":"pending"}]}`)
	code, out, stderr := bcast(t, api, "status", "6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "local time  2026-12-08T09:00 in each recipient's zone")
	require.Regexp(t, `zones\s+Asia/Tokyo\s+2026-12-08T00:00:00Z\s+12 recipients\s+done\n`, out)
	require.Regexp(t, `\n\s+Europe/Berlin\s+2026-12-08T08:00:00Z\s+30 recipients\s+pending\n`, out)
}
