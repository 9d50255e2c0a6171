// Package cli is bcast, the command line of the broadcast API: it creates,
// schedules, previews, follows, lists, exports, cancels, replays, edits and
// recalls broadcasts, approves or rejects the ones held back for approval,
// and imports known conversations, through the dispatcher's HTTP API, and
// nothing else.
//
// Exit status: 0 success; 1 an error (the API's answer is printed with the
// fields it names); 2 a usage error; 3 a followed broadcast ended with
// failed recipients (unless --allow-failures); 4 it was canceled.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitError    = 1
	ExitUsage    = 2
	ExitFailures = 3
	ExitCanceled = 4
	// ExitBroadcastFailed: the broadcast failed (its audience could not be
	// expanded); its error says why.
	ExitBroadcastFailed = 5
	// ExitInterrupted: stopped by a signal (Ctrl-C), as a shell reports it.
	ExitInterrupted = 130
)

// DefaultAPI is where the dispatcher listens by default.
const DefaultAPI = "http://127.0.0.1:8080"

// exitError ends the command with a status other than ExitError.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageError is a command line the command cannot run.
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, msg: fmt.Sprintf(format, args...)}
}

// app is the state the commands share: the global flags and the outputs.
type app struct {
	api, tenant string
	apiKey      string
	timeout     time.Duration
	out, errOut io.Writer
	// terminal says whether out is a terminal (a progress bar, not lines).
	terminal bool
	client   *Client
}

// Run runs bcast with args (without the program name) and returns its exit
// status. getenv reads BCAST_API, BCAST_API_KEY and BCAST_TENANT
// (os.Getenv in main).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{out: stdout, errOut: stderr}
	if f, ok := stdout.(*os.File); ok {
		a.terminal = term.IsTerminal(int(f.Fd()))
	}
	root := a.root(getenv)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ExitInterrupted // Ctrl-C: the user knows
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "bcast: "+ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "bcast: "+err.Error())
	if isFlagError(err) {
		fmt.Fprintln(stderr, "Run 'bcast --help' or 'bcast <command> --help' for usage.")
		return ExitUsage
	}
	return ExitError
}

// isFlagError tells cobra's own usage errors (unknown flag or command,
// wrong number of arguments) from the others.
func isFlagError(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand", "unknown command", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "required flag", "if any flags in the group"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func (a *app) root(getenv func(string) string) *cobra.Command {
	apiDefault := getenv("BCAST_API")
	if apiDefault == "" {
		apiDefault = DefaultAPI
	}
	root := &cobra.Command{
		Use:   "bcast",
		Short: "Send a message to everyone in a Microsoft 365 organisation through the broadcast API",
		Long: `bcast talks to the broadcast dispatcher's HTTP API: it creates broadcasts (a
message and an audience), follows their progress, lists and exports them,
cancels, replays, edits or recalls them, and approves or rejects the ones
the approval policy holds back. import-conversations caches the
conversations the bot already has (from Company Communicator, say).

The API is --api or BCAST_API (default ` + DefaultAPI + `); the API key is
--api-key or BCAST_API_KEY (better: the key stays out of the shell's
history); the tenant is --tenant or BCAST_TENANT (the dispatcher's first
tenant when unset). An admin mints keys with bcast keygen.

Exit status: 0 success; 1 an error (the API's answer is printed, with every
field it names); 2 a usage error; 3 a followed broadcast ended with failed
recipients (unless --allow-failures); 4 a followed broadcast was canceled.`,
		Example: `  export BCAST_API=http://127.0.0.1:8080 BCAST_API_KEY=bk_...
  bcast create --text "The office is closed on Friday." --all-users --watch
  bcast list --status sending
  bcast status 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --watch
  bcast export 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d -o report.csv`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			key := a.apiKey
			if key == "" {
				key = strings.TrimSpace(getenv("BCAST_API_KEY"))
			}
			c, err := NewClient(a.api, key, a.timeout)
			if err != nil {
				return usageError("%s", err)
			}
			a.client = c
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.api, "api", apiDefault, "the dispatcher's API `URL` (env BCAST_API)")
	// The key's default is not the environment's: --help would print it.
	pf.StringVar(&a.apiKey, "api-key", "", "the API `KEY` (env BCAST_API_KEY)")
	pf.StringVar(&a.tenant, "tenant", getenv("BCAST_TENANT"), "the tenant `ID` (env BCAST_TENANT; default: the dispatcher's first)")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "how long one API request may take (an export or a watch makes many)")
	root.AddCommand(a.createCmd(), a.scheduleCmd(), a.previewCmd(), a.statusCmd(), a.listCmd(), a.exportCmd(),
		a.cancelCmd(), a.replayCmd(), a.editCmd(), a.recallCmd(), a.unreachableCmd(), a.keygenCmd(), a.auditCmd(),
		a.importConversationsCmd(), a.engagementCmd(), a.approveCmd(), a.rejectCmd(), a.remindCmd())
	return root
}

func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.out, format, args...) }
