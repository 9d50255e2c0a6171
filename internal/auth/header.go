package auth

import (
	"context"
	"errors"
	"strings"
)

// Problems with an Authorization header; their text never holds the key.
var (
	ErrNoKey       = errors.New("missing API key: send the header \"Authorization: Bearer <key>\"")
	ErrMalformed   = errors.New("malformed Authorization header: want \"Bearer <key>\"")
	ErrKeyNotValid = errors.New("invalid API key")
	maxTokenBytes  = 512
)

// BearerToken reads the token of an Authorization header's values: exactly
// one header, scheme Bearer (any case), one token of printable ASCII.
func BearerToken(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", ErrNoKey
	case 1:
	default:
		return "", ErrMalformed
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		if strings.TrimSpace(values[0]) == "" {
			return "", ErrNoKey
		}
		return "", ErrMalformed
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > maxTokenBytes {
		return "", ErrMalformed
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return "", ErrMalformed
		}
	}
	return token, nil
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal ctx carries.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
