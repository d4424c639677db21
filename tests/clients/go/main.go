// Go clients against a three-node Seshat cluster, driven by tests/tests/clients.rs: redigo
// (github.com/gomodule/redigo) and its cluster client redisc (github.com/mna/redisc), both
// from Debian's packages (scripts/clients.sh says why not go-redis v9).
//
//	clients cluster HOST:PORT   redisc.Cluster, seeded with one node (any node)
//	clients plain HOST:PORT     a redigo Pool, pointed at the leader
//
// The line protocol is the one every client program shares (tests/tests/clients.rs
// documents it): check SET/GET/DEL/MGET and pipelines, print `ready`, then write one key
// every few milliseconds while the test kills the leader and says `killed` on stdin (a plain
// client's node then comes back as leader, and the test says `back`). The first write that
// succeeds after the last signal is the recovery (`recovered ...`); every later write must
// succeed at once, and every write the client saw acknowledged must read back
// (`verified ...`). Exit status 0 means all of that held.
package main

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/mna/redisc"
)

// How long the client gets to recover once the test has said its last signal, and how long
// it waits for the signals.
const recoveryTime = 15 * time.Second
const signalsTime = 60 * time.Second
const writesAfterRecovery = 50

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(1)
}

func expect(what string, got, want interface{}) {
	if !reflect.DeepEqual(got, want) {
		fail("%s: got %#v, want %#v", what, got, want)
	}
}

// client is the little a test needs of either client: one command, and a pipeline of
// commands whose keys share one slot.
type client interface {
	do(cmd string, args ...interface{}) (interface{}, error)
	pipeline(cmds [][]interface{}) ([]interface{}, error)
}

var dialOptions = []redis.DialOption{
	redis.DialConnectTimeout(2 * time.Second),
	redis.DialReadTimeout(5 * time.Second),
	redis.DialWriteTimeout(5 * time.Second),
}

func newPool(addr string, options ...redis.DialOption) (*redis.Pool, error) {
	return &redis.Pool{
		MaxIdle:     4,
		IdleTimeout: time.Minute,
		Dial:        func() (redis.Conn, error) { return redis.Dial("tcp", addr, options...) },
	}, nil
}

// clusterClient is redisc as its documentation uses it: a connection from the cluster per
// call, wrapped in RetryConn, which follows MOVED and ASK and retries TRYAGAIN. A failed
// connection to a slot's node makes redisc try a random node, whose MOVED updates the slots.
type clusterClient struct{ cluster *redisc.Cluster }

