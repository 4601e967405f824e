package reasm

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAcked: an acknowledgement from the other direction that reaches into
// bytes held after a hole settles the hole as lost at once; one that only
// reaches the hole's end (a capture that reordered, not lost) does not.
func TestAcked(t *testing.T) {
	a, b, c := frame("aaaa"), frame("bbbb"), frame("cccc") // 6 bytes each
	tests := []struct {
		name string
		ack  uint32
		want []string
	}{
		{name: "ack into held bytes", ack: 100 + 12 + 1, want: []string{"f:aaaa", "gap", "f:cccc"}},
		{name: "ack to the hole's end only", ack: 100 + 12, want: []string{"f:aaaa"}},
		{name: "ack before the hole", ack: 100 + 3, want: []string{"f:aaaa"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Stream
			s.Init(Limits{}, nil, nil)
			r := &recorder{frames: true}
			feed(&s, r, []seg{{seq: 100, data: a}, {seq: 112, data: c}}) // b (106..112) missing
			s.Acked(tt.ack, r)
			if diff := cmp.Diff(tt.want, r.events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			// The late segment fills the hole when nothing was given up.
			feed(&s, r, []seg{{seq: 106, data: b}})
			if len(tt.want) == 1 && !cmp.Equal(r.events, []string{"f:aaaa", "f:bbbb", "f:cccc"}) {
				t.Errorf("after the late segment: %v", r.events)
			}
		})
	}
}
