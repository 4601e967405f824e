package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// Parts of the workload, in the order Run runs them.
const (
	PartBasic     = "basic"     // creates (plain, sequential, ephemeral), exists hit and NONODE, getData, getChildren2
	PartWatch     = "watch"     // getData with a watch, setData firing it
	PartMulti     = "multi"     // one successful multi and one failing multi
	PartAuth      = "auth"      // second session with digest auth, digest-ACL node, NOAUTH read from the first
	PartSync      = "sync"      // sync
	PartPipelined = "pipelined" // Spec.Pipelined concurrent exists, outstanding at once
	PartBig       = "big"       // create and getData of Spec.BigSize bytes
	PartChildren  = "children"  // Spec.Children children and one getChildren2 listing them
	PartDelete    = "delete"    // deletes, including a NOTEMPTY one
)

// AllParts lists every part in run order.
var AllParts = []string{PartBasic, PartWatch, PartMulti, PartAuth, PartSync, PartPipelined, PartBig, PartChildren, PartDelete}

// Credentials and data of the auth part. They are secrets as far as zktap is concerned.
const (
	AuthUser     = "user"
	AuthPassword = "secret"
	SecretData   = "znode-secret-data"
)

// Spec selects the parts and sizes of a workload. Zero fields take the defaults.
type Spec struct {
	Root           string        `json:"root"`            // parent of every node; default /zkload
	Parts          []string      `json:"parts"`           // default AllParts
	Iterations     int           `json:"iterations"`      // times the basic reads repeat; default 1
	Pipelined      int           `json:"pipelined"`       // outstanding exists in the pipelined part; default 200
	BigSize        int           `json:"big_size"`        // bytes of the big node; default 1 MiB
	Children       int           `json:"children"`        // children of <root>/kids; default 3000
	SessionTimeout time.Duration `json:"session_timeout"` // default 30 s, long enough that pings are rare
	MaxBufferSize  int           `json:"max_buffer_size"` // client buffer; default 4 MiB (the server needs -Djute.maxbuffer too)
}

func (s Spec) withDefaults() Spec {
	if s.Root == "" {
		s.Root = "/zkload"
	}
	if len(s.Parts) == 0 {
		s.Parts = AllParts
	}
	if s.Iterations <= 0 {
		s.Iterations = 1
	}
	if s.Pipelined <= 0 {
		s.Pipelined = 200
	}
	if s.BigSize <= 0 {
		s.BigSize = 1 << 20
	}
	if s.Children <= 0 {
		s.Children = 3000
	}
	if s.SessionTimeout <= 0 {
		s.SessionTimeout = 30 * time.Second
	}
	if s.MaxBufferSize <= 0 {
		s.MaxBufferSize = 4 << 20
	}
	return s
}

// Report is what the client sent and received, as counted on the wire.
type Report struct {
	Server string    `json:"server"`
	Spec   *Spec     `json:"spec,omitempty"`
	Load   *LoadSpec `json:"load,omitempty"`
	// Connections is the number of TCP connections (one ConnectRequest each).
	Connections int `json:"connections"`
	// Requests counts client frames by opcode name; "connect" is the ConnectRequest.
	Requests map[string]int `json:"requests"`
	// RequestsByPath counts path-bearing requests by path and opcode name. The children
	// of <root>/kids are grouped under "<root>/kids/*".
	RequestsByPath map[string]map[string]int `json:"requests_by_path"`
	// MultiOps counts the operations inside multi requests by opcode name.
	MultiOps map[string]int `json:"multi_ops"`
	// Replies counts server frames by the opcode of the request they answer, then by
	// error code ("0" is ok, "-101" NONODE...); "connect" is the ConnectResponse.
	Replies map[string]map[string]int `json:"replies"`
	// Notifications counts watch events (xid -1) by type.
	Notifications map[string]int `json:"notifications"`
	BytesSent     int64          `json:"bytes_sent"`
	BytesReceived int64          `json:"bytes_received"`
	// Ops, Seconds and OpsPerSecond describe a Load run.
	Ops          int64   `json:"ops,omitempty"`
	Seconds      float64 `json:"seconds,omitempty"`
	OpsPerSecond float64 `json:"ops_per_second,omitempty"`
}

func (c *counts) report(server string) Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	byPath := make(map[string]map[string]int, len(c.byPath))
	for k, v := range c.byPath {
		byPath[k] = maps.Clone(v)
	}
	replies := make(map[string]map[string]int, len(c.replies))
	for k, v := range c.replies {
		replies[k] = maps.Clone(v)
	}
	return Report{
		Server:         server,
		Connections:    c.connections,
		Requests:       maps.Clone(c.requests),
		RequestsByPath: byPath,
		MultiOps:       maps.Clone(c.multiOps),
		Replies:        replies,
		Notifications:  maps.Clone(c.notifications),
		BytesSent:      c.bytesSent,
		BytesReceived:  c.bytesRecv,
	}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// connect opens a session through the tap and waits until it has a session id.
