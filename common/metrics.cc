#include "common/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/absl_compat.h"
#include "common/logging.h"

namespace wirehub::metrics {
namespace {

void AtomicAdd(std::atomic<double>* target, double delta) {
  double current = target->load(std::memory_order_relaxed);
  while (!target->compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

// Prometheus renders floats in Go's formatting; any form strconv.ParseFloat
// accepts is fine. Integers print without a fraction.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // The shortest form that reads back as the same double.
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, error == std::errc() ? end : buffer);
}

// Length of the well-formed UTF-8 sequence at the start of `text`, or 0.
size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&text](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = lead >= 0xc2 && lead <= 0xdf   ? 2
                  : lead >= 0xe0 && lead <= 0xef ? 3
                  : lead >= 0xf0 && lead <= 0xf4 ? 4
                                                 : 0;
  if (length == 0 || text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
  }
  // Overlong three- and four-byte forms, surrogates, past U+10FFFF.
  if ((lead == 0xe0 && byte(1) < 0xa0) || (lead == 0xed && byte(1) > 0x9f) ||
      (lead == 0xf0 && byte(1) < 0x90) || (lead == 0xf4 && byte(1) > 0x8f)) {
    return 0;
  }
  return length;
}

// Label values escape backslash, double quote and newline, and replace
// bytes that are not UTF-8 with U+FFFD (Prometheus refuses a scrape that
// holds one); help text escapes backslash and newline.
void AppendEscaped(std::string_view text, bool quote, std::string* out) {
  if (quote) {
    for (size_t i = 0; i < text.size();) {
      const size_t length = Utf8SequenceLength(text.substr(i));
      if (length == 0) {
        out->append("\xEF\xBF\xBD");
        ++i;
      } else if (length > 1) {
        out->append(text.substr(i, length));
        i += length;
      } else {
        const char c = text[i++];
        if (c == '\\') {
          out->append("\\\\");
        } else if (c == '\n') {
          out->append("\\n");
        } else if (c == '"') {
          out->append("\\\"");
        } else {
          out->push_back(c);
        }
      }
    }
    return;
  }
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

void AppendLabels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                  std::string_view extra_name, std::string_view extra_value, std::string* out) {
  if (names.empty() && extra_name.empty()) return;
  out->push_back('{');
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!first) out->push_back(',');
    first = false;
    out->append(names[i]);
    out->append("=\"");
    AppendEscaped(values[i], /*quote=*/true, out);
    out->push_back('"');
  }
  if (!extra_name.empty()) {
    if (!first) out->push_back(',');
    out->append(extra_name);
    out->append("=\"");
    out->append(extra_value);
    out->push_back('"');
  }
  out->push_back('}');
}

bool ValidName(std::string_view name, bool label) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (!label && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

template <typename M>
std::unique_ptr<M> NewSeries(const std::vector<double>& bounds);
template <>
std::unique_ptr<Counter> NewSeries<Counter>(const std::vector<double>&) {
  return std::make_unique<Counter>();
}
template <>
std::unique_ptr<Gauge> NewSeries<Gauge>(const std::vector<double>&) {
  return std::make_unique<Gauge>();
}
template <>
std::unique_ptr<Histogram> NewSeries<Histogram>(const std::vector<double>& bounds) {
  return std::make_unique<Histogram>(bounds);
}

void RenderSeries(const std::string& name, const std::vector<std::string>& label_names,
                  const std::vector<std::string>& values, const Counter& counter,
                  std::string* out) {
  out->append(name);
  AppendLabels(label_names, values, "", "", out);
  absl::StrAppend(out, " ", counter.value(), "\n");
}

void RenderSeries(const std::string& name, const std::vector<std::string>& label_names,
                  const std::vector<std::string>& values, const Gauge& gauge, std::string* out) {
  out->append(name);
  AppendLabels(label_names, values, "", "", out);
  absl::StrAppend(out, " ", FormatValue(gauge.value()), "\n");
}

void RenderSeries(const std::string& name, const std::vector<std::string>& label_names,
                  const std::vector<std::string>& values, const Histogram& histogram,
                  std::string* out) {
  std::vector<uint64_t> counts = histogram.bucket_counts();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const std::string le =
        i < histogram.bounds().size() ? FormatValue(histogram.bounds()[i]) : "+Inf";
    absl::StrAppend(out, name, "_bucket");
    AppendLabels(label_names, values, "le", le, out);
    absl::StrAppend(out, " ", cumulative, "\n");
  }
  // _count is the +Inf bucket so that a scrape is self-consistent even
  // while observations land between the reads above.
  absl::StrAppend(out, name, "_sum");
  AppendLabels(label_names, values, "", "", out);
  absl::StrAppend(out, " ", FormatValue(histogram.sum()), "\n");
  absl::StrAppend(out, name, "_count");
  AppendLabels(label_names, values, "", "", out);
  absl::StrAppend(out, " ", cumulative, "\n");
}

