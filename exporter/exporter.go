package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/zktap/zktap/exporter/stats"
	"github.com/zktap/zktap/proto"
)

// scopeName is the instrumentation scope of every zktap metric.
const scopeName = "github.com/zktap/zktap/exporter"

// DefaultListenAddress is the default --web.listen-address. Port 9771 is
// used by no common ZooKeeper tool (unlike 7000, 7070, 8080, 9141, 9464).
const DefaultListenAddress = ":9771"

// DumpSource serves /debug/dump: it streams live messages to one HTTP
// client until the request's context ends. The tap implements it.
type DumpSource interface {
	ServeDump(w http.ResponseWriter, r *http.Request)
}

// OTLPOptions configures OTLP push. Zero fields fall back to the standard
// OTEL_EXPORTER_OTLP_* variables, which the OTLP exporters read themselves.
type OTLPOptions struct {
	// Enabled turns OTLP push on. It is also on when Getenv reports
	// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT.
	Enabled bool
	// Protocol is "grpc" or "http/protobuf". Empty takes
	// OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, then OTEL_EXPORTER_OTLP_PROTOCOL,
	// then "http/protobuf" (the OTLP specification's default).
	Protocol string
	// Endpoint is the receiver's URL, e.g. http://collector:4318 or, for
	// Prometheus 3, http://prometheus:9090/api/v1/otlp/v1/metrics.
	Endpoint string
	Insecure bool              // plain text (also implied by an http:// Endpoint)
	Headers  map[string]string // added to every export
	Interval time.Duration     // export interval; 0 takes OTEL_METRIC_EXPORT_INTERVAL or 60s
	Timeout  time.Duration     // per export; 0 takes the exporter's default
}

// Options configures New.
type Options struct {
	Stats  *stats.Stats        // required
	Health func() stats.Health // zktap's own counters; nil reports zeros
	Decode *proto.Counters     // decode errors by protocol and reason; may be nil
	Dump   DumpSource          // serves /debug/dump; nil disables it
	Logger *slog.Logger        // nil discards
	Getenv func(string) string // nil means no environment
	Now    func() time.Time    // nil means time.Now
	OTLP   OTLPOptions

	DisableDump  bool // 404 on /debug/dump even when Dump is set
	DisableAuths bool // 404 on /json/auths and /json/auths-dump
	// CardinalityLimit is the SDK's per-instrument backstop; the stats caps
	// act first. 0 means 32 ops x (MaxPaths+2) paths, at least 2000, so the
	// backstop only fires if the stats caps fail.
	CardinalityLimit int
	Version          string // shown on the landing page and in /json/info
}

// Exporter turns a stats.Stats into OpenTelemetry metrics, served to
// Prometheus and pushed over OTLP, and serves the HTTP endpoints.
type Exporter struct {
	opts     Options
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	otlp     *sdkmetric.PeriodicReader
	reg      metric.Registration
	start    time.Time
	share    snapshotShare // from the callback to the producer
}