func connect(ctx context.Context, addr string, c *counts, timeout time.Duration, maxBuf int) (*zk.Conn, error) {
	if maxBuf <= 0 {
		maxBuf = 4 << 20 // go-zookeeper's option type is unexported: always pass a size
	}
	conn, events, err := zk.Connect([]string{addr}, timeout,
		zk.WithDialer(c.dialer),
		zk.WithLogger(discardLogger{}),
		zk.WithLogInfo(false),
		zk.WithMaxBufferSize(maxBuf),
		zk.WithMaxConnBufferSize(maxBuf),
	)
	if err != nil {
		return nil, fmt.Errorf("workload: connect %s: %w", addr, err)
	}
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				// Drain later events so that go-zookeeper never blocks on the channel.
				go func() {
					for range events {
					}
				}()
				return conn, nil
			}
		case <-deadline:
			conn.Close()
			return nil, fmt.Errorf("workload: connect %s: no session within 15s", addr)
		case <-ctx.Done():
			conn.Close()
			return nil, ctx.Err()
		}
	}
}

// Run runs the workload described by spec against the server at addr (host:port). The
// root node must not exist yet. The report is returned even when Run fails part way.
func Run(ctx context.Context, addr string, spec Spec) (Report, error) {
	spec = spec.withDefaults()
	c := newCounts(pathKeyFunc(spec.Root + "/kids"))
	err := run(ctx, addr, spec, c)
	// run has closed its sessions: the report includes their closeSession frames.
	r := c.report(addr)
	r.Spec = &spec
	return r, err
}

type runner struct {
	ctx  context.Context
	spec Spec
	c    *counts
	addr string
	conn *zk.Conn
}

