#include "tools/bench/case_result.h"

#include <cmath>
#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json_writer.h"

namespace wirehub::bench {
namespace {

std::string Quote(const std::string& text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

std::string Number(double value) {
  if (!std::isfinite(value)) return "null";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrFormat("%.0f", value);
  }
  return absl::StrFormat("%.4g", value);
}

class Fields {
 public:
  void Add(const char* key, const std::string& raw) {
    absl::StrAppend(&out_, out_.empty() ? "{" : ",", "\"", key, "\":", raw);
  }
  void Str(const char* key, const std::string& value) {
    if (!value.empty()) Add(key, Quote(value));
  }
  void Num(const char* key, double value) { Add(key, Number(value)); }
  template <typename T>
  void Opt(const char* key, const std::optional<T>& value) {
    if (value.has_value()) Num(key, static_cast<double>(*value));
  }
  std::string Finish() { return out_.empty() ? "{}" : out_ + "}"; }

 private:
  std::string out_;
};

double Us(int64_t ns) { return static_cast<double>(ns) / 1000.0; }
double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

// {"p50":..,...,"count":N} in microseconds for the percentiles given.
std::string Percentiles(const LatencyHistogram& h, std::initializer_list<double> percentiles) {
  std::string out = "{";
  for (double p : percentiles) {
    std::string name = p == 99.9 ? "p999" : absl::StrCat("p", p);
    absl::StrAppend(&out, "\"", name, "\":", Number(Us(h.Percentile(p))), ",");
  }
  absl::StrAppend(&out, "\"max\":", Number(Us(h.Max())), ",\"count\":", h.Count(), "}");
  return out;
}

}  // namespace

std::string ToJsonLine(const CaseResult& r) {
  Fields f;
  f.Str("scenario", r.scenario);
  f.Str("case", r.case_name);
  f.Str("server", r.server);
  f.Str("transport", r.transport);
  f.Str("tls", r.tls);
  f.Str("wire", r.wire);
  f.Num("clients", static_cast<double>(r.clients));
  f.Num("channels", static_cast<double>(r.channels));
  f.Opt("publish_rate", r.publish_rate);
  f.Str("publish_api", r.publish_api);
  f.Opt("payload_bytes", r.payload_bytes);
  f.Num("duration_s", r.duration_s);
  f.Opt("published", r.published);
  f.Opt("accepted", r.accepted);
  f.Opt("expected", r.expected);
  f.Opt("delivered", r.delivered);
  f.Opt("missing", r.missing);
  f.Opt("duplicated", r.duplicated);
  f.Opt("late", r.late);
  f.Num("disconnected", static_cast<double>(r.disconnected));
  f.Num("failed_clients", static_cast<double>(r.failed_clients));
  f.Opt("deliveries_per_s", r.deliveries_per_s);
  f.Opt("publishes_per_s", r.publishes_per_s);
  f.Opt("max_publisher_lag_ms", r.max_publisher_lag_ms);
  if (r.latency.has_value() && r.latency->Count() > 0) {
    const LatencyHistogram& h = *r.latency;
    f.Add("latency_us",
          absl::StrCat("{\"p50\":", Number(Us(h.Percentile(50))), ",\"p90\":",
                       Number(Us(h.Percentile(90))), ",\"p99\":", Number(Us(h.Percentile(99))),
                       ",\"p999\":", Number(Us(h.Percentile(99.9))),
                       ",\"max\":", Number(Us(h.Max())), ",\"count\":", h.Count(), "}"));
  }
  f.Str("engine", r.engine);
  f.Opt("control_replicas", r.control_replicas);
  f.Str("redis_persistence", r.redis_persistence);
  f.Opt("history_size", r.history_size);
  f.Opt("redis_cpu_us_per_publication", r.redis_cpu_us_per_publication);
  f.Opt("pipeline", r.pipeline);
  f.Opt("subscribers", r.subscribers);
  if (r.call_p50_us.has_value() && r.call_p99_us.has_value()) {
    f.Add("call_latency_us", absl::StrCat("{\"p50\":", Number(*r.call_p50_us),
                                          ",\"p99\":", Number(*r.call_p99_us), "}"));
  }
  f.Opt("server_cpu_s", r.server_cpu_s);
  f.Opt("server_cpu_us_per_delivery", r.server_cpu_us_per_delivery);
  f.Opt("bytes_per_delivery", r.bytes_per_delivery);
  f.Opt("server_rss_bytes", r.server_rss_bytes);
  f.Opt("rss_per_client_bytes", r.rss_per_client_bytes);
  f.Opt("connects_per_s", r.connects_per_s);
  f.Opt("subscribes_per_s", r.subscribes_per_s);
  f.Opt("slow_clients", r.slow_clients);
  f.Opt("slow_disconnected", r.slow_disconnected);
  f.Opt("edge_rss_max_bytes", r.edge_rss_max_bytes);
  f.Opt("token_rate", r.token_rate);
  f.Opt("reply_tokens", r.reply_tokens);
  f.Opt("publish_failed", r.publish_failed);
  f.Opt("control_cpu_us_per_publication", r.control_cpu_us_per_publication);
  f.Opt("edge_cpu_us_per_publication", r.edge_cpu_us_per_publication);
  f.Opt("control_context_switches_per_publication", r.control_context_switches_per_publication);
  f.Opt("edge_context_switches_per_publication", r.edge_context_switches_per_publication);
  if (r.first_token_latency.has_value()) {
    f.Add("first_token_us", Percentiles(*r.first_token_latency, {50, 99}));
  }
  if (r.gap_jitter.has_value()) f.Add("gap_jitter_us", Percentiles(*r.gap_jitter, {50, 99}));
  if (r.receive_gap.has_value()) f.Add("receive_gap_us", Percentiles(*r.receive_gap, {50, 99}));
  if (r.answer_latency.has_value()) f.Add("answer_us", Percentiles(*r.answer_latency, {50, 99}));
  if (!r.processes.empty()) {
    std::string list = "[";
    for (size_t i = 0; i < r.processes.size(); ++i) {
      const ProcessFigures& p = r.processes[i];
      absl::StrAppend(&list, i == 0 ? "" : ",", "{\"name\":", Quote(p.name), ",\"pid\":", p.pid,
                      ",\"cpu_s\":", Number(p.cpu_s), ",\"rss_bytes\":", p.rss_bytes);
      if (p.context_switches) absl::StrAppend(&list, ",\"context_switches\":", *p.context_switches);
      absl::StrAppend(&list, "}");
    }
    f.Add("processes", list + "]");
  }
  f.Str("notes", r.notes);
  return f.Finish();
}

std::string ToSummary(const CaseResult& r) {
  std::string engine;
  if (!r.engine.empty()) {
    engine =
        absl::StrCat(" [", r.engine, " engine, ", r.control_replicas.value_or(1),
                     r.control_replicas.value_or(1) == 1 ? " control" : " controls",
                     r.engine == "redis" ? absl::StrCat(", redis ", r.redis_persistence) : "", "]");
  }
  std::string out = absl::StrCat("[", r.scenario, "] ", r.case_name, " on ", r.server, engine,
                                 r.tls.empty() ? "" : absl::StrCat(" (", r.tls, ")"), ": ",
                                 r.clients, " clients");
  if (r.connects_per_s) absl::StrAppendFormat(&out, ", %.0f connects/s", *r.connects_per_s);
  if (r.rss_per_client_bytes) {
    absl::StrAppendFormat(&out, ", %.0f B RSS/client", *r.rss_per_client_bytes);
  }
  if (r.delivered && r.publish_failed) {
    absl::StrAppendFormat(&out, "\n  published %d, accepted %d, failed %d", r.published.value_or(0),
                          r.accepted.value_or(0), *r.publish_failed);
    absl::StrAppendFormat(&out,
                          "\n  delivered %d of %d (missing %d, duplicated %d, out of order %d)",
                          *r.delivered, r.expected.value_or(0), r.missing.value_or(0),
                          r.duplicated.value_or(0), r.late.value_or(0));
  } else if (r.delivered) {
    absl::StrAppendFormat(&out, "\n  published %d, delivered %d of %d (missing %d, duplicated %d)",
                          r.published.value_or(0), *r.delivered, r.expected.value_or(0),
                          r.missing.value_or(0), r.duplicated.value_or(0));
  }
  if (r.deliveries_per_s) absl::StrAppendFormat(&out, ", %.0f deliveries/s", *r.deliveries_per_s);
  if (r.server_cpu_us_per_delivery) {
    absl::StrAppendFormat(&out, ", %.2f us server CPU/delivery", *r.server_cpu_us_per_delivery);
  }
  if (r.bytes_per_delivery) {
    absl::StrAppendFormat(&out, ", %.1f B/delivery", *r.bytes_per_delivery);
  }
  if (r.server_cpu_s) {
    absl::StrAppendFormat(&out, "\n  server CPU %.2f s", *r.server_cpu_s);
    for (const ProcessFigures& p : r.processes) {
      absl::StrAppendFormat(&out, ", %s %.2f s", p.name, p.cpu_s);
    }
    if (r.server_rss_bytes) {
      absl::StrAppendFormat(&out, ", server RSS %.1f MiB",
                            static_cast<double>(*r.server_rss_bytes) / (1 << 20));
    }
  }
  if (r.latency.has_value() && r.latency->Count() > 0) {
    const LatencyHistogram& h = *r.latency;
    absl::StrAppendFormat(&out, "\n  latency p50 %.0f us, p90 %.0f, p99 %.0f, p999 %.0f, max %.0f",
                          Us(h.Percentile(50)), Us(h.Percentile(90)), Us(h.Percentile(99)),
                          Us(h.Percentile(99.9)), Us(h.Max()));
  }
  if (r.control_cpu_us_per_publication && r.engine.empty()) {
    absl::StrAppendFormat(
        &out, "\n  per publication: control %.2f us CPU, %.2f context switches; edge %.2f us, %.2f",
        *r.control_cpu_us_per_publication, r.control_context_switches_per_publication.value_or(0),
        r.edge_cpu_us_per_publication.value_or(0),
        r.edge_context_switches_per_publication.value_or(0));
  }
  if (!r.engine.empty() && (r.control_cpu_us_per_publication || r.redis_cpu_us_per_publication)) {
    absl::StrAppendFormat(&out, "\n  CPU per publication: control %.2f us, redis-server %.2f us",
                          r.control_cpu_us_per_publication.value_or(0),
                          r.redis_cpu_us_per_publication.value_or(0));
  }
  if (r.pipeline) {
    absl::StrAppendFormat(&out, "\n  %.0f calls/s, pipeline %d, call p50 %.0f us, p99 %.0f",
                          r.publishes_per_s.value_or(0), *r.pipeline, r.call_p50_us.value_or(0),
                          r.call_p99_us.value_or(0));
    if (r.redis_cpu_us_per_publication) {
      absl::StrAppendFormat(&out, ", redis-server %.2f us CPU per call",
                            *r.redis_cpu_us_per_publication);
    }
  }
  if (r.first_token_latency.has_value() && r.first_token_latency->Count() > 0) {
    const LatencyHistogram& h = *r.first_token_latency;
    absl::StrAppendFormat(&out, "\n  first token p50 %.2f ms, p99 %.2f, max %.2f (%d replies)",
                          Ms(h.Percentile(50)), Ms(h.Percentile(99)), Ms(h.Max()), h.Count());
  }
  if (r.gap_jitter.has_value() && r.gap_jitter->Count() > 0) {
    const LatencyHistogram& j = *r.gap_jitter;
    absl::StrAppendFormat(&out, "\n  gap jitter p50 %.2f ms, p99 %.2f, max %.2f",
                          Ms(j.Percentile(50)), Ms(j.Percentile(99)), Ms(j.Max()));
    if (r.receive_gap.has_value()) {
      absl::StrAppendFormat(&out, "; receive gap p50 %.2f ms, p99 %.2f",
                            Ms(r.receive_gap->Percentile(50)), Ms(r.receive_gap->Percentile(99)));
    }
  }
  if (r.publish_failed && r.max_publisher_lag_ms) {
    absl::StrAppendFormat(&out, "\n  publisher max lag %.1f ms", *r.max_publisher_lag_ms);
    if (r.answer_latency.has_value() && r.answer_latency->Count() > 0) {
      const LatencyHistogram& a = *r.answer_latency;
      absl::StrAppendFormat(&out, "; control answered p50 %.2f ms, p99 %.2f, max %.2f",
                            Ms(a.Percentile(50)), Ms(a.Percentile(99)), Ms(a.Max()));
    }
  }
  if (r.slow_clients) {
    absl::StrAppendFormat(&out, "\n  slow clients %d, disconnected %d, edge RSS max %d MiB",
                          *r.slow_clients, r.slow_disconnected.value_or(0),
                          r.edge_rss_max_bytes.value_or(0) >> 20);
  }
  if (r.failed_clients > 0 || r.disconnected > 0) {
    absl::StrAppendFormat(&out, "\n  failed clients %d, disconnected %d", r.failed_clients,
                          r.disconnected);
  }
  if (!r.notes.empty()) absl::StrAppend(&out, "\n  ", r.notes);
  return out + "\n";
}

}  // namespace wirehub::bench
