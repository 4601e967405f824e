package zk

import (
	"bytes"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/jute"
)

// maxSub bounds the sub-operations listed for one multi, so a hostile multi
// of a megabyte of empty ops cannot grow Message.ZK.Sub without limit. Ops
// past it are parsed and skipped.
const maxSub = 256

// recordFunc decodes one record into m. It returns false when the record is
// semantically wrong (for example an unknown multi op); overruns are
// reported through r.Err().
type recordFunc func(r *jute.Reader, m *proto.Message) bool

// reqRecords and replyRecords are indexed by opcode+opBias, like ops. A nil
// entry means the record is empty.
var reqRecords = [len(ops)]recordFunc{
	opCreate + opBias:               createReq,
	opCreate2 + opBias:              createReq,
	opCreateContainer + opBias:      createReq,
	opCreateTTL + opBias:            createTTLReq,
	opDelete + opBias:               pathVersion,
	opCheck + opBias:                pathVersion,
	opExists + opBias:               pathWatch,
	opGetData + opBias:              pathWatch,
	opGetChildren + opBias:          pathWatch,
	opGetChildren2 + opBias:         pathWatch,
	opSetData + opBias:              setDataReq,
	opGetACL + opBias:               pathOnly,
	opSync + opBias:                 pathOnly,
	opGetEphemerals + opBias:        pathOnly,
	opGetAllChildrenNumber + opBias: pathOnly,
	opSetACL + opBias:               setACLReq,
	opReconfig + opBias:             reconfigReq,
	opCheckWatches + opBias:         pathWatcherType,
	opRemoveWatches + opBias:        pathWatcherType,
	opAuth + opBias:                 authReq,
	opSetWatches + opBias:           setWatchesReq,
	opSetWatches2 + opBias:          setWatches2Req,
	opSasl + opBias:                 saslReq,
	opAddWatch + opBias:             addWatchReq,
	opMulti + opBias:                multiReq,
	opMultiRead + opBias:            multiReq,
}

var replyRecords = [len(ops)]recordFunc{
	opCreate + opBias:               skipString,
	opSync + opBias:                 skipString,
	opCreate2 + opBias:              create2Reply,
	opCreateContainer + opBias:      create2Reply,
	opCreateTTL + opBias:            create2Reply,
	opExists + opBias:               statReply,
	opSetData + opBias:              statReply,
	opSetACL + opBias:               statReply,
	opCheck + opBias:                statReply,
	opGetData + opBias:              getDataReply,
	opReconfig + opBias:             getDataReply,
	opGetACL + opBias:               getACLReply,
	opGetChildren + opBias:          childrenReply,
	opGetEphemerals + opBias:        childrenReply,
	opGetChildren2 + opBias:         children2Reply,
	opSasl + opBias:                 saslReply,
	opGetAllChildrenNumber + opBias: allChildrenReply,
	opAddWatch + opBias:             intReply,
	opWhoAmI + opBias:               whoAmIReply,
	opMulti + opBias:                multiReply,
	opMultiRead + opBias:            multiReply,
}

func pathOnly(r *jute.Reader, m *proto.Message) bool {
	m.Path = r.UString()
	return true
}

func pathWatch(r *jute.Reader, m *proto.Message) bool {
	m.Path = r.UString()
	m.ZK.Watch = r.Bool()
	return true
}

func pathVersion(r *jute.Reader, m *proto.Message) bool {
	m.Path = r.UString()
	r.Int()
	return true
}

// pathWatcherType reads CheckWatchesRequest and RemoveWatchesRequest:
// ustring path, int WatcherType.
func pathWatcherType(r *jute.Reader, m *proto.Message) bool {
	m.Path = r.UString()
	m.ZK.WatchMode = r.Int()
	return true
}

// skipACLs skips a vector<ACL>: int perms, ustring scheme, ustring id.
func skipACLs(r *jute.Reader) {
	n := r.VectorLen(12)
	for i := int32(0); i < n && r.Err() == nil; i++ {
		r.Int()
		r.SkipBuffer()
		r.SkipBuffer()
	}
}

func createReq(r *jute.Reader, m *proto.Message) bool {
	m.Path = r.UString()
	m.ZK.DataLen = r.SkipBuffer()
	skipACLs(r)
	m.ZK.CreateMode = r.Int()
	return true
}

func createTTLReq(r *jute.Reader, m *proto.Message) bool {
	createReq(r, m)
	r.Long() // ttl
	return true
}

func setDataReq(r *jute.Reader, m *proto.Message) bool {
	m.Path = r.UString()
	m.ZK.DataLen = r.SkipBuffer()
	r.Int()
	return true
}

func setACLReq(r *jute.Reader, m *proto.Message) bool {
	m.Path = r.UString()
	skipACLs(r)
	r.Int()
	return true
}

func reconfigReq(r *jute.Reader, m *proto.Message) bool {
	r.SkipBuffer() // joiningServers
	r.SkipBuffer() // leavingServers
	r.SkipBuffer() // newMembers
	r.Long()       // curConfigId
	return true
}

var (
	schemeDigest = []byte("digest")
	schemeSASL   = []byte("sasl")
	saslUserKey  = []byte(`username="`)
)

// authReq reads an AuthPacket. The auth bytes are a secret: only the digest
// user name (the text before ':') is kept, for any other scheme nothing.
func authReq(r *jute.Reader, m *proto.Message) bool {
	r.Int() // type, always 0
	scheme := r.UString()
	auth := r.Buffer()
	if r.Err() != nil {
		return true
	}
	m.ZK.AuthScheme = scheme
	if bytes.Equal(scheme, schemeDigest) {
		if i := bytes.IndexByte(auth, ':'); i >= 0 {
			m.ZK.AuthUser = auth[:i:i]
		}
	}
	return true
}

