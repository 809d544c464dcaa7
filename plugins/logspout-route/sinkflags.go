package main

import (
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/route"
	"github.com/urfave/cli/v2"
)

// sinkSettings are the secrets of the kafka and elasticsearch routes:
// settings (Drone secrets), never part of a route URI, so /routes and
// ROUTESPATH files never hold them. (Mutual TLS: tls_client_cert/key.)
type sinkSettings struct {
	KafkaPassword string
	ESPassword    string
	ESAPIKey      string
}

func (s *sinkSettings) flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kafka_sasl_password", Usage: "password of the kafka routes' SASL user (route option sasl_user)", EnvVars: plugin.EnvVars("kafka_sasl_password", "KAFKA_SASL_PASSWORD"), Destination: &s.KafkaPassword},
		&cli.StringFlag{Name: "elasticsearch_password", Usage: "password of the elasticsearch routes' Basic-auth user (route option user)", EnvVars: plugin.EnvVars("elasticsearch_password", "ELASTICSEARCH_PASSWORD"), Destination: &s.ESPassword},
		&cli.StringFlag{Name: "elasticsearch_api_key", Usage: "API key of the elasticsearch routes: the encoded key, or id:api_key", EnvVars: plugin.EnvVars("elasticsearch_api_key", "ELASTICSEARCH_API_KEY"), Destination: &s.ESAPIKey},
	}
}

func (s *sinkSettings) secrets() route.SinkSecrets {
	return route.SinkSecrets{KafkaPassword: s.KafkaPassword, ESPassword: s.ESPassword, ESAPIKey: s.ESAPIKey}
}
