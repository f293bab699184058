// SPDX-License-Identifier: GPL-2.0
//
// Hotline's in-kernel RTP relay: a TC classifier (tcx ingress) that
// rewrites the packets of an installed flow to the bridged leg's remote
// and lets them go on, and copies each one into a ring buffer for the
// recorder and the leg's counters. Everything it does not recognise
// (another protocol, an unknown port, a source that is not the latched
// remote, another payload type such as a telephone-event, a packet too
// long for a ring record, a full ring, a GRO aggregate) goes on unchanged
// to the leg's socket, where the user-space relay handles it.
//
// Rebuild with `make bpf` (clang-14, libbpf-dev); the object is committed.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define DATA_MAX 320
// SMALL_MAX is the payload of a small ring record: a 20 ms G.711 (or
// G.722) packet is 172 bytes. Records take their size in the ring, so
// the common packet's smaller record lets the ring hold 1.7 times as
// much audio while its reader is held up.
#define SMALL_MAX 176

// flow_key is the leg's own RTP address (network byte order).
struct flow_key {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

// flow says what to do with a packet for one leg's address.
struct flow {
	__u32 src_addr;  // the latched remote: only its packets take the fast path
	__u16 src_port;
	__u16 out_sport; // the bridged leg's own port, the new source
	__u32 out_saddr; // the bridged leg's own address
	__u32 out_daddr; // the bridged leg's remote, the new destination
	__u16 out_dport;
	__u8 pt;         // the leg's audio payload type; any other goes up
	__u8 out_pt;     // the bridged leg's audio payload type
	__u32 id;        // the leg, in ring records
	__u32 ifindex;   // 0: deliver locally; else redirect out of it
	__u64 packets;   // relayed here
	__u64 bytes;     // RTP bytes relayed here
	__u64 missed;    // relayed without a copy (a full ring), not yet told in a record
};

// record is one relayed packet as received, for user space: the whole
// struct, or only its first SMALL_MAX bytes of data for a packet that
// fits them (a small record).
struct record {
	__u32 id;
	__u16 len;
	__u16 missed;    // the leg's packets relayed without a copy just before this one
	__u64 ns;        // bpf_ktime_get_ns at arrival (CLOCK_MONOTONIC)
	__u8 data[DATA_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} ring SEC(".maps");

// counters: 0 relayed, 1 relayed without a copy because the ring was
// full, 2 passed up as too long for a record.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &i);
	if (c)
		*c += 1;
}

#define IP_OFF ETH_HLEN
#define IP_CSUM_OFF (IP_OFF + offsetof(struct iphdr, check))
#define IP_SRC_OFF (IP_OFF + offsetof(struct iphdr, saddr))
#define IP_DST_OFF (IP_OFF + offsetof(struct iphdr, daddr))
#define UDP_OFF (IP_OFF + sizeof(struct iphdr))
#define UDP_CSUM_OFF (UDP_OFF + offsetof(struct udphdr, check))
#define UDP_SRC_OFF (UDP_OFF + offsetof(struct udphdr, source))
#define UDP_DST_OFF (UDP_OFF + offsetof(struct udphdr, dest))
#define RTP_OFF (UDP_OFF + sizeof(struct udphdr))

static __always_inline int set32(struct __sk_buff *skb, __u32 off, __u32 from, __u32 to)
{
	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, UDP_CSUM_OFF, from, to, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4))
		return -1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, from, to, 4))
		return -1;
	return bpf_skb_store_bytes(skb, off, &to, 4, 0);
}

static __always_inline int set16(struct __sk_buff *skb, __u32 off, __u16 from, __u16 to)
{
	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, UDP_CSUM_OFF, from, to, BPF_F_MARK_MANGLED_0 | 2))
		return -1;
	return bpf_skb_store_bytes(skb, off, &to, 2, 0);
}

SEC("tc")
int relay(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + IP_OFF;
	struct udphdr *udp = data + UDP_OFF;
	__u8 *rtp = data + RTP_OFF;

	if ((void *)(rtp + 12) > end || skb->gso_segs > 1)
		return TC_ACT_UNSPEC;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return TC_ACT_UNSPEC;

	struct flow_key k = {.addr = ip->daddr, .port = udp->dest};
	struct flow *f = bpf_map_lookup_elem(&flows, &k);
	if (!f)
		return TC_ACT_UNSPEC;
	if (ip->saddr != f->src_addr || udp->source != f->src_port)
		return TC_ACT_UNSPEC;
	if ((rtp[0] >> 6) != 2 || (rtp[1] & 0x7f) != f->pt)
		return TC_ACT_UNSPEC;

	__u32 len = bpf_ntohs(udp->len);
	if (len < sizeof(struct udphdr) + 12)
		return TC_ACT_UNSPEC;
	len -= sizeof(struct udphdr);
	if (len > DATA_MAX) {
		count(2);
		return TC_ACT_UNSPEC;
	}

	__u32 saddr = ip->saddr, daddr = ip->daddr;
	__u16 sport = udp->source, dport = udp->dest;
	__u16 w0 = *(__u16 *)rtp;
	__u16 w1 = bpf_htons((bpf_ntohs(w0) & 0xff80) | f->out_pt);

	struct record *r;
	if (len <= SMALL_MAX)
		r = bpf_ringbuf_reserve(&ring, offsetof(struct record, data) + SMALL_MAX, 0);
	else
		r = bpf_ringbuf_reserve(&ring, sizeof(*r), 0);
	if (r) {
		r->id = f->id;
		r->len = len;
		r->missed = 0;
		r->ns = bpf_ktime_get_ns();
		if (bpf_skb_load_bytes(skb, RTP_OFF, r->data, len) < 0) {
			bpf_ringbuf_discard(r, 0);
			return TC_ACT_UNSPEC;
		}
		if (f->missed) {
			// The copies missed since the leg's last record go with
			// this one; more than a record tells wait for the next.
			__u64 m = __sync_lock_test_and_set(&f->missed, 0);
			if (m > 0xffff) {
				__sync_fetch_and_add(&f->missed, m - 0xffff);
				m = 0xffff;
			}
			r->missed = m;
		}
	} else {
		// The ring is full: its reader is held up, and the user-space
		// relay that would take the packet is too (it needs the same
		// cores, and more of them per packet). Relay it here all the
		// same, without the recorder's copy.
		count(1);
		__sync_fetch_and_add(&f->missed, 1);
	}

	// From here on the packet is the bridged leg's: a failed rewrite
	// drops it (it is half rewritten) and the record stays, as the
	// packet was received.
	if (r)
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP); // Run polls: see pollEvery in krelay.go
	if (set16(skb, RTP_OFF, w0, w1) || set32(skb, IP_SRC_OFF, saddr, f->out_saddr) ||
	    set32(skb, IP_DST_OFF, daddr, f->out_daddr) || set16(skb, UDP_SRC_OFF, sport, f->out_sport) ||
	    set16(skb, UDP_DST_OFF, dport, f->out_dport))
		return TC_ACT_SHOT;
	__sync_fetch_and_add(&f->packets, 1);
	__sync_fetch_and_add(&f->bytes, len);
	count(0);
	if (f->ifindex)
		return bpf_redirect_neigh(f->ifindex, 0, 0, 0);
	return TC_ACT_OK;
}
