#include "tools/wirehubctl/output.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/json_writer.h"
#include "google/protobuf/util/json_util.h"

namespace wirehub::ctl {

namespace v1 = ::wirehub::control::v1;

// Prints rows as left-aligned columns separated by two spaces, each line
// prefixed by `indent`. The last column is not padded.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows,
                absl::string_view indent) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    out << indent;
    for (size_t c = 0; c < row.size(); ++c) {
      out << row[c];
      if (c + 1 < row.size()) out << std::string(widths[c] - row[c].size() + 2, ' ');
    }
    out << "\n";
  }
}

// A JSON document on one line. Valid JSON has no raw line breaks inside
// strings, so every "\n" and "\r" is insignificant whitespace and a space
// means the same.
std::string JsonOnOneLine(absl::string_view json) {
  std::string line(json);
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return line;
}

// {"epoch":"E","offset":N,"publications":[{"offset":N,"data":DATA},...]}
// with each DATA embedded as it is: control accepts only valid JSON.
std::string HistoryJson(const v1::HistoryResponse& history) {
  std::string json = "{\"epoch\":";
  AppendJsonString(history.epoch(), &json);
  absl::StrAppend(&json, ",\"offset\":", history.offset(), ",\"publications\":[");
  for (int i = 0; i < history.publications_size(); ++i) {
    const v1::HistoryPublication& publication = history.publications(i);
    absl::StrAppend(&json, i == 0 ? "" : ",", "{\"offset\":", publication.offset(),
                    ",\"data\":", JsonOnOneLine(publication.data()), "}");
  }
  json.append("]}");
  return json;
}

std::string FormatUnixMillis(int64_t millis) {
  if (millis <= 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(millis), absl::UTCTimeZone());
}

// Prints `message` in the protobuf JSON mapping (proto field names, every
// field). Returns kExitOk, or kExitFailure when it cannot be encoded.
int PrintJson(const google::protobuf::Message& message, absl::string_view what,
              const CliContext& context) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  auto json_status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!json_status.ok()) {
    *context.err << "error: cannot encode " << what << " as JSON: " << json_status.ToString()
                 << "\n";
    return kExitFailure;
  }
  *context.out << json << "\n";
  return kExitOk;
}

// Raw JSON for a table cell: on one line, "-" when empty.
std::string JsonCell(absl::string_view json) {
  return json.empty() ? std::string("-") : JsonOnOneLine(json);
}

std::string OrDash(absl::string_view text) {
  return text.empty() ? std::string("-") : std::string(text);
}

// 1536 -> "1.5 KiB".
std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr absl::string_view kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

// Prints `rows` under `header`, or "(none)" when there are no rows.
void PrintListTable(std::ostream& out, std::vector<std::string> header,
                    std::vector<std::vector<std::string>> rows) {
  if (rows.empty()) {
    out << "(none)\n";
    return;
  }
  rows.insert(rows.begin(), std::move(header));
  PrintTable(out, rows, "");
}

// What every list subcommand prints after its table.
void PrintListFooter(const CommandLine& line, const CliContext& context,
                     absl::string_view next_page_token, uint32_t edges_missing) {
  if (!next_page_token.empty() && !BoolFlag(line, "all")) {
    *context.out << "next page: --page_token=" << next_page_token << "\n";
  }
  if (edges_missing > 0) {
    *context.err << "warning: " << edges_missing
                 << " edge(s) did not answer in time; the list may be incomplete\n";
  }
}

void PrintStatsTable(const v1::StatsResponse& stats, std::ostream& out) {
  out << "Totals\n";
  PrintTable(out,
             {
                 {"connections", absl::StrCat(stats.total_connections())},
                 {"unique users", absl::StrCat(stats.unique_users())},
                 {"subscriptions", absl::StrCat(stats.subscriptions())},
                 {"channels with subscribers", absl::StrCat(stats.channels_with_subscribers())},
                 {"publications accepted", absl::StrCat(stats.publications_accepted())},
                 {"deliveries", absl::StrCat(stats.deliveries())},
                 {"slow edge detaches", absl::StrCat(stats.slow_edge_detaches())},
             },
             "  ");

  out << "\nEdges (" << stats.edges_size() << ")\n";
  if (stats.edges().empty()) {
    out << "  (none)\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"ID", "ADDRESS", "PUBLIC ADDRESS", "VERSION",
                                                   "CONNECTED SINCE", "CONNECTIONS",
                                                   "SUBSCRIPTIONS"}};
    for (const v1::EdgeInfo& edge : stats.edges()) {
      rows.push_back({edge.id(), edge.address(), edge.public_address(), edge.version(),
                      FormatUnixMillis(edge.connected_since_unix_ms()),
                      absl::StrCat(edge.connections()), absl::StrCat(edge.subscriptions())});
    }
    PrintTable(out, rows, "  ");
  }

  out << "\nTop channels (" << stats.top_channels_size() << ")\n";
  if (stats.top_channels().empty()) {
    out << "  (none)\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"CHANNEL", "SUBSCRIBERS"}};
    for (const v1::ChannelSubscribers& channel : stats.top_channels()) {
      rows.push_back({channel.channel(), absl::StrCat(channel.subscribers())});
    }
    PrintTable(out, rows, "  ");
  }
}

// "connections=N", plus " edges_missing=M" when some edge did not answer.
void PrintReached(const CliContext& context, uint64_t connections, uint32_t edges_missing) {
  *context.out << "connections=" << connections;
  if (edges_missing > 0) *context.out << " edges_missing=" << edges_missing;
  *context.out << "\n";
}

}  // namespace wirehub::ctl
