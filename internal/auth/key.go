package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// KeyPrefix starts every key Generate mints: it tells a broadcast API key
// from other secrets (in a secret scanner, say).
const KeyPrefix = "bk_"

// hashPrefix names the hash of a key line.
const hashPrefix = "sha256:"

// Key is a configured API key: its name (the actor the audit log names),
// its role and the SHA-256 of the token. The token itself is never kept.
type Key struct {
	Name string
	Role Role
	Hash [sha256.Size]byte
}

// Line is the key's line in API_KEYS_FILE.
func (k Key) Line() string {
	return k.Name + " " + k.Role.String() + " " + hashPrefix + hex.EncodeToString(k.Hash[:])
}

// Generate mints a key for name and role: the token, shown once to whoever
// asked for it, and the Key (its hash) the dispatcher is configured with.
func Generate(name string, role Role) (token string, k Key, err error) {
	if err := checkName(name); err != nil {
		return "", Key{}, err
	}
	if !role.Valid() {
		return "", Key{}, fmt.Errorf("unknown role: the roles are %s", roleNames())
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Key{}, fmt.Errorf("random key: %w", err)
	}
	token = KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, Key{Name: name, Role: role, Hash: Hash(token)}, nil
}

// Hash is the SHA-256 of a token, as key lines hold it.
func Hash(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

func checkName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("name %q: want 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name)
	}
	return nil
}

// ParseKeys reads key lines from r: "<name> <role> sha256:<64 hex digits>",
// one a line; blank lines and lines starting with '#' are skipped. source
// names r in errors (API_KEYS_FILE, API_KEYS), with the line number; an
// error never quotes a hash.
func ParseKeys(source string, r io.Reader) ([]Key, error) {
	var keys []Key
	var errs []error
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseLine(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s line %d: %w", source, n, err))
			continue
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", source, err))
	}
	return keys, errors.Join(errs...)
}

func parseLine(line string) (Key, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return Key{}, fmt.Errorf("want 3 fields \"<name> <role> sha256:<64 hex digits>\", got %d", len(f))
	}
	if err := checkName(f[0]); err != nil {
		return Key{}, err
	}
	role, err := ParseRole(f[1])
	if err != nil {
		return Key{}, err
	}
	k := Key{Name: f[0], Role: role}
	hexHash, ok := strings.CutPrefix(f[2], hashPrefix)
	if strings.HasPrefix(f[2], KeyPrefix) {
		return Key{}, errors.New("the third field is a key, not its hash: configure the sha256: line bcast keygen printed, and keep the key itself out of the configuration")
	}
	if !ok || len(hexHash) != 2*sha256.Size {
		return Key{}, errors.New("the third field is not \"sha256:\" and 64 hex digits")
	}
	if _, err := hex.Decode(k.Hash[:], []byte(hexHash)); err != nil {
		return Key{}, errors.New("the third field is not \"sha256:\" and 64 hex digits")
	}
	return k, nil
}

// Keys is the set of keys the API accepts.
type Keys struct {
	keys []Key
}

// NewKeys returns the set of keys; names must be unique, and so must
// hashes (one token, one actor).
func NewKeys(keys []Key) (*Keys, error) {
	names := map[string]bool{}
	hashes := map[[sha256.Size]byte]string{}
	var errs []error
	for _, k := range keys {
		if names[k.Name] {
			errs = append(errs, fmt.Errorf("key %q: the name is given twice", k.Name))
		}
		if other, ok := hashes[k.Hash]; ok {
			errs = append(errs, fmt.Errorf("key %q: same hash as key %q", k.Name, other))
		}
		if !k.Role.Valid() {
			errs = append(errs, fmt.Errorf("key %q: no valid role", k.Name))
		}
		names[k.Name], hashes[k.Hash] = true, k.Name
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Keys{keys: append([]Key(nil), keys...)}, nil
}

// Len is the number of keys.
func (s *Keys) Len() int { return len(s.keys) }

// Principal is who a request authenticated as.
type Principal struct {
	Name string
	Role Role
}

// Authenticate returns the key token is. It hashes the token and compares
// the hash with every key's, each in constant time, without stopping at a
// match: the time taken depends on the number of keys only.
func (s *Keys) Authenticate(token string) (Principal, bool) {
	h := Hash(token)
	found := -1
	for i := range s.keys {
		eq := subtle.ConstantTimeCompare(h[:], s.keys[i].Hash[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 || token == "" {
		return Principal{}, false
	}
	return Principal{Name: s.keys[found].Name, Role: s.keys[found].Role}, true
}
