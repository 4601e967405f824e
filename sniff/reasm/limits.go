package reasm

// Default bounds, used where a Limits or Budget field is zero.
const (
	// DefaultMaxBuffered is one maximum-size ZooKeeper packet (jute.maxbuffer,
	// 1 MiB) plus room for the segments that follow it.
	DefaultMaxBuffered = 1<<20 + 64<<10
	// DefaultMaxOutOfOrder is the number of disjoint out-of-order ranges one
	// direction may hold.
	DefaultMaxOutOfOrder = 64
	// DefaultBudget caps the buffer memory of all streams of one worker.
	DefaultBudget = 64 << 20
)

// Buffers are released when they become empty and have grown above
// shrinkAbove, so an idle connection does not pin the memory of the one large
// message it once carried. Below it they are kept to avoid reallocating on
// every partial frame, unless the budget is more than half used: then many
// idle connections would otherwise pin it. Minimum-size buffers, the common
// case (a frame split across two segments), are always released when empty,
// to the Budget's spares: 10 000 idle connections whose last frame came
// split would otherwise pin 2 × 4 KiB each (80 MB) under the default budget,
// and the next stream with a partial frame takes a spare without allocating.
const (
	minBuffer   = 4 << 10
	shrinkAbove = 64 << 10
	// maxSpare bounds the spares of one Budget (1 MiB): more than the
	// streams of one worker that hold a partial frame at the same moment.
	maxSpare = 256
)

// Limits bounds what one direction holds. Zero fields take their defaults.
type Limits struct {
	// MaxBuffered caps the bytes held for one direction: unconsumed bytes
	// plus out-of-order bytes, measured from the first unconsumed byte to the
	// end of the furthest held byte (holes count).
	MaxBuffered int
	// MaxOutOfOrder caps the disjoint out-of-order ranges held for one
	// direction. Adjacent or overlapping segments merge into one range.
	MaxOutOfOrder int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBuffered <= 0 {
		l.MaxBuffered = DefaultMaxBuffered
	}
	if l.MaxOutOfOrder <= 0 {
		l.MaxOutOfOrder = DefaultMaxOutOfOrder
	}
	return l
}

// Budget caps the buffer memory (capacity, not length) of all streams that
// share it. It belongs to one worker goroutine and is not safe for concurrent
// use. The zero value has a cap of DefaultBudget.
type Budget struct {
	// Max is the cap in bytes; zero means DefaultBudget.
	Max  int64
	used int64
	// spare holds empty minBuffer-sized buffers released by idle streams,
	// at most maxSpare; they are not charged to used.
	spare [][]byte
}

// alloc returns a buffer of size bytes, a spare one when it has that size.
// Its contents are undefined.
func (b *Budget) alloc(size int) []byte {
	if b != nil && size == minBuffer && len(b.spare) > 0 {
		buf := b.spare[len(b.spare)-1]
		b.spare = b.spare[:len(b.spare)-1]
		return buf
	}
	return make([]byte, size)
}

// recycle keeps buf, which its stream no longer uses, as a spare if it has
// the minimum size and there is room; otherwise it is left to the garbage
// collector.
func (b *Budget) recycle(buf []byte) {
	if b != nil && len(buf) == minBuffer && len(b.spare) < maxSpare {
		b.spare = append(b.spare, buf)
	}
}

// Used returns the bytes currently charged to the budget.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used
}

// take charges n bytes if they fit under the cap.
func (b *Budget) take(n int) bool {
	if b == nil {
		return true
	}
	limit := b.Max
	if limit <= 0 {
		limit = DefaultBudget
	}
	if b.used+int64(n) > limit {
		return false
	}
	b.used += int64(n)
	return true
}

// short reports whether more than half of the budget is in use, when
// streams should release the empty buffers they keep for reuse.
func (b *Budget) short() bool {
	if b == nil {
		return false
	}
	limit := b.Max
	if limit <= 0 {
		limit = DefaultBudget
	}
	return 2*b.used > limit
}

func (b *Budget) give(n int) {
	if b != nil {
		b.used -= int64(n)
	}
}

// Stats counts what streams did. A worker can share one Stats among all its
// streams (see Stream.Init); it is not safe for concurrent use, so a
// collector reads a copy handed over by the worker.
type Stats struct {
	Delivered     uint64 // bytes consumed by the consumer
	Retransmitted uint64 // bytes trimmed because they were already delivered, skipped, held or given up
	OutOfOrder    uint64 // segments held because they arrived ahead of a hole
	Gaps          uint64 // holes declared lost (Consumer.Gap calls)
	Lost          uint64 // bytes dropped: in declared holes, or buffered and dropped on overflow
	Overflows     uint64 // times a bound (MaxBuffered, MaxOutOfOrder, Budget) was hit
	Skipped       uint64 // bytes discarded because the consumer asked to skip them
	Truncated     uint64 // segments the capture cut short (WireLen > len(Payload))
}

// Add adds o to s, for merging per-stream or per-worker counts.
func (s *Stats) Add(o Stats) {
	s.Delivered += o.Delivered
	s.Retransmitted += o.Retransmitted
	s.OutOfOrder += o.OutOfOrder
	s.Gaps += o.Gaps
	s.Lost += o.Lost
	s.Overflows += o.Overflows
	s.Skipped += o.Skipped
	s.Truncated += o.Truncated
}
