package render

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zktap/zktap/proto"
)

// Filter selects messages. Each non-empty criterion must match; within a
// list any element may match. The zero Filter passes everything except
// client pings.
type Filter struct {
	Protos []proto.Proto // protocols to show; empty = all
	Ops    []string      // op names (Message.Op) to show; empty = all
	// PathPrefix keeps messages whose path, or the path of one of their
	// multi sub-operations, starts with it. Messages without a path do not
	// match a non-empty prefix.
	PathPrefix string
	// Clients keeps messages with an endpoint (source or destination) in
	// one of the prefixes; a single address is a /32 or /128 prefix.
	Clients []netip.Prefix
	// ClientAddrs keeps messages with an endpoint equal to one of these
	// address:port pairs. Clients and ClientAddrs together form one list:
	// a message matches when it matches any element of either.
	ClientAddrs []netip.AddrPort
	// MinLatency, when positive, keeps only paired replies whose latency
	// is at least this.
	MinLatency time.Duration
	// IncludePings shows client-protocol pings, which are hidden by
	// default because idle sessions send one every third of their timeout.
	IncludePings bool
}

// Match reports whether m passes f. It does not allocate and is safe for
// concurrent use as long as f is not modified.
func (f *Filter) Match(m *proto.Message) bool {
	if f.HidesPing(m) {
		return false
	}
	if len(f.Protos) > 0 && !containsProto(f.Protos, m.Proto) {
		return false
	}
	if len(f.Ops) > 0 && !containsString(f.Ops, m.Op) {
		return false
	}
	if f.MinLatency > 0 && (!m.Paired || m.Latency < f.MinLatency) {
		return false
	}
	if f.PathPrefix != "" && !f.matchPath(m) {
		return false
	}
	if (len(f.Clients) > 0 || len(f.ClientAddrs) > 0) && !f.matchClient(m) {
		return false
	}
	return true
}

// HidesPing reports whether f hides m as a client ping. Unless
// f.Selective(), it is all that Match asks, and it is small enough to
// inline: a dump with the default filter makes no call per message for it
// (the call and Match's tests of empty criteria were 3 % of a dump).
func (f *Filter) HidesPing(m *proto.Message) bool {
	return !f.IncludePings && m.Proto == proto.ZK && m.Op == "ping"
}

// Selective reports whether f selects by more than pings: by protocol,
// op, path prefix, client or latency. When it does not, Match(m) is
// !f.HidesPing(m).
func (f *Filter) Selective() bool {
	return len(f.Protos) > 0 || len(f.Ops) > 0 || f.PathPrefix != "" ||
		len(f.Clients) > 0 || len(f.ClientAddrs) > 0 || f.MinLatency > 0
}

func (f *Filter) matchPath(m *proto.Message) bool {
	if hasPrefix(m.Path, f.PathPrefix) {
		return true
	}
	for i := range m.ZK.Sub {
		if hasPrefix(m.ZK.Sub[i].Path, f.PathPrefix) {
			return true
		}
	}
	return false
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

func (f *Filter) matchClient(m *proto.Message) bool {
	src, dst := unmap(m.Src), unmap(m.Dst)
	for _, p := range f.Clients {
		if p.Contains(src.Addr()) || p.Contains(dst.Addr()) {
			return true
		}
	}
	for _, ap := range f.ClientAddrs {
		if ap == src || ap == dst {
			return true
		}
	}
	return false
}

// unmap turns an IPv4-mapped IPv6 endpoint (seen on dual-stack sockets)
// into plain IPv4, so a filter written as 10.0.0.5 matches it, and drops
// any IPv6 zone, which prefixes never match.
func unmap(ap netip.AddrPort) netip.AddrPort {
	a := ap.Addr()
	if a.Is4In6() || a.Zone() != "" {
		return netip.AddrPortFrom(a.Unmap().WithZone(""), ap.Port())
	}
	return ap
}

func containsProto(list []proto.Proto, p proto.Proto) bool {
	for _, q := range list {
		if q == p {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, q := range list {
		if q == s {
			return true
		}
	}
	return false
}

// Query parameter names understood by ParseFilter; each matches the
// `zktap dump` flag of the same meaning.
const (
	ParamProto      = "proto"       // --proto: zk, zab, fle, 4lw (comma list or repeated)
	ParamOp         = "op"          // --op: op names (comma list or repeated)
	ParamPath       = "path"        // --path-prefix
	ParamClient     = "client"      // --client: IP, CIDR or ip:port (comma list or repeated)
	ParamMinLatency = "min_latency" // --min-latency: Go duration, e.g. 10ms
	ParamPings      = "pings"       // --include-pings: true/false; bare "pings" means true
)

// ParseFilter builds a Filter from URL query parameters (see the Param
// constants). Unknown parameters are ignored so callers can mix in their own
// (format, for one). Every bad value is reported, one per line, in the
// joined error.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	var errs []error
	for _, s := range splitList(q[ParamProto]) {
		p, ok := proto.ParseProto(s)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %q is not one of zk, zab, fle, 4lw", ParamProto, s))
			continue
		}
		f.Protos = append(f.Protos, p)
	}
	f.Ops = splitList(q[ParamOp])
	if v := q[ParamPath]; len(v) > 0 {
		if len(v) > 1 {
			errs = append(errs, fmt.Errorf("%s: given %d times, want one prefix", ParamPath, len(v)))
		}
		f.PathPrefix = v[0]
	}
	for _, s := range splitList(q[ParamClient]) {
		p, ap, err := ParseClient(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ParamClient, err))
			continue
		}
		if ap.IsValid() {
			f.ClientAddrs = append(f.ClientAddrs, ap)
		} else {
			f.Clients = append(f.Clients, p)
		}
	}
	if v := q.Get(ParamMinLatency); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %q is not a duration (e.g. 10ms)", ParamMinLatency, v))
		case d < 0:
			errs = append(errs, fmt.Errorf("%s: %q is negative", ParamMinLatency, v))
		default:
			f.MinLatency = d
		}
	}
	if v, ok := q[ParamPings]; ok {
		s := ""
		if len(v) > 0 {
			s = v[0]
		}
		if s == "" {
			f.IncludePings = true
		} else if b, err := strconv.ParseBool(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a boolean", ParamPings, s))
		} else {
			f.IncludePings = b
		}
	}
	return f, errors.Join(errs...)
}

// ParseClient parses a client selector: an IP address or CIDR prefix
// (returned as a prefix, with ap invalid), or an ip:port pair (returned as
// ap). IPv4-mapped IPv6 forms are unmapped, as Match unmaps endpoints.
func ParseClient(s string) (p netip.Prefix, ap netip.AddrPort, err error) {
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap().WithZone("")
		return netip.PrefixFrom(a, a.BitLen()), netip.AddrPort{}, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, netip.AddrPort{}, fmt.Errorf("%q is wider than the IPv4-mapped range", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		return p.Masked(), netip.AddrPort{}, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.Prefix{}, unmap(ap), nil
	}
	return netip.Prefix{}, netip.AddrPort{}, fmt.Errorf("%q is not an IP, CIDR or ip:port", s)
}

// splitList flattens repeated and comma-separated values, dropping blanks.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
