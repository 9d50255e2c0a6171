package graph

import (
	"fmt"
	"net/http"
	"sync"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/token"
)

// TenantsConfig describes the Graph clients of an app serving several
// tenants: the same credentials, a token and a Client per tenant.
type TenantsConfig struct {
	LoginURL     string // e.g. https://login.microsoftonline.com
	GraphURL     string // e.g. https://graph.microsoft.com/v1.0
	ClientID     string
	ClientSecret string
	RPS          float64 // see Config.RPS; per tenant
	MaxRetries   int     // see Config.MaxRetries
	HTTP         *http.Client
	Logger       *zap.Logger
}

// Tenants hands out one Client per tenant, created on first use. Each has
// its own token, rate limits and pause, as Graph's limits are per tenant.
type Tenants struct {
	cfg TenantsConfig

	mu      sync.Mutex
	clients map[string]*Client
}

// NewTenants returns a Tenants; configuration errors surface from For.
func NewTenants(cfg TenantsConfig) *Tenants {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: defaultHTTP}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Tenants{cfg: cfg, clients: make(map[string]*Client)}
}

// For returns the Client of a tenant.
func (t *Tenants) For(tenant string) (*Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.clients[tenant]; ok {
		return c, nil
	}
	tokens, err := token.NewSource(token.Config{LoginURL: t.cfg.LoginURL, Tenant: tenant, ClientID: t.cfg.ClientID,
		ClientSecret: t.cfg.ClientSecret, Scope: token.ScopeGraph, HTTP: t.cfg.HTTP})
	if err != nil {
		return nil, fmt.Errorf("graph: tenant %q: %w", tenant, err)
	}
	c, err := NewClient(Config{BaseURL: t.cfg.GraphURL, Tokens: tokens, HTTP: t.cfg.HTTP, RPS: t.cfg.RPS,
		MaxRetries: t.cfg.MaxRetries, Logger: t.cfg.Logger.Named("graph").With(zap.String("tenant_id", tenant))})
	if err != nil {
		return nil, fmt.Errorf("graph: tenant %q: %w", tenant, err)
	}
	t.clients[tenant] = c
	return c, nil
}
