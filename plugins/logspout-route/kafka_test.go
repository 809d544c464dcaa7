package main

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/loggen"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const kafkaTopic = "docker-logs"

// kafkaPeer is an in-process Kafka cluster (kfake speaks the real protocol)
// that keeps its log in dir, so it can be stopped and started again on the
// same port with what it had acknowledged.
type kafkaPeer struct {
	t    *testing.T
	dir  string
	port int
	c    *kfake.Cluster
}

func startKafka(t *testing.T) *kafkaPeer {
	t.Helper()
	k := &kafkaPeer{t: t, dir: t.TempDir()}
	k.start()
	_, p, _ := net.SplitHostPort(k.c.ListenAddrs()[0])
	k.port, _ = strconv.Atoi(p)
	t.Cleanup(k.stop)
	return k
}

func (k *kafkaPeer) start() {
	k.t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, kafkaTopic), kfake.DataDir(k.dir), kfake.SyncWrites()}
	if k.port != 0 {
		opts = append(opts, kfake.Ports(k.port))
	}
	var err error
	for i := 0; i < 50; i++ { // the old listener's port may take a moment to free
		if k.c, err = kfake.NewCluster(opts...); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	k.t.Fatalf("kfake: %v", err)
}

func (k *kafkaPeer) stop() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

func (k *kafkaPeer) addr() string { return "127.0.0.1:" + strconv.Itoa(k.port) }

// kafkaRecord is one consumed record: its partition and value.
type kafkaRecord struct {
	partition int32
	key       string
	value     []byte
}

// consume reads the topic from the start until stop returns true (and one
// more second, for late duplicates) or timeout passes.
func (k *kafkaPeer) consume(timeout time.Duration, stop func([]kafkaRecord) bool) []kafkaRecord {
	k.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.addr()), kgo.ConsumeTopics(kafkaTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		k.t.Fatal(err)
	}
	defer cl.Close()
	var out []kafkaRecord
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if stop(out) && time.Until(deadline) > time.Second {
			deadline = time.Now().Add(time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, kafkaRecord{partition: r.Partition, key: string(r.Key), value: r.Value})
		})
	}
	return out
}

// checkPerContainer checks, per prefix, 1..n each present and, in every
// partition, in increasing order; it returns missing and duplicated counts.
func checkPerContainer(t *testing.T, recs []kafkaRecord, prefixes []string, n int, exact bool) {
	t.Helper()
	for _, p := range prefixes {
		needle := []byte(p + " ")
		counts := map[int]int{}
		last := map[int32]int{}
		keys := map[string]bool{}
		disorder := 0
		for _, r := range recs {
			seq, ok := logsink.SeqOf(r.value, needle)
			if !ok {
				continue
			}
			keys[r.key] = true
			counts[seq]++
			if seq < last[r.partition] && counts[seq] == 1 {
				disorder++
			}
			last[r.partition] = max(last[r.partition], seq)
		}
		missing, dup := logsink.Check(counts, n)
		if len(missing) > 0 {
			t.Errorf("%s: missing %v", p, missing)
		}
		if len(dup) > 0 {
			if exact {
				t.Errorf("%s: duplicated %v", p, dup)
			} else {
				t.Logf("%s: duplicated (allowed: at-least-once) %v", p, dup)
			}
		}
		if disorder > 0 {
			t.Errorf("%s: %d lines out of order", p, disorder)
		}
		if len(keys) != 1 {
			t.Errorf("%s: %d message keys, want one (the container ID)", p, len(keys))
		}
	}
}

func countPrefixes(recs []kafkaRecord, prefixes []string) int {
	n := 0
	for _, r := range recs {
		for _, p := range prefixes {
			if _, ok := logsink.SeqOf(r.value, []byte(p+" ")); ok {
				n++
				break
			}
		}
	}
	return n
}

func TestKafkaThreeContainersEveryLineOnceInOrder(t *testing.T) {
	r := newTestRun(t)
	k := startKafka(t)
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("kafka", k.addr()+"/"+kafkaTopic, r.filter())})
	waitHealthy(t, p.addr)
	const n = 100000
	var prefixes []string
	var ids []string
	for _, name := range []string{"ka", "kb", "kc"} {
		prefixes = append(prefixes, r.prefix(name))
		ids = append(ids, r.start(name, nil, "-n", strconv.Itoa(n), "-prefix", r.prefix(name)))
	}
	for _, id := range ids {
		if err := loggen.Wait(context.Background(), r.cli, id); err != nil {
			t.Fatal(err)
		}
	}
	recs := k.consume(5*time.Minute, func(recs []kafkaRecord) bool { return countPrefixes(recs, prefixes) >= 3*n })
	checkPerContainer(t, recs, prefixes, n, true)
	_, metrics := get(t, p.addr, "/metrics")
	for _, want := range []string{`logspout_route_kafka_produce_total{`, `result="ok"} `, `logspout_route_lines_shipped_total{`} {
		if !containsLine(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func containsLine(text, part string) bool {
	for i := 0; i+len(part) <= len(text); i++ {
		if text[i:i+len(part)] == part {
			return true
		}
	}
	return false
}

func TestKafkaBrokerStoppedTenSecondsLosesNothing(t *testing.T) {
	r := newTestRun(t)
	k := startKafka(t)
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("kafka", k.addr()+"/"+kafkaTopic, r.filter())})
	waitHealthy(t, p.addr)
	const n = 20000
	prefix := r.prefix("kdown")
	id := r.start("kdown", nil, "-n", strconv.Itoa(n), "-rate", "1000", "-prefix", prefix)
	k.consume(30*time.Second, func(recs []kafkaRecord) bool { return countPrefixes(recs, []string{prefix}) >= 2000 })
	k.stop()
	time.Sleep(10 * time.Second)
	k.start()
	if err := loggen.Wait(context.Background(), r.cli, id); err != nil {
		t.Fatal(err)
	}
	recs := k.consume(3*time.Minute, func(recs []kafkaRecord) bool { return countPrefixes(recs, []string{prefix}) >= n })
	checkPerContainer(t, recs, []string{prefix}, n, false)
}

func TestKafkaSIGKILLRestartLosesNothing(t *testing.T) {
	r := newTestRun(t)
	k := startKafka(t)
	state := t.TempDir() + "/state.json"
	env := map[string]string{"ROUTE_URIS": routeURI("kafka", k.addr()+"/"+kafkaTopic, r.filter()), "STATE_PATH": state}
	first := startSubprocess(t, env)
	waitHealthy(t, first.addr)
	const n = 20000
	prefix := r.prefix("kkill")
	id := r.start("kkill", nil, "-n", strconv.Itoa(n), "-rate", "4000", "-prefix", prefix)
	k.consume(30*time.Second, func(recs []kafkaRecord) bool { return countPrefixes(recs, []string{prefix}) >= 3000 })
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	time.Sleep(time.Second)
	second := startSubprocess(t, env)
	waitHealthy(t, second.addr)
	if err := loggen.Wait(context.Background(), r.cli, id); err != nil {
		t.Fatal(err)
	}
	recs := k.consume(2*time.Minute, func(recs []kafkaRecord) bool { return countPrefixes(recs, []string{prefix}) >= n })
	checkPerContainer(t, recs, []string{prefix}, n, false)
}
