package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// profile is a CPU profile of the sender being taken in the background.
type profile struct {
	path string // where it is written; empty when none is taken
	done chan error
}

// startProfile asks the first sender for a CPU profile of Options.Profile
// and writes it to <work>/sender.cpu.pprof; wait returns when it is written.
func (r *run) startProfile(ctx context.Context) *profile {
	if r.o.Profile <= 0 || r.pprofAddr == "" {
		return &profile{}
	}
	p := &profile{path: filepath.Join(r.work, "sender.cpu.pprof"), done: make(chan error, 1)}
	secs := max(1, int(r.o.Profile.Round(time.Second)/time.Second))
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", r.pprofAddr, secs)
	go func() { p.done <- fetchTo(ctx, url, p.path, time.Duration(secs)*time.Second+30*time.Second) }()
	return p
}

func (p *profile) wait() error {
	if p.done == nil {
		return nil
	}
	return <-p.done
}

// fetchTo GETs url into the file path.
func fetchTo(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, msg)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return f.Close()
}

// pprofTop is `go tool pprof -top` of the profile: its 15 heaviest
// functions by flat time, then by cumulative time, each from the header's
// Duration line on; or why it could not be made.
func pprofTop(ctx context.Context, binDir, path string) string {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var tops []string
	for _, order := range [][]string{nil, {"-cum"}} {
		args := append(append([]string{"tool", "pprof", "-top", "-nodecount=15"}, order...), filepath.Join(binDir, "sender"), path)
		cmd := exec.CommandContext(ctx, "go", args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Sprintf("go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		tops = append(tops, trimPprofTop(string(out)))
	}
	return tops[0] + "\n\nBy cumulative time (-cum):\n" + tops[1]
}

// trimPprofTop drops the File/Build ID/Type lines before "Duration:".
func trimPprofTop(out string) string {
	if i := strings.Index(out, "Duration:"); i >= 0 {
		out = out[i:]
	}
	return strings.TrimRight(out, "\n")
}
