// Package rxstamp reads the kernel's arrival stamp of UDP datagrams
// (SO_TIMESTAMPNS): how long a datagram waited in its socket before a
// read took it. The SIP door and the RTP readers use it; on other
// systems than 64-bit Linux there are no stamps (Enable reports false).
package rxstamp
