package main

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

//nolint:dupl // two DOCS notes splices; to become embedded Markdown (issue 15)
const docsNotes = `## Compatibility with gliderlabs/logspout

Configured like logspout: ` + "`ROUTE_URIS`" + ` (or a route URI as the first argument), ` + "`LOGSPOUT=ignore`" + `
on a container, ` + "`EXCLUDE_LABEL(S)`" + `, ` + "`ALLOW_TTY`" + `, ` + "`BACKLOG`" + `, ` + "`PORT`" + `/` + "`HTTP_BIND_ADDRESS`" + `,
` + "`ROUTESPATH`" + ` and the ` + "`/routes`" + ` API (same JSON), looplab's ` + "`LOGSTASH_FIELDS`" + `, ` + "`LOGSTASH_TAGS`" + `,
` + "`DOCKER_LABELS`" + `, ` + "`INCLUDE_CONTAINERS(_REGEX)`" + `, ` + "`DECODE_JSON_LOGS`" + `. Adapters: ` + "`logstash`" + `
(looplab's JSON, plus ` + "`@timestamp`" + ` = Docker's own time), ` + "`syslog`" + `, ` + "`raw`" + ` (and ` + "`tcp://`" + `,
` + "`udp://`" + `, ` + "`tls://`" + ` = raw), ` + "`beats`" + ` (lumberjack v2 with ACKs). Default transport: udp
(logstash, syslog, raw), tcp (beats). Also logspout's ` + "`multiline+`" + ` prefix on any route (below),
` + "`TAIL`" + `, ` + "`SYSLOG_TIMESTAMP`" + `, and mutual TLS from ` + "`LOGSPOUT_TLS_CLIENT_CERT`" + `/` + "`_KEY`" + ` (PEM text or
a path; ` + "`ca_cert`" + `/` + "`skip_verify`" + ` for the server side). Every log driver is attached: when the daemon
cannot read a container's log back (driver ` + "`none`" + `, or a driver without dual logging) that is logged
once at info and counted in ` + "`logspout_route_unreadable_containers_total`" + `. A TTY entry without
a newline is shipped as it is. ` + "`INACTIVITY_TIMEOUT`" + ` re-attaches a followed Engine-API stream silent that
long from its exact position (nothing lost, nothing twice); json-file logs read from disk cannot hang
and are not cut. ` + "`TAIL=N`" + ` applies to a container seen for the
first time (no saved position): its last N entries, however old. Not supported: the WebSocket
form of ` + "`/logs`" + `.

An idle host stays idle: a log stream that has been empty for ~60 ms stops polling and waits in one
shared epoll set, so quiet containers cost neither wake-ups nor daemon work.

## Multiline

` + "`multiline+logstash+tcp://...`" + `, ` + "`multiline+beats://...`" + `: lines are grouped per container and per
stream (stdout and stderr never mix) as logspout's multiline adapter does: ` + "`MULTILINE_MATCH`" + `
` + "`nonfirst`" + ` (default: a line not matching ` + "`MULTILINE_PATTERN`" + `, default ` + "`^\\s`" + `, starts a group, so
indented stack frames join the line before), ` + "`first`" + `, ` + "`last`" + ` or ` + "`nonlast`" + `; lines are joined
by ` + "`MULTILINE_SEPARATOR`" + ` (newline); a group with no new line for ` + "`MULTILINE_FLUSH_AFTER`" + ` ms
(500) is shipped, and so is a group still open when the container stops. ` + "`LOGSPOUT_MULTILINE=true|false`" + `
(env or label of a container) overrides ` + "`MULTILINE_ENABLE_DEFAULT`" + ` (true). A group is one event
whose ` + "`@timestamp`" + ` is its first line's; it never exceeds ` + "`multiline_max_bytes`" + ` (1 MiB): a larger
one is cut there, counted in ` + "`logspout_route_multiline_cut_total`" + `. Delivery holds for groups: the
resume point of a stream is the first line of its first unacknowledged group, so after a crash or a
sink outage a group is sent again whole, never in pieces.

## What each transport promises

- **beats**: at-least-once. A line counts as delivered when the server ACKed it; unACKed lines are
  sent again after a reconnect. The state file is rewritten right after every ACK, so after a crash
  (even SIGKILL) only a batch whose ACK arrived in the instant before the kill can be sent twice.
- **tcp / tls (plain)**: a line counts as delivered when the peer's TCP acknowledged its bytes
  (Linux SIOCOUTQ; under TLS, when nothing is left unacknowledged). TCP cannot tell whether the
  sink *processed* those bytes, so after a reconnect the unconfirmed lines **and** the last
  ` + "`tcp_resend_tail`" + ` confirmed ones are sent again: a sink that died with unread data loses
  nothing it had not also processed more than ` + "`tcp_resend_tail`" + ` lines earlier, and sees
  duplicates instead. If a sink loses more than that after its TCP acknowledged it, those lines are lost.
- **udp**: best effort. Nothing confirms a datagram; a stopped sink loses what was sent meanwhile;
  a datagram is cut at 65507 bytes.

## Resume and back-pressure

Per container the state file (` + "`state_path`" + `) keeps the last timestamp every route confirmed and how
many lines carried exactly that timestamp; a restart re-attaches with ` + "`since`" + ` = that time and skips
that many lines. A snapshot is written atomically (temp file, fsync, rename) once a second; right after
every beats ACK the positions also go to ` + "`<state_path>.ack`" + ` with a single checksummed in-place
write (microseconds), so a crash resends acknowledged lines only if it lands in that instant. On start
the later position of the two files wins; a torn ` + "`.ack`" + ` (bad checksum) is ignored.
Each route has a bounded queue (` + "`queue_size`" + `); memory is bounded by the queues, not by the
number of lines. When a route's queue stays full for 0.5 s, that route gets its own reader of the
container from the first line it did not take: that reader waits for the route alone (back-pressure,
nothing dropped: the lines wait in dockerd's log), while the other routes keep flowing from the
shared reader. ` + "`/metrics`" + ` shows queue depth, lag and ` + "`detached_readers_total`" + `. After a restart
the resume point is the slowest route's, so faster routes may see some lines again.

## Reading the daemon's log files

Containers on the ` + "`json-file`" + ` log driver are read from their files when the daemon's container
directory is mounted (read-only) at ` + "`containers_dir`" + ` (default ` + "`/var/lib/docker/containers`" + `; the host
path is ` + "`docker info`" + `'s ` + "`Docker Root Dir`" + ` + ` + "`/containers`" + `). dockerd then only writes each line, instead of
also decoding and serving it back over the Engine API (8-12 µs of dockerd CPU per line), and a quiet
container costs nothing: one inotify instance watches every container directory. The Engine API still
finds containers (events, list: names, labels, env for filters and ` + "`LOGSPOUT=ignore`" + `) and still
reads every container the files cannot serve: other drivers (` + "`local`" + `, ` + "`journald`" + `), the directory not
mounted or not readable. One container is read by one source at a time; the log says which
(` + "`reading container ... source=json-file`" + ` or ` + "`source=engine-api`" + `). ` + "`CONTAINERS_DIR=`" + ` (empty) or
` + "`containers_dir: off`" + ` turns the file source off.

- Rotation (` + "`max-size`" + `/` + "`max-file`" + `, ` + "`compress=true`" + `) is followed without loss: a file being read stays open
  when the daemon renames, compresses or deletes it, and each new file is opened as soon as it appears.
  A reader that falls behind by more than ` + "`max-file`" + ` files lets the oldest unread one go, as the daemon
  did: those lines are counted in ` + "`logspout_route_lines_rotated_away_total`" + ` and logged, never dropped
  silently. A file the daemon deleted before it could be opened (a rotation faster than the watcher, or
  the resume position's file gone after a restart) cannot be counted: it is logged and counted in
  ` + "`logspout_route_rotation_gaps_total`" + `.
- Lines the daemon split at 16 KiB are joined; ` + "`time`" + ` is the line's timestamp.
- The resume position is the file (device, inode) and the byte offset after the last delivered line,
  checked against that line's timestamp (ext4 hands a freed inode to the next file). When the file is
  gone, the timestamp rule below applies. Either source resumes from the other's position.

Mounts:

` + "```" + `sh
docker run -d --name logspout-route -e LOGSPOUT=ignore --restart always \
  -v /var/run/docker.sock:/var/run/docker.sock \
  -v /var/lib/docker/containers:/var/lib/docker/containers:ro \
  -v /var/lib/logspout-route:/var/lib/logspout-route \
  -e ROUTE_URIS=beats://logstash:5044 lightship/logspout-route
` + "```" + `

Rancher 1.x global service (docker-compose.yml of the stack):

` + "```" + `yaml
logspout:
  image: lightship/logspout-route
  environment:
    ROUTE_URIS: beats://logstash:5044
    LOGSPOUT: ignore
  volumes:
    - /var/run/docker.sock:/var/run/docker.sock
    - /var/lib/docker/containers:/var/lib/docker/containers:ro
    - /var/lib/logspout-route:/var/lib/logspout-route
  labels:
    io.rancher.scheduler.global: 'true'
    io.rancher.container.hostname_override: container_name
  restart: always
` + "```" + `

Kubernetes (nodes running dockerd; a DaemonSet):

` + "```" + `yaml
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: logspout-route}
spec:
  selector: {matchLabels: {app: logspout-route}}
  template:
    metadata: {labels: {app: logspout-route}}
    spec:
      containers:
        - name: logspout-route
          image: lightship/logspout-route
          env:
            - {name: ROUTE_URIS, value: "beats://logstash:5044"}
            - {name: LOGSPOUT, value: ignore}
          volumeMounts:
            - {name: sock, mountPath: /var/run/docker.sock}
            - {name: containers, mountPath: /var/lib/docker/containers, readOnly: true}
            - {name: state, mountPath: /var/lib/logspout-route}
      volumes:
        - {name: sock, hostPath: {path: /var/run/docker.sock}}
        - {name: containers, hostPath: {path: /var/lib/docker/containers}}
        - {name: state, hostPath: {path: /var/lib/logspout-route, type: DirectoryOrCreate}}
` + "```" + `

The ` + "`local`" + ` driver's files (length-prefixed protobuf entries) are not read from disk: those
containers go through the Engine API.

## HTTP API

` + "`GET/POST /routes`" + `, ` + "`GET/DELETE /routes/{id}`" + ` as logspout; ` + "`GET /logs`" + `, ` + "`/logs/id:<id>`" + `,
` + "`/logs/name:<glob>`" + ` stream live lines as logspout's httpstream (` + "`name|line`" + `, coloured unless
` + "`colors=off`" + `; JSON lines with ` + "`Accept: application/json`" + `; ` + "`?sources=stderr`" + `), best effort: a
slow client misses lines, it never holds back a route; ` + "`GET /health`" + ` answers 503 with the
reason when the daemon's event stream or any route is down; ` + "`GET /metrics`" + ` is Prometheus text:
` + "`logspout_route_lines_read_total`" + `, ` + "`_lines_shipped_total`" + `, ` + "`_lines_resent_total`" + `,
` + "`_reconnects_total`" + `, ` + "`_detached_readers_total`" + `, ` + "`_queue_depth`" + `, ` + "`_lag_seconds`" + `, ` + "`_up`" + `
per route, ` + "`logspout_route_containers`" + `, ` + "`logspout_route_lines_rotated_away_total`" + ` and
` + "`logspout_route_rotation_gaps_total`" + `.
` + sinkDocs
