// Package kafka delivers log lines to Kafka with franz-go: acks=all, an
// idempotent producer (the broker drops a retried batch it already has),
// the container ID as the message key so one container's lines stay in one
// partition, in order. A line is reported delivered when the broker
// acknowledged it; franz-go retries every other failure without limit.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/sink"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Config is one Kafka route.
type Config struct {
	Brokers      []string
	Topic        string // a name or a per-container template: {{.Container.Name}}
	TLS          *tls.Config
	SASL         string // "", plain, scram-sha-256, scram-sha-512
	User         string
	Password     string
	ClientID     string
	Compression  string // none, gzip, snappy, lz4, zstd
	Linger       time.Duration
	MaxBuffered  int
	Acker        sink.Acker
	Metrics      sink.Metrics
	Log          logrus.FieldLogger
	ExtraOptions []kgo.Opt // tests
}

// Check validates the settings that do not need a connection.
func (c *Config) Check() error {
	if len(c.Brokers) == 0 {
		return errors.New("no broker")
	}
	if strings.TrimSpace(c.Topic) == "" {
		return errors.New("no topic: kafka://brokers/topic or ?topic=")
	}
	if _, err := sink.NewContainerTemplate("topic", c.Topic, CleanTopic); err != nil {
		return fmt.Errorf("topic: %w", err)
	}
	if _, err := c.mechanism(); err != nil {
		return err
	}
	if _, err := codec(c.Compression); err != nil {
		return err
	}
	return nil
}

func (c *Config) mechanism() ([]kgo.Opt, error) {
	switch strings.ToLower(c.SASL) {
	case "":
		return nil, nil
	case "plain":
		return []kgo.Opt{kgo.SASL(plain.Auth{User: c.User, Pass: c.Password}.AsMechanism())}, nil
	case "scram-sha-256":
		return []kgo.Opt{kgo.SASL(scram.Auth{User: c.User, Pass: c.Password}.AsSha256Mechanism())}, nil
	case "scram-sha-512":
		return []kgo.Opt{kgo.SASL(scram.Auth{User: c.User, Pass: c.Password}.AsSha512Mechanism())}, nil
	}
	return nil, fmt.Errorf("sasl %q: want plain, scram-sha-256 or scram-sha-512", c.SASL)
}

func codec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// CleanTopic maps a template's result to a legal topic name: Docker's
// leading '/' goes, characters outside [a-zA-Z0-9._-] become '_'.
func CleanTopic(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "/")
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 249 {
		b = b[:249]
	}
	return string(b)
}

// Transport is a running producer.
type Transport struct {
	cfg   Config
	cl    *kgo.Client
	topic *sink.ContainerTemplate
	ok    sink.Counter
}

// New starts a producer; it connects on first use.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	topic, _ := sink.NewContainerTemplate("topic", cfg.Topic, CleanTopic)
	auth, _ := cfg.mechanism()
	comp, _ := codec(cfg.Compression)
	if cfg.Linger == 0 {
		cfg.Linger = 5 * time.Millisecond
	}
	if cfg.MaxBuffered == 0 {
		cfg.MaxBuffered = 10000
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "logspout-route"
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(comp),
		kgo.ProducerLinger(cfg.Linger),
		kgo.MaxBufferedRecords(cfg.MaxBuffered),
		kgo.UnknownTopicRetries(-1), // a topic created late is waited for, never a reason to drop
		kgo.RetryBackoffFn(func(n int) time.Duration { return min(100*time.Millisecond<<min(n, 7), 5*time.Second) }),
		kgo.ProducerOnDataLossDetected(func(topic string, p int32) {
			cfg.Log.WithField("topic", topic).WithField("partition", p).Warn("kafka: the broker lost records it had acknowledged (sequence reset)")
		}),
	}
	if cfg.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg.TLS))
	}
	opts = append(opts, auth...)
	opts = append(opts, cfg.ExtraOptions...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &Transport{cfg: cfg, cl: cl, topic: topic, ok: cfg.Metrics("kafka_produce_total", `result="ok"`)}, nil
}

// Send produces recs in order; it blocks while franz-go's buffer is full.
func (t *Transport) Send(ctx context.Context, recs []sink.Record) error {
	for i := range recs {
		r := &recs[i]
		seq, c := r.Seq, r.Container
		kr := &kgo.Record{Topic: t.topic.For(c), Key: []byte(c.ID), Value: r.Value, Timestamp: time.Unix(0, r.NS)}
		t.cl.Produce(ctx, kr, func(_ *kgo.Record, err error) { t.done(seq, c, err) })
	}
	return ctx.Err()
}

func (t *Transport) done(seq uint64, c *sink.Container, err error) {
	if err == nil {
		t.ok.Inc()
		t.cfg.Acker.Ack(seq, sink.Delivered)
		return
	}
	name := "client_error"
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		name = ke.Message
	case errors.Is(err, kgo.ErrClientClosed), errors.Is(err, context.Canceled):
		name = "closed"
	}
	t.cfg.Metrics("kafka_produce_total", fmt.Sprintf("result=%q", name)).Inc()
	if permanent(err) {
		t.cfg.Log.WithError(err).WithField("container", strings.TrimPrefix(c.Name, "/")).Warn("kafka refused a line for good; skipped")
		t.cfg.Acker.Ack(seq, sink.Failed)
		return
	}
	t.cfg.Acker.Ack(seq, sink.Retry)
}

// permanent errors are the record's own fault: sending it again fails again.
func permanent(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.CorruptMessage) ||
		errors.Is(err, kerr.InvalidTopicException)
}

// Close stops the producer; unacknowledged records are reported Retry.
func (t *Transport) Close() { t.cl.Close() }
