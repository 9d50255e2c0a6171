package config

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Console configures the web console the dispatcher serves on its own
// listener (internal/console).
type Console struct {
	// Addr is where it listens (CONSOLE_ADDR); empty or "off": no console.
	Addr string
	// URL is the console's address as browsers reach it (CONSOLE_URL,
	// default http://<CONSOLE_ADDR>): the redirect URI is URL/auth/callback.
	URL string
	// Issuer, ClientID and ClientSecret: the OpenID Connect provider and
	// the app registration people sign in through (CONSOLE_OIDC_ISSUER,
	// default <LOGIN_URL>/<first tenant>/v2.0; CONSOLE_OIDC_CLIENT_ID and
	// CONSOLE_OIDC_CLIENT_SECRET, default the bot's app id and password).
	Issuer, ClientID, ClientSecret string
	// InsecureCookies (CONSOLE_INSECURE_COOKIES=true) drops the cookies'
	// Secure attribute: for a demo over http on one machine only.
	InsecureCookies bool
	// SessionTTL is how long a sign-in lasts (CONSOLE_SESSION_TTL, 8h).
	SessionTTL time.Duration
}

func (r *reader) console(c Common) Console {
	k := Console{Addr: r.listen("CONSOLE_ADDR", "")}
	if k.Addr == "" {
		return k
	}
	k.URL = strings.TrimSuffix(r.url("CONSOLE_URL", "http://"+k.Addr), "/")
	tenant := ""
	if len(c.Tenants) > 0 {
		tenant = c.Tenants[0]
	}
	k.Issuer = r.url("CONSOLE_OIDC_ISSUER", strings.TrimSuffix(c.LoginURL, "/")+"/"+tenant+"/v2.0")
	k.ClientID = r.str("CONSOLE_OIDC_CLIENT_ID", c.BotAppID)
	k.ClientSecret = r.str("CONSOLE_OIDC_CLIENT_SECRET", c.BotAppPassword)
	k.SessionTTL = r.duration("CONSOLE_SESSION_TTL", 8*time.Hour)
	if v := r.str("CONSOLE_INSECURE_COOKIES", ""); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			r.errs = append(r.errs, errors.New("CONSOLE_INSECURE_COOKIES: want true or false"))
		}
		k.InsecureCookies = b
	}
	if strings.HasPrefix(k.URL, "http://") && !k.InsecureCookies {
		r.errs = append(r.errs, errors.New("CONSOLE_URL: an http:// console needs CONSOLE_INSECURE_COOKIES=true (a demo on one machine); serve it over https otherwise"))
	}
	return k
}

// Fields is the loggable view of the console's configuration.
func (k Console) Fields() []zap.Field {
	return []zap.Field{zap.String("console_addr", k.Addr), zap.String("console_url", k.URL),
		zap.String("console_oidc_issuer", k.Issuer), zap.String("console_oidc_client_id", k.ClientID),
		zap.String("console_oidc_client_secret", mask(k.ClientSecret)), zap.Bool("console_insecure_cookies", k.InsecureCookies),
		zap.Duration("console_session_ttl", k.SessionTTL)}
}
