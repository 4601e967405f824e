package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/zktap/zktap/exporter/stats"
)

// Handler returns the HTTP handler: the landing page at /, /metrics,
// /healthz, the zk-stats-daemon endpoints under /json/ and /debug/dump.
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", e.metricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /json/paths", e.jsonPaths)
	mux.HandleFunc("GET /json/ips", e.jsonIPs)
	mux.HandleFunc("GET /json/info", e.jsonInfo)
	if !e.opts.DisableAuths {
		mux.HandleFunc("GET /json/auths", e.jsonAuths)
		mux.HandleFunc("GET /json/auths-dump", e.jsonAuthsDump)
	}
	if e.opts.Dump != nil && !e.opts.DisableDump {
		mux.HandleFunc("GET /debug/dump", e.opts.Dump.ServeDump)
	}
	links := []web.LandingLinks{
		{Address: "/metrics", Text: "Metrics"},
		{Address: "/healthz", Text: "Health"},
		{Address: "/json/paths", Text: "Requests by path (zk-stats-daemon)"},
		{Address: "/json/ips", Text: "Requests by client IP (zk-stats-daemon)"},
		{Address: "/json/info", Text: "Info"},
	}
	if !e.opts.DisableAuths {
		links = append(links,
			web.LandingLinks{Address: "/json/auths", Text: "Requests by auth identity (zk-stats-daemon)"},
			web.LandingLinks{Address: "/json/auths-dump", Text: "Identity by connection"})
	}
	if e.opts.Dump != nil && !e.opts.DisableDump {
		links = append(links, web.LandingLinks{Address: "/debug/dump", Text: "Live message dump (NDJSON; ?format=text)"})
	}
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "zktap",
		Description: "Passive ZooKeeper traffic observer",
		Version:     e.opts.Version,
		Links:       links,
	})
	if err != nil {
		// Only a broken embedded template can fail; serve without it.
		e.opts.Logger.Error("landing page", "err", err)
	} else {
		mux.Handle("GET /{$}", landing)
	}
	return mux
}

// Serve serves Handler on addr until ctx ends, with TLS and basic auth from
// the exporter-toolkit web configuration file webConfigFile ("" for none),
// then shuts the server down gracefully.
func (e *Exporter) Serve(ctx context.Context, addr, webConfigFile string, logger *slog.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return e.ServeListener(ctx, l, webConfigFile, logger)
}

