package demo

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// A refused backend is passed over, the request and its body reach the
// next, and requests take the live backends in turn.
func TestBalancerPassesOverARefusedBackend(t *testing.T) {
	var mu sync.Mutex
	var hits [2]int
	var bodies []string
	backend := func(i int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			defer mu.Unlock()
			hits[i]++
			bodies = append(bodies, string(b))
		}))
	}
	a, b := backend(0), backend(1)
	defer a.Close()
	defer b.Close()
	dead := deadAddr(t)

	live := []string{dead, strings.TrimPrefix(a.URL, "http://"), strings.TrimPrefix(b.URL, "http://")}
	bal, err := startBalancer("127.0.0.1:0", func() []string { return live })
	if err != nil {
		t.Fatal(err)
	}
	defer bal.Close()

	const n = 6
	for i := range n {
		resp, err := http.Post("http://"+bal.addr+"/v1/broadcasts", "application/json", strings.NewReader(`{"n":`+string(rune('0'+i))+`}`))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if hits[0]+hits[1] != n || hits[0] == 0 || hits[1] == 0 {
		t.Errorf("backends served %v of %d requests; want all, spread over both", hits, n)
	}
	for i, body := range bodies {
		if body != `{"n":`+string(rune('0'+i))+`}` {
			t.Errorf("request %d reached its backend with body %q", i, body)
		}
	}
}

// A restarted backend listens on a new port: when every known one refuses,
// the balancer looks them up again.
func TestBalancerFindsARestartedBackend(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	dead := deadAddr(t)
	var mu sync.Mutex
	resolved := 0
	bal, err := startBalancer("127.0.0.1:0", func() []string {
		mu.Lock()
		defer mu.Unlock()
		resolved++
		if resolved == 1 {
			return []string{dead}
		}
		return []string{strings.TrimPrefix(srv.URL, "http://")}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bal.Close()
	for i := range 3 {
		resp, err := http.Get("http://" + bal.addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200 from the backend found again", i, resp.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if resolved != 2 {
		t.Errorf("resolved %d times; want 2 (once, then once when the first refused)", resolved)
	}
}

// When every backend refuses, the client gets a 502, not a hang.
func TestBalancerWithEveryBackendDown(t *testing.T) {
	dead := deadAddr(t)
	bal, err := startBalancer("127.0.0.1:0", func() []string { return []string{dead} })
	if err != nil {
		t.Fatal(err)
	}
	defer bal.Close()
	resp, err := http.Get("http://" + bal.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
}

// deadAddr is an address nobody listens on: a killed dispatcher's.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
