package tap

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/render"
)

// Defaults for the zero fields of Config.
const (
	DefaultMaxSubscribers = 16
	DefaultBufferMessages = 1024
	DefaultBufferBytes    = 4 << 20
	minBufferBytes        = 64 << 10
)

// Config sizes a Tap. Zero fields take the defaults above.
type Config struct {
	MaxSubscribers int // concurrent subscribers; more get 503
	BufferMessages int // per subscriber: messages waiting to be written
	// BufferBytes bounds the rendered bytes waiting per subscriber, so a
	// burst of long paths cannot make a buffer huge (at least 64 KiB).
	BufferBytes int
	// WriteTimeout, when positive, ends a subscriber whose client does not
	// accept a batch within it. Zero waits as long as the client stays
	// connected (its messages are dropped meanwhile, not queued).
	WriteTimeout time.Duration
	// Location is the time zone of text lines; nil means UTC.
	Location *time.Location
}

// Stats are the tap's counters, for the exporter.
type Stats struct {
	Subscribers int    // connected now
	Sent        uint64 // messages written to subscribers, summed over subscribers
	Dropped     uint64 // messages dropped because a subscriber's buffer was full
	Rejected    uint64 // subscriptions refused at MaxSubscribers
}

// Tap fans messages out to subscribers. Its methods are safe for
// concurrent use.
type Tap struct {
	cfg Config

	active atomic.Bool
	subs   atomic.Pointer[[]*subscriber] // copy on write, under mu

	mu     sync.Mutex
	closed bool
	done   chan struct{}

	sent, dropped, rejected atomic.Uint64

	// scratch holds render buffers for Publish, which runs on many
	// goroutines at once.
	scratch sync.Pool
}

// New returns a Tap sized by cfg.
func New(cfg Config) *Tap {
	if cfg.MaxSubscribers <= 0 {
		cfg.MaxSubscribers = DefaultMaxSubscribers
	}
	if cfg.BufferMessages <= 0 {
		cfg.BufferMessages = DefaultBufferMessages
	}
	if cfg.BufferBytes <= 0 {
		cfg.BufferBytes = DefaultBufferBytes
	}
	cfg.BufferBytes = max(cfg.BufferBytes, minBufferBytes)
	t := &Tap{cfg: cfg, done: make(chan struct{})}
	t.scratch.New = func() any {
		b := make([]byte, 0, 4096)
		return &b
	}
	t.subs.Store(new([]*subscriber))
	return t
}

// Active reports whether anyone subscribes. The pipeline checks it before
// Publish, so an idle tap costs one atomic load per message.
func (t *Tap) Active() bool { return t.active.Load() }

// variants of rendered output: format times ShowText.
const (
	formatJSON = 0
	formatText = 2
	numVariant = 4
)

// maxScratch is the largest render buffer returned to the pool, so one
// huge message does not pin memory for ever.
const maxScratch = 1 << 20

// Publish offers m to every subscriber. It never blocks on a subscriber
// and does not retain m. With no subscriber it returns at once.
func (t *Tap) Publish(m *proto.Message) {
	if !t.active.Load() {
		return
	}
	var lines [numVariant][]byte
	var sp *[]byte
	for _, s := range *t.subs.Load() {
		if !s.filter.Match(m) {
			continue
		}
		v := s.variant
		if lines[v] == nil {
			if sp == nil {
				sp = t.scratch.Get().(*[]byte)
			}
			// Earlier lines stay valid if append moves the buffer: they
			// keep the old array alive.
			start := len(*sp)
			opts := render.Options{ShowText: v&1 == 1, Location: t.cfg.Location}
			if v&formatText != 0 {
				*sp = render.AppendText(*sp, m, opts)
			} else {
				*sp = render.AppendJSON(*sp, m, opts)
			}
			lines[v] = (*sp)[start:]
		}
		if !s.push(lines[v]) {
			t.dropped.Add(1)
		}
	}
	if sp != nil {
		if cap(*sp) <= maxScratch {
			*sp = (*sp)[:0]
			t.scratch.Put(sp)
		}
	}
}

// Stats returns the counters.
func (t *Tap) Stats() Stats {
	return Stats{
		Subscribers: len(*t.subs.Load()),
		Sent:        t.sent.Load(),
		Dropped:     t.dropped.Load(),
		Rejected:    t.rejected.Load(),
	}
}

// Close ends every subscription, including those blocked writing to a
// client, and refuses new ones. It does not wait for handlers to return;
// http.Server.Shutdown does that.
func (t *Tap) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	close(t.done)
	for _, s := range *t.subs.Load() {
		s.abort()
	}
	return nil
}