// ServeListener is Serve on a listener the caller opened; it closes l.
func (e *Exporter) ServeListener(ctx context.Context, l net.Listener, webConfigFile string, logger *slog.Logger) error {
	if logger == nil {
		logger = e.opts.Logger
	}
	srv := &http.Server{
		Handler:           e.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	flags := &web.FlagConfig{
		WebListenAddresses: &[]string{l.Addr().String()},
		WebSystemdSocket:   new(bool),
		WebConfigFile:      &webConfigFile,
	}
	done := make(chan error, 1)
	go func() { done <- web.Serve(l, srv, flags, logger) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// Streaming /debug/dump requests end with ctx (BaseContext), so the
	// shutdown does not wait on them.
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// zktraffic's request names (zktraffic/base/zookeeper.py ZK_REQUEST_TYPES).
var zktrafficNames = map[string]string{
	"connect": "ConnectRequest", "create": "CreateRequest", "create2": "CreateRequest",
	"delete": "DeleteRequest", "exists": "ExistsRequest", "getData": "GetDataRequest",
	"setData": "SetDataRequest", "getACL": "GetAclRequest", "setACL": "SetAclRequest",
	"getChildren": "GetChildrenRequest", "getChildren2": "GetChildren2Request",
	"sync": "SyncRequest", "ping": "PingRequest", "check": "CheckRequest",
	"multi": "MultiRequest", "closeSession": "CloseRequest", "auth": "SetAuthRequest",
	"setWatches": "SetWatchesRequest",
}

// RequestName returns zktraffic's name for an op: its table where it has
// one, else the op with a capital first letter and "Request" appended.
func RequestName(op string) string {
	if n, ok := zktrafficNames[op]; ok {
		return n
	}
	if op == "" {
		return "UnknownRequest"
	}
	return strings.ToUpper(op[:1]) + op[1:] + "Request"
}

// zktraffic's writes (ZK_WRITE_OPS), plus the write ops it did not know.
var writeOps = map[string]bool{
	"create": true, "create2": true, "delete": true, "setData": true, "multi": true, "setACL": true,
	"createContainer": true, "createTTL": true, "reconfig": true, "check": true,
}

// accum builds a zktraffic key map: "<name><path>" -> value.
type accum map[string]uint64

func (a accum) request(prefix, op, path, suffix string, t stats.Traffic) {
	if path == "" {
		path = "/" // as zktraffic: connect and ping count under "/"
	}
	name := RequestName(op)
	p := path + suffix
	a[prefix+name+p] += t.Count
	a[prefix+name+"Bytes"+p] += t.Bytes
	kind := "reads"
	if writeOps[op] {
		kind = "writes"
	}
	a[prefix+kind+p] += t.Count
	a[prefix+kind+"Bytes"+p] += t.Bytes
	tot := "/reads"
	totB := "/readBytes"
	if kind == "writes" {
		tot, totB = "/writes", "/writeBytes"
	}
	a[prefix+"total"+tot] += t.Count
	a[prefix+"total"+totB] += t.Bytes
}

// newAccum pre-fills the keys zktraffic always has, so scripts find them
// from the first request on.
func newAccum(prefix string) accum {
	a := accum{}
	for _, k := range []string{"writes/", "writesBytes/", "reads/", "readsBytes/",
		"total/writes", "total/writeBytes", "total/reads", "total/readBytes"} {
		a[prefix+k] = 0
	}
	return a
}

// jsonPaths serves zktraffic's per-path keys: ExistsRequest/path,
// ExistsRequestBytes/path, reads/path, writesBytes/path, watches/path,
// total/reads, ... cumulative since start, on normalised paths.
func (e *Exporter) jsonPaths(w http.ResponseWriter, _ *http.Request) {
	snap := e.opts.Stats.Snapshot()
	a := newAccum("")
	for _, r := range snap.Requests {
		a.request("", r.Op, r.Path, "", r.Traffic)
	}
	for _, r := range snap.WatchesSet {
		if r.Path != "" {
			a["watches"+r.Path] += r.Count
		}
	}
	for _, r := range snap.WatchesFired {
		a[r.Type+r.Path] += r.Count
	}
	writeJSON(w, a)
}

// jsonIPs serves per_ip/ keys for the top-N client IPs with zktraffic's
// scheme, path then client: per_ip/ExistsRequest/a/b:10.0.0.1,
// per_ip/reads/a/b:10.0.0.1, per_ip/total/reads. Paths are the normalised
// ones, at most 128 per client before they fold into "other".
func (e *Exporter) jsonIPs(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, topJSON("per_ip/", e.opts.Stats.Snapshot().Clients))
}

// jsonAuths is jsonIPs by auth identity (per_auth/ExistsRequest/a/b:digest:user).
func (e *Exporter) jsonAuths(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, topJSON("per_auth/", e.opts.Stats.Snapshot().Auths))
}

func topJSON(prefix string, tops []stats.Top) accum {
	a := newAccum(prefix)
	for _, t := range tops {
		if t.Key == stats.Overflow {
			continue
		}
		for _, o := range t.Ops {
			a.request(prefix, o.Op, o.Path, ":"+t.Key, o.Traffic)
		}
	}
	return a
}

// jsonAuthsDump maps each live client endpoint to its identity
// (scheme:user, never a password), as zktraffic's auth_by_client.
func (e *Exporter) jsonAuthsDump(w http.ResponseWriter, _ *http.Request) {
	snap := e.opts.Stats.Snapshot()
	out := make(map[string]string, len(snap.Conns))
	for _, c := range snap.Conns {
		out[c.Client.String()] = c.Identity
	}
	writeJSON(w, out)
}

func (e *Exporter) jsonInfo(w http.ResponseWriter, _ *http.Request) {
	now := e.opts.Now()
	writeJSON(w, map[string]any{
		"uptime":  now.Sub(e.opts.Stats.Start()).Seconds(),
		"version": e.opts.Version,
		"start":   e.opts.Stats.Start().UTC().Format(time.RFC3339),
	})
}
