package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// LoadSpec describes a load run: Sessions sessions, each with Outstanding concurrent
// exists requests in flight (pipelined on the session's connection), for Duration.
type LoadSpec struct {
	Sessions    int           `json:"sessions"`    // default 8
	Outstanding int           `json:"outstanding"` // per session; default 64
	Rate        float64       `json:"rate"`        // total ops/s; 0 means as fast as the server answers
	Duration    time.Duration `json:"duration"`    // default 10 s
	Path        string        `json:"path"`        // node probed by exists; default "/" (always exists)
}

func (l LoadSpec) withDefaults() LoadSpec {
	if l.Sessions <= 0 {
		l.Sessions = 8
	}
	if l.Outstanding <= 0 {
		l.Outstanding = 64
	}
	if l.Duration <= 0 {
		l.Duration = 10 * time.Second
	}
	if l.Path == "" {
		l.Path = "/"
	}
	return l
}

// Load runs a pipelined exists load against addr and reports ops/s. The requests are
// counted on the wire like Run's.
func Load(ctx context.Context, addr string, l LoadSpec) (Report, error) {
	l = l.withDefaults()
	c := newCounts(func(p string) string { return p })
	var conns []*zk.Conn
	defer func() {
		for _, z := range conns {
			z.Close()
		}
	}()
	for range l.Sessions {
		z, err := connect(ctx, addr, c, 30*time.Second, 0)
		if err != nil {
			r := c.report(addr)
			return r, err
		}
		conns = append(conns, z)
	}

	ctx, cancel := context.WithTimeout(ctx, l.Duration)
	defer cancel()
	workers := l.Sessions * l.Outstanding
	// Each worker paces itself to its share of the rate; a worker that falls behind
	// catches up without bursting past its schedule.
	var interval time.Duration
	if l.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(workers) / l.Rate)
	}
	var ops atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	begin := time.Now()
	for w := range workers {
		z := conns[w%len(conns)]
		wg.Go(func() {
			next := begin
			for ctx.Err() == nil {
				if interval > 0 {
					next = next.Add(interval)
					if d := time.Until(next); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return
						}
					}
				}
				if _, _, err := z.Exists(l.Path); err != nil {
					if ctx.Err() == nil && !errors.Is(err, zk.ErrClosing) {
						once.Do(func() { firstErr = fmt.Errorf("workload: exists %s: %w", l.Path, err); cancel() })
					}
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	for _, z := range conns {
		z.Close()
	}
	conns = nil
	r := c.report(addr)
	r.Load = &l
	r.Ops = ops.Load()
	r.Seconds = elapsed.Seconds()
	r.OpsPerSecond = float64(r.Ops) / elapsed.Seconds()
	return r, firstErr
}