constexpr std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

void Gauge::Add(double delta) { AtomicAdd(&value_, delta); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  WH_CHECK(std::is_sorted(bounds_.begin(), bounds_.end())) << "histogram bounds must ascend";
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  // Buckets are inclusive upper bounds (le).
  size_t index = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(&sum_, value);
}

std::vector<uint64_t> Histogram::bucket_counts() const {
  std::vector<uint64_t> counts(bounds_.size() + 1);
  for (size_t i = 0; i < counts.size(); ++i) {
    counts[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  return counts;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  WH_CHECK(start > 0 && factor > 1 && count > 0) << "bad exponential buckets";
  std::vector<double> bounds;
  bounds.reserve(count);
  double bound = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

template <typename M>
M& Family<M>::Get(std::initializer_list<std::string_view> label_values) {
  std::vector<std::string> values;
  values.reserve(label_values.size());
  for (std::string_view value : label_values) values.emplace_back(value);
  return Get(values);
}

template <typename M>
M& Family<M>::Get(const std::vector<std::string>& label_values) {
  WH_CHECK(label_values.size() == label_names_.size())
      << name_ << ": " << label_values.size() << " label values for " << label_names_.size()
      << " labels";
  absl::MutexLock lock(&mu_);
  std::unique_ptr<M>& series = series_[label_values];
  if (series == nullptr) series = NewSeries<M>(bounds_);
  return *series;
}

template <typename M>
void Family<M>::Remove(const std::vector<std::string>& label_values) {
  absl::MutexLock lock(&mu_);
  series_.erase(label_values);
}

template <typename M>
void Family<M>::Render(MetricType type, std::string* out) const {
  absl::StrAppend(out, "# HELP ", name_, " ");
  AppendEscaped(help_, /*quote=*/false, out);
  absl::StrAppend(out, "\n# TYPE ", name_, " ", AsAbsl(TypeName(type)), "\n");
  absl::MutexLock lock(&mu_);
  for (const auto& [values, series] : series_) {
    RenderSeries(name_, label_names_, values, *series, out);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void Registry::CheckName(const std::string& name) {
  WH_CHECK(ValidName(name, /*label=*/false)) << "invalid metric name '" << name << "'";
  for (const Entry& entry : order_) {
    const std::string& existing = entry.counter != nullptr ? entry.counter->name()
                                  : entry.gauge != nullptr ? entry.gauge->name()
                                                           : entry.histogram->name();
    WH_CHECK(existing != name) << "metric '" << name << "' registered twice";
  }
}

CounterFamily& Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  for (const std::string& label : label_names) WH_CHECK(ValidName(label, true)) << label;
  absl::MutexLock lock(&mu_);
  CheckName(name);
  counters_.push_back(std::unique_ptr<CounterFamily>(
      new CounterFamily(std::move(name), std::move(help), std::move(label_names), {})));
  order_.push_back({MetricType::kCounter, counters_.back().get(), nullptr, nullptr});
  return *counters_.back();
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names) {
  for (const std::string& label : label_names) WH_CHECK(ValidName(label, true)) << label;
  absl::MutexLock lock(&mu_);
  CheckName(name);
  gauges_.push_back(std::unique_ptr<GaugeFamily>(
      new GaugeFamily(std::move(name), std::move(help), std::move(label_names), {})));
  order_.push_back({MetricType::kGauge, nullptr, gauges_.back().get(), nullptr});
  return *gauges_.back();
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<double> bounds,
                                        std::vector<std::string> label_names) {
  for (const std::string& label : label_names) {
    WH_CHECK(ValidName(label, true) && label != "le") << label;
  }
  WH_CHECK(std::is_sorted(bounds.begin(), bounds.end())) << name << ": bounds must ascend";
  absl::MutexLock lock(&mu_);
  CheckName(name);
  histograms_.push_back(std::unique_ptr<HistogramFamily>(new HistogramFamily(
      std::move(name), std::move(help), std::move(label_names), std::move(bounds))));
  order_.push_back({MetricType::kHistogram, nullptr, nullptr, histograms_.back().get()});
  return *histograms_.back();
}

Gauge& Registry::AddScrapedCounter(std::string name, std::string help) {
  absl::MutexLock lock(&mu_);
  CheckName(name);
  gauges_.push_back(
      std::unique_ptr<GaugeFamily>(new GaugeFamily(std::move(name), std::move(help), {}, {})));
  order_.push_back({MetricType::kCounter, nullptr, gauges_.back().get(), nullptr});
  return gauges_.back()->Get(std::vector<std::string>());
}

void Registry::AddCollector(std::function<void()> collector) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::Render() const {
  std::vector<std::function<void()>> collectors;
  std::vector<Entry> order;
  {
    absl::MutexLock lock(&mu_);
    collectors = collectors_;
    order = order_;
  }
  for (const auto& collector : collectors) collector();
  std::string out;
  out.reserve(16 * 1024);
  for (const Entry& entry : order) {
    if (entry.counter != nullptr) {
      entry.counter->Render(entry.type, &out);
    } else if (entry.gauge != nullptr) {
      entry.gauge->Render(entry.type, &out);
    } else {
      entry.histogram->Render(entry.type, &out);
    }
  }
  return out;
}

namespace {

// Fields of /proc/self/stat after the command name: utime and stime
// (ticks) are fields 14 and 15, starttime (ticks since boot) 22, vsize
// (bytes) 23 and rss (pages) 24, numbered from 1 for the pid.
struct ProcStat {
  double cpu_seconds = 0;
  double start_time_seconds = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

double BootTimeSeconds() {
  std::ifstream stat("/proc/stat");
  std::string line;
  while (std::getline(stat, line)) {
    if (line.rfind("btime ", 0) == 0) {
      double value = 0;
      if (absl::SimpleAtod(line.substr(6), &value)) return value;
    }
  }
  return 0;
}

bool ReadProcStat(ProcStat* out) {
  std::ifstream file("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  if (paren == std::string::npos) return false;
  // Fields from 3 (state) on.
  std::vector<std::string> fields = absl::StrSplit(text.substr(paren + 2), ' ');
  auto field = [&fields](int number) -> double {
    size_t index = static_cast<size_t>(number - 3);
    double value = 0;
    if (index < fields.size()) (void)absl::SimpleAtod(fields[index], &value);
    return value;
  };
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  static const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  static const double boot = BootTimeSeconds();
  out->cpu_seconds = (field(14) + field(15)) / ticks;
  out->start_time_seconds = boot + field(22) / ticks;
  out->virtual_bytes = field(23);
  out->resident_bytes = field(24) * page;
  return true;
}

double OpenFileDescriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  // Less the descriptor of the directory being read.
  return count > 0 ? count - 1 : 0;
}

}  // namespace

void AddProcessMetrics(Registry* registry, std::string_view binary, std::string_view version) {
  Gauge& resident =
      registry->AddGauge("process_resident_memory_bytes", "Resident memory size in bytes.").Get({});
  Gauge& virtual_memory =
      registry->AddGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").Get({});
  Gauge& cpu = registry->AddScrapedCounter("process_cpu_seconds_total",
                                           "Total user and system CPU time spent in seconds.");
  Gauge& start_time = registry
                          ->AddGauge("process_start_time_seconds",
                                     "Start time of the process since unix epoch in seconds.")
                          .Get({});
  Gauge& open_fds =
      registry->AddGauge("process_open_fds", "Number of open file descriptors.").Get({});
  Gauge& max_fds =
      registry->AddGauge("process_max_fds", "Maximum number of open file descriptors.").Get({});
  registry
      ->AddGauge("wirehub_build_info", "Always 1; the binary and its version as labels.",
                 {"binary", "version"})
      .Get({binary, version})
      .Set(1);
  // Listing /proc/self/fd costs a full edge (100k sockets) tens of
  // milliseconds: counted at most once a second, however often scraped.
  struct FdCount {
    absl::Mutex mu;
    absl::Time counted ABSL_GUARDED_BY(mu) = absl::InfinitePast();
    double value ABSL_GUARDED_BY(mu) = 0;
  };
  auto fd_count = std::make_shared<FdCount>();
  registry->AddCollector(
      [&resident, &virtual_memory, &cpu, &start_time, &open_fds, &max_fds, fd_count] {
        ProcStat stat;
        if (ReadProcStat(&stat)) {
          resident.Set(stat.resident_bytes);
          virtual_memory.Set(stat.virtual_bytes);
          cpu.Set(stat.cpu_seconds);
          start_time.Set(stat.start_time_seconds);
        }
        {
          absl::MutexLock lock(&fd_count->mu);
          const absl::Time now = absl::Now();
          if (now - fd_count->counted >= absl::Seconds(1)) {
            fd_count->value = OpenFileDescriptors();
            fd_count->counted = now;
          }
          open_fds.Set(fd_count->value);
        }
        max_fds.Set(static_cast<double>(sysconf(_SC_OPEN_MAX)));
      });
}

}  // namespace wirehub::metrics
