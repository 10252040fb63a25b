// Metrics in the Prometheus text format, counted without locks.
//
// Counters, gauges and histograms are relaxed atomics: recording one is an
// uncontended atomic add on the thread that owns the event (the edge loop,
// a gRPC handler), never a mutex, so they sit on the per-delivery path.
// The registry renders every family at scrape time on the scraping thread;
// a scrape sees each value as of some moment during the scrape (values of
// different series are not one snapshot, as in every Prometheus client).
//
// Families and their label values are created on cold paths (start-up, a
// new namespace, an edge attaching) under the family's mutex; the hot path
// keeps the returned reference, which stays valid until the family's
// Remove() of those labels or the registry's destruction.
//
// Example:
//   Registry registry;
//   auto& commands = registry.AddCounter("wirehub_edge_commands_total",
//                                        "Client commands answered.", {"method", "result"});
//   Counter& ok = commands.Get({"subscribe", "ok"});
//   ok.Increment();
//   std::string text = registry.Render();
#ifndef WIREHUB_COMMON_METRICS_H_
#define WIREHUB_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wirehub::metrics {

// A count that only goes up. Any thread.
class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down. Any thread.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  void Increment() { Add(1); }
  void Decrement() { Add(-1); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (upper bounds, ascending; +Inf is
// implicit). Any thread; Observe() is a search over the bounds and two
// relaxed atomic adds plus one for the sum.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  void ObserveDuration(absl::Duration duration) { Observe(absl::ToDoubleSeconds(duration)); }

  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket (not cumulative) counts; the last one is +Inf.
  std::vector<uint64_t> bucket_counts() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Exponential bucket bounds: start, start*factor, ... (count of them).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

enum class MetricType { kCounter, kGauge, kHistogram };

// One metric name with its label names; one series per label-value tuple.
// Get() and Remove() take the family's mutex; the series they return are
// lock-free.
template <typename M>
class Family {
 public:
  // The series for `label_values` (one per label name, in order), created
  // on first use.
  M& Get(std::initializer_list<std::string_view> label_values);
  M& Get(const std::vector<std::string>& label_values);
  // Drops a series (an edge detached). A reference to it dangles after.
  void Remove(const std::vector<std::string>& label_values);

  const std::string& name() const { return name_; }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}
  void Render(MetricType type, std::string* out) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // Histograms only.
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> series_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// The metrics of one process. Thread-safe. Names must match
// [a-zA-Z_:][a-zA-Z0-9_:]* and be unique (a duplicate is a programming error
// and crashes); counters end in _total, units are base units (seconds,
// bytes) named in the suffix, as Prometheus's naming guide asks.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  HistogramFamily& AddHistogram(std::string name, std::string help, std::vector<double> bounds,
                                std::vector<std::string> label_names = {});
  // A counter whose value a collector reads from elsewhere at scrape time
  // (process_cpu_seconds_total from /proc): rendered as a counter, set
  // like a gauge. Only collectors may Set() it.
  Gauge& AddScrapedCounter(std::string name, std::string help);
  // Runs on the scraping thread before every Render(), in the order added:
  // for gauges computed on demand (resident memory, a table's size read
  // through a thread-safe accessor). Must not call Render().
  void AddCollector(std::function<void()> collector);

  // Text exposition format 0.0.4, families in the order added.
  std::string Render() const;

 private:
  struct Entry {
    MetricType type;
    CounterFamily* counter = nullptr;
    GaugeFamily* gauge = nullptr;
    HistogramFamily* histogram = nullptr;
  };
  void CheckName(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<CounterFamily>> counters_ ABSL_GUARDED_BY(mu_);
  std::deque<std::unique_ptr<GaugeFamily>> gauges_ ABSL_GUARDED_BY(mu_);
  std::deque<std::unique_ptr<HistogramFamily>> histograms_ ABSL_GUARDED_BY(mu_);
  std::vector<Entry> order_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ ABSL_GUARDED_BY(mu_);
};

// The process_* metrics every Prometheus client exports (resident and
// virtual memory, CPU seconds, open descriptors and their limit, start
// time), read from /proc at scrape time, plus wirehub_build_info{binary,
// version}.
void AddProcessMetrics(Registry* registry, std::string_view binary, std::string_view version);

// Content type of Render()'s output.
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace wirehub::metrics

#endif  // WIREHUB_COMMON_METRICS_H_
