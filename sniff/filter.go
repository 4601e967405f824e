package sniff

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"golang.org/x/net/bpf"
)

// DefaultSnapLen is the snap length used when none is configured: large
// enough for GRO/TSO super-packets, so nothing zktap decodes is cut off.
const DefaultSnapLen = 262144

// MaxFilterPorts is the largest port set Filter accepts. Classic BPF
// conditional jumps have 8-bit offsets, and each port compare must reach the
// accept instruction past both port chains.
const MaxFilterPorts = 64

// packetOutgoing is PACKET_OUTGOING, the skb packet type of a frame the host
// sent (linux/if_packet.h).
const packetOutgoing = 4

var errNoPorts = errors.New("sniff: filter needs at least one port")

// Filter returns a classic BPF program for Ethernet-framed interfaces
// (including loopback) that accepts TCP segments whose source or destination
// port is in ports, returning DefaultSnapLen bytes of them. It is
// FilterFor(LinkEthernet, ports, dropOutgoing, DefaultSnapLen).
func Filter(ports []uint16, dropOutgoing bool) ([]bpf.RawInstruction, error) {
	return FilterFor(LinkEthernet, ports, dropOutgoing, DefaultSnapLen)
}

// FilterFor returns a classic BPF program that accepts TCP segments whose
// source or destination port is in ports, returning at most snapLen bytes of
// each (snapLen <= 0 means DefaultSnapLen). link is LinkEthernet or LinkRaw,
// the framing the socket sees.
//
// Ethernet frames may carry up to two in-band VLAN tags (802.1Q, 802.1ad or
// 0x9100). On AF_PACKET the kernel usually strips the outer tag into packet
// metadata before the filter runs; such a frame looks untagged and matches
// the untagged path, so no ancillary VLAN test is needed.
//
// IPv4 headers with options are honoured (the port is loaded past the IHL),
// and non-first fragments are rejected since they carry no ports. For IPv6
// only TCP directly after the fixed 40-byte header is matched: segments
// behind extension headers are not accepted.
//
// When dropOutgoing is true the program first rejects frames of packet type
// PACKET_OUTGOING. Use it on loopback, where every packet is otherwise
// delivered twice; never elsewhere, where a local server's replies exist only
// as outgoing frames. The packet type is ancillary data, so that check only
// works in the kernel, not in bpf.NewVM.
func FilterFor(link LinkType, ports []uint16, dropOutgoing bool, snapLen int) ([]bpf.RawInstruction, error) {
	if len(ports) == 0 {
		return nil, errNoPorts
	}
	ports = slices.Clone(ports)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	if len(ports) > MaxFilterPorts {
		return nil, fmt.Errorf("sniff: filter supports at most %d ports, got %d", MaxFilterPorts, len(ports))
	}
	if snapLen <= 0 {
		snapLen = DefaultSnapLen
	}
	snap := uint32(min(snapLen, math.MaxUint32))

	var a asm
	if dropOutgoing {
		a.emit(bpf.LoadExtension{Num: bpf.ExtType})
		a.jeq(packetOutgoing, "reject", "")
	}
	switch link {
	case LinkEthernet:
		// EtherType dispatch: untagged, one tag, two tags. Each IP match
		// sets X to the offset of the IP header.
		for depth := range 3 {
			off := uint32(12 + 4*depth)
			sfx := fmt.Sprint(depth)
			a.emit(bpf.LoadAbsolute{Off: off, Size: 2})
			a.jeq(etherTypeIPv4, "v4x"+sfx, "")
			a.jeq(etherTypeIPv6, "v6x"+sfx, "")
			if depth == 2 {
				a.ja("reject")
				continue
			}
			next := "tag" + fmt.Sprint(depth+1)
			a.jeq(etherType8021Q, next, "")
			a.jeq(etherType8021AD, next, "")
			a.jeq(etherTypeQinQ, next, "reject")
			a.label(next)
		}
		a.label("reject")
		a.emit(bpf.RetConstant{Val: 0})
		for depth := range 3 {
			sfx := fmt.Sprint(depth)
			a.label("v4x" + sfx)
			a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: uint32(14 + 4*depth)})
			a.ja("v4")
			a.label("v6x" + sfx)
			a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: uint32(14 + 4*depth)})
			a.ja("v6")
		}
	case LinkRaw:
		a.emit(bpf.LoadAbsolute{Off: 0, Size: 1})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
		a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: 0})
		a.jeq(4, "v4", "")
		a.jeq(6, "v6", "reject")
		a.label("reject")
		a.emit(bpf.RetConstant{Val: 0})
	default:
		return nil, fmt.Errorf("sniff: no filter for link type %d", link)
	}

	// IPv4 at X: TCP, first fragment, then X += IHL*4.
	a.label("v4")
	a.emit(bpf.LoadIndirect{Off: 9, Size: 1})
	a.jeq(ipProtoTCP, "", "reject2")
	a.emit(bpf.LoadIndirect{Off: 6, Size: 2})
	a.jset(0x1fff, "reject2", "")
	a.emit(bpf.LoadIndirect{Off: 0, Size: 1})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	a.emit(bpf.TAX{})
	a.ja("ports")
	// IPv6 at X: next header TCP, then X += 40.
	a.label("v6")
	a.emit(bpf.LoadIndirect{Off: 6, Size: 1})
	a.jeq(ipProtoTCP, "", "reject2")
	a.emit(bpf.TXA{})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 40})
	a.emit(bpf.TAX{})
	a.ja("ports")
	a.label("reject2")
	a.emit(bpf.RetConstant{Val: 0})
	// TCP at X: source port, then destination port, against the set.
	a.label("ports")
	for _, portOff := range []uint32{0, 2} {
		a.emit(bpf.LoadIndirect{Off: portOff, Size: 2})
		for _, p := range ports {
			a.jeq(uint32(p), "accept", "")
		}
	}
	a.emit(bpf.RetConstant{Val: 0})
	a.label("accept")
	a.emit(bpf.RetConstant{Val: snap})

	ins, err := a.resolve()
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(ins)
}

