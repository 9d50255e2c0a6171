package config

import (
	"strings"

	"github.com/broadcast-dev/broadcast/internal/teamsapp"
)

// LoadAppPackage reads what the Teams app package is built from: the ids
// the services use (TEAMS_APP_ID, BOT_APP_ID) and the APP_* variables of
// the manifest (names, descriptions, developer, URLs, valid domains).
// Unset ones take teamsapp's defaults; the result is validated.
func LoadAppPackage(getenv func(string) string) (teamsapp.Config, error) {
	r := &reader{getenv: getenv}
	c := teamsapp.Config{
		AppID: r.str("TEAMS_APP_ID", ""), BotID: r.str("BOT_APP_ID", ""), Version: r.str("APP_VERSION", ""),
		ShortName: r.str("APP_SHORT_NAME", ""), FullName: r.str("APP_FULL_NAME", ""),
		ShortDescription: r.str("APP_SHORT_DESCRIPTION", ""), FullDescription: r.str("APP_FULL_DESCRIPTION", ""),
		DeveloperName: r.str("APP_DEVELOPER_NAME", ""), WebsiteURL: r.str("APP_WEBSITE_URL", ""),
		PrivacyURL: r.str("APP_PRIVACY_URL", ""), TermsURL: r.str("APP_TERMS_URL", ""), AccentColor: r.str("APP_ACCENT_COLOR", ""),
	}
	for _, d := range strings.Split(r.str("APP_VALID_DOMAINS", ""), ",") {
		if d = strings.TrimSpace(d); d != "" {
			c.ValidDomains = append(c.ValidDomains, d)
		}
	}
	c = c.Defaults()
	r.keep(c.Validate())
	return c, r.err()
}
