package stats

import "sync/atomic"

type atomicInt struct{ v atomic.Int64 }

func (a *atomicInt) add() int { return int(a.v.Add(1) - 1) }