func run(ctx context.Context, addr string, spec Spec, c *counts) error {
	conn, err := connect(ctx, addr, c, spec.SessionTimeout, spec.MaxBufferSize)
	if err != nil {
		return err
	}
	r := &runner{ctx: ctx, spec: spec, c: c, addr: addr, conn: conn}
	// Close sends closeSession and waits for the connection to end, so the capture
	// holds the whole session.
	defer conn.Close()

	if _, err := conn.Create(spec.Root, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		return fmt.Errorf("workload: create %s (the root must not exist): %w", spec.Root, err)
	}
	parts := map[string]func() error{
		PartBasic: r.basic, PartWatch: r.watch, PartMulti: r.multi, PartAuth: r.auth,
		PartSync: r.sync, PartPipelined: r.pipelined, PartBig: r.big,
		PartChildren: r.children, PartDelete: r.delete,
	}
	for _, p := range spec.Parts {
		f, ok := parts[p]
		if !ok {
			return fmt.Errorf("workload: unknown part %q (want one of %s)", p, strings.Join(AllParts, ","))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f(); err != nil {
			return fmt.Errorf("workload: part %s: %w", p, err)
		}
	}
	return nil
}

func (r *runner) path(name string) string { return r.spec.Root + "/" + name }

// expect turns an error into nil when it is the one the workload provokes on purpose.
func expect(err, want error) error {
	if want == nil {
		return err
	}
	if errors.Is(err, want) {
		return nil
	}
	return fmt.Errorf("want %v, got %v", want, err)
}

func (r *runner) basic() error {
	z, acl := r.conn, zk.WorldACL(zk.PermAll)
	if _, err := z.Create(r.path("a"), []byte("hello"), 0, acl); err != nil {
		return err
	}
	for range 3 {
		if _, err := z.Create(r.path("seq-"), []byte("s"), zk.FlagSequence, acl); err != nil {
			return err
		}
	}
	if _, err := z.Create(r.path("eph"), []byte("e"), zk.FlagEphemeral, acl); err != nil {
		return err
	}
	if _, err := z.Create(r.path("eph-seq-"), []byte("es"), zk.FlagEphemeral|zk.FlagSequence, acl); err != nil {
		return err
	}
	for range r.spec.Iterations {
		if ok, _, err := z.Exists(r.path("a")); err != nil || !ok {
			return fmt.Errorf("exists %s = %v, %v", r.path("a"), ok, err)
		}
		// A missing node: NONODE (-101) in the reply header, which go-zookeeper turns
		// into false, nil.
		if ok, _, err := z.Exists(r.path("missing")); err != nil || ok {
			return fmt.Errorf("exists %s = %v, %v", r.path("missing"), ok, err)
		}
		if d, _, err := z.Get(r.path("a")); err != nil || string(d) != "hello" {
			return fmt.Errorf("get %s = %q, %v", r.path("a"), d, err)
		}
		if _, _, err := z.Children(r.spec.Root); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) watch() error {
	z := r.conn
	p := r.path("w")
	if _, err := z.Create(p, []byte("v0"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		return err
	}
	_, _, ch, err := z.GetW(p)
	if err != nil {
		return err
	}
	if _, err := z.Set(p, []byte("v1"), -1); err != nil {
		return err
	}
	select {
	case ev := <-ch:
		if ev.Type != zk.EventNodeDataChanged {
			return fmt.Errorf("watch fired %v, want EventNodeDataChanged", ev.Type)
		}
	case <-time.After(10 * time.Second):
		return errors.New("watch did not fire")
	}
	return nil
}

func (r *runner) multi() error {
	z := r.conn
	acl := zk.WorldACL(zk.PermAll)
	if _, err := z.Multi(
		&zk.CreateRequest{Path: r.path("m1"), Data: []byte("m"), Acl: acl},
		&zk.CreateRequest{Path: r.path("m2"), Data: []byte("m"), Acl: acl},
		&zk.SetDataRequest{Path: r.path("m1"), Data: []byte("x"), Version: -1},
		&zk.CheckVersionRequest{Path: r.path("m2"), Version: 0},
	); err != nil {
		return err
	}
	// Fails on its second op. The reply header says err 0; the failing op has NONODE and
	// the ops before it RUNTIMEINCONSISTENCY (FIELD-NOTES.md).
	res, err := z.Multi(
		&zk.CreateRequest{Path: r.path("m3"), Data: []byte("m"), Acl: acl},
		&zk.DeleteRequest{Path: r.path("missing"), Version: -1},
	)
	if err == nil && len(res) == 2 {
		err = res[1].Error
	}
	return expect(err, zk.ErrNoNode)
}

func (r *runner) auth() error {
	z2, err := connect(r.ctx, r.addr, r.c, r.spec.SessionTimeout, r.spec.MaxBufferSize)
	if err != nil {
		return err
	}
	defer z2.Close()
	if err := z2.AddAuth("digest", []byte(AuthUser+":"+AuthPassword)); err != nil {
		return err
	}
	p := r.path("secret")
	if _, err := z2.Create(p, []byte(SecretData), 0, zk.DigestACL(zk.PermAll, AuthUser, AuthPassword)); err != nil {
		return err
	}
	if d, _, err := z2.Get(p); err != nil || string(d) != SecretData {
		return fmt.Errorf("authenticated get %s: %v", p, err)
	}
	// The first session has no credentials: NOAUTH (-102).
	_, _, err = r.conn.Get(p)
	return expect(err, zk.ErrNoAuth)
}

func (r *runner) sync() error {
	_, err := r.conn.Sync(r.spec.Root)
	return err
}

func (r *runner) pipelined() error {
	// All goroutines wait on start, so the requests are issued together and go-zookeeper
	// writes them back to back on its one connection, with many outstanding at once.
	start := make(chan struct{})
	errs := make(chan error, r.spec.Pipelined)
	var wg sync.WaitGroup
	for range r.spec.Pipelined {
		wg.Go(func() {
			<-start
			if ok, _, err := r.conn.Exists(r.spec.Root); err != nil || !ok {
				errs <- fmt.Errorf("exists %s = %v, %v", r.spec.Root, ok, err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	return <-errs
}

// bigData is deterministic, so captures are reproducible byte for byte in content.
func bigData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func (r *runner) big() error {
	p := r.path("big")
	data := bigData(r.spec.BigSize)
	if _, err := r.conn.Create(p, data, 0, zk.WorldACL(zk.PermAll)); err != nil {
		return err
	}
	got, _, err := r.conn.Get(p)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("get %s: %d bytes differ from the %d written", p, len(got), len(data))
	}
	return nil
}

// KidName is the name of the i-th child in the children part.
func KidName(i int) string { return fmt.Sprintf("c-%05d", i) }

func (r *runner) children() error {
	dir := r.path("kids")
	acl := zk.WorldACL(zk.PermAll)
	if _, err := r.conn.Create(dir, nil, 0, acl); err != nil {
		return err
	}
	// 64 creates in flight at a time keeps thousands of creates to a second or two.
	next := make(chan int)
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := range next {
				if _, err := r.conn.Create(dir+"/"+KidName(i), nil, 0, acl); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range r.spec.Children {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err != nil {
		return err
	}
	if err := <-errs; err != nil {
		return err
	}
	kids, _, err := r.conn.Children(dir)
	if err != nil {
		return err
	}
	if len(kids) != r.spec.Children {
		return fmt.Errorf("getChildren2 %s: %d children, want %d", dir, len(kids), r.spec.Children)
	}
	sort.Strings(kids)
	if kids[0] != KidName(0) {
		return fmt.Errorf("getChildren2 %s: first child %q", dir, kids[0])
	}
	return nil
}

func (r *runner) delete() error {
	z, acl := r.conn, zk.WorldACL(zk.PermAll)
	d, x := r.path("d"), r.path("d/x")
	if _, err := z.Create(d, nil, 0, acl); err != nil {
		return err
	}
	if _, err := z.Create(x, nil, 0, acl); err != nil {
		return err
	}
	if err := expect(z.Delete(d, -1), zk.ErrNotEmpty); err != nil { // NOTEMPTY (-111)
		return err
	}
	if err := z.Delete(x, -1); err != nil {
		return err
	}
	return z.Delete(d, -1)
}
