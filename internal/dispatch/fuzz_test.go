package dispatch_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

const (
	fuzzTenant  = "aaaaaaaa-1111-1111-1111-111111111111"
	fuzzTenant2 = "bbbbbbbb-2222-2222-2222-222222222222"
)

// Any body is refused with a ValidationError naming a field, or becomes a
// broadcast of a served tenant whose activity is JSON, valid UTF-8 and
// within Teams' size budget: the whole validation a create runs before it
// writes anything (decoding, then the dispatcher's tenant, activity and
// size checks).
func FuzzPrepare(f *testing.F) {
	for _, s := range []string{
		`{"message":{"text":"hi"},"audience":{"allUsers":true}}`,
		`{"tenantId":"BBBBBBBB-2222-2222-2222-222222222222","message":{"text":"hi","notify":false},"audience":{"userIds":["11111111-1111-1111-1111-111111111111"]},"priority":"urgent"}`,
		`{"tenantId":"12345678-1234-1234-1234-123456789012","message":{"text":"hi"},"audience":{"allUsers":true}}`,
		`{"message":{"text":"summary","card":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Q&A <b>"}]}},"audience":{"allUsers":true}}`,
		`{"message":{"card":{"type":"AdaptiveCard","version":"1.5","actions":[],"x":"\u00e9\ud83c\udf89"}},"audience":{"allUsers":true}}`,
		"{\"message\":{\"card\":{\"type\":\"AdaptiveCard\",\"version\":\"1.5\",\"body\":[\"\xff\"]}},\"audience\":{\"allUsers\":true}}",
		`{"message":{"template":{"title":"Hi {{displayName}}","summary":"\ud83c\udf89 {{department}}","buttons":[{"title":"Go","url":"https://a.example"}]}},"audience":{"allUsers":true}}`,
		`{"message":{"text":"{{displayName}}{{displayName}}{{mail}}"},"audience":{"allUsers":true}}`,
	} {
		f.Add([]byte(s))
	}
	d := dispatch.New(dispatch.Config{Tenants: []string{fuzzTenant, fuzzTenant2}}, nil, nil, nil, zap.NewNop())
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := broadcast.DecodeCreateRequest(bytes.NewReader(body))
		if err != nil {
			requireFieldError(t, err)
			return
		}
		b, activity, err := d.Prepare(req)
		if err != nil {
			requireFieldError(t, err)
			var verr *broadcast.ValidationError
			errors.As(err, &verr)
			for _, p := range verr.Problems {
				if p.Field != "tenantId" && p.Field != "message" && !strings.HasPrefix(p.Field, "reminders[") {
					t.Fatalf("the dispatcher refused field %q: %v", p.Field, err)
				}
			}
			return
		}
		if b.TenantID != fuzzTenant && b.TenantID != fuzzTenant2 {
			t.Fatalf("tenant %q is not served", b.TenantID)
		}
		if _, err := uuid.Parse(b.ID); err != nil {
			t.Fatalf("id %q: %v", b.ID, err)
		}
		if !b.Priority.Valid() || b.Status != broadcast.StatusExpanding {
			t.Fatalf("priority %q, status %q", b.Priority, b.Status)
		}
		if !json.Valid(activity) || !utf8.Valid(activity) {
			t.Fatalf("the activity is not valid JSON in UTF-8: %q", activity)
		}
		if n := teams.PayloadSize(activity); n > dispatch.MaxActivityUnits {
			t.Fatalf("an activity of %d units accepted, over %d", n, dispatch.MaxActivityUnits)
		}
		// Personalised for the longest profile, it still fits.
		if n := teams.PayloadSize(message.Personalize(activity, longestProfile)); n > dispatch.MaxActivityUnits {
			t.Fatalf("personalised for the longest profile, an accepted activity is %d units, over %d", n, dispatch.MaxActivityUnits)
		}
	})
}

// longestProfile has every field at its maximum length in Entra, each
// character escaped to two units or more in JSON.
var longestProfile = broadcast.Profile{
	DisplayName: strings.Repeat(`"`, 256), GivenName: strings.Repeat(`\`, 64), Surname: strings.Repeat("\n", 64),
	Mail: strings.Repeat(`"`, 256), UserPrincipalName: strings.Repeat(`\`, 113), JobTitle: strings.Repeat("\x01", 128), Department: strings.Repeat(`"`, 64),
}

func requireFieldError(t *testing.T, err error) {
	t.Helper()
	var verr *broadcast.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) == 0 {
		t.Fatalf("not a ValidationError naming a field: %T %v", err, err)
	}
	for _, p := range verr.Problems {
		if p.Field == "" || p.Problem == "" {
			t.Fatalf("a problem without field or text: %+v", p)
		}
	}
}
