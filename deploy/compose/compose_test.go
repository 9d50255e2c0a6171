// Package compose holds the Docker Compose deployment (docker-compose.yml,
// dev.env, nats.conf, prometheus.yml, grafana/). Its tests load the files
// with compose-go, the loader `docker compose` itself uses (schema
// validation, interpolation, profiles), and check the facts the deployment
// relies on; where a `docker compose` plugin is installed they run `docker
// compose config` too.
package compose

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/broadcast-dev/broadcast/internal/bot"
	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

const composeFile = "docker-compose.yml"

// production is the least environment the default (Microsoft) deployment
// needs; the secrets come from files.
var production = map[string]string{
	"BOT_APP_ID":   "11111111-2222-3333-4444-555555555555",
	"TENANT_ID":    "aaaaaaaa-0000-0000-0000-000000000001",
	"TEAMS_APP_ID": "66666666-7777-8888-9999-000000000000",
}

// ours are the services that run the image of deploy/Dockerfile, and the
// port of each one's health endpoint.
var ours = map[string]bool{"dispatcher": true, "installer": true, "sender": true, "teamsim": true}

// load loads the compose file as `docker compose` would with env as the
// shell's environment, envFile (if any) as --env-file, and the profiles
// (none: COMPOSE_PROFILES of the environment or the env file).
func load(t *testing.T, env map[string]string, envFile string, profiles ...string) (*types.Project, error) {
	t.Helper()
	var vars []string
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	opts := []cli.ProjectOptionsFn{cli.WithWorkingDirectory("."), cli.WithEnv(vars)}
	if envFile != "" {
		opts = append(opts, cli.WithEnvFiles(envFile), cli.WithDotEnv)
	}
	opts = append(opts, cli.WithDefaultProfiles(profiles...), cli.WithInterpolation(true), cli.WithResolvedPaths(true))
	po, err := cli.NewProjectOptions([]string{composeFile}, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return po.LoadProject(ctx)
}

func mustLoad(t *testing.T, env map[string]string, envFile string, profiles ...string) *types.Project {
	t.Helper()
	p, err := load(t, env, envFile, profiles...)
	require.NoError(t, err)
	checkProject(t, p)
	return p
}

func serviceNames(p *types.Project) []string {
	names := p.ServiceNames()
	slices.Sort(names)
	return names
}

func envOf(t *testing.T, s types.ServiceConfig, name string) string {
	t.Helper()
	v, ok := s.Environment[name]
	require.True(t, ok && v != nil, "%s: %s not set", s.Name, name)
	return *v
}

// The default deployment talks to Microsoft, runs no simulator, and takes
// its secrets from ./secrets, which git ignores.
func TestProductionDeployment(t *testing.T) {
	p := mustLoad(t, production, "")
	require.Equal(t, []string{"dispatcher", "installer", "nats", "redis", "sender"}, serviceNames(p))

	d := p.Services["dispatcher"]
	require.Equal(t, config.DefaultLoginURL, envOf(t, d, "LOGIN_URL"))
	require.Equal(t, config.DefaultGraphURL, envOf(t, d, "GRAPH_URL"))
	require.Equal(t, "https://login.botframework.com/v1/.well-known/openidconfiguration", envOf(t, d, "BOT_OPENID_METADATA_URL"))
	for _, name := range []string{"installer", "sender"} {
		require.Equal(t, config.DefaultBotServiceURL, envOf(t, p.Services[name], "BOT_SERVICE_URL"), name)
	}
	// Teams reaches the bot endpoint from outside (through the TLS proxy);
	// nothing else is published beyond loopback.
	var public []uint32
	for _, port := range d.Ports {
		if port.HostIP != "127.0.0.1" {
			public = append(public, port.Target)
		}
	}
	require.Equal(t, []uint32{3978}, public)
	require.Equal(t, ":3978", envOf(t, d, "BOT_ADDR"))

	// BOT_SERVICE_HOSTS is left unset (empty), so every binary allows
	// Teams' own Connector hosts; no conversation wait until the operator
	// says Teams reaches the bot endpoint.
	defaults := botauth.DefaultHosts().String()
	for _, name := range []string{"dispatcher", "installer", "sender"} {
		require.Empty(t, envOf(t, p.Services[name], "BOT_SERVICE_HOSTS"), name)
	}
	dc, err := config.LoadDispatcher(containerEnv(t, p, d))
	require.NoError(t, err)
	require.Equal(t, defaults, dc.Bot.ServiceHosts.String())
	ic, err := config.LoadInstaller(containerEnv(t, p, p.Services["installer"]))
	require.NoError(t, err)
	require.Equal(t, defaults, ic.BotServiceHosts.String())
	require.Zero(t, ic.ConversationWait)
	sc, err := config.LoadSender(containerEnv(t, p, p.Services["sender"]))
	require.NoError(t, err)
	require.Equal(t, defaults, sc.BotServiceHosts.String())

	ignore, err := os.ReadFile("secrets/.gitignore")
	require.NoError(t, err)
	require.Contains(t, strings.Split(string(ignore), "\n"), "*", "secrets/ stays out of git")
	for name, s := range p.Secrets {
		require.Equal(t, filepath.Join(abs(t, "secrets"), name), s.File, "secret %s", name)
	}
}

// The binaries accept the configuration the compose file gives them, and
// refuse to start without the identities, naming them; NATS and Redis
// alone (`docker compose up -d nats redis`) need none.
func TestServicesConfiguration(t *testing.T) {
	loaders := map[string]func(getenv func(string) string) error{
		"dispatcher": func(getenv func(string) string) error { _, err := config.LoadDispatcher(getenv); return err },
		"installer":  func(getenv func(string) string) error { _, err := config.LoadInstaller(getenv); return err },
		"sender":     func(getenv func(string) string) error { _, err := config.LoadSender(getenv); return err },
	}
	for _, p := range []*types.Project{mustLoad(t, nil, "dev.env"), mustLoad(t, production, "")} {
		for name, load := range loaders {
			require.NoError(t, load(containerEnv(t, p, p.Services[name])), name)
		}
	}

	p := mustLoad(t, nil, "")
	for name, load := range loaders {
		err := load(containerEnv(t, p, p.Services[name]))
		for _, v := range []string{"BOT_APP_ID: required", "TENANT_ID: required"} {
			require.ErrorContains(t, err, v, name)
		}
	}
	require.ErrorContains(t, loaders["installer"](containerEnv(t, p, p.Services["installer"])), "TEAMS_APP_ID: required")
}

// containerEnv is the environment s gets, with its secrets' paths in the
// container (/run/secrets/NAME) mapped to their files here. The production
// secrets do not exist here: their paths map to dev-secrets' files.
func containerEnv(t *testing.T, p *types.Project, s types.ServiceConfig) func(string) string {
	t.Helper()
	env := map[string]string{}
	for k, v := range s.Environment {
		if v == nil {
			continue
		}
		if name, ok := strings.CutPrefix(*v, "/run/secrets/"); ok {
			sec, declared := p.Secrets[name]
			require.True(t, declared, "%s: %s names an undeclared secret", s.Name, k)
			file := sec.File
			if _, err := os.Stat(file); err != nil {
				file = filepath.Join("dev-secrets", name)
			}
			env[k] = file
			continue
		}
		env[k] = *v
	}
	return func(k string) string { return env[k] }
}

// dev.env turns the simulator on and points every service at it, with the
// committed development secrets.
func TestDevelopmentDeployment(t *testing.T) {
	p := mustLoad(t, nil, "dev.env") // COMPOSE_PROFILES=dev from the file
	require.Equal(t, []string{"dispatcher", "installer", "nats", "redis", "sender", "teamsim"}, serviceNames(p))

	sim := p.Services["teamsim"]
	_, simPort, err := net.SplitHostPort(envOf(t, sim, "SIM_ADDR"))
	require.NoError(t, err)
	simBase := "http://teamsim:" + simPort
	for _, name := range []string{"dispatcher", "installer", "sender"} {
		s := p.Services[name]
		require.Equal(t, simBase+"/login", envOf(t, s, "LOGIN_URL"), name)
		for _, v := range []string{"GRAPH_URL", "BOT_SERVICE_URL", "BOT_OPENID_METADATA_URL", "BOT_JWKS_URL"} {
			if val, ok := s.Environment[v]; ok && val != nil {
				require.True(t, strings.HasPrefix(*val, simBase+"/"), "%s: %s=%s is not the simulator", name, v, *val)
			}
		}
		require.Equal(t, envOf(t, sim, "BOT_APP_ID"), envOf(t, s, "BOT_APP_ID"), name)
		require.Equal(t, envOf(t, sim, "SIM_TENANTS"), envOf(t, s, "TENANT_ID"), name)
	}
	require.Equal(t, envOf(t, sim, "TEAMS_APP_ID"), envOf(t, p.Services["installer"], "TEAMS_APP_ID"))
	d := p.Services["dispatcher"]
	_, botPort, err := net.SplitHostPort(envOf(t, d, "BOT_ADDR"))
	require.NoError(t, err)
	require.Equal(t, "http://dispatcher:"+botPort+bot.Path, envOf(t, sim, "SIM_BOT_ENDPOINT"))
	require.True(t, exposes(d, botPort), "the dispatcher opens its bot port %s to the simulator", botPort)

	// The bot endpoint end to end: the simulator names itself by the URL
	// the services reach it at; the dispatcher fetches its metadata and
	// keys there (the metadata's jwks_uri must be BOT_JWKS_URL) and allows
	// the serviceUrl of its activities; the installer and the sender allow
	// its Connector; the installer waits for the conversations it posts.
	require.Equal(t, simBase, envOf(t, sim, "SIM_PUBLIC_URL"))
	serviceURL := envOf(t, sim, "SIM_PUBLIC_URL") + "/connector/"
	dc, err := config.LoadDispatcher(containerEnv(t, p, d))
	require.NoError(t, err)
	require.NotEmpty(t, dc.Bot.Addr)
	require.Equal(t, simBase+teamsim.BotOpenIDMetadataPath, dc.Bot.OpenIDMetadataURL)
	require.Equal(t, simBase+teamsim.BotJWKSPath, dc.Bot.JWKSURL)
	require.Equal(t, teamsim.BotTokenIssuer, dc.Bot.TokenIssuer)
	require.NoError(t, dc.Bot.ServiceHosts.Check(serviceURL), "the dispatcher allows the simulator's activities")
	require.Error(t, dc.Bot.ServiceHosts.Check("https://smba.trafficmanager.net/teams/"), "and only them")
	ic, err := config.LoadInstaller(containerEnv(t, p, p.Services["installer"]))
	require.NoError(t, err)
	require.Equal(t, serviceURL, ic.BotServiceURL)
	require.NoError(t, ic.BotServiceHosts.Check(ic.BotServiceURL))
	require.Positive(t, ic.ConversationWait, "the installer takes new installs' conversations from the bot endpoint")
	sc, err := config.LoadSender(containerEnv(t, p, p.Services["sender"]))
	require.NoError(t, err)
	require.Equal(t, serviceURL, sc.BotServiceURL)
	require.NoError(t, sc.BotServiceHosts.Check(sc.BotServiceURL))
	for _, port := range d.Ports {
		require.Equal(t, "127.0.0.1", port.HostIP, "development publishes nothing beyond loopback")
	}

	// The development secrets exist and are usable: the simulator and the
	// services read the same password; the API keys parse.
	for name, s := range p.Secrets {
		require.Equal(t, filepath.Join(abs(t, "dev-secrets"), name), s.File, "secret %s", name)
		require.FileExists(t, s.File)
	}
	keys, err := os.ReadFile(p.Secrets["api_keys"].File)
	require.NoError(t, err)
	line := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63} (viewer|author|approver|admin) sha256:[0-9a-f]{64}$`)
	n := 0
	for _, l := range strings.Split(string(keys), "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		require.Regexp(t, line, l)
		n++
	}
	require.Positive(t, n)
}

// The metrics profile adds Prometheus, scraping every service's metrics
// port, and Grafana with its data source and dashboard provisioned.
func TestMetricsProfile(t *testing.T) {
	p := mustLoad(t, production, "", "metrics")
	require.Contains(t, p.ServiceNames(), "prometheus")
	require.Contains(t, p.ServiceNames(), "grafana")
	require.NotContains(t, p.ServiceNames(), "teamsim")
	p = mustLoad(t, nil, "dev.env", "dev", "metrics")
	require.Contains(t, p.ServiceNames(), "teamsim")

	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	data, err := os.ReadFile("prometheus.yml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &prom))
	scraped := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, s := range sc.StaticConfigs {
			for _, target := range s.Targets {
				scraped[target] = true
			}
		}
		for _, d := range sc.DNSSDConfigs {
			require.Equal(t, "A", d.Type, "every replica of a service: its A records")
			for _, name := range d.Names {
				scraped[net.JoinHostPort(name, strconv.Itoa(d.Port))] = true
			}
		}
	}
	for _, name := range []string{"dispatcher", "installer", "sender"} {
		_, port, err := net.SplitHostPort(envOf(t, p.Services[name], "METRICS_ADDR"))
		require.NoError(t, err)
		require.True(t, scraped[net.JoinHostPort(name, port)], "prometheus.yml does not scrape %s:%s (%v)", name, port, scraped)
		require.True(t, exposes(p.Services[name], port), "%s exposes its metrics port %s", name, port)
	}

	var ds struct {
		Datasources []struct {
			Type, URL string
		} `yaml:"datasources"`
	}
	data, err = os.ReadFile("grafana/provisioning/datasources/prometheus.yml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &ds))
	require.Len(t, ds.Datasources, 1)
	require.Equal(t, "http://prometheus:9090", ds.Datasources[0].URL)

	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	data, err = os.ReadFile("grafana/dashboards/broadcast.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &dash))
	require.Equal(t, "broadcast", dash.UID)
	require.NotEmpty(t, dash.Panels)
	for _, panel := range dash.Panels {
		require.NotEmpty(t, panel.Targets, panel.Title)
		for _, target := range panel.Targets {
			require.NotEmpty(t, target.Expr, panel.Title)
		}
	}
}

// exposes reports whether s opens port to the other services.
func exposes(s types.ServiceConfig, port string) bool {
	if slices.Contains(s.Expose, port) {
		return true
	}
	return slices.ContainsFunc(s.Ports, func(p types.ServicePortConfig) bool { return strconv.Itoa(int(p.Target)) == port })
}

// checkProject asserts what every profile's deployment must hold.
func checkProject(t *testing.T, p *types.Project) {
	t.Helper()
	image := ""
	for name, s := range p.Services {
		hc := s.HealthCheck
		require.True(t, hc != nil && !hc.Disable && len(hc.Test) > 1, "%s has no health check", name)
		require.NotEmpty(t, s.Restart, "%s: a restart policy", name)

		for _, port := range s.Ports {
			if !(name == "dispatcher" && port.Target == 3978) {
				require.Equal(t, "127.0.0.1", port.HostIP, "%s publishes %d beyond loopback", name, port.Target)
			}
		}
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				_, err := os.Stat(v.Source)
				require.NoError(t, err, "%s mounts a missing file", name)
			case types.VolumeTypeVolume:
				require.Contains(t, p.Volumes, v.Source, "%s uses an undeclared volume", name)
			}
		}
		// Secrets as files, never in the environment.
		for k, v := range s.Environment {
			if v == nil || strings.HasSuffix(k, config.FileSuffix) || strings.HasSuffix(k, "__FILE") {
				continue
			}
			require.NotRegexp(t, `PASSWORD|SECRET|^API_KEYS$|CREDS$`, k, "%s: a secret in the environment", name)
			require.NotContains(t, *v, "@", "%s: %s carries credentials", name, k)
		}
		for _, sec := range s.Secrets {
			require.Contains(t, p.Secrets, sec.Source, "%s uses an undeclared secret", name)
			require.NotEmpty(t, p.Secrets[sec.Source].File, "secret %s: a file", sec.Source)
		}
		for k, v := range s.Environment {
			if strings.HasSuffix(k, config.FileSuffix) && v != nil && strings.HasPrefix(*v, "/run/secrets/") {
				src := strings.TrimPrefix(*v, "/run/secrets/")
				require.True(t, slices.ContainsFunc(s.Secrets, func(c types.ServiceSecretConfig) bool { return c.Source == src }),
					"%s: %s names secret %s, which it does not mount", name, k, src)
			}
		}

		if !ours[name] {
			continue
		}
		// Our services: the one image, non-root, read-only, one of its
		// binaries, probed with the image's /healthcheck on its own port.
		if image == "" {
			image = s.Image
		}
		require.Equal(t, image, s.Image, "%s: one image for every binary", name)
		require.NotNil(t, s.Build, name)
		require.Equal(t, filepath.Join(abs(t, ".."), "Dockerfile"), filepath.Join(s.Build.Context, s.Build.Dockerfile), name)
		require.Equal(t, "65532:65532", s.User, "%s runs as distroless's nonroot", name)
		require.True(t, s.ReadOnly, name)
		require.Len(t, s.Command, 1, name)
		bin := strings.TrimPrefix(s.Command[0], "/")
		require.FileExists(t, filepath.Join("..", "..", "cmd", bin, "main.go"), "%s runs /%s", name, bin)
		require.Contains(t, dockerfileBinaries(t), bin, "%s runs /%s, which deploy/Dockerfile does not build", name, bin)
		require.Equal(t, "CMD", hc.Test[0], name)
		require.Equal(t, "/healthcheck", hc.Test[1], name)
		addr := "METRICS_ADDR"
		if name == "teamsim" {
			addr = "SIM_ADDR"
		}
		_, port, err := net.SplitHostPort(envOf(t, s, addr))
		require.NoError(t, err)
		require.Regexp(t, `^http://127\.0\.0\.1:`+port+`/`, hc.Test[2], "%s probes its own port", name)
		if name == "teamsim" {
			continue
		}
		require.GreaterOrEqual(t, time.Duration(*s.StopGracePeriod), 30*time.Second, "%s: time to drain on SIGTERM", name)
		for _, dep := range []string{"nats", "redis"} {
			require.Equal(t, types.ServiceConditionHealthy, s.DependsOn[dep].Condition, "%s waits for %s", name, dep)
		}
		if name == "installer" || name == "sender" {
			require.Equal(t, 2, s.GetScale(), name)
			require.Empty(t, s.Ports, "%s: replicas cannot share a host port", name)
		}
	}

	// NATS and Redis with the durability of docs/OPERATIONS.md.
	nats := p.Services["nats"]
	require.True(t, strings.HasPrefix(nats.Image, "nats:2.1"), "NATS 2.10 or later: %s", nats.Image)
	require.Equal(t, types.ShellCommand{"-c", "/etc/nats/nats.conf"}, nats.Command)
	require.Contains(t, strings.Join(nats.HealthCheck.Test, " "), "http://127.0.0.1:8222/healthz")
	opts, err := server.ProcessConfigFile("nats.conf")
	require.NoError(t, err)
	require.True(t, opts.JetStream)
	require.Equal(t, "/data", opts.StoreDir)
	require.Equal(t, 8222, opts.HTTPPort)
	require.False(t, opts.SyncAlways)
	require.Equal(t, devenv.DefaultSyncInterval, opts.SyncInterval)
	require.True(t, slices.ContainsFunc(nats.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Source == "nats-data" && v.Target == opts.StoreDir
	}), "the JetStream store on a volume")
	redis := p.Services["redis"]
	require.Contains(t, strings.Join(redis.Command, " "), "--appendonly yes --appendfsync always")
	require.Equal(t, types.HealthCheckTest{"CMD", "redis-cli", "ping"}, redis.HealthCheck.Test)
	require.True(t, slices.ContainsFunc(redis.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Source == "redis-data" && v.Target == "/data"
	}), "the append-only file on a volume")
}

// Where the docker compose plugin is installed, it validates the same
// files the same ways (the loader test above runs everywhere).
func TestDockerComposeConfig(t *testing.T) {
	if exec.Command("docker", "compose", "version").Run() != nil {
		t.Log("no `docker compose` here: the compose-go loader tests above stand in for it")
		return
	}
	for _, args := range [][]string{
		{"compose", "config", "--quiet"},
		{"compose", "--profile", "metrics", "config", "--quiet"},
		{"compose", "--env-file", "dev.env", "config", "--quiet"},
		{"compose", "--env-file", "dev.env", "--profile", "metrics", "config", "--quiet"},
	} {
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "COMPOSE_DISABLE_ENV_FILE=1")
		for k, v := range production {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "docker %s:\n%s", strings.Join(args, " "), out)
	}
}

func abs(t *testing.T, path string) string {
	t.Helper()
	a, err := filepath.Abs(path)
	require.NoError(t, err)
	return a
}
