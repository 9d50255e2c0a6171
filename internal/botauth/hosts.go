package botauth

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// DefaultServiceHosts are the Bot Connector hosts of Teams' public and
// sovereign clouds (commercial, GCC, GCC High, DoD).
var DefaultServiceHosts = []string{
	"smba.trafficmanager.net",
	"smba.infra.gcc.teams.microsoft.com",
	"smba.infra.gov.teams.microsoft.us",
	"smba.infra.dod.teams.microsoft.us",
}

// ServiceHosts is the allow-list of hosts a serviceUrl may name: the
// inbound activities' and the senders' own. An entry is a host name,
// reached over https only, or "http://host[:port]", which allows plain
// http to that host (a simulator in a container). A loopback entry
// (127.0.0.1, ::1, localhost) allows http and any port: the local
// simulator.
type ServiceHosts struct {
	https map[string]bool // host names, lower case
	http  map[string]bool // host or host:port, lower case
}

// ParseServiceHosts reads a comma-separated allow-list.
func ParseServiceHosts(list string) (ServiceHosts, error) {
	h := ServiceHosts{https: map[string]bool{}, http: map[string]bool{}}
	for _, e := range strings.Split(list, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
		case strings.HasPrefix(e, "http://"):
			u, err := url.Parse(e)
			if err != nil || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.User != nil {
				return h, fmt.Errorf("%q is not http://host[:port]", e)
			}
			h.http[u.Host] = true
		case strings.ContainsAny(e, "/:@?#"):
			return h, fmt.Errorf("%q is not a host name (write http://host:port to allow plain http)", e)
		default:
			h.https[e] = true
		}
	}
	if len(h.https)+len(h.http) == 0 {
		return h, fmt.Errorf("the list is empty")
	}
	return h, nil
}

// DefaultHosts is the allow-list of DefaultServiceHosts.
func DefaultHosts() ServiceHosts {
	h, _ := ParseServiceHosts(strings.Join(DefaultServiceHosts, ","))
	return h
}

// Check returns an error unless raw is an absolute http(s) URL whose host
// the list allows, over https or over http where the list says so.
func (h ServiceHosts) Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" {
		return fmt.Errorf("serviceUrl %q is not an absolute URL", raw)
	}
	host := strings.ToLower(u.Hostname())
	switch u.Scheme {
	case "https":
		if h.https[host] || h.http[strings.ToLower(u.Host)] {
			return nil
		}
	case "http":
		if h.http[strings.ToLower(u.Host)] || isLoopback(host) && h.https[host] {
			return nil
		}
	default:
		return fmt.Errorf("serviceUrl %q is not http(s)", raw)
	}
	return fmt.Errorf("serviceUrl %q: host %s over %s is not in the allow-list of Teams hosts", raw, u.Host, u.Scheme)
}

// Empty reports whether the list allows nothing (the zero value).
func (h ServiceHosts) Empty() bool { return len(h.https)+len(h.http) == 0 }

// String lists the entries, https hosts first.
func (h ServiceHosts) String() string {
	var out []string
	for k := range h.https {
		out = append(out, k)
	}
	for k := range h.http {
		out = append(out, "http://"+k)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
