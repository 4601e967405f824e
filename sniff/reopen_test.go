package sniff

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeSource returns frame until it is told to fail, then fails with err
// once and times out afterwards, as a socket whose interface went does.
type fakeSource struct {
	frame  []byte
	err    error // returned by the next ReadFrame when set
	st     Stats
	closed bool
}

func (f *fakeSource) ReadFrame() ([]byte, time.Time, LinkType, error) {
	if f.closed {
		return nil, time.Time{}, 0, &net.OpError{Op: "read", Err: net.ErrClosed}
	}
	if err := f.err; err != nil {
		f.err = &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}
		return nil, time.Time{}, 0, err
	}
	f.st.Frames++
	f.st.Bytes += uint64(len(f.frame))
	return f.frame, time.Time{}, LinkEthernet, nil
}

func (f *fakeSource) Stats() Stats { return f.st }
func (f *fakeSource) Close() error { f.closed = true; return nil }

func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestReopenerFake walks a Reopener through a loss, failed and successful
// reopen attempts, on a fake clock, and checks what ReadFrame returns and
// what Stats count at each step.
func TestReopenerFake(t *testing.T) {
	clock := time.Unix(1000, 0)
	now := func() time.Time { return clock }
	first := &fakeSource{frame: make([]byte, 10), st: Stats{KernelDrops: 3}}
	second := &fakeSource{frame: make([]byte, 20), st: Stats{KernelDrops: 1}}
	var opens int
	openErr := errors.New("no such interface")
	open := func() (Source, error) {
		opens++
		if opens == 1 {
			return nil, openErr
		}
		return second, nil
	}
	var lost []error
	var back []time.Duration
	r := newReopener(first, open, time.Millisecond, ReopenConfig{
		Retry:  time.Second,
		OnLost: func(err error) { lost = append(lost, err) },
		OnBack: func(d time.Duration) { back = append(back, d) },
	}, now)

	if _, _, _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	down := errors.New("network is down")
	first.err = down
	if _, _, _, err := r.ReadFrame(); !timedOut(err) {
		t.Fatalf("read on loss: %v, want a timeout", err)
	}
	if !first.closed || len(lost) != 1 || lost[0] != down {
		t.Fatalf("after the loss: socket closed %v, OnLost %v", first.closed, lost)
	}
	// Before Retry passes, no attempt; reads time out.
	clock = clock.Add(500 * time.Millisecond)
	if _, _, _, err := r.ReadFrame(); !timedOut(err) || opens != 0 {
		t.Fatalf("read before Retry: %v after %d opens, want a timeout and none", err, opens)
	}
	want := Stats{Frames: 1, Bytes: 10, KernelDrops: 3, Down: 500 * time.Millisecond, Lost: true}
	if diff := cmp.Diff(want, r.Stats()); diff != "" {
		t.Errorf("Stats while lost (-want +got):\n%s", diff)
	}
	// The first attempt fails, the next one a Retry later succeeds.
	clock = clock.Add(600 * time.Millisecond)
	if _, _, _, err := r.ReadFrame(); !timedOut(err) || opens != 1 {
		t.Fatalf("read at the first attempt: %v after %d opens", err, opens)
	}
	clock = clock.Add(time.Second)
	data, _, _, err := r.ReadFrame()
	if err != nil || len(data) != 20 || opens != 2 {
		t.Fatalf("read at the second attempt: %d bytes, %v after %d opens, want a 20-byte frame", len(data), err, opens)
	}
	if diff := cmp.Diff([]time.Duration{2100 * time.Millisecond}, back); diff != "" {
		t.Errorf("OnBack gaps (-want +got):\n%s", diff)
	}
	want = Stats{Frames: 2, Bytes: 30, KernelDrops: 4, Reopens: 1, Down: 2100 * time.Millisecond}
	if diff := cmp.Diff(want, r.Stats()); diff != "" {
		t.Errorf("Stats after the reopen (-want +got):\n%s", diff)
	}

	if allocs := testing.AllocsPerRun(100, func() { r.ReadFrame() }); allocs != 0 {
		t.Errorf("ReadFrame allocates %v times per frame", allocs)
	}

	if err := r.Close(); err != nil || !second.closed {
		t.Fatalf("Close: %v, socket closed %v", err, second.closed)
	}
	if _, _, _, err := r.ReadFrame(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: %v, want net.ErrClosed", err)
	}
	if len(lost) != 1 {
		t.Errorf("Close was reported as a loss: %v", lost)
	}
	if err := r.Close(); err == nil {
		t.Error("second Close: no error")
	}
}

// TestReopenerCloseWhileLost: Close ends a ReadFrame waiting for the next
// attempt at once, not after the wait.
func TestReopenerCloseWhileLost(t *testing.T) {
	first := &fakeSource{err: errors.New("network is down")}
	r := newReopener(first, func() (Source, error) { return nil, errors.New("gone") }, time.Hour, ReopenConfig{Retry: time.Hour}, time.Now)
	if _, _, _, err := r.ReadFrame(); !timedOut(err) {
		t.Fatalf("read on loss: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, _, err := r.ReadFrame()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	r.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read ended by Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the waiting ReadFrame")
	}
}

// BenchmarkReopenerReadFrame measures what the Reopener adds to a read.
func BenchmarkReopenerReadFrame(b *testing.B) {
	src := &fakeSource{frame: make([]byte, 100)}
	r := newReopener(src, func() (Source, error) { return nil, errors.New("unused") }, time.Second, ReopenConfig{}, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := r.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFakeSourceReadFrame is the same read without the Reopener.
func BenchmarkFakeSourceReadFrame(b *testing.B) {
	var src Source = &fakeSource{frame: make([]byte, 100)}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := src.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}
