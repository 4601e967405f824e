package zk

// Opcodes of the client protocol (ZooDefs.OpCode), PROTOCOL.md 2.4.
const (
	opNotification         = 0
	opCreate               = 1
	opDelete               = 2
	opExists               = 3
	opGetData              = 4
	opSetData              = 5
	opGetACL               = 6
	opSetACL               = 7
	opGetChildren          = 8
	opSync                 = 9
	opPing                 = 11
	opGetChildren2         = 12
	opCheck                = 13
	opMulti                = 14
	opCreate2              = 15
	opReconfig             = 16
	opCheckWatches         = 17
	opRemoveWatches        = 18
	opCreateContainer      = 19
	opDeleteContainer      = 20
	opCreateTTL            = 21
	opMultiRead            = 22
	opAuth                 = 100
	opSetWatches           = 101
	opSasl                 = 102
	opGetEphemerals        = 103
	opGetAllChildrenNumber = 104
	opSetWatches2          = 105
	opAddWatch             = 106
	opWhoAmI               = 107
	opCreateSession        = -10
	opCloseSession         = -11
	opError                = -1
)

// opBias shifts the lowest opcode (closeSession, -11) to index 0.
const opBias = 11

type opClass uint8

const (
	classNone     opClass = iota // not an opcode
	classRead                    // R: served by the connected server
	classWrite                   // W: goes through the quorum
	classSession                 // S: session/control
	classInternal                // I: never sent by clients
)

type opInfo struct {
	name  string
	class opClass
	path  bool // the request record starts with a znode path
}

// ops is indexed by opcode+opBias; a zero entry means unknown.
var ops = [opWhoAmI + opBias + 1]opInfo{
	opNotification + opBias:         {"notification", classInternal, false},
	opCreate + opBias:               {"create", classWrite, true},
	opDelete + opBias:               {"delete", classWrite, true},
	opExists + opBias:               {"exists", classRead, true},
	opGetData + opBias:              {"getData", classRead, true},
	opSetData + opBias:              {"setData", classWrite, true},
	opGetACL + opBias:               {"getACL", classRead, true},
	opSetACL + opBias:               {"setACL", classWrite, true},
	opGetChildren + opBias:          {"getChildren", classRead, true},
	opSync + opBias:                 {"sync", classSession, true},
	opPing + opBias:                 {"ping", classSession, false},
	opGetChildren2 + opBias:         {"getChildren2", classRead, true},
	opCheck + opBias:                {"check", classWrite, true},
	opMulti + opBias:                {"multi", classWrite, false},
	opCreate2 + opBias:              {"create2", classWrite, true},
	opReconfig + opBias:             {"reconfig", classWrite, false},
	opCheckWatches + opBias:         {"checkWatches", classSession, true},
	opRemoveWatches + opBias:        {"removeWatches", classSession, true},
	opCreateContainer + opBias:      {"createContainer", classWrite, true},
	opDeleteContainer + opBias:      {"deleteContainer", classInternal, true},
	opCreateTTL + opBias:            {"createTTL", classWrite, true},
	opMultiRead + opBias:            {"multiRead", classRead, false},
	opAuth + opBias:                 {"auth", classSession, false},
	opSetWatches + opBias:           {"setWatches", classSession, false},
	opSasl + opBias:                 {"sasl", classSession, false},
	opGetEphemerals + opBias:        {"getEphemerals", classRead, true},
	opGetAllChildrenNumber + opBias: {"getAllChildrenNumber", classRead, true},
	opSetWatches2 + opBias:          {"setWatches2", classSession, false},
	opAddWatch + opBias:             {"addWatch", classSession, true},
	opWhoAmI + opBias:               {"whoAmI", classRead, false},
	opCreateSession + opBias:        {"createSession", classInternal, false},
	opCloseSession + opBias:         {"closeSession", classSession, false},
	opError + opBias:                {"error", classInternal, false},
}

func lookupOp(op int32) opInfo {
	i := int64(op) + opBias
	if i < 0 || i >= int64(len(ops)) {
		return opInfo{}
	}
	return ops[i]
}

// OpName returns the ZooDefs.OpCode spelling of op ("exists", "create2",
// "closeSession", ...), or "unknown". The result is a static string.
func OpName(op int32) string { return lookupOp(op).opName() }

// opName is OpName for an entry already looked up.
func (info opInfo) opName() string {
	if info.class != classNone {
		return info.name
	}
	return "unknown"
}

// IsRead reports whether op is a read served by the connected server
// (class R of PROTOCOL.md 2.4).
func IsRead(op int32) bool { return lookupOp(op).class == classRead }

// IsWrite reports whether op is a write that goes through the quorum
// (class W of PROTOCOL.md 2.4). closeSession is not counted as a write: it
// is a quorum operation only for global sessions, and a session event
// rather than a data change.
func IsWrite(op int32) bool { return lookupOp(op).class == classWrite }

// validRequestOp reports whether a client may send op on the client port.
func validRequestOp(op int32) bool { return lookupOp(op).request() }

// request is validRequestOp for an entry already looked up.
func (info opInfo) request() bool {
	c := info.class
	return c == classRead || c == classWrite || c == classSession
}

