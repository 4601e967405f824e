//go:build linux

package sniff

import (
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// openTun creates a non-persistent tun device (ARPHRD_NONE, no link header),
// brings it up, and returns its name and the file to inject packets with.
// The device disappears when the file is closed.
func openTun(t *testing.T) (string, *os.File) { return openTunTap(t, unix.IFF_TUN, "tun") }

// openTap is openTun for a tap device (Ethernet framing).
func openTap(t *testing.T) (string, *os.File) { return openTunTap(t, unix.IFF_TAP, "tap") }

// openTunTap creates a non-persistent tun or tap device (mode IFF_TUN or
// IFF_TAP), brings it up, and returns its name and its file.
func openTunTap(t *testing.T, mode uint16, kind string) (string, *os.File) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: creating a " + kind + " device needs root")
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/net/tun: %v", err)
	}
	ifr, err := unix.NewIfreq("zktap%d")
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(mode | unix.IFF_NO_PI)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(ifr))); errno != 0 {
		unix.Close(fd)
		t.Fatalf("TUNSETIFF: %v", errno)
	}
	f := os.NewFile(uintptr(fd), kind)
	t.Cleanup(func() { f.Close() })
	name := ifr.Name()
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s)
	up, _ := unix.NewIfreq(name)
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, up); err != nil {
		t.Fatal(err)
	}
	up.SetUint16(up.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, up); err != nil {
		t.Fatalf("SIOCSIFFLAGS up: %v", err)
	}
	return name, f
}

// TestLiveTun checks that a tun device is captured as raw IP and that the
// raw-IP filter runs in the kernel: packets written into the tun device are
// received by the host on it, and only those on the port set are delivered.
func TestLiveTun(t *testing.T) { forEachPath(t, testLiveTun) }

func testLiveTun(t *testing.T, noRing bool) {
	name, tun := openTun(t)
	l, err := OpenLive(name, Config{ZKPorts: []uint16{2181}, ReadTimeout: 50 * time.Millisecond, NoRing: noRing})
	if err != nil {
		t.Fatalf("OpenLive(%s): %v", name, err)
	}
	t.Cleanup(func() { l.Close() })
	if l.LinkType() != LinkRaw {
		t.Fatalf("tun link type %d, want LinkRaw", l.LinkType())
	}
	for _, pkt := range [][]byte{
		ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(40000, 2181, 1, 0, PSH|ACK, nil, "v4-to-zk")),
		ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(40000, 80, 1, 0, PSH|ACK, nil, "v4-to-http")),
		ipv4Pkt(v4a, v4b, 17, 0, nil, udpDgram(40000, 2181, "udp-to-zk")),
		ipv6Pkt(v6a, v6b, 6, nil, tcpSeg(2181, 40000, 1, 0, PSH|ACK, nil, "v6-from-zk")),
	} {
		if _, err := tun.Write(pkt); err != nil {
			t.Fatalf("write to tun: %v", err)
		}
	}
	// The sole reader of l, with the deadline enforced by closing l.
	got := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var seg Segment
		for {
			data, ts, link, err := l.ReadFrame()
			if isTimeout(err) {
				continue
			}
			if err != nil {
				return
			}
			if ParseFrame(link, data, ts, &seg) == nil {
				got[string(seg.Payload)]++
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	l.Close()
	<-done
	want := map[string]int{"v4-to-zk": 1, "v6-from-zk": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payloads captured on %s (-want +got):\n%s", name, diff)
	}
}
