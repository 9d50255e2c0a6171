package broadcast

import (
	"fmt"
	"time"
)

// IdempotencyHeader is the request header that makes a create idempotent:
// a retry with the same key and the same body gets the broadcast the first
// request created, never a second one.
const IdempotencyHeader = "Idempotency-Key"

// MaxIdempotencyKey is the longest key accepted, in bytes.
const MaxIdempotencyKey = 255

// CheckIdempotencyKey reports what is wrong with an Idempotency-Key value:
// it must be 1 to 255 printable ASCII characters without spaces (a UUID, a
// ULID, an HR system's request id).
func CheckIdempotencyKey(key string) error {
	if key == "" {
		return Invalid(IdempotencyHeader, "empty: give 1 to %d printable ASCII characters, or leave the header out", MaxIdempotencyKey)
	}
	if len(key) > MaxIdempotencyKey {
		return Invalid(IdempotencyHeader, "too long: %d bytes, at most %d", len(key), MaxIdempotencyKey)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c > '~' {
			return Invalid(IdempotencyHeader, "byte %d is %q: only printable ASCII without spaces is allowed", i, c)
		}
	}
	return nil
}

// KeyReusedError refuses a create whose Idempotency-Key was used before
// for a different request: the key names one broadcast only.
type KeyReusedError struct {
	BroadcastID string    // the broadcast the key was used for
	UsedAt      time.Time // when the key was first used
}

func (e *KeyReusedError) Error() string {
	return fmt.Sprintf("%s: already used at %s for a different request (broadcast %s); "+
		"a retry must repeat the same body, and a new broadcast needs a new key",
		IdempotencyHeader, e.UsedAt.UTC().Format(time.RFC3339), e.BroadcastID)
}

// KeyInProgressError refuses a create whose Idempotency-Key is held by a
// create that has not written its broadcast yet: one running now, or one
// that stopped half-way and can be taken over after a grace period.
type KeyInProgressError struct {
	BroadcastID string
	RetryAfter  time.Duration
}

func (e *KeyInProgressError) Error() string {
	return fmt.Sprintf("%s: a request with this key is still creating broadcast %s; retry in %s",
		IdempotencyHeader, e.BroadcastID, e.RetryAfter)
}
