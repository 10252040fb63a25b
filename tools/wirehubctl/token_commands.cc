#include "tools/wirehubctl/token_commands.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"
#include "common/file_util.h"
#include "common/json_validator.h"
#include "common/jwt.h"
#include "common/token_key.h"
#include "common/token_signer.h"
#include "tools/wirehubctl/output.h"
#include "tools/wirehubctl/subcommand_support.h"
#include "tools/wirehubctl/tail.h"
#include "tools/wirehubctl/ws_url.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::ctl {

namespace v1 = ::wirehub::control::v1;

namespace {

constexpr int64_t kDefaultTtlSeconds = 3600;
// A PEM private key is a few KiB.
constexpr size_t kMaxKeyFileBytes = 1 << 20;
constexpr char kDefaultEdgeUrl[] = "ws://127.0.0.1:8000/connection/websocket";

}  // namespace

int RunToken(const CommandLine& line, const CliContext& context) {
  if (!line.positionals.empty()) {
    return UsageError(context, line.subcommand,
                      absl::StrCat("unexpected argument '", line.positionals[0], "'"));
  }
  const std::string* user = line.Flag("user");
  if (user == nullptr || user->empty()) {
    return UsageError(context, line.subcommand, "token needs --user=ID");
  }
  absl::StatusOr<std::optional<int64_t>> ttl = IntFlag(line, "ttl", 1, kMaxTtlSeconds);
  if (!ttl.ok()) return UsageError(context, line.subcommand, ttl.status().message());

  TokenSpec spec;
  spec.subject = *user;
  if (const std::string* tenant = line.Flag("tenant")) {
    if (absl::Status valid = ValidateTenant(*tenant); !valid.ok()) {
      return UsageError(context, line.subcommand, absl::StrCat("--tenant: ", valid.message()));
    }
    spec.tenant = *tenant;
  }
  if (const std::string* info = line.Flag("info")) {
    JsonValidator validator;
    if (absl::Status valid = validator.Validate(*info); !valid.ok()) {
      return UsageError(context, line.subcommand,
                        absl::StrCat("--info must be one JSON document: ", valid.message()));
    }
    spec.info_json = *info;
  }
  if (const std::string* channels = line.Flag("channels")) {
    std::vector<absl::string_view> names = absl::StrSplit(*channels, ',');
    if (names.size() > kMaxTokenChannels) {
      return UsageError(context, line.subcommand,
                        absl::StrCat("--channels names ", names.size(), " channels; at most ",
                                     kMaxTokenChannels, " fit in a token"));
    }
    for (absl::string_view channel : names) {
      if (absl::Status valid = ValidateChannelName(AsStd(channel)); !valid.ok()) {
        return UsageError(context, line.subcommand,
                          absl::StrCat("--channels: '", channel, "': ", valid.message()));
      }
      spec.channels.emplace_back(channel);
    }
  }
  if (const std::string* channel = line.Flag("channel")) {
    if (absl::Status valid = ValidateChannelName(*channel); !valid.ok()) {
      return UsageError(context, line.subcommand, absl::StrCat("--channel: ", valid.message()));
    }
    if (line.Flag("channels") != nullptr) {
      return UsageError(context, line.subcommand,
                        "--channels is for connection tokens; --channel mints a subscription "
                        "token");
    }
    spec.channel = *channel;
  }
  for (absl::string_view name : {"audience", "issuer"}) {
    absl::StatusOr<std::optional<std::string>> value = NonEmptyFlag(line, name);
    if (!value.ok()) return UsageError(context, line.subcommand, value.status().message());
    if (value->has_value()) (name == "audience" ? spec.audience : spec.issuer) = **value;
  }

  absl::StatusOr<std::optional<std::string>> kid = NonEmptyFlag(line, "kid");
  if (!kid.ok()) return UsageError(context, line.subcommand, kid.status().message());
  const std::string* key_file = line.Flag("private_key_file");
  const std::string* algorithm = line.Flag("algorithm");
  if ((key_file == nullptr) != (algorithm == nullptr)) {
    return UsageError(context, line.subcommand, "--private_key_file and --algorithm go together");
  }
  if (key_file != nullptr && line.Flag("token_hmac_secret_file") != nullptr) {
    return UsageError(context, line.subcommand,
                      "--private_key_file signs instead of the HMAC secret; drop "
                      "--token_hmac_secret_file");
  }
  std::optional<TokenSigner> signer;
  if (key_file != nullptr) {
    std::optional<JwsAlgorithm> parsed = ParseJwsAlgorithm(*algorithm);
    if (!parsed.has_value() || *parsed == JwsAlgorithm::kHs256) {
      return UsageError(context, line.subcommand,
                        absl::StrCat("--algorithm must be RS256, RS384, RS512, PS256, ES256, "
                                     "ES384 or EdDSA, got '",
                                     *algorithm, "'"));
    }
    absl::StatusOr<std::string> pem =
        ReadFileBounded(*key_file, kMaxKeyFileBytes, "private key file");
    if (!pem.ok()) {
      *context.err << "error: " << pem.status().message() << "\n";
      return kExitFailure;
    }
    absl::StatusOr<TokenSigner> from_pem =
        TokenSigner::FromPrivateKeyPem(*parsed, *pem, kid->value_or(""));
    if (!from_pem.ok()) {
      *context.err << "error: --private_key_file " << *key_file << ": "
                   << from_pem.status().message() << "\n";
      return kExitFailure;
    }
    signer = *std::move(from_pem);
  } else {
    std::optional<std::string> secret = LoadSecret(line, context);
    if (!secret.has_value()) return kExitFailure;
    absl::StatusOr<TokenSigner> hmac = TokenSigner::FromHmacSecret(*secret, kid->value_or(""));
    if (!hmac.ok()) {
      *context.err << "error: " << hmac.status().message() << "\n";
      return kExitFailure;
    }
    signer = *std::move(hmac);
  }
  // Whole seconds: `iat` and `exp` are NumericDate seconds anyway.
  spec.issued_at = absl::FromUnixSeconds(absl::ToUnixSeconds(context.now()));
  spec.expires_at = spec.issued_at + absl::Seconds(ttl->value_or(kDefaultTtlSeconds));
  absl::StatusOr<std::string> token = signer->SignToken(spec);
  if (!token.ok()) {
    *context.err << "error: " << token.status().message() << "\n";
    return kExitFailure;
  }
  *context.out << *token << "\n";
  return kExitOk;
}

