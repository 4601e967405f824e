// Package zktest runs real Apache ZooKeeper servers (Debian's zookeeper package) for tests.
//
// # Servers
//
// StartStandalone and StartEnsemble write a zoo.cfg into a t.TempDir, start
// org.apache.zookeeper.server.quorum.QuorumPeerMain in its own process group and wait until
// the `srvr` four-letter word prints a `Mode:` line, which is when ZooKeeper serves
// clients (`ruok` answers earlier). The JVM is killed in t.Cleanup, and its log is printed
// when the test failed.
//
// # Requirements
//
// ZooKeeper must be installed (testdata/setup.sh installs it). A missing installation is
// a test failure, never a skip, so that CI cannot silently stop testing against a real
// server.
//
// # Concurrency
//
// A Server's methods are safe to call from one test goroutine at a time; FourLetter may be
// called concurrently.
package zktest
