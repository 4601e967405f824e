package stats

import (
	"strings"
	"unsafe"
)

// opTable interns op names to small ids, so that the shard's counters are
// keyed by integers (one multiply-and-shift hash in the runtime's fast
// 64-bit map variant) instead of by structs holding a string (the generic
// map path and a string hash of the op on every lookup). Ids are per table
// and permanent: a name keeps its id for the table's lifetime.
//
// Id opOther is Overflow. At most maxOps other names get an id; later ones
// share opOther, so a decoder bug minting op names cannot grow any map keyed
// by op.
//
// proto.Message.Op always points at a static string, so the same op comes
// back at the same address: a direct-mapped cache keyed by the string's
// address resolves it with a pointer compare. Any other string (built by a
// test or a fuzzer) merely misses the cache and is found by name.
type opTable struct {
	cache [opCacheSlots]opSlot
	ids   map[string]uint32
	names []string // id -> name
}

// opSlot is one cache entry. It holds the string itself, not just its
// address: while the entry exists the string's bytes cannot be freed, so no
// other string can be allocated at the same address and be mistaken for it.
// An entry is never empty: newOpTable fills them all with Overflow, whose id
// and kind they then tell truly, so a hit needs no "is set" test (and an
// empty op, whose address may be nil, cannot hit an unset slot).
type opSlot struct {
	s    string
	id   uint32
	kind opKind
}

// opKind sorts the ops that Shard.observeZK treats specially, so that it
// switches on a small integer the cache already holds instead of comparing
// strings on every message. It belongs to the name, not to the id: a name
// folded into opOther keeps its kind.
type opKind uint8

const (
	kindPlain opKind = iota
	kindAuth
	kindSASL
	kindCloseSession
	kindSetWatches // setWatches, setWatches2
	kindMulti      // multi, multiRead
)

func kindOf(op string) opKind {
	switch op {
	case "auth":
		return kindAuth
	case "sasl":
		return kindSASL
	case "closeSession":
		return kindCloseSession
	case "setWatches", "setWatches2":
		return kindSetWatches
	case "multi", "multiRead":
		return kindMulti
	}
	return kindPlain
}

const (
	opOther      uint32 = 0 // Overflow
	opCacheBits         = 7
	opCacheSlots        = 1 << opCacheBits
)

func newOpTable() *opTable {
	t := &opTable{ids: map[string]uint32{Overflow: opOther}, names: []string{Overflow}}
	for i := range t.cache {
		t.cache[i] = opSlot{s: Overflow, id: opOther, kind: kindOf(Overflow)}
	}
	return t
}

// id returns the id of op, assigning one if the table has room.
func (t *opTable) id(op string) uint32 {
	id, _ := t.idKind(op)
	return id
}

// idKind returns the id of op, as id does, and its kind.
func (t *opTable) idKind(op string) (uint32, opKind) {
	e, ok := t.slot(op)
	if !ok {
		t.fill(e, op)
	}
	return e.id, e.kind
}

// slot returns op's cache entry, ok true if it holds op; if not, fill
// makes it. Split so that the hit, all but every message, inlines into
// Shard.observeZK (idKind with its miss inside costs a call).
func (t *opTable) slot(op string) (e *opSlot, ok bool) {
	p := unsafe.StringData(op)
	// Fibonacci hashing of the address: static strings sit a few bytes
	// apart, and the multiply spreads those low-bit differences over the
	// top bits kept.
	e = &t.cache[(uint64(uintptr(unsafe.Pointer(p)))*0x9e3779b97f4a7c15)>>(64-opCacheBits)]
	return e, unsafe.StringData(e.s) == p && len(e.s) == len(op)
}

// fill looks op up and caches it in e.
func (t *opTable) fill(e *opSlot, op string) {
	*e = opSlot{s: op, id: t.lookup(op), kind: kindOf(op)}
}

// lookup is id without the cache.
func (t *opTable) lookup(op string) uint32 {
	if id, ok := t.ids[op]; ok {
		return id
	}
	if len(t.names) > maxOps {
		return opOther
	}
	id := uint32(len(t.names))
	name := strings.Clone(op) // owned: the table outlives the Message
	t.names = append(t.names, name)
	t.ids[name] = id
	return id
}

// name returns the name of id.
func (t *opTable) name(id uint32) string { return t.names[id] }

// key packs an op id and a second 32-bit dimension (a path id, an error
// code) into one map key.
func key(op uint32, lo uint32) uint64 { return uint64(op)<<32 | uint64(lo) }

// keyOp and keyLo unpack key.
func keyOp(k uint64) uint32 { return uint32(k >> 32) }
func keyLo(k uint64) uint32 { return uint32(k) }
