//go:build !linux

package sniff

import (
	"fmt"
	"runtime"
	"time"
)

// errUnimplemented is returned by live capture on platforms other than Linux.
var errUnimplemented = fmt.Errorf("sniff: live capture not implemented on %s", runtime.GOOS)

// Live is a live capture; on this platform it cannot be opened.
type Live struct{}

// OpenLive returns an error: live capture needs Linux AF_PACKET sockets.
func OpenLive(iface string, cfg Config) (*Live, error) { return nil, errUnimplemented }

// ReadFrame implements Source.
func (*Live) ReadFrame() ([]byte, time.Time, LinkType, error) {
	return nil, time.Time{}, 0, errUnimplemented
}

// Stats implements Source.
func (*Live) Stats() Stats { return Stats{} }

// Close implements Source.
func (*Live) Close() error { return errUnimplemented }

// LinkType returns the framing of the interface's frames.
func (*Live) LinkType() LinkType { return 0 }
