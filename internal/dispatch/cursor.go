package dispatch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The positions an expansion saves (its resolution step and that step's
// cursor, its expansion cursor) are written by this package only. One it
// cannot read is corrupt, and an error says so: read as the start, it
// would silently redo the work before it (and publish its jobs again) or,
// read as past the end, skip recipients.
var errCorruptCursor = errors.New("corrupt cursor")

func corruptCursor(what, cursor string) error {
	return fmt.Errorf("%w: %s %q", errCorruptCursor, what, cursor)
}

// listOffset reads a list step's cursor: the offset past the pages done.
func listOffset(cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil || n < 0 {
		return 0, corruptCursor("list offset", cursor)
	}
	return n, nil
}

// groupPosition reads a groups step's cursor "<group index>|<nextLink>"
// over groups groups.
func groupPosition(cursor string, groups int) (int, string, error) {
	if cursor == "" {
		return 0, "", nil
	}
	n, link, ok := strings.Cut(cursor, "|")
	i, err := strconv.Atoi(n)
	if !ok || err != nil || i < 0 || i > groups {
		return 0, "", corruptCursor("group position", cursor)
	}
	return i, link, nil
}

// directoryPosition reads the allUsers step's cursor "m|<id>" (members)
// or "g|<id>" (guests).
func directoryPosition(cursor string) (set, after string, err error) {
	if cursor == "" {
		return "m", "", nil
	}
	set, after, ok := strings.Cut(cursor, "|")
	if !ok || (set != "m" && set != "g") {
		return "", "", corruptCursor("directory position", cursor)
	}
	return set, after, nil
}

// cursorKind starts an expansion cursor: "aud:<id>", past the audience's
// members up to <id>.
const cursorKind = "aud:"

// expansionAfter reads an expansion cursor: the last member done, "" at
// the start.
func expansionAfter(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(cursor, cursorKind)
	if !ok {
		return "", corruptCursor("expansion cursor", cursor)
	}
	return rest, nil
}
