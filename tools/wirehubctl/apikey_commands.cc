#include "tools/wirehubctl/apikey_commands.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/channel_name.h"
#include "common/json_writer.h"
#include "tools/wirehubctl/subcommand_support.h"

namespace wirehub::ctl {
namespace {

// 256 bits: guessing is hopeless, so one hash comparison is enough.
constexpr size_t kKeyBytes = 32;
// Marks the string as a wirehub API key (for secret scanners and people).
constexpr absl::string_view kKeyPrefix = "wh_";

}  // namespace

std::string Sha256Hex(std::string_view key) {
  std::array<uint8_t, 32> digest{};
  unsigned int size = 0;
  if (EVP_Digest(key.data(), key.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    return "";
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), size));
}

int RunApiKey(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!NoPositionals(line, context, &exit_code)) return exit_code;
  const std::string tenant = StringFlag(line, "tenant");
  if (line.Flag("tenant") != nullptr) {
    absl::Status valid = ValidateTenant(tenant);
    if (!valid.ok()) return UsageError(context, line.subcommand, valid.message());
  }
  std::string scope = "full";
  if (const std::string* given = line.Flag("scope")) {
    if (*given != "full" && *given != "publish") {
      return UsageError(context, line.subcommand,
                        absl::StrCat("--scope must be publish or full, not '", *given, "'"));
    }
    scope = *given;
  }
  std::array<unsigned char, kKeyBytes> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    *context.err << "error: no random bytes from OpenSSL\n";
    return kExitFailure;
  }
  const std::string key =
      absl::StrCat(kKeyPrefix, absl::WebSafeBase64Escape(absl::string_view(
                                   reinterpret_cast<const char*>(random.data()), random.size())));
  const std::string hash = Sha256Hex(key);
  if (hash.empty()) {
    *context.err << "error: SHA-256 failed\n";
    return kExitFailure;
  }
  std::string name = StringFlag(line, "name");
  if (line.Flag("name") != nullptr && name.empty()) {
    return UsageError(context, line.subcommand, "--name is empty");
  }
  if (name.empty()) name = absl::StrCat("key-", hash.substr(0, 8));

  std::string entry = "{\"name\":";
  AppendJsonString(name, &entry);
  absl::StrAppend(&entry, ",\"sha256\":\"", hash, "\"");
  if (!tenant.empty()) {
    entry += ",\"tenant\":";
    AppendJsonString(tenant, &entry);
  }
  absl::StrAppend(&entry, ",\"scope\":\"", scope, "\"}");
  *context.out << "key: " << key << "\n"
               << "sha256: " << hash << "\n"
               << "api_keys entry: " << entry << "\n";
  return kExitOk;
}

}  // namespace wirehub::ctl
