package render

import "github.com/zktap/zktap/proto/zk"

// ErrName returns the KeeperException name of code, or "" when the code is
// not one ZooKeeper defines. The table is proto/zk's (an array indexed by
// the negated code: one bounds check per reply of a dump).
func ErrName(code int32) string {
	if n := zk.ErrName(code); n != "UNKNOWN" {
		return n
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

// watcherTypeNames are the WatcherType values of checkWatches and
// removeWatches (org.apache.zookeeper.Watcher.WatcherType, lower-cased as
// the Java client's enum names are in its logs).
var watcherTypeNames = [...]string{
	1: "children",
	2: "data",
	3: "any",
	4: "persistent",
	5: "persistentRecursive",
}

// WatcherTypeName returns the name of a checkWatches or removeWatches
// WatcherType, or "" when unknown.
func WatcherTypeName(t int32) string {
	if t > 0 && int(t) < len(watcherTypeNames) {
		return watcherTypeNames[t]
	}
	return ""
}

// isWatcherOp reports whether op's request names a WatcherType.
func isWatcherOp(op string) bool {
	return op == "checkWatches" || op == "removeWatches"
}

// EventName returns the name of a watch event type, or "" when unknown.
func EventName(t int32) string {
	if t > 0 && int(t) < len(eventNames) {
		return eventNames[t]
	}
	return ""
}