// saslReq reads a GetSASLRequest. The token is never exposed; a DIGEST-MD5
// client response shows the user as username="...", which is kept.
func saslReq(r *jute.Reader, m *proto.Message) bool {
	tok := r.Buffer()
	if r.Err() != nil {
		return true
	}
	m.ZK.AuthScheme = schemeSASL
	if i := bytes.Index(tok, saslUserKey); i >= 0 {
		rest := tok[i+len(saslUserKey):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			m.ZK.AuthUser = rest[:j:j]
		}
	}
	return true
}

func countStrings(r *jute.Reader) int32 {
	if n := r.SkipStrings(); n > 0 {
		return n
	}
	return 0
}

func setWatchesReq(r *jute.Reader, m *proto.Message) bool {
	r.Long() // relativeZxid
	for range 3 {
		m.ZK.Watches += countStrings(r)
	}
	return true
}

func setWatches2Req(r *jute.Reader, m *proto.Message) bool {
	r.Long()
	for range 5 {
		m.ZK.Watches += countStrings(r)
	}
	return true
}

func saslReply(r *jute.Reader, _ *proto.Message) bool {
	r.SkipBuffer() // token: secret
	return true
}

func addWatchReq(r *jute.Reader, m *proto.Message) bool {
	m.Path = r.UString()
	m.ZK.WatchMode = r.Int()
	m.ZK.Watch = true
	return true
}

func addSub(m *proto.Message, op int32, path []byte, err int32) {
	if len(m.ZK.Sub) < maxSub {
		m.ZK.Sub = append(m.ZK.Sub, proto.SubOp{Op: OpName(op), Path: path, Err: err})
	}
}

// multiReq reads a MultiOperationRecord: MultiHeader{type, done, err} and
// op record pairs until a header with done set.
func multiReq(r *jute.Reader, m *proto.Message) bool {
	for r.Err() == nil {
		typ := r.Int()
		done := r.Bool()
		r.Int()
		if r.Err() != nil {
			return true
		}
		if done {
			return typ == -1
		}
		var sub proto.Message
		switch typ {
		case opCreate, opCreate2, opCreateContainer:
			createReq(r, &sub)
		case opCreateTTL:
			createTTLReq(r, &sub)
		case opDelete, opCheck:
			pathVersion(r, &sub)
		case opSetData:
			setDataReq(r, &sub)
		case opGetChildren, opGetData:
			pathWatch(r, &sub)
		default:
			return false
		}
		addSub(m, typ, sub.Path, 0)
	}
	return true
}

// multiReply reads a MultiResponse; each result becomes a SubOp with its
// result type and error code.
func multiReply(r *jute.Reader, m *proto.Message) bool {
	for r.Err() == nil {
		typ := r.Int()
		done := r.Bool()
		code := r.Int()
		if r.Err() != nil {
			return true
		}
		if done {
			return typ == -1
		}
		var path []byte
		switch typ {
		case opCreate:
			path = r.UString()
		case opCreate2, opCreateContainer, opCreateTTL:
			path = r.UString()
			r.SkipStat()
		case opDelete, opCheck, opDeleteContainer:
		case opSetData:
			r.SkipStat()
		case opGetChildren:
			r.SkipStrings()
		case opGetData:
			r.SkipBuffer()
			r.SkipStat()
		case opError:
			r.Int() // ErrorResponse repeats the code
		default:
			return false
		}
		addSub(m, typ, path, code)
	}
	return true
}

func skipString(r *jute.Reader, _ *proto.Message) bool {
	r.SkipBuffer()
	return true
}

func create2Reply(r *jute.Reader, _ *proto.Message) bool {
	r.SkipBuffer()
	r.SkipStat()
	return true
}

func statReply(r *jute.Reader, _ *proto.Message) bool {
	r.SkipStat()
	return true
}

func getDataReply(r *jute.Reader, m *proto.Message) bool {
	m.ZK.DataLen = r.SkipBuffer()
	r.SkipStat()
	return true
}

func getACLReply(r *jute.Reader, _ *proto.Message) bool {
	skipACLs(r)
	r.SkipStat()
	return true
}

func childrenReply(r *jute.Reader, m *proto.Message) bool {
	m.ZK.Children = r.SkipStrings()
	return true
}

func children2Reply(r *jute.Reader, m *proto.Message) bool {
	m.ZK.Children = r.SkipStrings()
	r.SkipStat()
	return true
}

// allChildrenReply reports getAllChildrenNumber's total in Children.
func allChildrenReply(r *jute.Reader, m *proto.Message) bool {
	m.ZK.Children = r.Int()
	return true
}

func intReply(r *jute.Reader, _ *proto.Message) bool {
	r.Int()
	return true
}

// whoAmIReply reports the first (scheme, user) pair of the session.
func whoAmIReply(r *jute.Reader, m *proto.Message) bool {
	n := r.VectorLen(8)
	for i := int32(0); i < n && r.Err() == nil; i++ {
		scheme, user := r.UString(), r.UString()
		if i == 0 {
			m.ZK.AuthScheme, m.ZK.AuthUser = scheme, user
		}
	}
	return true
}

// validPath reports whether p looks like a server-side znode path.
func validPath(p []byte) bool {
	return len(p) > 0 && p[0] == '/' && bytes.IndexByte(p, 0) < 0
}
