package console

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

//go:embed static templates
var assets embed.FS

// staticHandler serves the CSS and scripts, cached for a day.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(assets, "static")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// pages are the parsed templates: each page with the layout.
type pages map[string]*template.Template

var pageNames = []string{"compose", "broadcasts", "broadcast", "cancel", "edit", "recall", "approvals", "unreachable", "audit", "error", "signedout"}

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return fmt.Sprint(t)
	},
	"count":      func(c broadcast.Counts, s broadcast.State) int64 { return c.Of(s) },
	"states":     func() []broadcast.State { return broadcast.States },
	"title":      func(s string) string { return strings.ToUpper(s[:1]) + strings.ReplaceAll(s[1:], "_", " ") },
	"isAdmin":    func(s *session) bool { return s != nil && s.Role.Allows(auth.Admin) },
	"mayCreate":  func(s *session) bool { return s != nil && mayCreate(s) },
	"mayApprove": func(s *session) bool { return s != nil && mayApprove(s) },
	"audience":   audienceOf,
	"fieldArgs": func(problems map[string]string, name, label, kind, value string) map[string]string {
		return map[string]string{"Name": name, "Label": label, "Kind": kind, "Value": value, "Problem": problems[name]}
	},
	"problemArgs": func(problems map[string]string, name string) map[string]any {
		return map[string]any{"P": problems, "F": name}
	},
}

func parsePages() (pages, error) {
	p := pages{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		p[name] = t
	}
	return p, nil
}
