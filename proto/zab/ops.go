package zab

import "github.com/zktap/zktap/proto"

// QuorumPacket types (Leader.java constants).
const (
	typeRequest           = 1
	typeProposal          = 2
	typeAck               = 3
	typeCommit            = 4
	typePing              = 5
	typeRevalidate        = 6
	typeSync              = 7
	typeInform            = 8
	typeCommitAndActivate = 9
	typeNewLeader         = 10
	typeFollowerInfo      = 11
	typeUpToDate          = 12
	typeDiff              = 13
	typeTrunc             = 14
	typeSnap              = 15
	typeObserverInfo      = 16
	typeLeaderInfo        = 17
	typeAckEpoch          = 18
	typeInformAndActivate = 19
	numTypes              = 20
)

// packetInfo is one row of the packet-type table: the Op name and the
// message Kind per direction ([proto.ToServer] = learner to leader). A zero
// Kind marks a type that never travels in that direction; such a packet is
// still decoded in normal framing (the table only narrows resynchronisation).
type packetInfo struct {
	op   string
	kind [2]proto.Kind
}

// packetTable assigns Kinds consistently: Request for a packet that starts
// an exchange and expects an answer, Reply for the answer, Event for a
// one-way announcement nothing answers.
//
//	type                  learner->leader   leader->learner   answered by / answers
//	1  request            Request           -                 forwarded write; answered by the proposal/commit
//	2  proposal           -                 Request           ACK from followers, COMMIT
//	3  ack                Reply             -                 answers PROPOSAL, NEWLEADER, UPTODATE
//	4  commit             -                 Reply             ends a PROPOSAL
//	5  ping               Reply (echo)      Request           leader pings, learner echoes
//	6  revalidate         Request           Reply             by session id
//	7  sync               -                 Reply             answers a forwarded sync REQUEST
//	8  inform             -                 Event             observers never answer
//	9  commitandactivate  -                 Reply             ends a reconfig PROPOSAL
//	10 newleader          -                 Request           ACK
//	11 followerinfo       Request           -                 LEADERINFO
//	12 uptodate           -                 Request           ACK
//	13 diff               -                 Event             sync-mode announcement
//	14 trunc              -                 Event             sync-mode announcement
//	15 snap               -                 Event             sync-mode announcement (+ raw snapshot)
//	16 observerinfo       Request           -                 LEADERINFO
//	17 leaderinfo         -                 Reply             answers FOLLOWERINFO/OBSERVERINFO
//	18 ackepoch           Reply             -                 answers LEADERINFO
//	19 informandactivate  -                 Event             observers never answer
var packetTable = [numTypes]packetInfo{
	typeRequest:           {"request", [2]proto.Kind{proto.Request, 0}},
	typeProposal:          {"proposal", [2]proto.Kind{0, proto.Request}},
	typeAck:               {"ack", [2]proto.Kind{proto.Reply, 0}},
	typeCommit:            {"commit", [2]proto.Kind{0, proto.Reply}},
	typePing:              {"ping", [2]proto.Kind{proto.Reply, proto.Request}},
	typeRevalidate:        {"revalidate", [2]proto.Kind{proto.Request, proto.Reply}},
	typeSync:              {"sync", [2]proto.Kind{0, proto.Reply}},
	typeInform:            {"inform", [2]proto.Kind{0, proto.Event}},
	typeCommitAndActivate: {"commitandactivate", [2]proto.Kind{0, proto.Reply}},
	typeNewLeader:         {"newleader", [2]proto.Kind{0, proto.Request}},
	typeFollowerInfo:      {"followerinfo", [2]proto.Kind{proto.Request, 0}},
	typeUpToDate:          {"uptodate", [2]proto.Kind{0, proto.Request}},
	typeDiff:              {"diff", [2]proto.Kind{0, proto.Event}},
	typeTrunc:             {"trunc", [2]proto.Kind{0, proto.Event}},
	typeSnap:              {"snap", [2]proto.Kind{0, proto.Event}},
	typeObserverInfo:      {"observerinfo", [2]proto.Kind{proto.Request, 0}},
	typeLeaderInfo:        {"leaderinfo", [2]proto.Kind{0, proto.Reply}},
	typeAckEpoch:          {"ackepoch", [2]proto.Kind{proto.Reply, 0}},
	typeInformAndActivate: {"informandactivate", [2]proto.Kind{0, proto.Event}},
}