// errNames is indexed by -code for KeeperException codes 0..-127.
var errNames = [128]string{
	0:   "OK",
	1:   "SYSTEMERROR",
	2:   "RUNTIMEINCONSISTENCY",
	3:   "DATAINCONSISTENCY",
	4:   "CONNECTIONLOSS",
	5:   "MARSHALLINGERROR",
	6:   "UNIMPLEMENTED",
	7:   "OPERATIONTIMEOUT",
	8:   "BADARGUMENTS",
	9:   "INVALIDSTATE",
	12:  "UNKNOWNSESSION",
	13:  "NEWCONFIGNOQUORUM",
	14:  "RECONFIGINPROGRESS",
	15:  "SSLCONNECTIONERROR",
	100: "APIERROR",
	101: "NONODE",
	102: "NOAUTH",
	103: "BADVERSION",
	108: "NOCHILDRENFOREPHEMERALS",
	110: "NODEEXISTS",
	111: "NOTEMPTY",
	112: "SESSIONEXPIRED",
	113: "INVALIDCALLBACK",
	114: "INVALIDACL",
	115: "AUTHFAILED",
	116: "CLOSING",
	117: "NOTHING",
	118: "SESSIONMOVED",
	119: "NOTREADONLY",
	120: "EPHEMERALONLOCALSESSION",
	121: "NOWATCHER",
	122: "REQUESTTIMEOUT",
	123: "RECONFIGDISABLED",
	124: "SESSIONCLOSEDREQUIRESASLAUTH",
	125: "QUOTAEXCEEDED",
	127: "THROTTLEDOP",
}

// ErrName returns the KeeperException.Code name of code ("OK", "NONODE",
// "SESSIONEXPIRED", ...), or "UNKNOWN". The result is a static string.
func ErrName(code int32) string {
	if code <= 0 && code > -int32(len(errNames)) {
		if n := errNames[-code]; n != "" {
			return n
		}
	}
	return "UNKNOWN"
}

// ErrSessionExpired is the KeeperException code zktap puts on a connect
// reply whose negotiated timeout is 0 (the server refused the session).
const ErrSessionExpired = -112

// knownErr reports whether code may appear in a ReplyHeader.
func knownErr(code int32) bool { return ErrName(code) != "UNKNOWN" }

// FourLetter describes one four-letter word (PROTOCOL.md section 4).
type FourLetter struct {
	Word  string // the command as sent, e.g. "ruok"
	Since string // first ZooKeeper release that knows it
	Reply string // what the server answers
}

// FourLetterWords lists the four-letter words ZooKeeper servers recognise
// as the first bytes of a client connection. The telnet interrupt sequence
// 0xFFF4FFFD is recognised too and reported as "telnetclose".
var FourLetterWords = []FourLetter{
	{"conf", "3.3", "server configuration, key=value lines"},
	{"cons", "3.3", "one line per connection with sid=0x..., counters and latencies"},
	{"crst", "3.3", "resets connection statistics"},
	{"dirs", "3.5.1", "snapshot and log directory sizes"},
	{"dump", "3.3", "sessions and their ephemeral nodes (leader)"},
	{"envi", "3.3", "environment: version, host, java, user, dirs"},
	{"gtmk", "3.3", "current trace mask (decimal)"},
	{"ruok", "3.3", "imok"},
	{"stmk", "3.3", "sets the trace mask from 8 more bytes"},
	{"srst", "3.3", "resets server statistics"},
	{"srvr", "3.3", "version, latency, counters, Zxid, Mode, node count"},
	{"stat", "3.3", "srvr output plus the client list"},
	{"wchc", "3.3", "watches by session"},
	{"wchp", "3.3", "watches by path"},
	{"wchs", "3.3", "watch summary"},
	{"mntr", "3.4.0", "key<TAB>value monitoring lines"},
	{"isro", "3.4.0", "ro or rw"},
	{"hash", "3.6.0", "history of the data-tree digest"},
}

const telnetClose = "\xff\xf4\xff\xfd"

// LookupFourLetter reports whether b starts with a four-letter word and
// returns its static name. It needs at least 4 bytes.
func LookupFourLetter(b []byte) (word string, ok bool) {
	if len(b) < 4 {
		return "", false
	}
	if string(b[:4]) == telnetClose {
		return "telnetclose", true
	}
	for i := range FourLetterWords {
		if w := FourLetterWords[i].Word; string(b[:4]) == w {
			return w, true
		}
	}
	return "", false
}

// opCodes maps OpName spellings back to opcodes. It is built once and
// never written afterwards.
var opCodes = func() map[string]int32 {
	m := make(map[string]int32, len(ops))
	for i, info := range ops {
		if info.class != classNone {
			m[info.name] = int32(i - opBias)
		}
	}
	return m
}()

// OpCode is the inverse of OpName: it returns the opcode spelled name, so
// consumers that only see proto.Message.Op can use IsRead and IsWrite.
// "connect", "tls" and "unknown" have no opcode and return false;
// "notification" returns opcode 0, which is neither a read nor a write.
func OpCode(name string) (int32, bool) {
	op, ok := opCodes[name]
	return op, ok
}
