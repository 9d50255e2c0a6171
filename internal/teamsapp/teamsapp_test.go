package teamsapp

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

func testConfig() Config {
	return Config{
		AppID: "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a", BotID: "5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f",
		DeveloperName: "Contoso Internal Comms", WebsiteURL: "https://comms.contoso.example",
		PrivacyURL: "https://comms.contoso.example/privacy", TermsURL: "https://comms.contoso.example/terms",
		ValidDomains: []string{"comms.contoso.example", "*.contoso.example"},
	}
}

// schema is our schema of the manifest subset the template emits, written
// from Microsoft's documentation (testdata/README.md says why it is not
// Microsoft's own file).
func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile("testdata/manifest.schema.json")
	require.NoError(t, err)
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, manifest []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(manifest))
	require.NoError(t, err)
	return s.Validate(inst)
}

func TestManifestIsValidAgainstTheSchema(t *testing.T) {
	t.Parallel()
	s := schema(t)
	for name, c := range map[string]Config{
		"configured": testConfig(),
		"defaults, no domains": func() Config {
			c := testConfig()
			c.ValidDomains = nil
			return c
		}(),
		"quotes and unicode": func() Config {
			c := testConfig()
			c.ShortName, c.FullDescription = `Ünternehmen "News"`, "Line one\nLine two <b> & </b> \\ done"
			return c
		}(),
		"at the limits": func() Config {
			c := testConfig()
			c.ShortName, c.FullName = strings.Repeat("ü", 30), strings.Repeat("x", 100)
			c.ShortDescription, c.FullDescription = strings.Repeat("x", 80), strings.Repeat("x", 4000)
			c.DeveloperName = strings.Repeat("x", 32)
			c.ValidDomains = nil
			for i := range 16 {
				c.ValidDomains = append(c.ValidDomains, fmt.Sprintf("d%d.contoso.example", i))
			}
			return c
		}(),
	} {
		m, err := Manifest(c)
		require.NoError(t, err, name)
		require.NoError(t, validate(t, s, m), "%s:\n%s", name, m)
	}
}

// The schema rejects what Teams would: each broken manifest fails, naming
// the place at fault. The manifests are broken after Manifest built them,
// past Config.Validate, so this tests the schema, not the configuration.
func TestSchemaRejectsABrokenManifest(t *testing.T) {
	t.Parallel()
	s := schema(t)
	for name, c := range map[string]struct {
		breakIt func(doc map[string]any)
		at, why string // where the error points, and what it says
	}{
		"missing required field": {func(doc map[string]any) {
			delete(doc["developer"].(map[string]any), "privacyUrl")
		}, "/developer", "missing property 'privacyUrl'"},
		"missing top-level field": {func(doc map[string]any) { delete(doc, "icons") }, "", "missing property 'icons'"},
		"short name too long": {func(doc map[string]any) {
			doc["name"].(map[string]any)["short"] = strings.Repeat("x", 31)
		}, "/name/short", "maxLength"},
		"full description too long": {func(doc map[string]any) {
			doc["description"].(map[string]any)["full"] = strings.Repeat("x", 4001)
		}, "/description/full", "maxLength"},
		"developer name too long": {func(doc map[string]any) {
			doc["developer"].(map[string]any)["name"] = strings.Repeat("x", 33)
		}, "/developer/name", "maxLength"},
		"app id not a GUID": {func(doc map[string]any) { doc["id"] = "0d9c8b7a-6f5e-4d3c-2b1a" }, "/id", "does not match pattern"},
		"bot id not a GUID": {func(doc map[string]any) {
			doc["bots"].([]any)[0].(map[string]any)["botId"] = "bot"
		}, "/bots/0/botId", "does not match pattern"},
		"unknown RSC permission type": {func(doc map[string]any) {
			rsc(doc)["type"] = "Admin"
		}, "/authorization/permissions/resourceSpecific/0/type", "value must be one of"},
		"RSC permission without a name": {func(doc map[string]any) { delete(rsc(doc), "name") }, "/authorization/permissions/resourceSpecific/0", "missing property 'name'"},
		"scope not in the enum": {func(doc map[string]any) {
			doc["bots"].([]any)[0].(map[string]any)["scopes"] = []any{"everywhere"}
		}, "/bots/0/scopes/0", "value must be one of"},
		"version not x.y.z":      {func(doc map[string]any) { doc["version"] = "1.0" }, "/version", "does not match pattern"},
		"other manifest version": {func(doc map[string]any) { doc["manifestVersion"] = "1.16" }, "/manifestVersion", "value must be"},
		"privacy URL not https": {func(doc map[string]any) {
			doc["developer"].(map[string]any)["privacyUrl"] = "http://comms.contoso.example/privacy"
		}, "/developer/privacyUrl", "does not match pattern"},
		"domain with a scheme": {func(doc map[string]any) {
			doc["validDomains"] = []any{"https://comms.contoso.example"}
		}, "/validDomains/0", "does not match pattern"},
		"seventeen domains": {func(doc map[string]any) {
			var ds []any
			for i := range 17 {
				ds = append(ds, fmt.Sprintf("d%d.contoso.example", i))
			}
			doc["validDomains"] = ds
		}, "/validDomains", "maxItems"},
		"accent color not #rrggbb": {func(doc map[string]any) { doc["accentColor"] = "blue" }, "/accentColor", "does not match pattern"},
		"icon not a file in the package": {func(doc map[string]any) {
			doc["icons"].(map[string]any)["color"] = "https://cdn.example/color.png"
		}, "/icons/color", "does not match pattern"},
		"unknown permission": {func(doc map[string]any) { doc["permissions"] = []any{"identity", "everything"} }, "/permissions/1", "value must be one of"},
		"property the template does not emit": {func(doc map[string]any) {
			doc["bots"].([]any)[0].(map[string]any)["supportsCalling"] = true
		}, "/bots/0", "additional properties 'supportsCalling' not allowed"},
		"webApplicationInfo id not a GUID": {func(doc map[string]any) {
			doc["webApplicationInfo"].(map[string]any)["id"] = "bot"
		}, "/webApplicationInfo/id", "does not match pattern"},
	} {
		m, err := Manifest(testConfig())
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(m, &doc))
		c.breakIt(doc)
		broken, err := json.Marshal(doc)
		require.NoError(t, err)
		err = validate(t, s, broken)
		require.Error(t, err, name)
		require.Regexp(t, "at '"+regexp.QuoteMeta(c.at)+"': [^\n]*"+regexp.QuoteMeta(c.why), err.Error(), name)
	}
}

