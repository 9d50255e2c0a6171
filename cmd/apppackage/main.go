// Command apppackage builds the Teams app package (a zip of manifest.json
// and the icons) that an admin uploads to the tenant's app catalog, from
// TEAMS_APP_ID, BOT_APP_ID and the APP_* variables (see internal/teamsapp
// and internal/config.LoadAppPackage). `make app-package` runs it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/teamsapp"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apppackage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "broadcast.zip", "where to write the package")
	manifest := fs.Bool("manifest", false, "print manifest.json instead of writing the package")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := config.LoadAppPackage(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "apppackage: invalid configuration:\n"+err.Error())
		return 2
	}
	if *manifest {
		m, err := teamsapp.Manifest(c)
		if err != nil {
			fmt.Fprintln(stderr, "apppackage:", err)
			return 1
		}
		_, _ = stdout.Write(append(m, '\n'))
		return 0
	}
	var buf bytes.Buffer
	if err := teamsapp.Write(&buf, c); err != nil {
		fmt.Fprintln(stderr, "apppackage:", err)
		return 1
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(stderr, "apppackage:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s: app %s (version %s), bot %s, manifest %s with %s; upload it in the Teams admin center (Manage apps, Upload new app)\n",
		*out, c.AppID, c.Version, c.BotID, teamsapp.ManifestVersion, teamsapp.ReadReceiptPermission)
	return 0
}
