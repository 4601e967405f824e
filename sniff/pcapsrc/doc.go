// Package pcapsrc reads pcap and pcapng capture files as a sniff.Source, for
// tests, golden files and zktap's offline mode.
//
// # Formats
//
// The format is detected from the file's magic number: classic libpcap
// (either byte order, microsecond or nanosecond timestamps, optionally
// gzip-compressed) or pcapng (every interface of the file must have a link
// type sniff.ParseFrame understands).
//
// # Reading
//
// A classic pcap file is read in chunks of 1 MiB, and each frame is returned
// as a slice of its chunk: no copy per frame, and ReadFrame does not
// allocate. Its checks are those of github.com/gopacket/gopacket/pcapgo (a
// test and FuzzOpen compare the two frame by frame): a captured length above
// the snap length (or libpcap's 262144) or above the original length is an
// error for that record, and reading may go on. One addition: a record longer
// than 16 MiB is an error too, its bytes skipped rather than held, so that a
// gzipped file cannot inflate one record into gigabytes. pcapng (read
// uncompressed only) goes through pcapgo's zero-copy calls, which copy each
// frame into a buffer that grows to the largest frame, at most the size of
// the input. Either way a frame is valid until the next ReadFrame.
//
// # Reading ahead
//
// Source.ReadAhead makes a classic pcap file of known size read ahead: a
// goroutine reads the next chunks, at most three, while ReadFrame parses the
// one before, so that the read system calls (and a gzipped file's
// decompression) run on another core. Chunks are handed over, not copied:
// the bytes of a record cut by a chunk's end are moved into room kept before
// the next chunk's. Frames, errors and their order are the same; Close ends
// the goroutine, which also ends by itself at the end of the file or at a
// read error.
package pcapsrc
