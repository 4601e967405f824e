// Package workload drives a known ZooKeeper client workload with github.com/go-zookeeper/zk
// and reports exactly what went over the wire, so that tests can compare what zktap
// decoded from a capture with what the client really sent.
//
// go-zookeeper speaks the protocol of ZooKeeper 3.5. The operations of 3.6 and later
// (addWatch with its persistent watches, checkWatches, removeWatches, multiRead, whoAmI,
// createTTL, createContainer, getEphemerals, getAllChildrenNumber, setWatches2) are sent
// by RunNewOps, a raw-frame client framing requests as the Java client does, which
// reports in the same format.
//
// # Counting
//
// Every connection the client opens is wrapped by a tap that splits both directions into
// ZooKeeper frames and counts requests by opcode (and by path for the workload's fixed
// paths), multi sub-operations, replies by opcode and error code, and watch
// notifications by event type. The counts therefore include what go-zookeeper sends on
// its own: the ConnectRequest ("connect"), pings, auth and setWatches (with ordinary
// xids), and closeSession.
//
// # Secrets
//
// The auth part uses the digest credentials user:secret and a znode whose data is
// "znode-secret-data"; both are on the wire, on purpose, so that tests can check that
// they never reach zktap's output. Reports never contain them.
package workload
