// Command pcapmut rewrites a capture to provoke the reassembler: it swaps adjacent data
// segments of a flow direction (reordered), repeats segments (duplicated) or removes them
// (dropped). The choice is random but seeded, so the same input and seed always give the
// same output, and every change is listed in a JSON log so that tests know which
// sequence ranges were disturbed.
//
// Usage:
//
//	pcapmut -mode reorder|duplicate|drop -n 20 -seed 1 -in workload.pcap -out reordered.pcap [-log reordered.json]
//
// It is test tooling: it uses gopacket's pcapgo and layers, which zktap itself does not.
package main
