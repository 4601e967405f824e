//go:build linux

package sniff

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/zktap/zktap/internal/vethtest"
)

// knock sends a SYN to the peer's port; nothing listens there, so the
// peer answers with a RST: two frames on the host end.
func knock(v *vethtest.Pair, port uint16) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", v.Peer, port), time.Second)
	if err == nil {
		c.Close()
	}
}

// TestLiveInterfaceDeleted shows what each read path returns when the
// captured interface is deleted: an error, within a read timeout or two,
// neither blocking for good nor spinning on timeouts.
func TestLiveInterfaceDeleted(t *testing.T) {
	forEachPath(t, func(t *testing.T, noRing bool) {
		id := 0
		if noRing {
			id = 1
		}
		v := vethtest.New(t, "zkf", 231, id)
		const port = 2181
		l, err := OpenLive(v.Host, Config{ZKPorts: []uint16{port}, NoRing: noRing, ReadTimeout: 100 * time.Millisecond, RingBlocks: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		knock(v, port)
		got := 0
		deadline := time.Now().Add(3 * time.Second)
		for got < 2 && time.Now().Before(deadline) {
			if _, _, _, err := l.ReadFrame(); err == nil {
				got++
			}
		}
		if got < 2 {
			t.Fatalf("read %d frames of the SYN and RST, want 2", got)
		}
		v.Remove(t)
		// The ring just stays empty: reads time out and the socket's
		// pending error says why. recvmsg returns the error itself.
		timeouts := 0
		start := time.Now()
		var rerr error
		for time.Since(start) < 2*time.Second {
			_, _, _, err := l.ReadFrame()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				timeouts++
				if rerr = l.lostErr(); rerr != nil {
					break
				}
				continue
			}
			rerr = err
			break
		}
		if !errors.Is(rerr, syscall.ENETDOWN) {
			t.Fatalf("after the interface was deleted: %v after %v and %d timeouts, want ENETDOWN", rerr, time.Since(start), timeouts)
		}
		if noRing && timeouts != 0 || !noRing && timeouts != 1 {
			t.Errorf("%d timeouts before ENETDOWN, want %d", timeouts, map[bool]int{true: 0, false: 1}[noRing])
		}
		// Afterwards the socket neither blocks for good nor spins: reads
		// return timeouts at the read timeout's pace.
		start, n := time.Now(), 0
		for time.Since(start) < 500*time.Millisecond {
			_, _, _, err := l.ReadFrame()
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("read %d after ENETDOWN: %v, want a timeout", n, err)
			}
			n++
		}
		if n > 7 {
			t.Errorf("%d reads returned within 500ms with a 100ms read timeout: spinning", n)
		}
		if err := l.lostErr(); err != nil {
			t.Errorf("pending error not cleared: %v", err)
		}
	})
}

