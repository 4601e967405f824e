package sniff

import "time"

// Config configures live capture.
type Config struct {
	// ZKPorts, ZABPorts and FLEPorts are the client, quorum and election
	// ports. The kernel filter accepts TCP to or from any of them; together
	// they may hold at most MaxFilterPorts distinct ports.
	ZKPorts, ZABPorts, FLEPorts []uint16
	// SnapLen is the largest frame returned; longer frames are cut.
	// 0 means DefaultSnapLen.
	SnapLen int
	// ReadTimeout bounds how long a blocked ReadFrame waits before it checks
	// whether the Live was closed. 0 means 250ms.
	ReadTimeout time.Duration
	// RecvBuffer is the socket receive buffer in bytes; 0 keeps the kernel
	// default. A larger buffer absorbs bursts that would otherwise be
	// counted as KernelDrops.
	RecvBuffer int
}

func (c Config) ports() []uint16 {
	p := make([]uint16, 0, len(c.ZKPorts)+len(c.ZABPorts)+len(c.FLEPorts))
	p = append(p, c.ZKPorts...)
	p = append(p, c.ZABPorts...)
	return append(p, c.FLEPorts...)
}

func (c Config) withDefaults() Config {
	if c.SnapLen <= 0 {
		c.SnapLen = DefaultSnapLen
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 250 * time.Millisecond
	}
	return c
}
