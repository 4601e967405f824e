//go:build linux

// Command bench measures zktap against the limits of the machine it runs on:
// a real ZooKeeper driven as hard as it goes, captured by nothing, by
// tcpdump, by zktap and by both; offline decoding of large captures against
// tcpdump reading the same file; and zktap's memory with 10 000 client
// connections and with a million distinct paths. It prints a table and
// writes every figure as JSON so that runs can be compared.
//
// It is not part of the test suite: it needs root, Debian's ZooKeeper,
// tcpdump and about ten minutes. testdata/bench/bench.sh builds zktap and
// this command and runs it; testdata/bench/README.md explains each figure.
//
// # Load client
//
// The load comes from a raw client of its own (client.go) rather than
// go-zookeeper: on a 2-core machine the client competes with ZooKeeper for
// CPU, and go-zookeeper spends a goroutine and channels per request. The raw
// client writes every request the pipeline window allows in one write
// system call and reads replies through one buffered reader per session, so
// more of the machine is left to ZooKeeper. It counts every request it sends
// by opcode, which is what zktap's request counters are compared with.
package main