func (c clusterClient) do(cmd string, args ...interface{}) (interface{}, error) {
	conn := c.cluster.Get()
	defer conn.Close()
	retry, err := redisc.RetryConn(conn, 8, 100*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return retry.Do(cmd, args...)
}

func (c clusterClient) pipeline(cmds [][]interface{}) ([]interface{}, error) {
	conn := c.cluster.Get()
	defer conn.Close()
	// A pipeline goes to one node: bind the connection to the slot of its first key.
	if err := redisc.BindConn(conn, fmt.Sprint(cmds[0][1])); err != nil {
		return nil, err
	}
	return sendAll(conn, cmds)
}

// plainClient is a redigo Pool: a connection per call; the pool drops broken ones, so the
// call after a failure dials again.
type plainClient struct{ pool *redis.Pool }

func (c plainClient) do(cmd string, args ...interface{}) (interface{}, error) {
	conn := c.pool.Get()
	defer conn.Close()
	return conn.Do(cmd, args...)
}

func (c plainClient) pipeline(cmds [][]interface{}) ([]interface{}, error) {
	conn := c.pool.Get()
	defer conn.Close()
	return sendAll(conn, cmds)
}

// sendAll pipelines: every command is sent, then flushed once, then every reply read.
func sendAll(conn redis.Conn, cmds [][]interface{}) ([]interface{}, error) {
	for _, cmd := range cmds {
		if err := conn.Send(cmd[0].(string), cmd[1:]...); err != nil {
			return nil, err
		}
	}
	if err := conn.Flush(); err != nil {
		return nil, err
	}
	replies := make([]interface{}, len(cmds))
	for i := range cmds {
		reply, err := conn.Receive()
		if _, isReplyError := err.(redis.Error); err != nil && !isReplyError {
			return nil, err
		}
		if err != nil {
			reply = err
		}
		replies[i] = reply
	}
	return replies, nil
}

func connect(mode, addr string) client {
	switch mode {
	case "cluster":
		cluster := &redisc.Cluster{
			StartupNodes: []string{addr},
			DialOptions:  dialOptions,
			CreatePool:   newPool,
		}
		if err := cluster.Refresh(); err != nil {
			fail("loading the slots: %v", err)
		}
		return clusterClient{cluster}
	case "plain":
		pool, _ := newPool(addr, dialOptions...)
		return plainClient{pool}
	}
	fail("unknown mode %q", mode)
	return nil
}

func str(reply interface{}, err error) string {
	s, err := redis.String(reply, err)
	if err != nil {
		fail("expected a string: %v", err)
	}
	return s
}

// nullable turns an array reply into strings, with nil for a null.
func nullable(reply interface{}, err error) []interface{} {
	values, err := redis.Values(reply, err)
	if err != nil {
		fail("expected an array: %v", err)
	}
	out := make([]interface{}, len(values))
	for i, value := range values {
		if value != nil {
			out[i] = string(value.([]byte))
		}
	}
	return out
}

func basics(c client, mode string, acked map[string]string) {
	expect("PING", str(c.do("PING")), "PONG")
	expect("SET", str(c.do("SET", "go:a", "1")), "OK")
	acked["go:a"] = "1"
	expect("GET", str(c.do("GET", "go:a")), "1")
	expect("SET", str(c.do("SET", "go:gone", "x")), "OK")
	deleted, err := redis.Int(c.do("DEL", "go:gone"))
	expect("DEL", []interface{}{deleted, err}, []interface{}{1, nil})
	gone, err := c.do("GET", "go:gone")
	expect("GET after DEL", []interface{}{gone, err}, []interface{}{nil, nil})
	// MGET's keys share a hash tag, as cluster clients require of multi-key commands.
	for _, kv := range [][2]string{{"{go}:m1", "v1"}, {"{go}:m2", "v2"}} {
		expect("SET", str(c.do("SET", kv[0], kv[1])), "OK")
		acked[kv[0]] = kv[1]
	}
	expect("MGET", nullable(c.do("MGET", "{go}:m1", "{go}:m2", "{go}:none")),
		[]interface{}{"v1", "v2", nil})

	var cmds [][]interface{}
	for i := 0; i < 20; i++ {
		cmds = append(cmds, []interface{}{"SET", fmt.Sprintf("{go}:pipe:%d", i), fmt.Sprint(i)})
	}
	cmds = append(cmds,
		[]interface{}{"GET", "{go}:pipe:0"},
		[]interface{}{"INCR", "{go}:counter"},
		[]interface{}{"DEL", "{go}:pipe:19"},
		[]interface{}{"GET", "{go}:pipe:19"})
	replies, err := c.pipeline(cmds)
	if err != nil {
		fail("pipeline: %v", err)
	}
	want := []interface{}{}
	for i := 0; i < 20; i++ {
		want = append(want, "OK")
	}
	want = append(want, []byte("0"), int64(1), int64(1), nil)
	expect("pipeline", replies, want)
	for i := 0; i < 19; i++ {
		acked[fmt.Sprintf("{go}:pipe:%d", i)] = fmt.Sprint(i)
	}
	acked["{go}:counter"] = "1"

	if mode == "plain" {
		// MULTI/EXEC, pipelined as redigo users send a transaction.
		replies, err := c.pipeline([][]interface{}{
			{"MULTI"}, {"SET", "{go}:tx", "in-tx"}, {"INCR", "{go}:counter"}, {"GET", "{go}:tx"},
			{"EXEC"},
		})
		if err != nil {
			fail("MULTI/EXEC: %v", err)
		}
		expect("MULTI/EXEC", replies, []interface{}{"OK", "QUEUED", "QUEUED", "QUEUED",
			[]interface{}{"OK", int64(2), []byte("in-tx")}})
		acked["{go}:tx"] = "in-tx"
		acked["{go}:counter"] = "2"
	}
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: clients cluster|plain HOST:PORT")
	}
	mode, addr := os.Args[1], os.Args[2]
	c := connect(mode, addr)
	acked := map[string]string{}
	basics(c, mode, acked)
	fmt.Printf("ready acked=%d\n", len(acked))

	// The test's signals arrive on stdin while the loop below writes.
	var mu sync.Mutex
	signals := map[string]time.Time{}
	go func() {
		scanner := bufio.NewScanner(os.Stdin)
		for scanner.Scan() {
			mu.Lock()
			signals[strings.TrimSpace(scanner.Text())] = time.Now()
			mu.Unlock()
		}
	}()
	// Both clients need the killed node back: a plain client knows no other node, and redisc
	// asks only masters for a connection, so it stays with the dead leader (the one master)
	// until that address answers again and redirects it with MOVED.
	wanted := []string{"killed", "back"}
	lastSignal := func() (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		var last time.Time
		for _, name := range wanted {
			at, said := signals[name]
			if !said {
				return time.Time{}, false
			}
			if at.After(last) {
				last = at
			}
		}
		return last, true
	}

	readyAt := time.Now()
	errors := map[string]int{}
	i := 0
	var recovered time.Duration = -1
	for recovered < 0 {
		started := time.Now()
		last, allSaid := lastSignal()
		if !allSaid && started.After(readyAt.Add(signalsTime)) {
			fail("no signal within %v", signalsTime)
		}
		if allSaid && started.After(last.Add(recoveryTime)) {
			fail("no write succeeded within %v of '%s': %v", recoveryTime, wanted[len(wanted)-1], errors)
		}
		key, value := fmt.Sprintf("go:w:%d", i), fmt.Sprint(i)
		i++
		if _, err := redis.String(c.do("SET", key, value)); err != nil {
			// The library gave up on this write: not acknowledged.
			// Errors are told apart by their first word ("dial", "MOVED", "EOF").
			kind := strings.TrimSuffix(strings.Fields(err.Error() + " ?")[0], ":")
			if errors[kind] == 0 {
				fmt.Fprintf(os.Stderr, "write failed (%s): %v\n", kind, err)
			}
			errors[kind]++
			time.Sleep(50 * time.Millisecond)
			continue
		}
		acked[key] = value
		if allSaid && started.After(last) {
			recovered = time.Since(last)
		}
		time.Sleep(10 * time.Millisecond)
	}
	failed := 0
	var kinds []string
	for kind, count := range errors {
		failed += count
		kinds = append(kinds, fmt.Sprintf("%s:%d", kind, count))
	}
	sort.Strings(kinds)
	summary := strings.Join(kinds, ",")
	if summary == "" {
		summary = "none"
	}
	fmt.Printf("recovered after_ms=%d failed_writes=%d errors=%s\n",
		recovered.Milliseconds(), failed, summary)

	// Recovered: from now on every call succeeds the first time.
	for j := 0; j < writesAfterRecovery; j++ {
		key := fmt.Sprintf("go:after:%d", j)
		expect("SET "+key, str(c.do("SET", key, fmt.Sprint(j))), "OK")
		acked[key] = fmt.Sprint(j)
	}
	var cmds [][]interface{}
	for j := 0; j < 10; j++ {
		cmds = append(cmds, []interface{}{"SET", fmt.Sprintf("{go}:after-pipe:%d", j), fmt.Sprint(j)})
	}
	replies, err := c.pipeline(cmds)
	if err != nil {
		fail("pipeline after recovery: %v", err)
	}
	for j, reply := range replies {
		expect(fmt.Sprintf("pipeline after recovery, reply %d", j), reply, "OK")
		acked[fmt.Sprintf("{go}:after-pipe:%d", j)] = fmt.Sprint(j)
	}

	// Every acknowledged write is there.
	for key, value := range acked {
		expect("GET "+key, str(c.do("GET", key)), value)
	}
	gone, err := c.do("GET", "{go}:pipe:19")
	expect("GET after DEL", []interface{}{gone, err}, []interface{}{nil, nil})
	expect("MGET", nullable(c.do("MGET", "{go}:m1", "{go}:m2")), []interface{}{"v1", "v2"})
	fmt.Printf("verified acked=%d writes_tried=%d\n", len(acked), i)
}
