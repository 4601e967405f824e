// Package jute reads the primitives of Apache Jute, the serialisation
// ZooKeeper uses on all of its binary protocols, straight out of a []byte.
//
// # Reading
//
// A [Reader] walks a record field by field in declaration order. Every read
// is bounds-checked against the bytes left and every declared length against
// a caller-supplied maximum (jute.maxbuffer), so hostile input can neither
// overrun the slice nor make the reader allocate. The first failure is
// sticky: later reads return zero values and the record decoder checks
// [Reader.Err] once at the end, in the style of netlink's AttributeDecoder.
//
// # Ownership
//
// Buffer and UString return slices that alias the input: they are valid as
// long as the input is, and must be copied by anyone who keeps them. The
// Reader itself never allocates and is meant to live on the stack.
package jute