// kindOf returns the Kind of a packet type sent in dir. A packet seen in
// the "wrong" direction (an ObserverMaster setup, a mislabelled port) takes
// the Kind of the other direction rather than none.
func kindOf(typ int32, dir proto.Dir) proto.Kind {
	k := packetTable[typ].kind
	if k[dir] != 0 {
		return k[dir]
	}
	return k[1-dir]
}

// OpName returns the Op name of QuorumPacket type typ ("proposal", "ack",
// ...), or "unknown" outside 1..19.
func OpName(typ int32) string {
	if typ < 1 || typ >= numTypes {
		return "unknown"
	}
	return packetTable[typ].op
}

// Client opcodes as carried by REQUEST and TxnHeader.type, spelled as the
// client protocol spells them (ZooDefs.OpCode / Request.op2String).
const (
	opCreate          = 1
	opDelete          = 2
	opSetData         = 5
	opSetACL          = 7
	opSync            = 9
	opCheck           = 13
	opCreate2         = 15
	opReconfig        = 16
	opCreateContainer = 19
	opDeleteContainer = 20
	opCreateTTL       = 21
)

// opBias shifts client opcodes (-11..107) to non-negative table indexes.
const opBias = 11

var opNames = [107 + opBias + 1]string{
	-11 + opBias: "closeSession", -10 + opBias: "createSession", -1 + opBias: "error",
	0 + opBias: "notification", 1 + opBias: "create", 2 + opBias: "delete", 3 + opBias: "exists",
	4 + opBias: "getData", 5 + opBias: "setData", 6 + opBias: "getACL", 7 + opBias: "setACL",
	8 + opBias: "getChildren", 9 + opBias: "sync", 11 + opBias: "ping", 12 + opBias: "getChildren2",
	13 + opBias: "check", 14 + opBias: "multi", 15 + opBias: "create2", 16 + opBias: "reconfig",
	17 + opBias: "checkWatches", 18 + opBias: "removeWatches", 19 + opBias: "createContainer",
	20 + opBias: "deleteContainer", 21 + opBias: "createTTL", 22 + opBias: "multiRead",
	100 + opBias: "auth", 101 + opBias: "setWatches", 102 + opBias: "sasl", 103 + opBias: "getEphemerals",
	104 + opBias: "getAllChildrenNumber", 105 + opBias: "setWatches2", 106 + opBias: "addWatch",
	107 + opBias: "whoAmI",
}

// TxnOpName returns the client-protocol name of opcode op (create, setData,
// createSession, error, ...), or "unknown". The result is a static string.
func TxnOpName(op int32) string {
	if i := int(op) + opBias; i >= 0 && i < len(opNames) && opNames[i] != "" {
		return opNames[i]
	}
	return "unknown"
}

// hasPath reports whether the request or txn record of op begins with a
// ustring path.
func hasPath(op int32) bool {
	switch op {
	case opCreate, opDelete, opSetData, opSetACL, opSync, opCheck, opCreate2,
		opReconfig, opCreateContainer, opDeleteContainer, opCreateTTL:
		return true
	}
	return false
}

// hasData reports whether the path of op's record is followed by a data
// buffer (create variants and setData; reconfig's SetDataTxn in a proposal).
func hasData(op int32) bool {
	switch op {
	case opCreate, opSetData, opCreate2, opCreateContainer, opCreateTTL:
		return true
	}
	return false
}
