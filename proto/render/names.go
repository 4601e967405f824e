package render

// errNames maps KeeperException codes (PROTOCOL.md 2.8), negated, to the names
// ZooKeeper's Java client uses. Codes seen only inside clients are listed
// too: a capture of a misbehaving client could show them.
var errNames = [...]string{
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

// ErrName returns the KeeperException name of code, or "" when the code is
// not one ZooKeeper defines.
func ErrName(code int32) string {
	// An array indexed by the negated code is one bounds check, where a map
	// lookup hashed the code for every reply of a dump.
	if code <= 0 && -int64(code) < int64(len(errNames)) {
		return errNames[-code]
	}
	return ""
}

// eventNames are the WatcherEvent types a server sends (PROTOCOL.md 2.7).
var eventNames = [...]string{
	1: "NodeCreated",
	2: "NodeDeleted",
	3: "NodeDataChanged",
	4: "NodeChildrenChanged",
}

// EventName returns the name of a watch event type, or "" when unknown.
func EventName(t int32) string {
	if t > 0 && int(t) < len(eventNames) {
		return eventNames[t]
	}
	return ""
}
