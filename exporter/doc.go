// Package exporter turns zktap's aggregated traffic ([stats.Stats]) into
// OpenTelemetry metrics, exposes them to Prometheus and pushes them over
// OTLP, and serves zktap's HTTP endpoints.
//
// # Pipeline
//
// One sdk/metric MeterProvider feeds two readers: the OTel Prometheus
// exporter, registered on a private prometheus.Registry (never the default
// one) with WithoutScopeInfo and the default translation strategy
// (UnderscoreEscapingWithSuffixes: dots become underscores, the unit and
// _total are appended), and, when configured, an OTLP PeriodicReader over
// gRPC or HTTP/protobuf. The OTLP exporters read the standard
// OTEL_EXPORTER_OTLP_* variables themselves; [OTLPOptions] overrides them.
// Counters and gauges are observed at collection time by one callback that
// takes a single [stats.Snapshot]; histograms enter through a
// metric.Producer, because OTel has no asynchronous histogram. The SDK's
// cardinality limit is set as a backstop behind the caps in stats.
//
// # HTTP
//
// [Exporter.Handler] serves / (landing page), /metrics, /healthz, the
// zk-stats-daemon endpoints /json/paths, /json/ips, /json/auths,
// /json/auths-dump and /json/info with zktraffic's key scheme, and
// /debug/dump through a [DumpSource]. /debug/dump and /json/auths* can be
// switched off. [Exporter.Serve] adds TLS and basic auth from an
// exporter-toolkit web configuration file.
//
// # Metrics
//
// Prometheus names, with the OTel name in parentheses. "path" is the
// normalised znode path ("" for ops without one, "other" past the cap);
// "client" and "identity" are top-N values or "other".
//
// Client protocol:
//   - zookeeper_client_requests_total{op,path} (zookeeper.client.requests, {request}):
//     every request frame, pings, auth, setWatches and closeSession included; not connect.
//   - zookeeper_client_request_size_bytes_total{op,path} (zookeeper.client.request.size, By)
//   - zookeeper_client_responses_total{op,path} (zookeeper.client.responses, {response})
//   - zookeeper_client_response_size_bytes_total{op,path} (zookeeper.client.response.size, By)
//   - zookeeper_client_errors_total{op,code} (zookeeper.client.errors, {response}):
//     replies with a non-zero KeeperException code, by code name (NONODE, ...).
//   - zookeeper_client_request_duration_seconds{op} (zookeeper.client.request.duration, s,
//     histogram): every answered request; buckets from 50 µs to 10 s.
//   - zookeeper_client_request_path_duration_seconds{op,path}
//     (zookeeper.client.request.path.duration, s, histogram): only with per-path latency on.
//   - zookeeper_client_multi_ops_total{op,path} (zookeeper.client.multi.ops, {operation}):
//     sub-operations of multi and multiRead.
//   - zookeeper_client_watches_set_total{op,path} (zookeeper.client.watches.set, {watch})
//   - zookeeper_client_watches_fired_total{type,path} (zookeeper.client.watches.fired, {event})
//   - zookeeper_client_connects_total{kind="new"|"resume"} (zookeeper.client.connects, {request})
//   - zookeeper_client_sessions_opened_total{result="established"|"rejected"}
//     (zookeeper.client.sessions.opened, {session})
//   - zookeeper_client_sessions_closed_total (zookeeper.client.sessions.closed, {session})
//   - zookeeper_client_sessions_active (zookeeper.client.sessions.active, {session}, gauge):
//     established and not closed or refused since; an upper bound, because a session that
//     expires while its client is gone leaves no trace on the wire.
//   - zookeeper_client_sessions_expired_total (zookeeper.client.sessions.expired, {session})
//   - zookeeper_client_auth_responses_total{result="ok"|"failed"} (zookeeper.client.auth.responses, {response})
//   - zookeeper_client_tls_connections_total (zookeeper.client.tls.connections, {connection})
//
// Top-N (values count from a key's election into the top N; "other" holds the rest):
//   - zookeeper_client_ip_requests_total{client} (zookeeper.client.ip.requests, {request})
//   - zookeeper_client_ip_request_size_bytes_total{client} (zookeeper.client.ip.request.size, By)
//   - zookeeper_client_ip_responses_total{client} (zookeeper.client.ip.responses, {response})
//   - zookeeper_client_ip_latency_seconds_total{client} (zookeeper.client.ip.latency, s):
//     summed latency; divide by the responses for the mean.
//   - zookeeper_client_identity_requests_total{identity} (zookeeper.client.identity.requests, {request}):
//     identity is scheme:user ("digest:alice", "sasl:...") or "noauth".
//   - zookeeper_client_identity_request_size_bytes_total{identity} (zookeeper.client.identity.request.size, By)
//   - zookeeper_client_identity_responses_total{identity} (zookeeper.client.identity.responses, {response})
//   - zookeeper_client_identity_latency_seconds_total{identity} (zookeeper.client.identity.latency, s)
//
// Four-letter words, quorum and election:
//   - zookeeper_4lw_commands_total{command} (zookeeper.4lw.commands, {command})
//   - zookeeper_zab_packets_total{type} (zookeeper.zab.packets, {packet})
//   - zookeeper_zab_proposal_ack_duration_seconds (zookeeper.zab.proposal.ack.duration, s, histogram)
//   - zookeeper_zab_proposal_commit_duration_seconds (zookeeper.zab.proposal.commit.duration, s, histogram)
//   - zookeeper_fle_notifications_total{state} (zookeeper.fle.notifications, {notification})
//   - zookeeper_fle_elections_total (zookeeper.fle.elections, {election}): a LOOKING
//     notification starts an election, the next FOLLOWING or LEADING one ends it.
//   - zookeeper_fle_election_duration_seconds (zookeeper.fle.election.duration, s, histogram)
//   - zookeeper_fle_leader (zookeeper.fle.leader, {server}, gauge): winner of the last election seen.
//
// zktap's own health:
//   - zktap_packets_total (zktap.packets, {packet}) and zktap_captured_bytes_total (zktap.captured, By)
//   - zktap_drops_total{where="kernel"|"queue"} (zktap.drops, {packet})
//   - zktap_capture_reopens_total (zktap.capture.reopens, {reopen}),
//     zktap_capture_down_seconds_total (zktap.capture.down, s) and zktap_capture_up
//     (zktap.capture.up, gauge): a live capture whose interface was deleted or went
//     down is reopened every second; up is 0 meanwhile.
//   - zktap_messages_total (zktap.messages, {message})
//   - zktap_decode_errors_total{proto,reason} (zktap.decode.errors, {error}): reason is a
//     fixed token (resync, gap, orphan_reply, ...), see proto.Reason.
//   - zktap_flows_active (gauge) and zktap_flows_evicted_total (zktap.flows.*, {flow})
//   - zktap_reassembly_gaps_total, zktap_reassembly_overflows_total, and
//     zktap_reassembly_buffered_bytes (gauge, By)
//   - zktap_dump_subscribers (gauge) and zktap_dump_dropped_total (zktap.dump.*)
//   - zktap_paths_tracked (gauge, {path}): distinct paths in use as label values
//   - zktap_folded_total{dimension="path"|"client"|"identity"} (zktap.folded, {observation})
//   - zktap_connections_forgotten_total (zktap.connections.forgotten, {connection})
//   - zktap_sessions_forgotten_total (zktap.sessions.forgotten, {session})
//
// target_info carries the OTel resource.
package exporter
