package app

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/posgate/posgate/terminal"
)

// DefaultRegistryCache is how long, with Redis, a node serves a terminal from its own memory
// (Config.RegistryCache): every change reaches every live node before the call that made it
// returns, so the TTL only bounds how stale a node can be that missed an invalidation.
const DefaultRegistryCache = 5 * time.Second

// invalidateSubject carries registry invalidations between the nodes: the TID ("" for all),
// the sender's instance in a header; each other node answers with its node id once it dropped
// the terminal.
const invalidateSubject = "posgate.registry.invalidate"

const instanceHeader = "Posgate-Instance"

// invalidateWait bounds how long a change waits for the other nodes to confirm.
const invalidateWait = 2 * time.Second

// registryPeers implements terminal.Invalidator over NATS for the nodes holding a lease.
type registryPeers struct {
	nc    *nats.Conn
	lease *nodeLease
	log   *zap.Logger

	sent, unconfirmed atomic.Uint64
}

// startRegistryCache puts the cache in front of n.Registry and listens for the other nodes'
// invalidations; the cache is suspended while NATS is disconnected (invalidations may be lost
// then) and emptied on reconnection.
func (n *Node) startRegistryCache(ttl time.Duration) (*terminal.Cache, error) {
	peers := &registryPeers{nc: n.nc, lease: n.lease, log: n.log.Named("registry")}
	cache, err := terminal.NewCache(n.Registry, terminal.CacheConfig{TTL: ttl, Peers: peers, Now: n.cfg.Processor.Now})
	if err != nil {
		return nil, err
	}
	node := []byte(strconv.Itoa(n.lease.node))
	sub, err := n.nc.Subscribe(invalidateSubject, func(m *nats.Msg) {
		if m.Header.Get(instanceHeader) == n.lease.instance {
			return // this node's own: dropped before it was sent
		}
		cache.Forget(string(m.Data))
		_ = m.Respond(node)
	})
	if err != nil {
		return nil, fmt.Errorf("registry invalidations: %w", err)
	}
	if err := n.nc.Flush(); err != nil { // the server knows the interest before this node serves
		return nil, fmt.Errorf("registry invalidations: %w", err)
	}
	n.onShutdown(func(context.Context) error { return sub.Unsubscribe() })
	n.nc.SetDisconnectErrHandler(func(*nats.Conn, error) { cache.Suspend() })
	n.nc.SetReconnectHandler(func(*nats.Conn) { cache.Resume() })
	n.regCache, n.regPeers = cache, peers
	return cache, nil
}

// Invalidate implements terminal.Invalidator: it waits, up to invalidateWait, for every other
// node whose lease is live to confirm. A node that does not is logged and counted; its entry
// expires within the cache TTL.
func (p *registryPeers) Invalidate(ctx context.Context, tid string) {
	expect := p.lease.livePeers()
	p.sent.Add(1)
	inbox := p.nc.NewInbox()
	sub, err := p.nc.SubscribeSync(inbox)
	if err != nil {
		p.failed(tid, expect, err)
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	msg := nats.NewMsg(invalidateSubject)
	msg.Reply, msg.Data = inbox, []byte(tid)
	msg.Header.Set(instanceHeader, p.lease.instance)
	if err := p.nc.PublishMsg(msg); err != nil {
		p.failed(tid, expect, err)
		return
	}
	wctx, cancel := context.WithTimeout(ctx, invalidateWait)
	defer cancel()
	missing := map[int]bool{}
	for _, id := range expect {
		missing[id] = true
	}
	for len(missing) > 0 {
		m, err := sub.NextMsgWithContext(wctx)
		if err != nil {
			break
		}
		if id, err := strconv.Atoi(string(m.Data)); err == nil {
			delete(missing, id)
		}
	}
	if len(missing) > 0 {
		left := make([]int, 0, len(missing))
		for id := range missing {
			left = append(left, id)
		}
		p.failed(tid, left, context.DeadlineExceeded)
	}
}

func (p *registryPeers) failed(tid string, nodes []int, err error) {
	p.unconfirmed.Add(1)
	p.log.Warn("registry change not confirmed by every node; their entries expire within the cache TTL",
		zap.String("tid", tid), zap.Ints("nodes", nodes), zap.Error(err))
}
