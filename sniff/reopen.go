package sniff

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// ReopenConfig configures a Reopener.
type ReopenConfig struct {
	// Retry is the time between attempts to open a lost capture again.
	// 0 means 1s.
	Retry time.Duration
	// OnLost is called when the capture is lost, with the error that ended
	// it; OnBack when it is open again, with how long it was lost. Both run
	// on the goroutine calling ReadFrame and must not block for long. Either
	// may be nil.
	OnLost func(err error)
	OnBack func(down time.Duration)
}

// Reopener is a live Source that outlives its interface: when reading fails
// for any reason but a timeout or Close (the interface was deleted or went
// down), it closes the socket and opens the interface again every
// ReopenConfig.Retry until that succeeds. Meanwhile ReadFrame returns
// timeout errors at the usual pace, so the caller keeps flushing and ageing
// its flows. Stats add up the counters of every socket and count the
// reopens and the time without a capture.
//
// ReadFrame must be called from one goroutine at a time; Stats and Close
// are safe for concurrent use. The steady-state read does not allocate.
type Reopener struct {
	open    func() (Source, error)
	timeout time.Duration // how long ReadFrame waits while the capture is lost
	cfg     ReopenConfig
	now     func() time.Time
	idle    error // the timeout error returned while lost, built once
	done    chan struct{}
	timer   *time.Timer

	// cur is replaced only by the reading goroutine, under mu; that
	// goroutine reads it without the lock.
	cur     Source
	nextTry time.Time // reader only

	mu        sync.Mutex
	base      Stats // counters of the sockets already closed
	reopens   uint64
	down      time.Duration
	downSince time.Time // zero while the capture is open
	closed    bool
}

// OpenReopening opens a live capture on iface as OpenLive does, and returns
// it wrapped in a Reopener. The first open is not retried: its error is
// returned at once, so that a wrong interface name fails fast.
func OpenReopening(iface string, cfg Config, rc ReopenConfig) (*Reopener, error) {
	cfg = cfg.withDefaults()
	open := func() (Source, error) {
		if err := interfaceUp(iface); err != nil {
			return nil, err
		}
		l, err := OpenLive(iface, cfg)
		if err != nil {
			return nil, err // a nil *Live must not become a non-nil Source
		}
		return l, nil
	}
	src, err := OpenLive(iface, cfg)
	if err != nil {
		return nil, err
	}
	return newReopener(src, open, cfg.ReadTimeout, rc, time.Now), nil
}

// interfaceUp returns an error unless iface exists and is administratively
// up: binding to a down interface succeeds but delivers nothing, and its
// socket reports ENETDOWN at once, which would count a reopen every Retry.
func interfaceUp(iface string) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	if ifi.Flags&net.FlagUp == 0 {
		return &net.OpError{Op: "open", Net: "packet", Err: errors.New("interface " + iface + " is down")}
	}
	return nil
}

func newReopener(src Source, open func() (Source, error), timeout time.Duration, rc ReopenConfig, now func() time.Time) *Reopener {
	if rc.Retry <= 0 {
		rc.Retry = time.Second
	}
	if timeout <= 0 {
		timeout = 250 * time.Millisecond
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Reopener{
		open: open, timeout: timeout, cfg: rc, now: now, cur: src,
		idle:  &net.OpError{Op: "read", Net: "packet", Err: os.ErrDeadlineExceeded},
		done:  make(chan struct{}),
		timer: t,
	}
}

// lostReporter is implemented by sources whose loss shows only when asked:
// a TPACKET_V3 ring bound to a deleted interface just stays empty, and the
// socket's pending error (ENETDOWN) says why.
type lostReporter interface {
	lostErr() error
}

// ReadFrame implements Source. While the capture is lost it returns, every
// read timeout, an error whose Timeout() is true; after Close it returns
// net.ErrClosed.
func (r *Reopener) ReadFrame() ([]byte, time.Time, LinkType, error) {
	for {
		if r.cur == nil {
			if err := r.reopen(); err != nil {
				return nil, time.Time{}, 0, err
			}
			if r.cur == nil {
				return nil, time.Time{}, 0, r.idle
			}
		}
		data, ts, link, err := r.cur.ReadFrame()
		if err == nil {
			return data, ts, link, nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			lr, ok := r.cur.(lostReporter)
			if !ok {
				return nil, time.Time{}, 0, err
			}
			lerr := lr.lostErr()
			if lerr == nil {
				return nil, time.Time{}, 0, err
			}
			err = lerr
		}
		if r.isClosed() {
			return nil, time.Time{}, 0, err
		}
		r.lose(err)
		if r.cfg.OnLost != nil {
			r.cfg.OnLost(err)
		}
		return nil, time.Time{}, 0, r.idle
	}
}

func (r *Reopener) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// lose closes the failed socket and keeps its counters.
func (r *Reopener) lose(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.cur.Close()
	r.base.add(r.cur.Stats())
	r.cur = nil
	r.downSince = r.now()
	r.nextTry = r.downSince.Add(r.cfg.Retry)
}

// reopen waits until the next attempt is due (at most one read timeout) and
// makes it. It returns an error only when the Reopener is closed; r.cur
// stays nil if the attempt failed or was not due yet.
func (r *Reopener) reopen() error {
	if d := r.nextTry.Sub(r.now()); d > 0 {
		r.timer.Reset(min(d, r.timeout))
		select {
		case <-r.timer.C:
		case <-r.done:
			r.timer.Stop()
			return r.idleClosed()
		}
		if r.now().Before(r.nextTry) {
			return nil
		}
	}
	if r.isClosed() {
		return r.idleClosed()
	}
	src, err := r.open()
	now := r.now()
	r.nextTry = now.Add(r.cfg.Retry)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = src.Close()
		return r.idleClosed()
	}
	gap := now.Sub(r.downSince)
	r.cur = src
	r.reopens++
	r.down += gap
	r.downSince = time.Time{}
	r.mu.Unlock()
	if r.cfg.OnBack != nil {
		r.cfg.OnBack(gap)
	}
	return nil
}

func (r *Reopener) idleClosed() error {
	return &net.OpError{Op: "read", Net: "packet", Err: net.ErrClosed}
}

// Stats implements Source: the counters of every socket opened so far, the
// number of reopens and the time spent without a capture.
func (r *Reopener) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.base
	if r.cur != nil {
		s.add(r.cur.Stats())
	}
	s.Reopens = r.reopens
	s.Down = r.down
	if !r.downSince.IsZero() {
		s.Lost = true
		s.Down += r.now().Sub(r.downSince)
	}
	return s
}

// Close implements Source: it closes the current socket, which unblocks a
// pending ReadFrame, and stops reopening. Calling it again returns an error.
func (r *Reopener) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return r.idleClosed()
	}
	r.closed = true
	close(r.done)
	if r.cur != nil {
		return r.cur.Close()
	}
	return nil
}

// add accumulates the counters of o into s.
func (s *Stats) add(o Stats) {
	s.Frames += o.Frames
	s.Bytes += o.Bytes
	s.KernelDrops += o.KernelDrops
	s.KernelFreezes += o.KernelFreezes
}
