package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/zktap/zktap/sniff"
	"github.com/zktap/zktap/sniff/pcapsrc"
)

// CaptureOptions says where packets come from.
type CaptureOptions struct {
	Iface    string // live capture on this interface
	Pcap     string // or read this capture file ("-" = stdin)
	ZKPorts  []uint16
	ZABPorts []uint16
	FLEPorts []uint16
	SnapLen  int
	RingSize int  // bytes of the TPACKET_V3 ring, in 1 MiB blocks
	NoRing   bool // one recvmsg per frame instead of the ring
	// RingTimeout is how long the kernel holds a ring block that is not
	// full (0: sniff's default).
	RingTimeout time.Duration
	// Logger hears when the live capture is lost and when it is back;
	// nil discards.
	Logger *slog.Logger
}

// source is an opened packet source and what the app needs to know of it.
type source struct {
	sniff.Source
	live     bool
	progress func() (read, total int64) // nil for live capture
}

func openSource(o CaptureOptions) (*source, error) {
	if o.Pcap != "" {
		s, err := pcapsrc.OpenFile(o.Pcap)
		if err != nil {
			return nil, err
		}
		return &source{Source: s, progress: s.Progress}, nil
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The interface may be deleted and created again (a pod's veth, a
	// restarted VM's tap): keep running and reopen it. The first open
	// still fails at once, so a wrong --iface is reported.
	s, err := sniff.OpenReopening(o.Iface, sniff.Config{
		ZKPorts: o.ZKPorts, ZABPorts: o.ZABPorts, FLEPorts: o.FLEPorts,
		// A read that times out before the kernel hands over a block
		// that is not full would only wake the reader for nothing.
		SnapLen: o.SnapLen, ReadTimeout: max(200*time.Millisecond, o.RingTimeout+50*time.Millisecond),
		// Without the ring, bursts (a 1 MB reply arrives as 64 KB loopback
		// super-packets) overflow the default 208 KB socket buffer.
		RecvBuffer:    64 << 20,
		NoRing:        o.NoRing,
		RingBlockSize: sniff.DefaultRingBlockSize,
		RingBlocks:    max(2, o.RingSize/sniff.DefaultRingBlockSize),
		RingTimeout:   o.RingTimeout,
	}, sniff.ReopenConfig{
		OnLost: func(err error) {
			logger.Warn("capture lost; reopening every second", "iface", o.Iface, "err", err)
		},
		OnBack: func(down time.Duration) {
			logger.Info("capture back", "iface", o.Iface, "down", down.Round(time.Millisecond))
		},
	})
	if err != nil {
		return nil, err
	}
	return &source{Source: s, live: true}, nil
}

// showProgress draws "read/total" on stderr while a long file is decoded,
// only when stderr is a terminal, and erases it when ctx ends.
func showProgress(ctx context.Context, s *source, stderr io.Writer) {
	f, ok := stderr.(*os.File)
	if s.progress == nil || !ok || !term.IsTerminal(int(f.Fd())) {
		return
	}
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				fmt.Fprint(stderr, "\r\x1b[K")
				return
			case <-t.C:
				read, total := s.progress()
				if total > 0 {
					fmt.Fprintf(stderr, "\r\x1b[Kreading capture: %.1f / %.1f MB (%.0f%%)", float64(read)/1e6, float64(total)/1e6, 100*float64(read)/float64(total))
				} else {
					fmt.Fprintf(stderr, "\r\x1b[Kreading capture: %.1f MB", float64(read)/1e6)
				}
			}
		}
	}()
}
