package broadcast

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkValidationError fails unless err is a *ValidationError naming at
// least one field, each with a problem.
func checkValidationError(t *testing.T, err error) {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("not a *ValidationError: %T %v", err, err)
	}
	if len(verr.Problems) == 0 {
		t.Fatalf("a ValidationError without problems: %v", err)
	}
	for _, p := range verr.Problems {
		if p.Field == "" || p.Problem == "" {
			t.Fatalf("a problem without a field or text: %+v", p)
		}
	}
	_ = verr.Error()
}

// Any body decodes into a valid, normalised request, or is refused with a
// ValidationError naming the fields at fault; a valid request survives
// encoding and decoding again unchanged.
func FuzzDecodeCreateRequest(f *testing.F) {
	for _, s := range []string{
		``,
		`{}`,
		`{"message":{"text":"hi"},"audience":{"allUsers":true}}`,
		`{"tenantId":"AAAAAAAA-1111-1111-1111-111111111111","priority":"urgent","message":{"text":"x","notify":false},"audience":{"userIds":["` + strings.ToUpper(user1) + `","` + user1 + `"]}}`,
		`{"message":{"card":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"<b>&</b>"}]}},"audience":{"allUsers":true}}`,
		`{"message":{"text":5},"audience":{"userIds":"x"}}`,
		`{"message":{"template":{"title":"Hi {{displayName}}","summary":"**x** {{ department }}","imageUrl":"https://a.example/i.png","author":"HR","buttons":[{"title":"Go","url":"https://a.example"},{"title":"Mail","url":"mailto:hr@a.example"}]}},"audience":{"allUsers":true}}`,
		`{"message":{"template":{"title":"x","buttons":[{"title":"js","url":"javascript:alert(1)"}]},"text":"y"},"audience":{"allUsers":true}}`,
		`{"message":{"text":"{{firstName}}","card":{"type":"AdaptiveCard","version":"1.6","body":[{"type":"Carousel"}],"actions":[{"type":"Action.OpenUrl","url":"data:x"}]}},"audience":{"allUsers":true}}`,
		`{"message":{"text":"hi"},"audience":{"allUsers":true}} trailing`,
		`{"message":{"text":"hi"},"audience":{"allUsers":true},"sendAt":"2026-12-02T10:00:00.123456+01:00"}`,
		`{"message":{"text":"hi"},"audience":{"allUsers":true},"sendAt":"0000-01-01T00:00:00+23:59"}`,
		`{"message":{"text":"hi"},"audience":{"allUsers":true,"includeGuests":true,"groupIds":["` + user1 + `"],"upns":["Ada@Contoso.com","x_y.com#EXT#@t.onmicrosoft.com"],"exclude":{"upns":["bob@contoso.com"],"groupIds":["` + user1 + `"],"userIds":["` + user1 + `"]}}}`,
		`{"message":{"text":"hi"},"audience":{"upns":["not a upn","@x.com"],"groupIds":["g"],"exclude":{"userIds":["u"]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeCreateRequest(bytes.NewReader(body))
		if err != nil {
			if req != nil {
				t.Fatalf("a request with an error: %+v", req)
			}
			checkValidationError(t, err)
			return
		}
		checkNormalised(t, req)
		// Encoded (as the store and a retry would) and decoded again, it is
		// the same request.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(req); err != nil {
			t.Fatalf("encode a valid request: %v", err)
		}
		again, err := DecodeCreateRequest(&buf)
		if err != nil {
			t.Fatalf("a valid request, encoded, is refused: %v\n%s", err, buf.String())
		}
		want := *req
		if len(want.Message.Card) > 0 {
			var c bytes.Buffer
			if err := json.Compact(&c, want.Message.Card); err != nil {
				t.Fatalf("a valid card does not compact: %v", err)
			}
			want.Message.Card = c.Bytes()
		}
		if !reflect.DeepEqual(&want, again) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", want, *again)
		}
	})
}

func checkNormalised(t *testing.T, req *CreateRequest) {
	t.Helper()
	if req.TenantID != "" && (!IsGUID(req.TenantID) || req.TenantID != strings.ToLower(req.TenantID)) {
		t.Fatalf("tenant %q is not a lowercase GUID", req.TenantID)
	}
	if !req.Priority.Valid() {
		t.Fatalf("priority %q", req.Priority)
	}
	m := req.Message
	if m.Text == "" && len(m.Card) == 0 && m.Template == nil {
		t.Fatal("a message with neither text, card nor template")
	}
	if m.Template != nil && (m.Text != "" || len(m.Card) > 0) {
		t.Fatal("a template with text or a card")
	}
	if tp := m.Template; tp != nil {
		if strings.TrimSpace(tp.Title) == "" || len(tp.Buttons) > MaxButtons {
			t.Fatalf("a template without title or with %d buttons", len(tp.Buttons))
		}
		for _, b := range tp.Buttons {
			if u := strings.ToLower(b.URL); !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "mailto:") {
				t.Fatalf("a button URL %q accepted", b.URL)
			}
		}
		if tp.ImageURL != "" && !strings.HasPrefix(strings.ToLower(tp.ImageURL), "https://") {
			t.Fatalf("an image URL %q accepted", tp.ImageURL)
		}
	}
	for _, s := range []string{m.Text, string(m.Card)} {
		for _, p := range PlaceholderPattern.FindAllStringSubmatch(s, -1) {
			if _, ok := ProfileFields[p[1]]; !ok {
				t.Fatalf("unknown placeholder %q accepted", p[0])
			}
		}
	}
	if len(req.Message.Text) > MaxTextBytes || len(req.Message.Card) > MaxCardBytes {
		t.Fatalf("over the limits: text %d, card %d bytes", len(req.Message.Text), len(req.Message.Card))
	}
	if len(req.Message.Card) > 0 && (!json.Valid(req.Message.Card) || !utf8.Valid(req.Message.Card)) {
		t.Fatalf("an invalid card accepted: %q", req.Message.Card)
	}
	if !utf8.ValidString(req.Message.Text) {
		t.Fatalf("text not UTF-8 accepted: %q", req.Message.Text)
	}
	a := req.Audience
	if !a.AllUsers && len(a.UserIDs)+len(a.UPNs)+len(a.GroupIDs) == 0 {
		t.Fatalf("audience has no source: %+v", a)
	}
	for _, list := range [][]string{a.UserIDs, a.GroupIDs, a.Exclude.UserIDs, a.Exclude.GroupIDs} {
		seen := map[string]bool{}
		for _, id := range list {
			if !IsGUID(id) || id != strings.ToLower(id) || seen[id] {
				t.Fatalf("id %q is not a new lowercase GUID", id)
			}
			seen[id] = true
		}
	}
	for _, list := range [][]string{a.UPNs, a.Exclude.UPNs} {
		seen := map[string]bool{}
		for _, u := range list {
			if !IsUPN(u) || u != strings.ToLower(u) || seen[u] {
				t.Fatalf("UPN %q is not a new lowercase user principal name", u)
			}
			seen[u] = true
		}
	}
	if len(a.UserIDs) > MaxExplicitUsers || len(a.UPNs) > MaxExplicitUsers || len(a.GroupIDs) > MaxGroups {
		t.Fatalf("over the limits: %d users, %d UPNs, %d groups", len(a.UserIDs), len(a.UPNs), len(a.GroupIDs))
	}
	if err := req.Normalize(); err != nil {
		t.Fatalf("a normalised request does not normalise again: %v", err)
	}
}

// Any bytes taken from the stream decode into a job whose ids can name
// its subject and consumers, or are refused with an error wrapping
// ErrBadJob (which the workers terminate); a job survives encoding.
func FuzzDecodeJob(f *testing.F) {
	for _, s := range []string{
		``,
		`{`,
		`null`,
		`{"b":"0190a3b2-0000-7000-8000-000000000000","t":"` + user1 + `","u":"` + user1 + `","c":"19:x@unq.gbl.spaces","ri":1}`,
		`{"b":"x","t":"nope"}`,
		`{"b":"x","t":"` + user1 + `","u":"` + user1 + `","ri":-1}`,
		`{"b":"x","t":"` + user1 + `","u":"` + user1 + `","ri":1e99}`,
		`[1,2,3]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := DecodeJob(data)
		if err != nil {
			if !errors.Is(err, ErrBadJob) {
				t.Fatalf("an error that does not wrap ErrBadJob: %v", err)
			}
			return
		}
		if !IsGUID(j.TenantID) || !IsGUID(j.UserID) || j.Reinstall < 0 {
			t.Fatalf("a bad job accepted: %+v", j)
		}
		if !isToken(j.BroadcastID) {
			t.Fatalf("broadcast id %q cannot be a subject token or a consumer name", j.BroadcastID)
		}
		again, err := DecodeJob(j.Marshal())
		if err != nil || again != j {
			t.Fatalf("round trip: %+v -> %+v, %v", j, again, err)
		}
	})
}

// isToken reports whether s can be one token of a NATS subject and part of
// a consumer name: not empty, no '.', wildcards, white space or controls.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r == 0x7f {
			return false
		}
	}
	return true
}
