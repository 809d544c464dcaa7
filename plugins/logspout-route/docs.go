package main

import _ "embed" // notes.md

const exampleStep = `# Usually a host daemon (Rancher global service), not a pipeline step:
#   docker run -d --name logspout-route -e LOGSPOUT=ignore \
#     -v /var/run/docker.sock:/var/run/docker.sock -v /var/lib/logspout-route:/var/lib/logspout-route \
#     -v /var/lib/docker/containers:/var/lib/docker/containers:ro \
#     -e ROUTE_URIS=beats://logstash:5044 lightship/logspout-route
- name: ship-logs
  image: lightship/logspout-route
  settings:
    route_uris: logstash+tcp://logstash:5000?filter.labels=app:web*
    state_path: /var/lib/logspout-route/state.json
`

// notes is DOCS.md's notes: Markdown in notes.md, embedded.
//
//go:embed notes.md
var notes string
