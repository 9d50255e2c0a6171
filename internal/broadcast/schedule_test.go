package broadcast

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSendAt(t *testing.T) {
	t.Parallel()
	decode := func(sendAt string) (*CreateRequest, error) {
		return DecodeCreateRequest(strings.NewReader(`{"message":{"text":"hi"},"audience":{"allUsers":true},"sendAt":` + sendAt + `}`))
	}
	req, err := decode(`"2026-12-02T10:00:00.1234567+01:00"`)
	require.NoError(t, err)
	require.Equal(t, "2026-12-02T09:00:00.123Z", *req.SendAt, "UTC, to the millisecond")
	at, ok := req.SendTime()
	require.True(t, ok)
	require.True(t, at.Equal(time.Date(2026, 12, 2, 9, 0, 0, 123e6, time.UTC)))

	for _, bad := range []string{`""`, `"tomorrow"`, `"2026-12-02 09:00"`, `"2026-12-02T09:00:00"`, `"0000-01-01T00:00:00+23:59"`, `3`, `true`} {
		_, err := decode(bad)
		var verr *ValidationError
		require.ErrorAs(t, err, &verr, bad)
		require.Equal(t, "sendAt", verr.Problems[0].Field, bad)
	}
	_, err = decode(`""`)
	require.ErrorContains(t, err, "sendAt: empty: give an RFC 3339 time", "empty is not absent")
	req, err = decode(`null`)
	require.NoError(t, err)
	_, ok = req.SendTime()
	require.False(t, ok, "null, as absent: send now")

	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	require.NoError(t, CheckSendAt(now.Add(-ScheduleSkew), now), "within the skew")
	require.NoError(t, CheckSendAt(now.Add(MaxScheduleAhead), now))
	require.ErrorContains(t, CheckSendAt(now.Add(-ScheduleSkew-time.Millisecond), now), "in the past")
	require.ErrorContains(t, CheckSendAt(now.Add(MaxScheduleAhead+time.Millisecond), now), "more than 365 days ahead")
}

func TestPreviewRequests(t *testing.T) {
	t.Parallel()
	req, err := DecodePreviewRequest(strings.NewReader(`{"to":" AAAAAAAA-1111-1111-1111-111111111111 "}`))
	require.NoError(t, err)
	require.Equal(t, "aaaaaaaa-1111-1111-1111-111111111111", req.To)
	req, err = DecodePreviewRequest(strings.NewReader(`{"to":"Ann.Lee@Contoso.example"}`))
	require.NoError(t, err)
	require.Equal(t, "Ann.Lee@Contoso.example", req.To, "a name is looked up in any case, as given")
	for _, bad := range []string{`{}`, `{"to":""}`, `{"to":"ann"}`, `{"to":"@contoso.example"}`, `{"to":"ann@"}`, `{"to":"a@b@c"}`, `{"to":"ann lee@contoso.example"}`, `{"to":"` + strings.Repeat("a", 400) + `@x"}`} {
		_, err := DecodePreviewRequest(strings.NewReader(bad))
		var verr *ValidationError
		require.ErrorAs(t, err, &verr, bad)
		require.Equal(t, "to", verr.Problems[0].Field, bad)
	}

	d, err := DecodeDraftPreviewRequest(strings.NewReader(`{"tenantId":"AAAAAAAA-1111-1111-1111-111111111111","message":{"text":"Draft"},"to":"ann@contoso.example"}`))
	require.NoError(t, err)
	require.Equal(t, "aaaaaaaa-1111-1111-1111-111111111111", d.TenantID)
	_, err = DecodeDraftPreviewRequest(strings.NewReader(`{"message":{},"to":"ann"}`))
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	fields := []string{}
	for _, p := range verr.Problems {
		fields = append(fields, p.Field)
	}
	require.ElementsMatch(t, []string{"to", "message"}, fields, "every problem is named")
	_, err = DecodeDraftPreviewRequest(strings.NewReader(`{"message":{"text":"x"},"to":"ann@contoso.example","audience":{"allUsers":true}}`))
	require.ErrorAs(t, err, &verr)
	require.Equal(t, "audience", verr.Problems[0].Field, "a draft preview has no audience")
}

func TestLocalTime(t *testing.T) {
	t.Parallel()
	decode := func(fields string) (*CreateRequest, error) {
		return DecodeCreateRequest(strings.NewReader(`{"message":{"text":"hi"},"audience":{"allUsers":true},` + fields + `}`))
	}
	req, err := decode(`"localTime":"2026-12-08T09:00"`)
	require.NoError(t, err)
	lt, ok := req.LocalTimeOf()
	require.True(t, ok)
	require.Equal(t, "2026-12-08T09:00", lt.String())
	_, ok = req.SendTime()
	require.False(t, ok)

	for _, bad := range []string{`""`, `"2026-12-08"`, `"2026-12-08T09:00Z"`, `"2026-12-08T09:00:00"`, `"2026-12-08T25:00"`, `9`} {
		_, err := decode(`"localTime":` + bad)
		var verr *ValidationError
		require.ErrorAs(t, err, &verr, bad)
		require.Equal(t, "localTime", verr.Problems[0].Field, bad)
	}
	_, err = decode(`"localTime":"2026-12-08T09:00","sendAt":"2026-12-08T09:00:00Z"`)
	require.ErrorContains(t, err, "localTime: give either sendAt")

	now := time.Date(2026, 12, 8, 8, 0, 0, 0, time.UTC)
	berlin := time.Date(2026, 12, 8, 8, 0, 0, 0, time.UTC) // 09:00 CET
	require.NoError(t, CheckLocalTime(lt, berlin, "Europe/Berlin", now))
	require.NoError(t, CheckLocalTime(lt, berlin, "Europe/Berlin", now.Add(ScheduleSkew)), "within the skew")
	require.ErrorContains(t, CheckLocalTime(lt, berlin, "Europe/Berlin", now.Add(time.Minute)),
		"localTime: 2026-12-08T09:00 has passed in Europe/Berlin")
	far, err := decode(`"localTime":"2027-12-08T09:00"`)
	require.NoError(t, err)
	flt, _ := far.LocalTimeOf()
	require.ErrorContains(t, CheckLocalTime(flt, time.Date(2027, 12, 8, 8, 0, 0, 0, time.UTC), "Europe/Berlin", now), "more than 365 days ahead")
}
