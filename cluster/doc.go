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
//     Lease after the node's last heartbeat (a SIGKILLed node); OnNodeLost
//     reports the nodes whose lease lapsed.
//   - log:acd: the shared log (Log, a Redis stream) of the ACD: every
//     change of queues and agents, in one order (see routing/acd's
//     replica.go). Waiting calls, their priority, arrival, skills and
//     segment, and the agents' states are in it.
//   - log:acd:snap: the latest snapshot of the ACD (hash: id, the last
//     entry it covers, and data), written every 2000 entries by the node
//     with the ticker role, which then trims log:acd (XTRIM MINID) below
//     the oldest entry a live node still needs; a node opening the log
//     restores it and applies the entries after it.
//   - log:acd:pos:<node>: the last entry the node applied (renewed with
//     its heartbeat, lapsing with its lease), so that trims spare what a
//     node that lags behind has not read.
//   - resv:<agent>: the reservation of an agent for one call by one node,
//     renewed with the node's heartbeat, lapsing with it.
//   - reg:<user>: the live registrations (bindings with their expiry and
//     Path) of the agents' phones, whichever node the REGISTER reached.
//   - cb:<id>, cbs, cbdue, cbseq, cbclaim:<id>, cbver, cbfeed, cbmark,
//     cbsettle: the callbacks every node lists and one node dials
//     (Callbacks, callbacks.go): claims are leases renewed by the
//     dialling node; each change is appended to a feed (a stream) from
//     which every node keeps its copy current, reading only what changed;
//     each node re-publishes the callbacks it knows after a Redis restart,
//     and no callback is claimed until every node has (Settle).
//
// # Design choice: the ACD's logic stays in Go, the same code on every node
//
// The alternatives were (a) to move the ACD's state into Redis and
// rewrite its decisions as Redis operations, or (b) to keep the one
// in-memory ACD (strategies, skills with levels, escalation, preferred
// agent, wrap-up, auto-pause) on every node. (a) would make a second
// implementation of every routing rule that could drift from the first.
// This package takes (b), without electing a dispatcher: every node runs
// the ACD as a replica of one state machine. Each change is appended to
// one Redis stream (the append is the atomic step that orders two calls
// arriving on two nodes at the same instant) and applied by every node in
// that order with the time it carries, so all replicas make the same
// offers, and a queue keeps one order across nodes by construction. The
// node that has a call rings the agent. Every ACD test runs on one node
// and on two replicas through a real redis-server.
//
// # Reservations: an agent is never offered two calls at once
//
// Replicas that agree never offer one agent twice. As a guard for when
// they might not (an entry appended at the instant Redis died may have
// reached some nodes only), the node that rings an agent first reserves
// her (Reserve, the ACD's Guard): one Lua script grants the agent only
// when no other reservation holds it, when the calling node is live in
// Redis and when Redis is not settling after a restart. Two nodes
// reserving the one free agent at the same instant: exactly one gets it.
// While Redis is unreachable nothing is granted. After a Redis restart
// every node joins again and re-publishes the reservations it holds
// (only where nobody else holds the agent) and its registrations; no new
// reservation is granted until Settle has passed, so a reservation made
// before the restart is back before anyone can take the agent. A dead
// node's reservations lapse Lease after its last heartbeat (15 s by
// default, 30 s at most), and its calls are ended through the log
// (routing/acd.NodeLost), freeing its agents.
package cluster