// asm assembles a BPF program with symbolic jump targets, so the layout can
// change without recounting skips. An empty target means the next instruction.
type asm struct {
	ins    []bpf.Instruction
	fix    []fixup
	labels map[string]int
}

type fixup struct {
	at          int
	true, false string
}

func (a *asm) emit(i bpf.Instruction) { a.ins = append(a.ins, i) }

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = make(map[string]int)
	}
	a.labels[name] = len(a.ins)
}

func (a *asm) jeq(val uint32, t, f string) {
	a.fix = append(a.fix, fixup{at: len(a.ins), true: t, false: f})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: val})
}

func (a *asm) jset(val uint32, t, f string) {
	a.fix = append(a.fix, fixup{at: len(a.ins), true: t, false: f})
	a.emit(bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: val})
}

func (a *asm) ja(t string) {
	a.fix = append(a.fix, fixup{at: len(a.ins), true: t})
	a.emit(bpf.Jump{})
}

// resolve turns labels into forward skips, failing when a conditional jump
// does not fit in 8 bits.
func (a *asm) resolve() ([]bpf.Instruction, error) {
	skip := func(from int, target string) (uint32, error) {
		if target == "" {
			return 0, nil
		}
		to, ok := a.labels[target]
		if !ok || to <= from {
			return 0, fmt.Errorf("sniff: bpf: bad jump target %q", target)
		}
		return uint32(to - from - 1), nil
	}
	for _, f := range a.fix {
		st, err := skip(f.at, f.true)
		if err != nil {
			return nil, err
		}
		switch i := a.ins[f.at].(type) {
		case bpf.Jump:
			i.Skip = st
			a.ins[f.at] = i
		case bpf.JumpIf:
			sf, err := skip(f.at, f.false)
			if err != nil {
				return nil, err
			}
			if st > math.MaxUint8 || sf > math.MaxUint8 {
				return nil, fmt.Errorf("sniff: bpf: jump too far (%d, %d)", st, sf)
			}
			i.SkipTrue, i.SkipFalse = uint8(st), uint8(sf)
			a.ins[f.at] = i
		}
	}
	return a.ins, nil
}
