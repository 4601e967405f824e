package pcapsrc

import (
	"io"
)

// Reading ahead (Source.ReadAhead): a goroutine reads a classic pcap file
// into a small ring of chunks while ReadFrame parses the chunk before, so
// that the read system calls, and their copy of the file out of the page
// cache, run on another core. The chunks are handed over, not copied: each
// has aheadRoom bytes of room before its data, where the bytes of a record
// cut by the end of the chunk before are moved, as fill moves them to the
// front of its buffer.
const (
	// aheadChunks is how many chunks the goroutine fills at most: one that
	// ReadFrame parses, one ready and one being read. Reading a chunk takes
	// a fifteenth of the time parsing and decoding it does, so one ready
	// is enough; the third covers the goroutine waiting for a core.
	aheadChunks = 3
	// aheadRoom is the room before a chunk's data for the cut record's
	// bytes. A record whose bytes left over are longer (a loopback
	// capture's 64 KiB super-packets fit) is gathered in a buffer of its
	// own, as fill gathers a record longer than a chunk.
	aheadRoom = 64<<10 + recordHeaderLen
)

// aheadChunk is one chunk of the file. The goroutine owns it from the free
// channel to the full one, the reader from then until it gives it back.
type aheadChunk struct {
	b   []byte // room bytes of room, then the chunk
	n   int    // bytes read into b[room:]
	err error  // what ended reading the file, after these n bytes
}

// readAhead reads r on its own goroutine into aheadChunks chunks, which it
// hands over in file order. The chunk that holds the error that ended
// reading (io.EOF at the end) is the last; the goroutine then returns.
// take and give are called by the reading goroutine only; stop may be
// called by any, once.
type readAhead struct {
	r    io.Reader
	size int              // bytes of a chunk's data
	room int              // bytes of room before them (aheadRoom)
	free chan *aheadChunk // chunks given back, for the goroutine to fill
	full chan *aheadChunk // filled chunks, in file order
	done chan struct{}    // closed by stop: the goroutine returns
	gone chan struct{}    // closed when the goroutine has returned
	err  error            // the error that ended reading, once taken
}

// newReadAhead starts reading r ahead in chunks of size bytes, each with
// room bytes of room before them.
func newReadAhead(r io.Reader, size, room int) *readAhead {
	a := &readAhead{
		r:    r,
		size: size,
		room: room,
		free: make(chan *aheadChunk, aheadChunks),
		full: make(chan *aheadChunk, aheadChunks),
		done: make(chan struct{}),
		gone: make(chan struct{}),
	}
	go a.run()
	return a
}

// run fills chunks, allocating them as it first needs them (a file that
// ends in the first chunk costs one), until reading fails or ends, or
// stop.
func (a *readAhead) run() {
	defer close(a.gone)
	made, empty := 0, 0
	for {
		var c *aheadChunk
		if made < aheadChunks {
			c = &aheadChunk{b: make([]byte, a.room+a.size)}
			made++
		} else {
			select {
			case c = <-a.free:
			case <-a.done:
				return
			}
		}
		// Fill the chunk: a file gives it in one read; what has no
		// size known (gzip) in several.
		b := c.b[a.room:]
		c.n, c.err = 0, nil
		for c.n < len(b) && c.err == nil {
			m, err := a.r.Read(b[c.n:])
			c.n += m
			switch {
			case err != nil:
				c.err = err
			case m == 0:
				// As bufio: a reader that returns nothing forever
				// fails instead of spinning.
				if empty++; empty == maxEmptyReads {
					c.err = io.ErrNoProgress
				}
			default:
				empty = 0
			}
		}
		select {
		case a.full <- c:
		case <-a.done:
			return
		}
		if c.err != nil {
			return
		}
	}
}

// take returns the next chunk, waiting for it. After the chunk that holds
// the error that ended reading it returns that error, and errClosed after
// stop.
func (a *readAhead) take() (*aheadChunk, error) {
	if a.err != nil {
		return nil, a.err
	}
	select {
	case c := <-a.full:
		if c.err != nil {
			a.err = c.err
		}
		return c, nil
	case <-a.done:
		return nil, errClosed
	}
}

// give hands c back to the goroutine; nil is ignored. The reader must
// hold no slice of c's bytes after it.
func (a *readAhead) give(c *aheadChunk) {
	if c == nil {
		return
	}
	// Never blocks: free has room for every chunk there is.
	a.free <- c
}

// stop ends the goroutine and waits for it: after stop returns nothing
// reads r any more. A read in progress is waited for.
func (a *readAhead) stop() {
	close(a.done)
	<-a.gone
}
