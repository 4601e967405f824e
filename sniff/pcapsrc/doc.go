// Package pcapsrc reads pcap and pcapng capture files as a sniff.Source, for
// tests, golden files and zktap's offline mode.
//
// # Formats
//
// The format is detected from the file's magic number: classic libpcap
// (either byte order, microsecond or nanosecond timestamps, optionally
// gzip-compressed) or pcapng (every interface of the file must have a link
// type sniff.ParseFrame understands). Reading goes through
// github.com/gopacket/gopacket/pcapgo's zero-copy calls, so ReadFrame does not
// allocate once its buffer has grown to the largest frame.
package pcapsrc
