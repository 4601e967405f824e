#!/bin/bash
# gen-captures.sh regenerates testdata/captures/*.pcap from a real ZooKeeper (Debian's
# package, see testdata/setup.sh) driven by the known workload of internal/zkload.
# Run it as root from anywhere inside the repository:
#
#	sudo testdata/gen-captures.sh          # every capture
#	sudo testdata/gen-captures.sh newops   # only newops.pcap (+ newops.json)
#
# It starts its own servers (standalone on 127.0.0.1:2181, an ensemble on
# 127.0.0.1-3:2181/2888/3888, a standalone in a network namespace), so nothing else may
# use those ports while it runs. Everything it starts is stopped on exit, and the network
# namespaces it creates are deleted.
set -euo pipefail

WHAT=${1:-all}
case "$WHAT" in
all | newops) ;;
*)
	echo "usage: gen-captures.sh [all|newops]" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/testdata/captures
ZKCP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar
NS_S=zktap-gen-srv NS_C=zktap-gen-cli
VETH_S=zkgen-s VETH_C=zkgen-c
ADDR_S=10.199.0.1 ADDR_C=10.199.0.2

die() { echo "gen-captures.sh: $*" >&2; exit 1; }
log() { echo "gen-captures.sh: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (tcpdump, network namespaces)"
for c in java tcpdump ip go; do command -v "$c" >/dev/null || die "$c not found: run testdata/setup.sh"; done
[ -r /usr/share/java/zookeeper.jar ] || die "ZooKeeper is not installed: run testdata/setup.sh"

WORK=$(mktemp -d /tmp/zktap-gen.XXXXXX)
ZK_PIDS=() TD_PIDS=()

cleanup() {
	set +e
	for p in "${TD_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${ZK_PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "$NS_S" 2>/dev/null
	ip netns del "$NS_C" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building zkload and pcapmut"
go build -o "$WORK/zkload" ./internal/zkload
go build -o "$WORK/pcapmut" ./internal/pcapmut

# nsexec NETNS CMD... runs CMD in NETNS, or here when NETNS is empty.
nsexec() {
	local ns=$1; shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# srvr HOST PORT [NETNS] prints the srvr four-letter word's answer.
srvr() {
	nsexec "${3:-}" timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2 && printf srvr >&3 && cat <&3" 2>/dev/null || true
}

# mode HOST PORT [NETNS] prints the server's Mode (standalone, leader, follower) or nothing.
mode() { srvr "$@" | sed -n 's/^Mode: //p'; }

# zk_start NAME HOST CLIENTPORT NETNS MYID MEMBERS [JVMFLAG...] starts a server in its
# own process group and sets ZK_PID. MYID 0 means standalone.
zk_start() {
	local name=$1 host=$2 port=$3 ns=$4 id=$5 members=$6 dir=$WORK/$1
	shift 6
	mkdir -p "$dir/data"
	cat >"$dir/zoo.cfg" <<-CFG
		tickTime=2000
		initLimit=10
		syncLimit=5
		dataDir=$dir/data
		clientPort=$port
		clientPortAddress=$host
		maxClientCnxns=0
		4lw.commands.whitelist=*
		admin.enableServer=false
	CFG
	if [ "$id" -ne 0 ]; then
		printf '%s' "$members" >>"$dir/zoo.cfg"
		echo "$id" >"$dir/data/myid"
	fi
	# setsid gives the JVM its own process group (setsid and ip netns exec both exec in place).
	setsid bash -c 'exec "$@"' zk ${ns:+ip netns exec "$ns"} java -Xmx256m -Djute.maxbuffer=4194304 "$@" \
		-cp "$ZKCP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
		>"$dir/zookeeper.log" 2>&1 &
	ZK_PID=$!
	ZK_PIDS+=("$ZK_PID")
}

# zk_wait HOST PORT [NETNS] waits up to 30 s until srvr prints a Mode line.
zk_wait() {
	local i
	for i in $(seq 300); do
		[ -n "$(mode "$@")" ] && return 0
		sleep 0.1
	done
	die "ZooKeeper at $1:$2 did not serve within 30 s (logs in $WORK)"
}

zk_kill() { kill -KILL -- "-$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# cap_start IFACE FILE FILTER [NETNS] starts tcpdump and waits until it listens; sets TD_PID.
cap_start() {
	local err=$WORK/tcpdump.$RANDOM.err i
	# tcpdump must be this shell's direct child (ip netns exec execs in place), so that
	# TD_PID is tcpdump itself and SIGINT makes it flush and exit.
	if [ -n "${4:-}" ]; then
		ip netns exec "$4" tcpdump -i "$1" --immediate-mode -B 262144 -Z root -w "$2" "$3" 2>"$err" &
	else
		tcpdump -i "$1" --immediate-mode -B 262144 -Z root -w "$2" "$3" 2>"$err" &
	fi
	TD_PID=$!
	TD_PIDS+=("$TD_PID")
	for i in $(seq 100); do
		grep -q "listening on" "$err" && return 0
		sleep 0.05
	done
	cat "$err" >&2
	die "tcpdump on $1 did not start"
}

cap_stop() {
	sleep 0.5 # let the last packets reach the ring
	kill -INT "$1"
	wait "$1" || true
}

# gen_newops captures the raw-frame workload of ZooKeeper 3.6+ operations go-zookeeper
# cannot send, on a standalone server of its own with TTL nodes enabled.
gen_newops() {
	log "standalone server with extended types on 127.0.0.1:2181"
	zk_start newops 127.0.0.1 2181 "" 0 "" -Dzookeeper.extendedTypesEnabled=true
	local pid=$ZK_PID
	zk_wait 127.0.0.1 2181
	log "newops.pcap"
	cap_start lo "$OUT/newops.pcap" "tcp port 2181"
	"$WORK/zkload" -server 127.0.0.1:2181 -newops -out "$OUT/newops.json"
	cap_stop "$TD_PID"
	zk_kill "$pid"
}

mkdir -p "$OUT"
if [ "$WHAT" = newops ]; then
	rm -f "$OUT"/newops.pcap "$OUT"/newops.json
	gen_newops
	chmod a+r "$OUT"/newops.*
	log "done:"
	ls -l "$OUT"/newops.* >&2
	exit 0
fi
rm -f "$OUT"/*.pcap "$OUT"/*.json "$OUT"/ensemble.txt

# ---- standalone on lo: workload, pipelined, midstream ----
log "standalone server on 127.0.0.1:2181"
zk_start standalone 127.0.0.1 2181 "" 0 ""
SA_PID=$ZK_PID
zk_wait 127.0.0.1 2181

log "workload.pcap"
cap_start lo "$OUT/workload.pcap" "tcp port 2181"
"$WORK/zkload" -server 127.0.0.1:2181 -root /zkload -out "$OUT/workload.json"
cap_stop "$TD_PID"

log "pipelined.pcap"
cap_start lo "$OUT/pipelined.pcap" "tcp port 2181"
"$WORK/zkload" -server 127.0.0.1:2181 -root /pipe -parts pipelined -pipelined 500 -out "$OUT/pipelined.json"
cap_stop "$TD_PID"

log "midstream.pcap"
"$WORK/zkload" -server 127.0.0.1:2181 -load -sessions 4 -outstanding 8 -rate 1000 -duration 5s \
	-out "$OUT/midstream.json" &
LOAD_PID=$!
sleep 2 # the sessions are established and busy before the capture starts
cap_start lo "$OUT/midstream.pcap" "tcp port 2181"
wait "$LOAD_PID" || die "midstream load failed"
cap_stop "$TD_PID"
zk_kill "$SA_PID"

# ---- segmented: server and client in two namespaces joined by a 1500-MTU veth ----
log "segmented.pcap (veth, MTU 1500, gso_max_segs 1)"
ip netns add "$NS_S"
ip netns add "$NS_C"
ip link add "$VETH_S" netns "$NS_S" type veth peer name "$VETH_C" netns "$NS_C"
for side in "$NS_S $VETH_S $ADDR_S" "$NS_C $VETH_C $ADDR_C"; do
	read -r ns dev addr <<<"$side"
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$addr/24" dev "$dev"
	# veth does GSO: without gso_max_segs 1 the capture sees 64 KB super-packets.
	ip -n "$ns" link set "$dev" mtu 1500 gso_max_segs 1 up
	if command -v ethtool >/dev/null; then
		ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
	fi
done
zk_start segmented "$ADDR_S" 2181 "$NS_S" 0 ""
SEG_PID=$ZK_PID
zk_wait "$ADDR_S" 2181 "$NS_S"
cap_start "$VETH_S" "$OUT/segmented.pcap" "tcp port 2181" "$NS_S"
ip netns exec "$NS_C" "$WORK/zkload" -server "$ADDR_S:2181" -root /seg -parts big,children -out "$OUT/segmented.json"
cap_stop "$TD_PID"
zk_kill "$SEG_PID"
ip netns del "$NS_S"
ip netns del "$NS_C"

# ---- ensemble: election, writes through a follower, leader killed, election again ----
log "ensemble.pcap"
MEMBERS=""
for id in 1 2 3; do MEMBERS+="server.$id=127.0.0.$id:2888:3888"$'\n'; done
cap_start lo "$OUT/ensemble.pcap" "tcp and (port 2181 or port 2888 or port 3888)"
declare -A ENS_PID
for id in 1 2 3; do
	zk_start "ens$id" "127.0.0.$id" 2181 "" "$id" "$MEMBERS"
	ENS_PID[$id]=$ZK_PID
done
for id in 1 2 3; do zk_wait "127.0.0.$id" 2181; done
LEADER="" FOLLOWER=""
for id in 1 2 3; do
	case "$(mode "127.0.0.$id" 2181)" in
	leader) LEADER=$id ;;
	follower) [ -n "$FOLLOWER" ] || FOLLOWER=$id ;;
	esac
done
[ -n "$LEADER" ] && [ -n "$FOLLOWER" ] || die "ensemble has no leader/follower"
log "leader $LEADER, client through follower $FOLLOWER"
"$WORK/zkload" -server "127.0.0.$FOLLOWER:2181" -root /ens -parts basic,watch,multi,sync,delete -out "$OUT/ensemble.json"
zk_kill "${ENS_PID[$LEADER]}"
NEWLEADER=""
for i in $(seq 300); do
	for id in 1 2 3; do
		[ "$id" = "$LEADER" ] && continue
		[ "$(mode "127.0.0.$id" 2181)" = leader ] && NEWLEADER=$id
	done
	[ -n "$NEWLEADER" ] && break
	sleep 0.1
done
[ -n "$NEWLEADER" ] || die "no new leader after killing $LEADER"
for id in 1 2 3; do [ "$id" = "$LEADER" ] || zk_wait "127.0.0.$id" 2181; done
sleep 1
cap_stop "$TD_PID"
for id in 1 2 3; do zk_kill "${ENS_PID[$id]}"; done
cat >"$OUT/ensemble.txt" <<-TXT
	first leader: server.$LEADER (127.0.0.$LEADER), killed with SIGKILL after the workload
	client session through follower: server.$FOLLOWER (127.0.0.$FOLLOWER)
	new leader: server.$NEWLEADER (127.0.0.$NEWLEADER)
TXT

# ---- standalone with extended types on lo: newops ----
gen_newops

# ---- rewritten captures, derived from workload.pcap with fixed seeds ----
log "reordered, duplicated, dropped"
"$WORK/pcapmut" -mode reorder -n 40 -seed 1 -in "$OUT/workload.pcap" -out "$OUT/reordered.pcap" -log "$OUT/reordered.json"
"$WORK/pcapmut" -mode duplicate -n 40 -seed 2 -in "$OUT/workload.pcap" -out "$OUT/duplicated.pcap" -log "$OUT/duplicated.json"
"$WORK/pcapmut" -mode drop -n 5 -seed 3 -in "$OUT/workload.pcap" -out "$OUT/dropped.pcap" -log "$OUT/dropped.json"

chmod a+r "$OUT"/*
log "done:"
ls -l "$OUT" >&2
