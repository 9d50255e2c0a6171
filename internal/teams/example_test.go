package teams_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/broadcast-dev/broadcast/internal/teams"
)

func ExampleActivity() {
	card := json.RawMessage(`{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Office closed Friday"}]}`)
	a, _ := teams.Activity("Office closed Friday", card, true)
	fmt.Println(string(a))
	fmt.Println(teams.PayloadSize(a), "UTF-16 units")
	// Output:
	// {"type":"message","summary":"Office closed Friday","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Office closed Friday"}]}}],"channelData":{"notification":{"alert":true}}}
	// 281 UTF-16 units
}

func ExampleClassify() {
	err := error(&teams.Error{Status: 429, Code: "Throttled", RetryAfter: 2128 * time.Millisecond})
	switch teams.Classify(err) {
	case teams.Throttled:
		fmt.Println("pause the tenant for", err.(*teams.Error).RetryAfter)
	case teams.Retry:
		fmt.Println("back off and retry")
	}
	// Output:
	// pause the tenant for 2.128s
}
