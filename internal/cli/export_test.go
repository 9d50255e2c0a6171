package cli

import "io"

// SetStdin makes "-" read r until the returned function restores it.
func SetStdin(r io.Reader) (restore func()) {
	old := stdin
	stdin = r
	return func() { stdin = old }
}