int RunTail(const CommandLine& line, const CliContext& context) {
  int exit_code = kExitOk;
  if (!OneChannel(line, context, &exit_code)) return exit_code;
  TailOptions options;
  options.channel = line.positionals[0];
  if (absl::Status valid = ValidateChannelName(options.channel); !valid.ok()) {
    return UsageError(context, line.subcommand, valid.message());
  }
  absl::StatusOr<WebSocketUrl> url =
      ParseWebSocketUrl(line.Flag("url") == nullptr ? kDefaultEdgeUrl : *line.Flag("url"));
  if (!url.ok()) return UsageError(context, line.subcommand, url.status().message());
  options.url = *std::move(url);
  // The global TLS flags: tail never talks to control, so for tail they are
  // about the edge's certificate.
  for (absl::string_view name : {"tls_ca_file", "tls_server_name"}) {
    absl::StatusOr<std::optional<std::string>> value = NonEmptyFlag(line, name);
    if (!value.ok()) return UsageError(context, line.subcommand, value.status().message());
    if (!value->has_value()) continue;
    if (!options.url.tls) {
      return UsageError(context, line.subcommand,
                        absl::StrCat("--", name, " only applies to a wss:// --url"));
    }
    (name == "tls_ca_file" ? options.tls.ca_file : options.tls.server_name) = **value;
  }

  absl::StatusOr<std::optional<std::string>> token = NonEmptyFlag(line, "token");
  if (!token.ok()) return UsageError(context, line.subcommand, token.status().message());
  absl::StatusOr<std::optional<std::string>> user = NonEmptyFlag(line, "user");
  if (!user.ok()) return UsageError(context, line.subcommand, user.status().message());
  if (token->has_value() == user->has_value()) {
    return UsageError(context, line.subcommand,
                      "tail needs either --token=JWT or --user=ID (to mint a token)");
  }
  if (token->has_value()) {
    for (absl::string_view mint_only : {"tenant", "token_hmac_secret_file"}) {
      if (line.Flag(mint_only) != nullptr) {
        return UsageError(context, line.subcommand,
                          absl::StrCat("--", mint_only, " only applies with --user"));
      }
    }
  }
  const std::string* tenant = line.Flag("tenant");
  if (tenant != nullptr) {
    if (absl::Status valid = ValidateTenant(*tenant); !valid.ok()) {
      return UsageError(context, line.subcommand, absl::StrCat("--tenant: ", valid.message()));
    }
  }
  absl::StatusOr<std::optional<std::string>> sub_token = NonEmptyFlag(line, "sub_token");
  if (!sub_token.ok()) return UsageError(context, line.subcommand, sub_token.status().message());
  options.sub_token = sub_token->value_or("");

  absl::StatusOr<std::optional<int64_t>> count =
      IntFlag(line, "count", 1, std::numeric_limits<int64_t>::max());
  if (!count.ok()) return UsageError(context, line.subcommand, count.status().message());
  options.count = static_cast<uint64_t>(count->value_or(0));
  absl::StatusOr<std::optional<absl::Duration>> timeout =
      DurationFlag(line, "timeout", absl::Seconds(kMaxTtlSeconds));
  if (!timeout.ok()) return UsageError(context, line.subcommand, timeout.status().message());
  options.timeout = timeout->value_or(absl::InfiniteDuration());
  options.print_offsets = BoolFlag(line, "offsets");

  absl::StatusOr<std::optional<uint64_t>> offset = Uint64Flag(line, "offset");
  if (!offset.ok()) return UsageError(context, line.subcommand, offset.status().message());
  const std::string* epoch = line.Flag("epoch");
  options.recover = BoolFlag(line, "recover");
  if (options.recover != (offset->has_value() && epoch != nullptr) ||
      (!options.recover && (offset->has_value() || epoch != nullptr))) {
    return UsageError(context, line.subcommand,
                      "--recover, --epoch and --offset go together (all three or none)");
  }
  if (options.recover) {
    options.epoch = *epoch;
    options.offset = **offset;
  }

  if (token->has_value()) {
    options.token = **token;
  } else {
    std::optional<std::string> secret = LoadSecret(line, context);
    if (!secret.has_value()) return kExitFailure;
    TokenSpec spec;
    spec.subject = **user;
    spec.tenant = tenant == nullptr ? std::string() : *tenant;
    spec.issued_at = absl::FromUnixSeconds(absl::ToUnixSeconds(context.now()));
    spec.expires_at = spec.issued_at + absl::Seconds(kDefaultTtlSeconds);
    options.token = MintToken(*secret, spec);
  }

  absl::Status status = TailChannel(options, *context.out, *context.err);
  if (!status.ok()) {
    *context.err << status.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace wirehub::ctl