// subscriber is one connected client.
type subscriber struct {
	filter  render.Filter
	variant int
	abort   func() // unblocks a pending write; called under Tap.mu only

	maxMsgs, maxBytes int
	notify            chan struct{} // capacity 1: "buf has news"

	mu      sync.Mutex
	buf     []byte // rendered lines not yet taken by the writer
	n       int    // lines in buf
	dropped uint64 // since the writer last looked
}

// push copies line into the buffer, or counts a drop when it is full.
func (s *subscriber) push(line []byte) bool {
	s.mu.Lock()
	ok := s.n < s.maxMsgs && len(s.buf)+len(line) <= s.maxBytes
	if ok {
		s.buf = append(s.buf, line...)
		s.n++
	} else {
		s.dropped++
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return ok
}

// take swaps the pending buffer for spare and returns what was pending.
func (s *subscriber) take(spare []byte) (buf []byte, n int, dropped uint64) {
	s.mu.Lock()
	buf, n, dropped = s.buf, s.n, s.dropped
	s.buf, s.n, s.dropped = spare[:0], 0, 0
	s.mu.Unlock()
	return buf, n, dropped
}

func (t *Tap) subscribe(s *subscriber) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.subs.Load()
	if t.closed || len(old) >= t.cfg.MaxSubscribers {
		return false
	}
	subs := make([]*subscriber, len(old), len(old)+1)
	copy(subs, old)
	subs = append(subs, s)
	t.subs.Store(&subs)
	t.active.Store(true)
	return true
}

func (t *Tap) unsubscribe(s *subscriber) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.subs.Load()
	subs := make([]*subscriber, 0, len(old))
	for _, o := range old {
		if o != s {
			subs = append(subs, o)
		}
	}
	t.subs.Store(&subs)
	t.active.Store(len(subs) > 0)
}

// ServeDump is ServeHTTP under the name the exporter's DumpSource
// interface uses.
func (t *Tap) ServeDump(w http.ResponseWriter, r *http.Request) { t.ServeHTTP(w, r) }

// ServeHTTP streams messages to the client until it goes away or the tap
// closes. See the package doc for the query parameters.
func (t *Tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	f, err := render.ParseFilter(q)
	errs := []error{err}
	variant := formatJSON
	switch v := q.Get("format"); v {
	case "", "json":
	case "text":
		variant = formatText
	default:
		errs = append(errs, fmt.Errorf("format: %q is not json or text", v))
	}
	if v := q.Get("show_text"); v != "" {
		b, perr := strconv.ParseBool(v)
		if perr != nil {
			errs = append(errs, fmt.Errorf("show_text: %q is not a boolean", v))
		} else if b {
			variant |= 1
		}
	}
	if err := errors.Join(errs...); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	rc := http.NewResponseController(w)
	s := &subscriber{
		filter:   f,
		variant:  variant,
		abort:    func() { _ = rc.SetWriteDeadline(time.Now()) },
		maxMsgs:  t.cfg.BufferMessages,
		maxBytes: t.cfg.BufferBytes,
		notify:   make(chan struct{}, 1),
		buf:      make([]byte, 0, min(t.cfg.BufferBytes, 64<<10)),
	}
	if !t.subscribe(s) {
		t.rejected.Add(1)
		http.Error(w, "too many dump subscribers, or shutting down", http.StatusServiceUnavailable)
		return
	}
	defer t.unsubscribe(s)

	h := w.Header()
	if variant&formatText != 0 {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/x-ndjson")
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	t.stream(r.Context(), w, rc, s)
}

func (t *Tap) stream(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, s *subscriber) {
	spare := make([]byte, 0, min(t.cfg.BufferBytes, 64<<10))
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.done:
			return
		case <-s.notify:
		}
		buf, n, dropped := s.take(spare)
		select {
		case <-t.done: // Close may have just aborted the connection
			return
		default:
		}
		// Drops happen only while the buffer is full, that is after the
		// lines already in it, so the notice goes after them.
		if dropped > 0 {
			buf = appendDropped(buf, dropped, s.variant&formatText != 0)
		}
		if t.cfg.WriteTimeout > 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
		}
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		t.sent.Add(uint64(n))
		spare = buf
	}
}

func appendDropped(dst []byte, n uint64, text bool) []byte {
	if text {
		dst = append(dst, "# dropped "...)
		dst = strconv.AppendUint(dst, n, 10)
		return append(dst, " messages\n"...)
	}
	dst = append(dst, `{"dropped":`...)
	dst = strconv.AppendUint(dst, n, 10)
	return append(dst, "}\n"...)
}
