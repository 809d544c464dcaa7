package main

// sinkDocs documents the kafka, elasticsearch and multi-host beats routes,
// each with the other side's configuration to paste.
//
//nolint:dupl // two DOCS notes splices; to become embedded Markdown (issue 15)
const sinkDocs = "\n## Kafka: `kafka://broker1:9092,broker2:9092/topic`\n\n" +
	"A Kafka buffer in front of Logstash: hosts keep shipping while Logstash is down or scaled out as\n" +
	"a consumer group. The producer is franz-go with `acks=all` and idempotence (a retried batch is\n" +
	"never stored twice); the message key is the container ID, so one container's lines go to one\n" +
	"partition, in order; the value is the logstash adapter's JSON event. A line counts as delivered\n" +
	"when the broker acknowledged it: the resume point and the at-least-once promise are beats' (a\n" +
	"broker that is down is retried without end, lines wait in the queue and then in dockerd's log).\n" +
	"`kafka+tls://` speaks TLS with `ca_cert`/`skip_verify` and, for mutual TLS, `tls_client_cert` /\n" +
	"`tls_client_key`. Route options:\n\n" +
	"| option | meaning |\n|---|---|\n" +
	"| path or `topic=` | the topic; a template run once per container: `topic={{.Container.Name}}` (leading `/` dropped, characters outside `[A-Za-z0-9._-]` become `_`) |\n" +
	"| `sasl=` | `plain`, `scram-sha-256` or `scram-sha-512`, with `sasl_user=`; the password is the `kafka_sasl_password` setting (a secret) |\n" +
	"| `compression=` | `none` (default), `gzip`, `snappy`, `lz4`, `zstd` |\n" +
	"| `linger=` | how long a partition's batch waits for more lines (default 5ms) |\n" +
	"| `client_id=` | Kafka client ID (default logspout-route) |\n\n" +
	"The Logstash side (a consumer group; add pipelines or hosts with the same `group_id` to scale out):\n\n" +
	"```\ninput {\n  kafka {\n    bootstrap_servers => \"broker1:9092,broker2:9092\"\n    topics => [\"docker-logs\"]\n" +
	"    group_id => \"logstash\"\n    codec => \"json\"\n    decorate_events => \"basic\"\n  }\n}\n" +
	"output { elasticsearch { hosts => [\"http://es:9200\"] data_stream => true } }\n```\n\n" +
	"## Elasticsearch: `elasticsearch://host:9200/?index=...`, `elasticsearch+https://`\n\n" +
	"Straight to Elasticsearch's `_bulk` API, no Logstash. Each line is created with `op_type: create` and an\n" +
	"`_id` made of the container ID, Docker's timestamp and the line's count at that timestamp: a line sent\n" +
	"again after a failure that had in fact landed answers 409 and counts as delivered, so a document is\n" +
	"stored once. The document is the logstash adapter's JSON plus ECS fields (`container.id`,\n" +
	"`container.name`, `container.image.name`, `host.name`, `ecs.version`; a field the line already has wins).\n" +
	"A request refused whole (connection, 429, 5xx, 401/403) is sent again with backoff (0.1 s doubling to\n" +
	"10 s); a request answered 200 is read item by item: created and 409 count as delivered, items\n" +
	"answered 429 or 5xx are sent again, alone; any other item error (a mapping error, 400) is logged\n" +
	"with the container's name, counted in `lines_failed_total` and skipped, never retried. Route options:\n\n" +
	"| option | meaning |\n|---|---|\n" +
	"| `index=` | a data stream (default `logs-docker-default`) or an index; a per-container template (`logs-{{.Container.Name}}`: `/` dropped, characters an index name cannot hold become `_`, lowercased) and Logstash's dated pattern `%{+yyyy.MM.dd}` (the line's UTC date) are allowed |\n" +
	"| `bulk_size=` / `bulk_bytes=` | a request is sent at 1000 documents or 5 MB, whichever first |\n" +
	"| `linger=` | a partial request is sent after this long (default 200ms) |\n" +
	"| `workers=` | requests in flight (default 2) |\n" +
	"| `user=` | Basic auth user; the password is the `elasticsearch_password` setting. Or the `elasticsearch_api_key` setting (`id:api_key` or the encoded key), sent as `Authorization: ApiKey` |\n\n" +
	"The Elasticsearch side: a data stream needs a matching index template, e.g.\n\n" +
	"```\nPUT _index_template/logs-docker\n{\n  \"index_patterns\": [\"logs-docker-*\"],\n  \"data_stream\": {},\n  \"priority\": 200,\n" +
	"  \"composed_of\": [\"logs-mappings\", \"logs-settings\"]\n}\n```\n\n" +
	"and an API key allowed to create documents there:\n\n" +
	"```\nPOST _security/api_key\n{\n  \"name\": \"logspout-route\",\n  \"role_descriptors\": {\n    \"ship\": { \"index\": [ { \"names\": [\"logs-docker-*\"], \"privileges\": [\"create_doc\", \"auto_configure\"] } ] }\n  }\n}\n```\n\n" +
	"For a dated index instead (`index=docker-%{+yyyy.MM.dd}`), the key needs `create_doc` and `create_index` on `docker-*`.\n\n" +
	"## Beats to several Logstash hosts: `beats://h1:5044,h2:5044?loadbalance=true`\n\n" +
	"Filebeat's `hosts: [...]`. With `loadbalance=true` every host that is up takes windows from one\n" +
	"shared line; a host that fails or goes away is skipped and reconnected with backoff, and takes work\n" +
	"again once back. A window is held by one connection at a time: what its host ACKed is delivered,\n" +
	"the rest goes first to the next free host, so no window is lost or acknowledged twice (a host that\n" +
	"received a window and died before ACKing it means another host gets it too). Without\n" +
	"`loadbalance`, the first host takes everything and the next ones, in order, only while it is down.\n" +
	"`batch_size` is the window. The Logstash side, on every host:\n\n" +
	"```\ninput { beats { port => 5044 } }\n```\n\n" +
	"## /metrics of these routes\n\n" +
	"Per route, besides the counters above: `logspout_route_lines_failed_total` (refused for good,\n" +
	"skipped), `logspout_route_kafka_produce_total{result=...}` (`ok` or the broker's error name, e.g.\n" +
	"`NOT_LEADER_FOR_PARTITION`), `logspout_route_elasticsearch_bulk_requests_total{status=...}` and\n" +
	"`logspout_route_elasticsearch_items_total{result=...}` (`created`, `already_stored`, `429`, `503`,\n" +
	"`failed`), `logspout_route_beats_windows_total{host=...,result=acked|failed}` and\n" +
	"`logspout_route_beats_host_sessions_total{host=...}`.\n"
