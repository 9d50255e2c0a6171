package teamsim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// A simulator on a test server: get a Connector token, open the 1:1
// conversation with a user who has the app, send a message, and read the
// ledger.
func Example() {
	sim, err := teamsim.New(teamsim.Config{
		UsersPerTenant: 3, InstalledFraction: 1,
		BotAppID: "bot-app", BotAppPassword: "secret", TeamsAppID: "manifest-id",
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()

	var token struct {
		AccessToken string `json:"access_token"`
	}
	post(srv.URL+"/login/botframework.com/oauth2/v2.0/token", "", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"bot-app"}, "client_secret": {"secret"}, "scope": {teamsim.ScopeConnector},
	}.Encode(), &token)

	user := sim.Users(teamsim.DefaultTenant)[0]
	var conv struct{ ID string }
	post(srv.URL+"/connector/v3/conversations", token.AccessToken,
		`{"bot":{"id":"28:bot-app"},"members":[{"aadObjectId":"`+user.ID+`"}],"tenantId":"`+teamsim.DefaultTenant+`"}`, &conv)
	var sent struct{ ID string }
	post(srv.URL+"/connector/v3/conversations/"+url.PathEscape(conv.ID)+"/activities", token.AccessToken,
		`{"type":"message","text":"The office is closed on Friday."}`, &sent)

	l := sim.Ledger()
	fmt.Println("deliveries:", l.Deliveries, "users:", l.DeliveredUsers, "activity id given:", sent.ID != "")
	// Output: deliveries: 1 users: 1 activity id given: true
}

func post(target, token, body string, out any) {
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if token == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		panic(fmt.Sprintf("%s: %d: %v", target, resp.StatusCode, err))
	}
}
