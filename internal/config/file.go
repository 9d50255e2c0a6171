package config

import (
	"fmt"
	"os"
	"strings"
)

// FileSuffix names the variable that holds the path of a file with the value
// of another: BOT_APP_PASSWORD_FILE=/run/secrets/bot_app_password. Secrets
// mounted as files (Docker and Kubernetes secrets) stay out of the process
// environment, which `docker inspect` and /proc/<pid>/environ show.
const FileSuffix = "_FILE"

// Lookup returns the value of the variable name, read from getenv, or from the
// file that name+"_FILE" names when name itself is empty; surrounding white
// space (a file's trailing newline) is trimmed. Setting both is an error, and
// so is a file that cannot be read; the errors name the variables and the
// path, never the content.
func Lookup(getenv func(string) string, name string) (string, error) {
	v := strings.TrimSpace(getenv(name))
	path := strings.TrimSpace(getenv(name + FileSuffix))
	if path == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("%s and %s%s are both set: set one", name, name, FileSuffix)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// The *PathError names the path and the cause (not found,
		// permission denied); it never holds the content.
		return "", fmt.Errorf("%s%s: %w", name, FileSuffix, err)
	}
	return strings.TrimSpace(string(b)), nil
}
