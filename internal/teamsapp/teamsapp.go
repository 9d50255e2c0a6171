// Package teamsapp builds the Teams app package an admin uploads to the
// tenant's app catalog: manifest.json, filled from configuration into the
// template under template/, and the two icons (color 192x192, outline
// 32x32), zipped at the top level as Teams requires.
//
// The manifest declares the bot in personal scope (broadcasts go to 1:1
// chats; isNotificationOnly is false because users reply, react and click
// Action.Execute buttons) and the resource-specific permission
// ChatMessageReadReceipt.Read.Chat, without which Teams posts the bot no
// read receipts. webApplicationInfo names the bot's Entra app, which RSC
// permissions need.
//
// The tests validate every manifest against testdata/manifest.schema.json,
// our own schema of the fields the template emits, written from Microsoft's
// manifest reference (testdata/README.md says why Microsoft's file is not
// kept here).
package teamsapp

import (
	"archive/zip"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/template"
	"time"
)

// ManifestVersion is the manifest schema the template follows.
const ManifestVersion = "1.17"

// ReadReceiptPermission is the RSC permission read receipts need.
const ReadReceiptPermission = "ChatMessageReadReceipt.Read.Chat"

//go:embed template/manifest.json.tmpl template/color.png template/outline.png
var files embed.FS

// Config is what the manifest is filled with.
type Config struct {
	AppID   string // the app's manifest id (TEAMS_APP_ID), a GUID
	BotID   string // the bot's Entra app id (BOT_APP_ID), a GUID
	Version string // the app's version, x.y.z; raise it for every upload

	ShortName, FullName               string // at most 30 and 100 characters
	ShortDescription, FullDescription string // at most 80 and 4000 characters
	DeveloperName                     string // at most 32 characters
	WebsiteURL, PrivacyURL, TermsURL  string // https URLs
	AccentColor                       string // #rrggbb
	// ValidDomains are the domains the app's cards and links may open
	// (at most 16); may be empty.
	ValidDomains []string
}

// Defaults fills the fields a deployment need not set.
func (c Config) Defaults() Config {
	def := func(v *string, d string) {
		if strings.TrimSpace(*v) == "" {
			*v = d
		}
	}
	def(&c.Version, "1.0.0")
	def(&c.ShortName, "Announcements")
	def(&c.FullName, "Company announcements")
	def(&c.ShortDescription, "Announcements from your organisation, delivered in Teams.")
	def(&c.FullDescription, "Your organisation's communications team sends announcements and notices through this app. "+
		"They arrive as a chat with the app; you can react, reply or confirm that you have read a notice.")
	def(&c.AccentColor, "#4464EE")
	if c.ValidDomains == nil {
		c.ValidDomains = []string{}
	}
	return c
}

var (
	guidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$`)
	semverRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)
	colorRE  = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	domainRE = regexp.MustCompile(`^(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\.)+[a-zA-Z]{2,}(:[0-9]+)?$`)
)

// Validate names every field at fault, by its environment variable
// (internal/config reads them).
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if !guidRE.MatchString(c.AppID) {
		bad("TEAMS_APP_ID", "%q is not a GUID", c.AppID)
	}
	if !guidRE.MatchString(c.BotID) {
		bad("BOT_APP_ID", "%q is not a GUID", c.BotID)
	}
	if !semverRE.MatchString(c.Version) {
		bad("APP_VERSION", "%q is not a version x.y.z", c.Version)
	}
	length := func(field, v string, n int) {
		switch l := len([]rune(v)); {
		case strings.TrimSpace(v) == "":
			bad(field, "is empty")
		case l > n:
			bad(field, "has %d characters, at most %d", l, n)
		}
	}
	length("APP_SHORT_NAME", c.ShortName, 30)
	length("APP_FULL_NAME", c.FullName, 100)
	length("APP_SHORT_DESCRIPTION", c.ShortDescription, 80)
	length("APP_FULL_DESCRIPTION", c.FullDescription, 4000)
	length("APP_DEVELOPER_NAME", c.DeveloperName, 32)
	for field, v := range map[string]string{"APP_WEBSITE_URL": c.WebsiteURL, "APP_PRIVACY_URL": c.PrivacyURL, "APP_TERMS_URL": c.TermsURL} {
		if !strings.HasPrefix(v, "https://") || len(v) <= len("https://") || len(v) > 2048 {
			bad(field, "%q is not an https URL", v)
		}
	}
	if !colorRE.MatchString(c.AccentColor) {
		bad("APP_ACCENT_COLOR", "%q is not a color #rrggbb", c.AccentColor)
	}
	if len(c.ValidDomains) > 16 {
		bad("APP_VALID_DOMAINS", "has %d domains, at most 16", len(c.ValidDomains))
	}
	for _, d := range c.ValidDomains {
		if !domainRE.MatchString(d) {
			bad("APP_VALID_DOMAINS", "%q is not a domain (such as contoso.com or *.contoso.com, no scheme or path)", d)
		}
	}
	return errors.Join(errs...)
}

// Manifest returns manifest.json for c (after Defaults and Validate).
func Manifest(c Config) ([]byte, error) {
	c = c.Defaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tmpl, err := template.New("manifest.json.tmpl").Funcs(template.FuncMap{"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}}).ParseFS(files, "template/manifest.json.tmpl")
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	data := struct {
		Config
		ManifestVersion string
	}{c, ManifestVersion}
	if err := tmpl.Execute(&out, data); err != nil {
		return nil, err
	}
	if !json.Valid(out.Bytes()) {
		return nil, errors.New("teamsapp: the template made invalid JSON")
	}
	return out.Bytes(), nil
}

// Write writes the app package (a zip of manifest.json, color.png and
// outline.png) for c to w.
func Write(w io.Writer, c Config) error {
	manifest, err := Manifest(c)
	if err != nil {
		return err
	}
	z := zip.NewWriter(w)
	add := func(name string, data []byte) error {
		// A fixed time: the same configuration gives the same bytes.
		f, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		return err
	}
	if err := add("manifest.json", manifest); err != nil {
		return err
	}
	for _, icon := range []string{"color.png", "outline.png"} {
		data, err := files.ReadFile("template/" + icon)
		if err != nil {
			return err
		}
		if err := add(icon, data); err != nil {
			return err
		}
	}
	return z.Close()
}
