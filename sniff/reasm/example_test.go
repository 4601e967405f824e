package reasm_test

import (
	"fmt"
	"time"

	"github.com/zktap/zktap/sniff"
	"github.com/zktap/zktap/sniff/reasm"
)

// lines consumes whole newline-terminated lines.
type lines struct{}

func (lines) Consume(b []byte, _ time.Time) int {
	n := 0
	for i, c := range b {
		if c == '\n' {
			fmt.Printf("line %q\n", b[n:i])
			n = i + 1
		}
	}
	return n
}

func (lines) Gap() { fmt.Println("gap") }

func ExampleStream() {
	var s reasm.Stream
	s.Init(reasm.Limits{}, &reasm.Budget{}, nil)
	for _, seg := range []sniff.Segment{
		{Seq: 99, Flags: sniff.SYN},               // data starts at 100
		{Seq: 109, Payload: []byte("ld\nbye\n")},  // early: held
		{Seq: 100, Payload: []byte("hello worl")}, // fills the hole, overlapping by one
	} {
		s.Add(&seg, lines{})
	}
	fmt.Println(s.Stats().Retransmitted, "bytes retransmitted,", s.Buffered(), "buffered")
	// Output:
	// line "hello world"
	// line "bye"
	// 1 bytes retransmitted, 0 buffered
}