// TestReopenerVethRecreated deletes the captured veth and creates it again
// under the same name: the Reopener reports the loss, returns timeouts
// meanwhile, opens the new interface and captures its traffic, and its
// Stats add up both sockets and count the reopen and the gap.
func TestReopenerVethRecreated(t *testing.T) {
	forEachPath(t, func(t *testing.T, noRing bool) {
		id := 2
		if noRing {
			id = 3
		}
		v := vethtest.New(t, "zkf", 231, id)
		const port = 2181
		lost := make(chan error, 4)
		back := make(chan time.Duration, 4)
		r, err := OpenReopening(v.Host, Config{ZKPorts: []uint16{port}, NoRing: noRing, ReadTimeout: 100 * time.Millisecond, RingBlocks: 2},
			ReopenConfig{Retry: 200 * time.Millisecond, OnLost: func(err error) { lost <- err }, OnBack: func(d time.Duration) { back <- d }})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// readFrames reads until it has want frames, for at most 3s, or
		// for all of it if want is 0.
		readFrames := func(want int) {
			t.Helper()
			got := 0
			for deadline := time.Now().Add(3 * time.Second); (want == 0 || got < want) && time.Now().Before(deadline); {
				_, _, _, err := r.ReadFrame()
				var ne net.Error
				switch {
				case err == nil:
					got++
				case errors.As(err, &ne) && ne.Timeout():
				default:
					t.Fatalf("ReadFrame: %v, want frames or timeouts only", err)
				}
			}
			if got != want {
				t.Fatalf("read %d frames, want %d", got, want)
			}
		}
		knock(v, port)
		readFrames(2)

		v.Remove(t)
		readFrames(0) // 3s of timeouts only, however the interface went
		select {
		case err := <-lost:
			if !errors.Is(err, syscall.ENETDOWN) {
				t.Errorf("OnLost(%v), want ENETDOWN", err)
			}
		default:
			t.Fatal("OnLost was not called")
		}
		if st := r.Stats(); !st.Lost || st.Down < 2*time.Second || st.Reopens != 0 {
			t.Errorf("while lost: Stats %+v, want Lost, Down >= 2s, no reopen", st)
		}

		v.Create(t)
		// Traffic before the reopen is not seen: wait for it.
		var gap time.Duration
		for deadline := time.Now().Add(3 * time.Second); gap == 0; {
			if time.Now().After(deadline) {
				t.Fatal("OnBack was not called within 3s of the interface's return")
			}
			if _, _, _, err := r.ReadFrame(); err == nil {
				t.Fatal("a frame before any traffic")
			}
			select {
			case gap = <-back:
			default:
			}
		}
		knock(v, port)
		knock(v, port)
		readFrames(4)
		st := r.Stats()
		if st.Lost || st.Reopens != 1 || st.Down != gap || gap < 3*time.Second || st.Frames != 6 {
			t.Errorf("after the reopen: Stats %+v and gap %v, want not Lost, 1 reopen, Down = gap >= 3s, 6 frames", st, gap)
		}
		if len(lost) != 0 || len(back) != 0 {
			t.Errorf("%d more losses and %d more reopens reported", len(lost), len(back))
		}
	})
}

// TestReopenerLinkDownUp: an interface set down and up again (not deleted)
// is a loss too; while it is down no reopen is counted, however many
// attempts are made, and the capture comes back when it is up.
func TestReopenerLinkDownUp(t *testing.T) {
	v := vethtest.New(t, "zkf", 231, 4)
	const port = 2181
	var losses, backs int
	r, err := OpenReopening(v.Host, Config{ZKPorts: []uint16{port}, ReadTimeout: 50 * time.Millisecond, RingBlocks: 2},
		ReopenConfig{Retry: 100 * time.Millisecond, OnLost: func(error) { losses++ }, OnBack: func(time.Duration) { backs++ }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	readFor := func(d time.Duration) (frames int) {
		for deadline := time.Now().Add(d); time.Now().Before(deadline); {
			_, _, _, err := r.ReadFrame()
			var ne net.Error
			switch {
			case err == nil:
				frames++
			case errors.As(err, &ne) && ne.Timeout():
			default:
				t.Fatalf("ReadFrame: %v", err)
			}
		}
		return frames
	}
	vethtest.IP(t, "link", "set", v.Host, "down")
	readFor(time.Second) // ten retries while down
	if st := r.Stats(); losses != 1 || backs != 0 || !st.Lost || st.Reopens != 0 {
		t.Fatalf("while down: %d losses, %d reopens reported, Stats %+v; want 1 loss, no reopen", losses, backs, st)
	}
	vethtest.IP(t, "link", "set", v.Host, "up")
	vethtest.IP(t, "-n", v.NS, "link", "set", v.PeerIface, "up")
	for deadline := time.Now().Add(3 * time.Second); backs == 0 && time.Now().Before(deadline); {
		readFor(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the peer's carrier comes up
	go knock(v, port)
	if n := readFor(time.Second); n != 2 {
		t.Errorf("read %d frames after the link came up, want the SYN and RST", n)
	}
	if st := r.Stats(); losses != 1 || backs != 1 || st.Lost || st.Reopens != 1 {
		t.Errorf("after up: %d losses, %d reopens reported, Stats %+v; want 1 and 1", losses, backs, st)
	}
}
