package workload

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"time"
)

// PartNewOps names the raw-frame workload of the ZooKeeper 3.6+ operations that
// go-zookeeper cannot send; RunNewOps runs it.
const PartNewOps = "newops"

// Credentials and data of the newops workload: secrets as far as zktap is concerned.
const (
	NewOpsUser     = "newops"
	NewOpsPassword = "np-secret-5d1e"
	NewOpsData     = "newops-znode-data"
)

// NewOpsDigest is the digest ACL id of NewOpsUser:NewOpsPassword,
// user:BASE64(SHA1(user:password)). Its hash is a secret too.
func NewOpsDigest() string {
	h := sha1.Sum([]byte(NewOpsUser + ":" + NewOpsPassword))
	return NewOpsUser + ":" + base64.StdEncoding.EncodeToString(h[:])
}

// NewOpsSpec configures RunNewOps. Zero fields take the defaults.
type NewOpsSpec struct {
	Root           string        `json:"root"`            // parent of every node; default /newops
	SessionTimeout time.Duration `json:"session_timeout"` // default 30 s
	TTL            time.Duration `json:"ttl"`             // of the TTL nodes; default 1 min
}

func (s NewOpsSpec) withDefaults() NewOpsSpec {
	if s.Root == "" {
		s.Root = "/newops"
	}
	if s.SessionTimeout <= 0 {
		s.SessionTimeout = 30 * time.Second
	}
	if s.TTL <= 0 {
		s.TTL = time.Minute
	}
	return s
}

// NewOpsReport is a Report (the same keys as workload.json) with what only the newops
// operations carry. Every count is taken from the bytes the client wrote and read.
type NewOpsReport struct {
	Report
	NewOps *NewOpsSpec `json:"newops,omitempty"`
	// Reconnects counts ConnectRequests that resumed a session (sessionId != 0).
	Reconnects int `json:"reconnects"`
	// MultiReadOps counts the operations inside multiRead requests by opcode name.
	MultiReadOps map[string]int `json:"multi_read_ops"`
	// Multis lists every multi and multiRead in the order sent, with its operations
	// and its reply's results (type, path, error code).
	Multis []MultiRecord `json:"multis"`
	// CreateModes counts create requests (create, create2, createContainer,
	// createTTL) by opcode name, then by CreateMode flags.
	CreateModes map[string]map[string]int `json:"create_modes"`
	// WatchRequests counts requests that arm a watch: exists, getData, getChildren and
	// getChildren2 with watch set, and addWatch.
	WatchRequests map[string]int `json:"watch_requests"`
	// WatchModes lists addWatch (mode), checkWatches and removeWatches (WatcherType)
	// requests in the order sent.
	WatchModes []PathMode `json:"watch_modes"`
	// NotificationsByPath counts notifications by path, then by type.
	NotificationsByPath map[string]map[string]int `json:"notifications_by_path"`
	// WhoAmI lists each whoAmI reply's identities.
	WhoAmI [][]ClientInfo `json:"who_am_i"`
}

func (c *rawCounts) report(server string) NewOpsReport {
	r := NewOpsReport{Report: c.counts.report(server)}
	c.mu.Lock()
	defer c.mu.Unlock()
	r.Reconnects = c.reconnects
	r.MultiReadOps = maps.Clone(c.multiReadOps)
	r.Multis = slices.Clone(c.multis)
	r.CreateModes, r.NotificationsByPath = c.snapshot()
	r.WatchRequests = maps.Clone(c.watchRequests)
	r.WatchModes = slices.Clone(c.pathModes)
	r.WhoAmI = slices.Clone(c.whoAmI)
	return r
}

