package render

import (
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/zktap/zktap/proto"
)

func TestFilterMatch(t *testing.T) {
	msg := func(mod func(m *proto.Message)) *proto.Message {
		var m proto.Message
		m.Reset()
		m.Proto, m.Kind, m.Op, m.Path = proto.ZK, proto.Request, "getData", []byte("/app/config")
		m.Src, m.Dst = client, server
		mod(&m)
		return &m
	}
	plain := msg(func(*proto.Message) {})
	ping := msg(func(m *proto.Message) { m.Op, m.Path = "ping", nil })
	zabPing := msg(func(m *proto.Message) { m.Proto, m.Op, m.Path = proto.ZAB, "ping", nil })
	slow := msg(func(m *proto.Message) { m.Kind, m.Paired, m.Latency = proto.Reply, true, 20*time.Millisecond })
	fast := msg(func(m *proto.Message) { m.Kind, m.Paired, m.Latency = proto.Reply, true, 2*time.Millisecond })
	unpaired := msg(func(m *proto.Message) { m.Kind = proto.Reply })
	multi := msg(func(m *proto.Message) {
		m.Op, m.Path = "multi", nil
		m.ZK.Sub = []proto.SubOp{{Op: "create", Path: []byte("/other")}, {Op: "delete", Path: []byte("/app/lock")}}
	})
	mapped := msg(func(m *proto.Message) {
		m.Src = netip.MustParseAddrPort("[::ffff:10.0.0.5]:51234")
		m.Dst = netip.MustParseAddrPort("[::ffff:10.0.0.1]:2181")
	})
	reply := msg(func(m *proto.Message) { m.Kind, m.Src, m.Dst = proto.Reply, server, client })

	tests := []struct {
		name string
		f    Filter
		m    *proto.Message
		want bool
	}{
		{"zero passes", Filter{}, plain, true},
		{"zero hides zk ping", Filter{}, ping, false},
		{"pings included", Filter{IncludePings: true}, ping, true},
		{"zab ping is not a client ping", Filter{}, zabPing, true},
		{"proto match", Filter{Protos: []proto.Proto{proto.ZAB, proto.ZK}}, plain, true},
		{"proto miss", Filter{Protos: []proto.Proto{proto.FLE}}, plain, false},
		{"op match", Filter{Ops: []string{"exists", "getData"}}, plain, true},
		{"op miss", Filter{Ops: []string{"exists"}}, plain, false},
		{"path prefix", Filter{PathPrefix: "/app"}, plain, true},
		{"path prefix miss", Filter{PathPrefix: "/apps"}, plain, false},
		{"path prefix longer than path", Filter{PathPrefix: "/app/config/x"}, plain, false},
		{"path prefix without path", Filter{PathPrefix: "/"}, ping, false},
		{"path prefix in multi sub-op", Filter{PathPrefix: "/app/"}, multi, true},
		{"path prefix not in multi", Filter{PathPrefix: "/zk"}, multi, false},
		{"client cidr src", Filter{Clients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/29")}}, plain, true},
		{"client cidr dst", Filter{Clients: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}}, reply, true},
		{"client cidr miss", Filter{Clients: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}, plain, false},
		{"client v4-mapped endpoint", Filter{Clients: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}}, mapped, true},
		{"client addrport", Filter{ClientAddrs: []netip.AddrPort{client}}, reply, true},
		{"client addrport other port", Filter{ClientAddrs: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.5:1")}}, plain, false},
		{"client either list", Filter{
			Clients:     []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")},
			ClientAddrs: []netip.AddrPort{client},
		}, plain, true},
		{"min latency slow", Filter{MinLatency: 10 * time.Millisecond}, slow, true},
		{"min latency equal", Filter{MinLatency: 20 * time.Millisecond}, slow, true},
		{"min latency fast", Filter{MinLatency: 10 * time.Millisecond}, fast, false},
		{"min latency unpaired", Filter{MinLatency: time.Nanosecond}, unpaired, false},
		{"min latency request", Filter{MinLatency: time.Nanosecond}, plain, false},
		{"all criteria", Filter{
			Protos: []proto.Proto{proto.ZK}, Ops: []string{"getData"}, PathPrefix: "/app",
			Clients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, MinLatency: 10 * time.Millisecond,
		}, slow, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(tt.m); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
			if got := !tt.f.HidesPing(tt.m); !tt.f.Selective() && got != tt.want {
				t.Errorf("not Selective, and !HidesPing = %v, want %v", got, tt.want)
			}
			if n := testing.AllocsPerRun(100, func() { tt.f.Match(tt.m) }); n != 0 {
				t.Errorf("Match allocates %v times", n)
			}
		})
	}
}

// TestFilterSelective: a filter is selective when any criterion but
// IncludePings is set, each alone, as Match applies them (a latency of
// zero or less selects nothing).
func TestFilterSelective(t *testing.T) {
	tests := []struct {
		name string
		f    Filter
		want bool
	}{
		{"zero", Filter{}, false},
		{"pings", Filter{IncludePings: true}, false},
		{"min latency zero", Filter{MinLatency: 0}, false},
		{"min latency negative", Filter{MinLatency: -time.Second}, false},
		{"min latency", Filter{MinLatency: time.Nanosecond}, true},
		{"protos", Filter{Protos: []proto.Proto{proto.ZK}}, true},
		{"ops", Filter{Ops: []string{"ping"}}, true},
		{"path prefix", Filter{PathPrefix: "/"}, true},
		{"clients", Filter{Clients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, true},
		{"client addrs", Filter{ClientAddrs: []netip.AddrPort{client}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Selective(); got != tt.want {
				t.Errorf("Selective = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseFilter(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		want    Filter
		wantErr string
	}{
		{name: "empty", query: "", want: Filter{}},
		{name: "unknown params ignored", query: "format=text", want: Filter{}},
		{name: "all", query: "proto=zk,zab&proto=4lw&op=getData,%20exists&path=/a&client=10.0.0.0/8,10.1.2.3,10.0.0.5:51234,::ffff:10.9.9.9&min_latency=5ms&pings=true",
			want: Filter{
				Protos:       []proto.Proto{proto.ZK, proto.ZAB, proto.FourLetter},
				Ops:          []string{"getData", "exists"},
				PathPrefix:   "/a",
				Clients:      []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("10.9.9.9/32")},
				ClientAddrs:  []netip.AddrPort{client},
				MinLatency:   5 * time.Millisecond,
				IncludePings: true,
			}},
		{name: "bare pings", query: "pings", want: Filter{IncludePings: true}},
		{name: "pings false", query: "pings=0", want: Filter{}},
		{name: "cidr masked", query: "client=10.1.2.3/8", want: Filter{Clients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
		{name: "bad proto", query: "proto=zk,http", wantErr: `proto: "http" is not one of zk, zab, fle, 4lw`},
		{name: "bad client", query: "client=example.com", wantErr: `client: "example.com" is not an IP, CIDR or ip:port`},
		{name: "bad latency", query: "min_latency=5", wantErr: `min_latency: "5" is not a duration (e.g. 10ms)`},
		{name: "negative latency", query: "min_latency=-5ms", wantErr: `min_latency: "-5ms" is negative`},
		{name: "bad pings", query: "pings=maybe", wantErr: `pings: "maybe" is not a boolean`},
		{name: "two paths", query: "path=/a&path=/b", wantErr: `path: given 2 times, want one prefix`},
		{name: "every error at once", query: "proto=x&client=y&min_latency=z",
			wantErr: "proto: \"x\" is not one of zk, zab, fle, 4lw\nclient: \"y\" is not an IP, CIDR or ip:port\nmin_latency: \"z\" is not a duration (e.g. 10ms)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseFilter(q)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
				cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Errorf("ParseFilter (-want +got):\n%s", diff)
			}
		})
	}
}
