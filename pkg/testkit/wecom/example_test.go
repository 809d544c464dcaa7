package wecom_test

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/lightship-ci/lightship/pkg/testkit/wecom"
)

// A WeCom simulator for a demo: start it, point a plugin's api_base at its
// URL, then print what the team would read.
func ExampleStart() {
	sim, err := wecom.Start(wecom.Options{WebhookKeys: []string{"demo-key"}})
	if err != nil {
		panic(err)
	}
	defer sim.Close()

	body := `{"msgtype":"markdown","markdown":{"content":"### registry/test #42 <font color=\"warning\">failure</font>\n> deploy failed"}}`
	resp, err := http.Post(sim.URL+"/cgi-bin/webhook/send?key=demo-key", "application/json", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()

	for _, m := range sim.Messages() {
		fmt.Print(wecom.Render(m))
	}
	fmt.Println("violations:", len(sim.Violations()))
	// Output:
	// ┌─ group robot #0 · markdown
	// │ ### registry/test #42 failure
	// │ > deploy failed
	// └─
	// violations: 0
}
