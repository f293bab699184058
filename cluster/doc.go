// Package cluster lets several Hotline nodes serve one hotline: they share
// their live state in Redis (or Valkey) behind the Kamailio edge of
// deploy/kamailio. One node stays the default: without cluster.redis_url
// nothing here runs and no Redis is needed.
//
// # What Redis holds (keys under KeyPrefix, "hotline:" by default)
//
//   - config: the hash of the configuration every node must share (agents,
//     queues, hotline numbers, routing). A node whose hash differs refuses
//     to join (ErrConfigMismatch). The key lives while any node does.
//   - epoch: a random id written by the first node to find Redis empty. A
//     node that finds another epoch (or none) knows Redis restarted.
//   - node:<name>: the node's liveness, renewed every Heartbeat, lapsing
//     Lease after the node's last heartbeat (a SIGKILLed node).
//   - resv:<agent>: the reservation of an agent for one offer (or call) by
//     one node, renewed with the node's heartbeat, lapsing with it.
//   - reg:<user>: the live registrations (bindings with their expiry and
//     Path) of the agents' phones, whichever node the REGISTER reached.
//   - queue:<name> and call:<id>: each queue's waiting calls (priority,
//     arrival, required skills, segment, owning node), in one order
//     across nodes: priority (higher first), then arrival.
//
// # Reservations: an agent is never offered two calls at once
//
// Reserve is one Lua script: it grants the agent to the caller only when
// no other reservation holds it, when the calling node is live in Redis
// and when Redis is not settling after a restart. Two nodes reserving the
// one free agent at the same instant: exactly one gets it. While Redis is
// unreachable nothing is granted (Reserve returns an error: the agent is
// not offered). After a Redis restart every node re-joins, re-publishes
// the reservations it holds (Restore: only where nobody else holds the
// agent) and its waiting calls and registrations; no new reservation is
// granted until Settle has passed, so a reservation made before the
// restart is back before anyone can take the agent again. A dead node's
// reservations lapse Lease after its last heartbeat (15 s by default,
// 30 s at most): its agents are never stuck.
//
// # Design choice: the ACD's logic stays in Go, the same code on every node
//
// The alternatives were (a) to move the ACD's state into Redis and
// rewrite its decisions around it, or (b) to keep the one in-memory ACD
// (strategies, skills with levels, escalation, preferred agent, wrap-up,
// auto-pause) and make Redis hold only what must be shared, with the
// reservation as the atomic guard. This package takes (b): rewriting the
// ACD's decisions as Redis operations would make two implementations of
// every routing rule that could drift apart, while with (b) the routing
// code is the same on one node and on many by construction, and the
// reservation makes a stale or concurrent decision harmless: an offer
// whose reservation is refused is not made. The routing tests run on the
// in-memory ACD; the reservation, lease, restart and join rules are tested
// here against a real redis-server (internal/redistest).
package cluster