// rsc is the manifest's only resource-specific permission.
func rsc(doc map[string]any) map[string]any {
	return doc["authorization"].(map[string]any)["permissions"].(map[string]any)["resourceSpecific"].([]any)[0].(map[string]any)
}

func TestManifestSaysWhatTheProductNeeds(t *testing.T) {
	t.Parallel()
	m, err := Manifest(testConfig())
	require.NoError(t, err)
	var doc struct {
		ManifestVersion string `json:"manifestVersion"`
		ID              string `json:"id"`
		Version         string `json:"version"`
		Bots            []struct {
			BotID  string   `json:"botId"`
			Scopes []string `json:"scopes"`
		} `json:"bots"`
		ValidDomains       []string          `json:"validDomains"`
		WebApplicationInfo map[string]string `json:"webApplicationInfo"`
		Authorization      struct {
			Permissions struct {
				ResourceSpecific []map[string]string `json:"resourceSpecific"`
			} `json:"permissions"`
		} `json:"authorization"`
	}
	require.NoError(t, json.Unmarshal(m, &doc))
	c := testConfig()
	require.Equal(t, ManifestVersion, doc.ManifestVersion)
	require.Equal(t, c.AppID, doc.ID)
	require.Equal(t, "1.0.0", doc.Version)
	require.Len(t, doc.Bots, 1)
	require.Equal(t, c.BotID, doc.Bots[0].BotID)
	require.Equal(t, []string{"personal"}, doc.Bots[0].Scopes)
	require.Equal(t, c.ValidDomains, doc.ValidDomains)
	require.Equal(t, c.BotID, doc.WebApplicationInfo["id"])
	require.Equal(t, []map[string]string{{"name": ReadReceiptPermission, "type": "Application"}}, doc.Authorization.Permissions.ResourceSpecific)
}

func TestBadConfigurationNamesTheField(t *testing.T) {
	t.Parallel()
	c := testConfig()
	c.AppID, c.BotID, c.Version = "app", "", "1.0"
	c.ShortName = strings.Repeat("x", 31)
	c.PrivacyURL, c.AccentColor = "http://comms.contoso.example/privacy", "blue"
	c.ValidDomains = []string{"https://contoso.example/path"}
	_, err := Manifest(c)
	for _, field := range []string{"TEAMS_APP_ID", "BOT_APP_ID", "APP_VERSION", "APP_SHORT_NAME: has 31 characters", "APP_PRIVACY_URL",
		"APP_ACCENT_COLOR", "APP_VALID_DOMAINS"} {
		require.ErrorContains(t, err, field)
	}
	require.NotContains(t, err.Error(), "APP_TERMS_URL")
	require.Error(t, Write(io.Discard, c), "no package of a bad configuration")
}

func TestPackage(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, testConfig()))
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	got := map[string][]byte{}
	for _, f := range z.File {
		require.NotContains(t, f.Name, "/", "Teams wants the files at the top of the zip")
		r, err := f.Open()
		require.NoError(t, err)
		got[f.Name], err = io.ReadAll(r)
		require.NoError(t, err)
		r.Close()
	}
	require.Len(t, got, 3)
	m, err := Manifest(testConfig())
	require.NoError(t, err)
	require.Equal(t, m, got["manifest.json"])
	require.NoError(t, validate(t, schema(t), got["manifest.json"]))

	icon := func(name string, size int) image.Image {
		img, err := png.Decode(bytes.NewReader(got[name]))
		require.NoError(t, err, name)
		require.Equal(t, image.Rect(0, 0, size, size), img.Bounds(), name)
		return img
	}
	icon("color.png", 192)
	outline := icon("outline.png", 32)
	var transparent, white int
	for y := range 32 {
		for x := range 32 {
			r, g, b, a := outline.At(x, y).RGBA()
			switch {
			case a == 0:
				transparent++
			case r == 0xffff && g == 0xffff && b == 0xffff && a == 0xffff:
				white++
			default:
				t.Fatalf("outline pixel (%d,%d) is neither transparent nor white", x, y)
			}
		}
	}
	require.Positive(t, transparent)
	require.Positive(t, white)

	var again bytes.Buffer
	require.NoError(t, Write(&again, testConfig()))
	require.Equal(t, buf.Bytes(), again.Bytes(), "the same configuration, the same package")
}
