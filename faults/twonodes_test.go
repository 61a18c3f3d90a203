package faults_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/internal/proctest"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/loadtest/termsim"
)

// TestTwoGatewayNodes: two gateway nodes on the three-server NATS cluster (every stream R3) and
// one Redis (AOF always) behind a real haproxy. A round under load kills one node with SIGKILL (restarted a second later):
// its terminals reconnect through haproxy to the other and carry on, and the books of every
// round agree three ways. Another kills it and leaves it dead: the other node adopts its lease
// and reverses what it left open, and the books agree again. A terminal blocked through one node's admin API is refused by the
// other node on the next message; RRNs and upstream STANs stay unique across the nodes.
func TestTwoGatewayNodes(t *testing.T) {
	haproxyBin, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy not on PATH: .ci/run installs it")
		}
		t.Skip("haproxy not on PATH")
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not on PATH")
	}
	url, _ := startNATSCluster(t)
	_, redisURL := startRedis(t, redisBin, "--appendonly", "yes", "--appendfsync", "always")
	lmk, token := sharedSecrets(t)
	node := func(id int) *proctest.Node {
		return proctest.StartNode(t, proctest.NodeConfig{NATS: url, Args: nodeArgs(t, "--redis", redisURL, "--lmk-file", lmk,
			"--token-key-file", token, "--node-id", strconv.Itoa(id), "--node-lease", "3s",
			"--config", writeConf(t, "journal_replicas: 3\n"))})
	}
	n1, n2 := node(1), node(2)

	// haproxy: leastconn over both nodes, a refused connection re-dispatched to the other.
	front := "127.0.0.1:" + strconv.Itoa(proctest.FreePorts(t, 1)[0])
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `defaults
  mode tcp
  timeout connect 1s
  timeout client 10m
  timeout server 10m
  retries 3
  option redispatch
frontend terminals
  bind %s
  default_backend gateways
backend gateways
  balance leastconn
  server n1 %s check inter 500ms fall 1 rise 2
  server n2 %s check inter 500ms fall 1 rise 2
`, front, n1.GatewayAddr, n2.GatewayAddr), 0o600); err != nil {
		t.Fatal(err)
	}
	proctest.StartProcess(t, "haproxy", haproxyBin, func() error {
		c, err := net.DialTimeout("tcp", front, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}, "-db", "-f", cfg)

	s := newSuite(t, n1)
	defer s.table()
	s.target = front
	startSim(t, s.bin, url, n1.DataDir, "--ledger-replicas", "3")
	s.round("no fault (2 nodes behind haproxy)", nil)
	s.round("kill -9 gateway node 2", func() {
		n2.Kill()
		time.Sleep(time.Second)
		n2.Restart(t)
	})
	// Node 2 killed and left dead: node 1 adopts its lease and reverses at the issuer what
	// it left open; the round's books are reconciled once that is done.
	kv, err := clusterJS(t, url).KeyValue(context.Background(), app.NodesBucket)
	if err != nil {
		t.Fatal(err)
	}
	s.round("kill -9 gateway node 2, left dead", func() {
		n2.Kill()
		killed := time.Now()
		for {
			_, err := kv.Get(context.Background(), "node.2")
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				break
			}
			if time.Since(killed) > time.Minute {
				t.Fatalf("node 1 did not adopt the dead node's lease within a minute (%v)", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("node 2's lease adopted by node 1 %v after the kill (lease 3s)", time.Since(killed).Round(10*time.Millisecond))
	})
	n2.Restart(t)

	// Blocking through node 2 takes effect on node 1 at once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c1, c2 := s.admin(), adminOf(t, n2)
	const tid, sn, mid = "TWON0001", "000002021000900001", "898310048169901"
	created, err := c1.CreateTerminal(ctx, adminapi.CreateTerminalRequest{TID: tid, MID: mid, SN: sn,
		Merchant: &adminapi.NewMerchant{Name: "TWO NODES", MCC: "5812", SettlementAccount: "6222000000000009"}})
	if err != nil {
		t.Fatal(err)
	}
	term, err := termsim.New(termsim.Config{Addr: n1.GatewayAddr, SN: sn, KeyPool: termsim.NewKeyPool(1), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if res, err := term.Activate(ctx, created.ActivationCode, nil); err != nil || res.Code != "00" {
		t.Fatalf("activate: %s %v", res.Code, err)
	}
	if res, err := term.SignOn(ctx); err != nil || res.Code != "00" {
		t.Fatalf("sign on: %s %v", res.Code, err)
	}
	card := termsim.Card{PAN: "6222021234567890123"}
	if res, err := term.Purchase(ctx, card, 100); err != nil || res.Code != "00" {
		t.Fatalf("purchase on node 1: %s %v", res.Code, err)
	}
	if _, err := c2.Block(ctx, tid, adminapi.ReasonStolen); err != nil {
		t.Fatalf("block through node 2: %v", err)
	}
	if res, _ := term.Purchase(ctx, card, 100); res.Code != "58" {
		t.Errorf("purchase on node 1 after blocking through node 2: %q, want 58", res.Code)
	}

	// RRNs and upstream STANs are unique across both nodes' records.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	j, err := journal.New(ctx, nc, journal.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j.Close(ctx) }()
	rrns, stans := map[string]string{}, map[string]string{}
	nodes := map[uint8]int{}
	for d := range s.dates() {
		err := j.Read(ctx, d, func(r journal.Record) error {
			nodes[r.Node]++
			if r.Type.MovesMoney() && r.Type != journal.TypeReversal && r.RRN != "" {
				if other, dup := rrns[r.RRN]; dup && other != r.TxnID {
					t.Errorf("RRN %s of %s and %s", r.RRN, other, r.TxnID)
				}
				rrns[r.RRN] = r.TxnID
			}
			if r.Type == journal.TypeIntent {
				k := fmt.Sprintf("%s/%06d/%s", r.Route, r.Upstream.STAN, r.BusinessDate)
				if other, dup := stans[k]; dup && other != r.TxnID {
					t.Errorf("upstream STAN %s of %s and %s", k, other, r.TxnID)
				}
				stans[k] = r.TxnID
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if nodes[1] == 0 || nodes[2] == 0 || len(rrns) < 50 {
		t.Errorf("records by node %v, %d RRNs: both nodes should have served", nodes, len(rrns))
	}
	t.Logf("records by node %v; %d RRNs and %d upstream STANs, all distinct", nodes, len(rrns), len(stans))
}

// adminOf is the admin API client of node n.
func adminOf(t *testing.T, n *proctest.Node) *adminapi.Client {
	t.Helper()
	tok, err := admin.LoadToken(filepath.Join(n.DataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return &adminapi.Client{BaseURL: "http://" + n.AdminAddr, Token: tok, HTTP: &http.Client{Timeout: 10 * time.Second}}
}
