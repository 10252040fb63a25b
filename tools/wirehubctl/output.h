// What wirehubctl prints: aligned tables, JSON on one line or in the
// protobuf mapping, times, byte counts, gRPC code names, and the lines every
// list or fan-out subcommand ends with.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_OUTPUT_H_
#define WIREHUB_TOOLS_WIREHUBCTL_OUTPUT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/grpc_code_name.h"
#include "google/protobuf/message.h"
#include "tools/wirehubctl/cli_context.h"
#include "tools/wirehubctl/command_line.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::ctl {

// PrintTable()
//
// Prints rows as left-aligned columns separated by two spaces, each line
// prefixed by `indent`. The last column is not padded.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows,
                absl::string_view indent);

// PrintListTable()
//
// Prints `rows` under `header`, or "(none)" when there are no rows.
void PrintListTable(std::ostream& out, std::vector<std::string> header,
                    std::vector<std::vector<std::string>> rows);

// PrintListFooter()
//
// What every list subcommand prints after its table: the next page's token
// (unless --all) and a warning when edges did not answer.
void PrintListFooter(const CommandLine& line, const CliContext& context,
                     absl::string_view next_page_token, uint32_t edges_missing);

// PrintReached()
//
// "connections=N", plus " edges_missing=M" when some edge did not answer.
void PrintReached(const CliContext& context, uint64_t connections, uint32_t edges_missing);

// PrintStatsTable()
//
// `stats` as the totals, edges and top channels tables.
void PrintStatsTable(const control::v1::StatsResponse& stats, std::ostream& out);

// PrintJson()
//
// Prints `message` in the protobuf JSON mapping (proto field names, every
// field). Returns kExitOk, or kExitFailure when it cannot be encoded.
int PrintJson(const google::protobuf::Message& message, absl::string_view what,
              const CliContext& context);

// JsonOnOneLine()
//
// A JSON document on one line. Valid JSON has no raw line breaks inside
// strings, so every "\n" and "\r" is insignificant whitespace and a space
// means the same.
std::string JsonOnOneLine(absl::string_view json);

// HistoryJson()
//
// {"epoch":"E","offset":N,"publications":[{"offset":N,"data":DATA},...]}
// with each DATA embedded as it is: control accepts only valid JSON.
std::string HistoryJson(const control::v1::HistoryResponse& history);

// JsonCell()
//
// Raw JSON for a table cell: on one line, "-" when empty.
std::string JsonCell(absl::string_view json);

// OrDash()
//
// `text`, or "-" when it is empty.
std::string OrDash(absl::string_view text);

// FormatUnixMillis()
//
// An RFC 3339 UTC time, "-" for zero or less.
std::string FormatUnixMillis(int64_t millis);

// FormatBytes()
//
// 1536 -> "1.5 KiB".
std::string FormatBytes(uint64_t bytes);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_OUTPUT_H_