// RunNewOps runs the newops workload against the server at addr (host:port), which
// must be ZooKeeper 3.7 or later started with -Dzookeeper.extendedTypesEnabled=true
// (for createTTL). The root must not exist yet. The report is returned even when
// RunNewOps fails part way.
//
// Two sessions: A does nearly everything; B changes nodes while A is disconnected and
// sets a watch with setWatches. A's steps, with the notifications each must fire:
//
//   - create2 the root, R/p (data NewOpsData), R/tree, R/d; getData R/d with a watch
//   - addWatch R/p persistent, addWatch R/tree persistentRecursive
//   - exists R/x with a watch (NONODE), getChildren R with a watch
//   - setData R/p twice (NodeDataChanged R/p each time: a persistent watch is not
//     one-shot), create and delete R/p/c (NodeChildrenChanged R/p twice)
//   - create R/tree/a and R/tree/a/b, setData and delete R/tree/a/b (NodeCreated ×2,
//     NodeDataChanged, NodeDeleted, all from the recursive watch)
//   - create R/x (NodeCreated R/x and NodeChildrenChanged R, the one-shot watches),
//     create R/y (nothing: they fired)
//   - checkWatches R/p (ok) and R/x (NOWATCHER), removeWatches R/p (ok, then
//     NOWATCHER), setData R/p (nothing: removed), setData R/tree (NodeDataChanged)
//   - multiRead: getData R/p, getChildren R/tree, getData R/missing (NONODE result)
//   - auth digest (xid -4), whoAmI
//   - createTTL R/ttl (PERSISTENT_WITH_TTL) and R/ttl-seq- (..._SEQUENTIAL_WITH_TTL),
//     createContainer R/cont and a child in it
//   - multi of create2, createTTL and createContainer
//   - create2 ephemeral R/eph and ephemeral sequential R/eph-seq-, getEphemerals R and
//     /, getAllChildrenNumber R and R/missing (NONODE)
//   - create R/acl, setACL (digest and world) at version 0 (ok, then BADVERSION),
//     getACL
//   - ping (xid -2), reconfig (RECONFIGDISABLED on a standalone server)
//
// Then B connects and sends setWatches (an exist watch on R/later); A's connection is
// closed without closeSession; B sets R/d's data; A reconnects to its session (its
// xids going on from where they were, as the Java client's do), sends its auth again
// and setWatches2 (a data watch on R/d from its last zxid, a recursive
// watch on R/tree): the server fires NodeDataChanged R/d at once. B creates R/tree/z
// (A: NodeCreated), A creates R/later (B: NodeCreated); B and A close their sessions.
func RunNewOps(ctx context.Context, addr string, spec NewOpsSpec) (NewOpsReport, error) {
	spec = spec.withDefaults()
	c := newRawCounts()
	err := runNewOps(ctx, addr, spec, c)
	r := c.report(addr)
	r.NewOps = &spec
	return r, err
}

// Request records.
func pathRec(p string) []byte { return putString(nil, p) }

func pathWatchRec(p string, watch bool) []byte { return putBool(putString(nil, p), watch) }

func pathIntRec(p string, v int32) []byte { return putInt(putString(nil, p), v) }

func createRec(p string, data []byte, acls []acl, flags int32) []byte {
	return putInt(putACLs(putBuffer(putString(nil, p), data), acls), flags)
}

func setDataRec(p string, data []byte, version int32) []byte {
	return putInt(putBuffer(putString(nil, p), data), version)
}

// multiOp is one op of a multi or multiRead: its opcode and record.
type multiOp struct {
	op  int32
	rec []byte
}

// multiRec is a MultiOperationRecord: MultiHeader{type, done false, err -1} and the
// record of each op, then the terminator {-1, true, -1}.
func multiRec(ops ...multiOp) []byte {
	var b []byte
	for _, o := range ops {
		b = append(putInt(putBool(putInt(b, o.op), false), -1), o.rec...)
	}
	return putInt(putBool(putInt(b, -1), true), -1)
}

// CreateMode flags and AddWatch modes.
const (
	modePersistent, modeEphemeral, modeEphemeralSeq = 0, 1, 3
	modeContainer, modeTTL, modeTTLSeq              = 4, 5, 6
	watchPersistent, watchPersistentRecursive       = 0, 1
	watcherData, watcherAny                         = 2, 3
)

// KeeperException codes the workload provokes.
const (
	errNoNode           = -101
	errBadVersion       = -103
	errNoWatcher        = -121
	errReconfigDisabled = -123
)

// Notification types.
const (
	evCreated, evDeleted, evDataChanged, evChildrenChanged = 1, 2, 3, 4
)

// step is one request of the workload and the notifications it must fire on its own
// connection.
type step struct {
	op     int32
	rec    []byte
	err    int32   // expected error code
	events []event // expected notifications, read before the reply
}

func (s *rawSession) run(steps ...step) error {
	for _, st := range steps {
		if _, err := s.call(st.op, st.rec, st.err); err != nil {
			return err
		}
		if err := s.expectEvents(OpName(st.op), st.events...); err != nil {
			return err
		}
	}
	return nil
}

