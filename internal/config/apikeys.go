package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/broadcast-dev/broadcast/internal/auth"
)

// DefaultAuditMaxEntries bounds the audit log (AUDIT_MAX_ENTRIES): the
// oldest entries go past it (approximately: Redis trims whole nodes).
const DefaultAuditMaxEntries = 1_000_000

// noKeys explains how to configure the API's first key.
const noKeys = "API_KEYS_FILE or API_KEYS: required: the API refuses every request without a key. " +
	"Mint one with `bcast keygen --name <who> --role admin` and put the line it prints " +
	"(\"<name> <role> sha256:<hex>\") in the file API_KEYS_FILE names, or in API_KEYS"

// apiKeys reads the API's keys: the lines of the file API_KEYS_FILE
// names, then those of API_KEYS (newlines, or ';' on one line, between
// keys). At least one key is required, names unique.
func (r *reader) apiKeys() []auth.Key {
	var keys []auth.Key
	before := len(r.errs)
	if path := r.str("API_KEYS_FILE", ""); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("API_KEYS_FILE: %w", err))
		} else {
			ks, err := auth.ParseKeys("API_KEYS_FILE "+path, strings.NewReader(string(data)))
			r.keep(err)
			keys = append(keys, ks...)
		}
	}
	if inline := r.str("API_KEYS", ""); inline != "" {
		ks, err := auth.ParseKeys("API_KEYS", strings.NewReader(strings.ReplaceAll(inline, ";", "\n")))
		r.keep(err)
		keys = append(keys, ks...)
	}
	if len(keys) == 0 {
		if len(r.errs) == before { // not a bad line: no line at all
			r.errs = append(r.errs, errors.New(noKeys))
		}
		return nil
	}
	if _, err := auth.NewKeys(keys); err != nil {
		r.errs = append(r.errs, fmt.Errorf("API_KEYS_FILE/API_KEYS: %w", err))
	}
	return keys
}

func (r *reader) keep(err error) {
	if err != nil {
		r.errs = append(r.errs, err)
	}
}

// keyNames is the loggable view of keys: names and roles, no hash.
func keyNames(keys []auth.Key) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name + ":" + k.Role.String()
	}
	return names
}