// New builds the MeterProvider with a Prometheus reader on a private
// registry and, when configured, an OTLP periodic reader.
func New(opts Options) (*Exporter, error) {
	if opts.Stats == nil {
		return nil, errors.New("exporter: Options.Stats is nil")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Health == nil {
		opts.Health = func() stats.Health { return stats.Health{} }
	}
	if opts.CardinalityLimit <= 0 {
		opts.CardinalityLimit = max(2000, 32*(opts.Stats.Config().MaxPaths+2))
	}
	e := &Exporter{opts: opts, registry: prometheus.NewRegistry(), start: opts.Now()}
	prod := &histProducer{e: e}

	promReader, err := otelprom.New(
		otelprom.WithRegisterer(e.registry),
		// Scope labels would add otel_scope_* to every series for a
		// single scope; target_info carries the resource instead.
		otelprom.WithoutScopeInfo(),
		otelprom.WithProducer(prod),
	)
	if err != nil {
		return nil, fmt.Errorf("exporter: prometheus: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless())
	if err != nil {
		return nil, fmt.Errorf("exporter: resource: %w", err)
	}
	mpOpts := []sdkmetric.Option{
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(promReader),
		sdkmetric.WithCardinalityLimit(opts.CardinalityLimit),
	}
	if e.otlpEnabled() {
		exp, err := e.newOTLP(context.Background())
		if err != nil {
			return nil, err
		}
		var ro []sdkmetric.PeriodicReaderOption
		ro = append(ro, sdkmetric.WithProducer(prod))
		if opts.OTLP.Interval > 0 {
			ro = append(ro, sdkmetric.WithInterval(opts.OTLP.Interval))
		}
		e.otlp = sdkmetric.NewPeriodicReader(exp, ro...)
		mpOpts = append(mpOpts, sdkmetric.WithReader(e.otlp))
	}
	e.provider = sdkmetric.NewMeterProvider(mpOpts...)
	if e.reg, err = e.register(e.provider.Meter(scopeName)); err != nil {
		_ = e.provider.Shutdown(context.Background())
		return nil, err
	}
	return e, nil
}

func (e *Exporter) otlpEnabled() bool {
	return e.opts.OTLP.Enabled || e.opts.OTLP.Endpoint != "" ||
		e.opts.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" ||
		e.opts.Getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != ""
}

func (e *Exporter) otlpProtocol() string {
	o := e.opts.OTLP
	return strings.ToLower(cmpOr(o.Protocol, e.opts.Getenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"),
		e.opts.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf"))
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func (e *Exporter) newOTLP(ctx context.Context) (sdkmetric.Exporter, error) {
	o := e.opts.OTLP
	switch p := e.otlpProtocol(); p {
	case "grpc":
		var gopts []otlpmetricgrpc.Option
		if o.Endpoint != "" {
			gopts = append(gopts, otlpmetricgrpc.WithEndpointURL(o.Endpoint))
		}
		if o.Insecure {
			gopts = append(gopts, otlpmetricgrpc.WithInsecure())
		}
		if len(o.Headers) > 0 {
			gopts = append(gopts, otlpmetricgrpc.WithHeaders(o.Headers))
		}
		if o.Timeout > 0 {
			gopts = append(gopts, otlpmetricgrpc.WithTimeout(o.Timeout))
		}
		exp, err := otlpmetricgrpc.New(ctx, gopts...)
		if err != nil {
			return nil, fmt.Errorf("exporter: otlp grpc: %w", err)
		}
		return exp, nil
	case "http/protobuf":
		var ho []otlpmetrichttp.Option
		if o.Endpoint != "" {
			ho = append(ho, otlpmetrichttp.WithEndpointURL(o.Endpoint))
		}
		if o.Insecure {
			ho = append(ho, otlpmetrichttp.WithInsecure())
		}
		if len(o.Headers) > 0 {
			ho = append(ho, otlpmetrichttp.WithHeaders(o.Headers))
		}
		if o.Timeout > 0 {
			ho = append(ho, otlpmetrichttp.WithTimeout(o.Timeout))
		}
		exp, err := otlpmetrichttp.New(ctx, ho...)
		if err != nil {
			return nil, fmt.Errorf("exporter: otlp http: %w", err)
		}
		return exp, nil
	default:
		return nil, fmt.Errorf("exporter: otlp protocol %q: want grpc or http/protobuf", p)
	}
}

// Registry returns the private Prometheus registry /metrics serves.
func (e *Exporter) Registry() *prometheus.Registry { return e.registry }

// MeterProvider returns the provider, for components that add instruments
// of their own to the same registry.
func (e *Exporter) MeterProvider() metric.MeterProvider { return e.provider }

// metricsHandler serves the private registry.
func (e *Exporter) metricsHandler() http.Handler {
	return promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(e.opts.Logger.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
	})
}

// ForceFlush pushes an OTLP export now. It is a no-op without OTLP.
func (e *Exporter) ForceFlush(ctx context.Context) error {
	if e.otlp == nil {
		return nil
	}
	return e.otlp.ForceFlush(ctx)
}

// Shutdown flushes a final OTLP export and stops the readers.
func (e *Exporter) Shutdown(ctx context.Context) error {
	// The provider's Shutdown runs a final collect-and-export on the
	// periodic reader (callbacks still registered) before closing it.
	return e.provider.Shutdown(ctx)
}