func runNewOps(ctx context.Context, addr string, spec NewOpsSpec, c *rawCounts) error {
	R := spec.Root
	P := func(name string) string { return R + "/" + name }
	a, err := dialRaw(ctx, "session A", addr, c, spec.SessionTimeout, 0, nil, 0)
	if err != nil {
		return err
	}
	defer func() { a.conn.Close() }()
	ttl := putLong(nil, spec.TTL.Milliseconds())
	data := []byte(NewOpsData)

	// Nodes, the watches, and changes that fire them.
	if err := a.run(
		step{op: opCreate2, rec: createRec(R, nil, worldAll, modePersistent)},
		step{op: opCreate2, rec: createRec(P("p"), data, worldAll, modePersistent)},
		step{op: opCreate2, rec: createRec(P("tree"), nil, worldAll, modePersistent)},
		step{op: opCreate2, rec: createRec(P("d"), []byte("d0"), worldAll, modePersistent)},
		step{op: opGetData, rec: pathWatchRec(P("d"), true)},
		step{op: opAddWatch, rec: pathIntRec(P("p"), watchPersistent)},
		step{op: opAddWatch, rec: pathIntRec(P("tree"), watchPersistentRecursive)},
		step{op: opExists, rec: pathWatchRec(P("x"), true), err: errNoNode},
		step{op: opGetChildren, rec: pathWatchRec(R, true)},
		step{op: opSetData, rec: setDataRec(P("p"), []byte("p1"), -1), events: []event{{evDataChanged, P("p")}}},
		step{op: opSetData, rec: setDataRec(P("p"), []byte("p2"), -1), events: []event{{evDataChanged, P("p")}}},
		step{op: opCreate, rec: createRec(P("p/c"), nil, worldAll, modePersistent), events: []event{{evChildrenChanged, P("p")}}},
		step{op: opDelete, rec: pathIntRec(P("p/c"), -1), events: []event{{evChildrenChanged, P("p")}}},
		step{op: opCreate, rec: createRec(P("tree/a"), nil, worldAll, modePersistent), events: []event{{evCreated, P("tree/a")}}},
		step{op: opCreate, rec: createRec(P("tree/a/b"), nil, worldAll, modePersistent), events: []event{{evCreated, P("tree/a/b")}}},
		step{op: opSetData, rec: setDataRec(P("tree/a/b"), []byte("b1"), -1), events: []event{{evDataChanged, P("tree/a/b")}}},
		step{op: opDelete, rec: pathIntRec(P("tree/a/b"), -1), events: []event{{evDeleted, P("tree/a/b")}}},
		step{op: opCreate, rec: createRec(P("x"), nil, worldAll, modePersistent), events: []event{{evCreated, P("x")}, {evChildrenChanged, R}}},
		step{op: opCreate, rec: createRec(P("y"), nil, worldAll, modePersistent)},
		step{op: opCheckWatches, rec: pathIntRec(P("p"), watcherAny)},
		step{op: opCheckWatches, rec: pathIntRec(P("x"), watcherData), err: errNoWatcher},
		step{op: opRemoveWatches, rec: pathIntRec(P("p"), watcherAny)},
		step{op: opRemoveWatches, rec: pathIntRec(P("p"), watcherAny), err: errNoWatcher},
		step{op: opSetData, rec: setDataRec(P("p"), data, -1)},
		step{op: opSetData, rec: setDataRec(P("tree"), []byte("t1"), -1), events: []event{{evDataChanged, P("tree")}}},
	); err != nil {
		return err
	}

	// multiRead is not atomic: the missing node's result is an error, the others succeed.
	if err := a.run(step{op: opMultiRead, rec: multiRec(
		multiOp{opGetData, pathWatchRec(P("p"), false)},
		multiOp{opGetChildren, pathWatchRec(P("tree"), false)},
		multiOp{opGetData, pathWatchRec(P("missing"), false)},
	)}); err != nil {
		return err
	}
	c.mu.Lock()
	got := c.multis[len(c.multis)-1].Results
	c.mu.Unlock()
	want := []SubOp{{Op: "getData"}, {Op: "getChildren"}, {Op: "error", Err: errNoNode}}
	if !slices.Equal(got, want) {
		return fmt.Errorf("workload: multiRead results %v, want %v", got, want)
	}

	// Identity, TTL and container nodes, ephemerals, ACLs, and the rest.
	auth := putBuffer(putString(putInt(nil, 0), "digest"), []byte(NewOpsUser+":"+NewOpsPassword))
	digestACL := []acl{{31, "digest", NewOpsDigest()}, {1, "world", "anyone"}}
	if err := a.run(
		step{op: opAuth, rec: auth},
		step{op: opWhoAmI},
		step{op: opCreateTTL, rec: append(createRec(P("ttl"), nil, worldAll, modeTTL), ttl...)},
		step{op: opCreateTTL, rec: append(createRec(P("ttl-seq-"), nil, worldAll, modeTTLSeq), ttl...)},
		step{op: opCreateContainer, rec: createRec(P("cont"), nil, worldAll, modeContainer)},
		step{op: opCreate, rec: createRec(P("cont/k"), nil, worldAll, modePersistent)},
		step{op: opMulti, rec: multiRec(
			multiOp{opCreate2, createRec(P("m1"), nil, worldAll, modePersistent)},
			multiOp{opCreateTTL, append(createRec(P("m-ttl"), nil, worldAll, modeTTL), ttl...)},
			multiOp{opCreateContainer, createRec(P("m-cont"), nil, worldAll, modeContainer)},
		)},
		step{op: opCreate2, rec: createRec(P("eph"), nil, worldAll, modeEphemeral)},
		step{op: opCreate2, rec: createRec(P("eph-seq-"), nil, worldAll, modeEphemeralSeq)},
		step{op: opGetEphemerals, rec: pathRec(R)},
		step{op: opGetEphemerals, rec: pathRec("/")},
		step{op: opGetAllChildrenNumber, rec: pathRec(R)},
		step{op: opGetAllChildrenNumber, rec: pathRec(P("missing")), err: errNoNode},
		step{op: opCreate, rec: createRec(P("acl"), nil, worldAll, modePersistent)},
		step{op: opSetACL, rec: putInt(putACLs(pathRec(P("acl")), digestACL), 0)},
		step{op: opSetACL, rec: putInt(putACLs(pathRec(P("acl")), digestACL), 0), err: errBadVersion},
		step{op: opGetACL, rec: pathRec(P("acl"))},
		step{op: opPing},
		// joiningServers, leavingServers, newMembers (all null), curConfigId -1.
		step{op: opReconfig, rec: putLong(putBuffer(putBuffer(putBuffer(nil, nil), nil), nil), -1), err: errReconfigDisabled},
	); err != nil {
		return err
	}
	c.mu.Lock()
	ids := c.whoAmI[len(c.whoAmI)-1]
	c.mu.Unlock()
	if !slices.Contains(ids, ClientInfo{Scheme: "digest", User: NewOpsUser}) {
		return fmt.Errorf("workload: whoAmI after digest auth: %v", ids)
	}

	// Session B, and A's reconnect.
	b, err := dialRaw(ctx, "session B", addr, c, spec.SessionTimeout, 0, nil, 0)
	if err != nil {
		return err
	}
	defer func() { b.conn.Close() }()
	// relativeZxid, dataWatches, existWatches, childWatches.
	setW := putStrings(putStrings(putStrings(putLong(nil, b.lastZxid), nil), []string{P("later")}), nil)
	if err := b.run(step{op: opSetWatches, rec: setW}); err != nil {
		return err
	}
	id, passwd, last, xid := a.id, a.passwd, a.lastZxid, a.xid
	a.conn.Close() // no closeSession: the session lives on
	if err := b.run(step{op: opSetData, rec: setDataRec(P("d"), []byte("d1"), -1)}); err != nil {
		return err
	}
	a, err = dialRaw(ctx, "session A (reconnect)", addr, c, spec.SessionTimeout, id, passwd, last)
	if err != nil {
		return err
	}
	a.xid = xid // the Java client's xids go on across reconnects
	// relativeZxid, data, exist, child, persistent, persistentRecursive watches.
	setW2 := putStrings(putStrings(putStrings(putStrings(putStrings(putLong(nil, last),
		[]string{P("d")}), nil), nil), nil), []string{P("tree")})
	if err := a.run(
		step{op: opAuth, rec: auth},
		// R/d changed after last: the server fires the data watch at once.
		step{op: opSetWatches2, rec: setW2, events: []event{{evDataChanged, P("d")}}},
	); err != nil {
		return err
	}
	if err := b.run(step{op: opCreate, rec: createRec(P("tree/z"), nil, worldAll, modePersistent)}); err != nil {
		return err
	}
	if err := a.waitEvents("recursive watch after setWatches2", event{evCreated, P("tree/z")}); err != nil {
		return err
	}
	if err := a.run(step{op: opCreate, rec: createRec(P("later"), nil, worldAll, modePersistent)}); err != nil {
		return err
	}
	if err := b.waitEvents("exist watch from setWatches", event{evCreated, P("later")}); err != nil {
		return err
	}
	if err := b.closeSession(); err != nil {
		return err
	}
	return a.closeSession()
}
