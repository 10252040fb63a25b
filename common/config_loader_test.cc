#include "common/config_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "wirehub/config/v1/config.pb.h"

#ifndef WIREHUB_SOURCE_DIR
#error "WIREHUB_SOURCE_DIR must name the source tree (set in common/CMakeLists.txt)"
#endif

namespace wirehub {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::wirehub::config::v1::Config;

constexpr char kSource[] = "test.json";

// Parses `json` and expects InvalidArgument whose message starts with the
// source name and contains every one of `parts`.
template <typename... Parts>
void ExpectInvalid(const std::string& json, const Parts&... parts) {
  absl::StatusOr<Config> config = ParseConfig(json, kSource);
  ASSERT_FALSE(config.ok()) << json;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  const std::string message(config.status().message());
  EXPECT_THAT(message, StartsWith("test.json: "));
  const std::vector<std::string> expected = {std::string(parts)...};
  for (const std::string& part : expected) EXPECT_THAT(message, HasSubstr(part));
}

// A namespace list holding one namespace "ns" with the given options JSON.
std::string OneNamespace(const std::string& options) {
  return R"({"namespaces":[{"name":"ns","options":)" + options + "}]}";
}

TEST(ParseConfigTest, ParsesFullExample) {
  absl::StatusOr<Config> config = ParseConfig(R"({
    "defaults": {"history_size": 5, "history_ttl": "1.5s"},
    "namespaces": [
      {"name": "conversation",
       "options": {"history_size": 200, "history_ttl": "600s", "allow_recovery": true}},
      {"name": "typing"}
    ],
    "idempotencyWindow": "120s",
    "recovery_max_publications": 50,
    "token_hmac_secret": "${SECRET}"
  })",
                                              kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->defaults().history_size(), 5u);
  EXPECT_EQ(DurationFromProto(config->defaults().history_ttl()), absl::Milliseconds(1500));
  ASSERT_EQ(config->namespaces_size(), 2);
  EXPECT_EQ(config->namespaces(0).name(), "conversation");
  EXPECT_EQ(config->namespaces(0).options().history_size(), 200u);
  EXPECT_EQ(DurationFromProto(config->namespaces(0).options().history_ttl()), absl::Seconds(600));
  EXPECT_TRUE(config->namespaces(0).options().allow_recovery());
  EXPECT_EQ(config->namespaces(1).name(), "typing");
  EXPECT_EQ(config->namespaces(1).options().history_size(), 0u);
  EXPECT_EQ(DurationFromProto(config->idempotency_window()), absl::Seconds(120));
  EXPECT_EQ(config->recovery_max_publications(), 50u);
  EXPECT_EQ(config->token_hmac_secret(), "${SECRET}");  // Not resolved by the loader.
}

TEST(ParseConfigTest, BinaryDataIsANamespaceAndDefaultsOption) {
  absl::StatusOr<Config> config = ParseConfig(R"({
    "defaults": {"binary_data": true},
    "namespaces": [
      {"name": "frames", "options": {"binaryData": true, "history_size": 10,
                                     "history_ttl": "60s", "join_leave": true}},
      {"name": "chat", "options": {"allow_subscribe_for_client": true}}
    ]
  })",
                                              kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->defaults().binary_data());
  EXPECT_TRUE(config->namespaces(0).options().binary_data());
  // Not inherited from defaults, like every option.
  EXPECT_FALSE(config->namespaces(1).options().binary_data());
}

TEST(ParseConfigTest, EmptyObjectGetsDefaults) {
  absl::StatusOr<Config> config = ParseConfig("{}", kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->has_idempotency_window());
  EXPECT_EQ(DurationFromProto(config->idempotency_window()), kDefaultIdempotencyWindow);
  EXPECT_EQ(DurationFromProto(config->idempotency_window()), absl::Seconds(300));
  EXPECT_EQ(config->recovery_max_publications(), 1000u);
  EXPECT_EQ(config->defaults().history_size(), 0u);
  EXPECT_FALSE(config->defaults().allow_recovery());
  EXPECT_EQ(config->namespaces_size(), 0);
}

TEST(ParseConfigTest, ZeroRecoveryMaxPublicationsMeansDefault) {
  absl::StatusOr<Config> config = ParseConfig(R"({"recovery_max_publications": 0})", kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->recovery_max_publications(), 1000u);
}

TEST(ParseConfigTest, UnknownTopLevelKeyIsNamed) {
  ExpectInvalid(R"({"namespacez": []})", "namespacez");
}

TEST(ParseConfigTest, MistypedNestedKeyIsNamed) {
  ExpectInvalid(R"({"defaults": {"history_sise": 10}})", "history_sise", "defaults");
}

TEST(ParseConfigTest, MistypedKeyInNamespaceIsNamed) {
  ExpectInvalid(OneNamespace(R"({"history_size": 1, "history_ttl": "1s", "allow_recovry": true})"),
                "allow_recovry", "namespaces[0]");
}

TEST(ParseConfigTest, WrongTypeIsRefused) {
  ExpectInvalid(R"({"defaults": {"history_size": "many"}})", "history_size");
  ExpectInvalid(R"({"defaults": {"allow_recovery": "yes"}})", "allow_recovery");
  ExpectInvalid(R"({"namespaces": "x"})", "namespaces");
  ExpectInvalid(R"({"namespaces": [5]})", "namespaces[0]");
  ExpectInvalid(R"({"defaults": 5})", "defaults");
  ExpectInvalid(R"({"recovery_max_publications": 1.5})", "recovery_max_publications");
}

TEST(ParseConfigTest, NegativeUnsignedIsRefused) {
  ExpectInvalid(R"({"defaults": {"history_size": -1}})", "history_size");
}

TEST(ParseConfigTest, BadDurationIsRefused) {
  ExpectInvalid(R"({"defaults": {"history_size": 1, "history_ttl": "10 minutes"}})", "history_ttl");
  ExpectInvalid(R"({"idempotency_window": 300})", "idempotency_window");
}

TEST(ParseConfigTest, InvalidJsonIsRefused) {
  ExpectInvalid(R"({"defaults": {)");
  ExpectInvalid(R"([])");
  ExpectInvalid(R"({"defaults": {}} {})");
  ExpectInvalid(R"({"defaults": {}} trailing)");
}

TEST(ParseConfigTest, SyntaxErrorIsLocated) {
  ExpectInvalid("{\n  \"defaults\": {\n    \"history_size\": 1 2\n  }\n}", "line 3, column 23");
}

TEST(ParseConfigTest, InlineSecretIsNeverEchoed) {
  for (const std::string json :
       {R"({"token_hmac_secret": 987654321})", R"({"tokenHmacSecret": 987654321})",
        R"({"token_hmac_secret": "987654321" "x": 1})", R"({"token_hmac_secret": "987654321",})",
        R"({"token_hmac_secret": "987654321", "token_hmac_secret": ""})"}) {
    absl::StatusOr<Config> config = ParseConfig(json, kSource);
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(config.status().message(), Not(HasSubstr("987654321"))) << json;
  }
}

TEST(ParseConfigTest, LenientJsonIsRefused) {
  // protobuf's parser alone would take all of these.
  ExpectInvalid(R"({"defaults": {},})", "invalid JSON");
  ExpectInvalid(R"({"defaults": {"history_size": 0,}})", "invalid JSON");
  ExpectInvalid(R"({defaults: {}})", "invalid JSON");
  ExpectInvalid(R"({'defaults': {}})", "invalid JSON");
}

TEST(ParseConfigTest, DuplicateKeyIsNamed) {
  ExpectInvalid(R"({"namespaces": [{"name": "a"}], "namespaces": [{"name": "b"}]})",
                "namespaces: key appears twice");
  ExpectInvalid(R"({"namespaces": [{"name": "a"}, {"name": "b", "options":
                   {"history_size": 1, "history_ttl": "1s", "history_size": 2}}]})",
                "(namespaces[1].options) history_size: key appears twice");
  ExpectInvalid(R"({"defaults": {"history_size": 1, "history_ttl": "1s", "historySize": 2}})",
                "(defaults) historySize: key appears twice");
  // The same key in different objects is fine.
  EXPECT_TRUE(ParseConfig(R"({"namespaces": [{"name": "a"}, {"name": "b"}]})", kSource).ok());
}

TEST(ParseConfigTest, ABoolMustBeTrueOrFalse) {
  // protobuf's parser alone takes any string for a bool.
  ExpectInvalid(R"({"namespaces": [{"name": "chat", "options": {"join_leave": "yes"}}]})",
                "namespaces[0].options.join_leave: must be true or false");
  ExpectInvalid(R"({"defaults": {"presence": "true"}})",
                "defaults.presence: must be true or false");
  ExpectInvalid(R"({"defaults": {"allowRecovery": "false"}})",
                "defaults.allowRecovery: must be true or false");
  absl::StatusOr<Config> config =
      ParseConfig(R"({"namespaces": [{"name": "chat", "options": {"join_leave": true,
                     "presence": false, "allowRecovery": null}}]})",
                  kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->namespaces(0).options().join_leave());
}

TEST(ParseConfigTest, EmptyInputIsRefused) {
  ExpectInvalid("", "empty");
  ExpectInvalid(" \n\t", "empty");
}

TEST(ValidateConfigTest, NamespaceNameRules) {
  ExpectInvalid(R"({"namespaces": [{"name": ""}]})", "namespaces[0].name", "empty");
  ExpectInvalid(R"({"namespaces": [{"options": {}}]})", "namespaces[0].name", "empty");
  ExpectInvalid(R"({"namespaces": [{"name": "ok"}, {"name": "a.b"}]})", "namespaces[1].name", "a.b",
                "0x2e", "position 1");
  ExpectInvalid(R"({"namespaces": [{"name": "a:b"}]})", "namespaces[0].name", "0x3a");
  ExpectInvalid(R"({"namespaces": [{"name": "caf\u00e9"}]})", "namespaces[0].name", "0xc3");
  ExpectInvalid(R"({"namespaces": [{"name": ")" + std::string(65, 'n') + R"("}]})",
                "namespaces[0].name", "65 bytes");
}

TEST(ValidateConfigTest, NamespaceNameControlByteIsEscaped) {
  absl::StatusOr<Config> config = ParseConfig(R"({"namespaces": [{"name": "a\nb"}]})", kSource);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), AllOf(HasSubstr("a\\nb"), Not(HasSubstr("a\nb"))));
}

TEST(ValidateConfigTest, AcceptsLongestAndEveryAllowedByte) {
  const std::string longest(kMaxNamespaceNameBytes, 'n');
  absl::StatusOr<Config> config = ParseConfig(
      R"({"namespaces": [{"name": "Az09_-"}, {"name": ")" + longest + R"("}]})", kSource);
  EXPECT_TRUE(config.ok()) << config.status();
}

TEST(ValidateConfigTest, DuplicateNamespaceIsRefused) {
  ExpectInvalid(R"({"namespaces": [{"name": "a"}, {"name": "b"}, {"name": "a"}]})",
                "namespaces[2].name", "\"a\"", "namespaces[0]");
}

TEST(ValidateConfigTest, HistorySizeLimit) {
  EXPECT_TRUE(
      ParseConfig(OneNamespace(R"({"history_size": 100000, "history_ttl": "1s"})"), kSource).ok());
  ExpectInvalid(OneNamespace(R"({"history_size": 100001, "history_ttl": "1s"})"),
                "namespace \"ns\"", "history_size", "100001");
  ExpectInvalid(R"({"defaults": {"history_size": 100001, "history_ttl": "1s"}})", "defaults",
                "history_size");
}

TEST(ValidateConfigTest, HistoryTtlRequiredWithHistory) {
  ExpectInvalid(OneNamespace(R"({"history_size": 5})"), "namespace \"ns\"", "history_ttl");
  ExpectInvalid(OneNamespace(R"({"history_size": 5, "history_ttl": "0s"})"), "namespace \"ns\"",
                "history_ttl");
  ExpectInvalid(R"({"defaults": {"history_size": 5}})", "defaults", "history_ttl");
}

TEST(ValidateConfigTest, HistoryTtlAtMostThirtyDays) {
  EXPECT_TRUE(
      ParseConfig(OneNamespace(R"({"history_size": 1, "history_ttl": "2592000s"})"), kSource).ok());
  ExpectInvalid(OneNamespace(R"({"history_size": 1, "history_ttl": "2592000.5s"})"),
                "namespace \"ns\"", "history_ttl", "2592000.5s", "maximum of 2592000s");
  ExpectInvalid(R"({"defaults": {"history_size": 1, "history_ttl": "2592001s"}})", "defaults",
                "history_ttl");
}

TEST(ValidateConfigTest, NegativeDurationsAreRefused) {
  ExpectInvalid(OneNamespace(R"({"history_size": 1, "history_ttl": "-5s"})"), "namespace \"ns\"",
                "history_ttl", "negative");
  ExpectInvalid(OneNamespace(R"({"history_ttl": "-0.5s"})"), "namespace \"ns\"", "history_ttl",
                "-0.5s", "negative");
  ExpectInvalid(R"({"defaults": {"history_ttl": "-1s"}})", "defaults", "history_ttl");
  ExpectInvalid(R"({"idempotency_window": "-1s"})", "idempotency_window");
}

TEST(ValidateConfigTest, IdempotencyWindowBounds) {
  ExpectInvalid(R"({"idempotency_window": "0s"})", "idempotency_window", "> 0");
  ExpectInvalid(R"({"idempotency_window": "2592001s"})", "idempotency_window", "maximum");
  absl::StatusOr<Config> config = ParseConfig(R"({"idempotency_window": "0.25s"})", kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(DurationFromProto(config->idempotency_window()), absl::Milliseconds(250));
}

TEST(ValidateConfigTest, RecoveryNeedsHistory) {
  ExpectInvalid(OneNamespace(R"({"allow_recovery": true})"), "namespace \"ns\"", "allow_recovery");
  ExpectInvalid(R"({"defaults": {"allow_recovery": true}})", "defaults", "allow_recovery");
  EXPECT_TRUE(ParseConfig(R"({"defaults": {"history_size": 1, "history_ttl": "1s",
                                           "allow_recovery": true}})",
                          kSource)
                  .ok());
}

TEST(ValidateConfigTest, ErrorNamesTheRightNamespace) {
  ExpectInvalid(R"({"namespaces": [
      {"name": "good", "options": {"history_size": 1, "history_ttl": "1s"}},
      {"name": "bad", "options": {"history_size": 1}}]})",
                "namespace \"bad\"", "history_ttl");
}

TEST(ValidateConfigTest, ValidatesAProtoDirectly) {
  Config config;
  config.add_namespaces()->set_name("ns");
  ASSERT_TRUE(ValidateConfig("built", &config).ok());
  EXPECT_EQ(config.recovery_max_publications(), 1000u);
  config.mutable_defaults()->mutable_history_ttl()->set_nanos(-1);
  absl::Status status = ValidateConfig("built", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith("built: "), HasSubstr("defaults"), HasSubstr("history_ttl")));
}

TEST(DurationFromProtoTest, Converts) {
  google::protobuf::Duration duration;
  duration.set_seconds(3);
  duration.set_nanos(500000000);
  EXPECT_EQ(DurationFromProto(duration), absl::Milliseconds(3500));
  EXPECT_EQ(DurationFromProto(google::protobuf::Duration()), absl::ZeroDuration());
}

// Each test writes at most one file and removes it.
class LoadConfigFileTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!path_.empty()) std::remove(path_.c_str());
  }

  std::string WriteFile(const std::string& contents) {
    path_ = ::testing::TempDir() + "/config_loader_test_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".json";
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << contents;
    return path_;
  }

 private:
  std::string path_;
};

TEST_F(LoadConfigFileTest, LoadsFile) {
  absl::StatusOr<Config> config =
      LoadConfigFile(WriteFile(R"({"namespaces": [{"name": "chat"}]})"));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->namespaces_size(), 1);
  EXPECT_EQ(config->namespaces(0).name(), "chat");
  EXPECT_EQ(config->recovery_max_publications(), 1000u);
}

TEST_F(LoadConfigFileTest, ErrorsNameTheFileAndKey) {
  const std::string path = WriteFile(R"({"defaults": {"history_sise": 10}})");
  absl::StatusOr<Config> config = LoadConfigFile(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()),
              AllOf(StartsWith(path + ": "), HasSubstr("history_sise")));
}

TEST_F(LoadConfigFileTest, ValidationErrorsNameTheFile) {
  const std::string path = WriteFile(R"({"defaults": {"allow_recovery": true}})");
  absl::StatusOr<Config> config = LoadConfigFile(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()),
              AllOf(StartsWith(path + ": "), HasSubstr("defaults"), HasSubstr("allow_recovery")));
}

TEST_F(LoadConfigFileTest, MissingFileNamesThePath) {
  const std::string path = ::testing::TempDir() + "/config_loader_test_does_not_exist.json";
  absl::StatusOr<Config> config = LoadConfigFile(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr(path));
}

TEST_F(LoadConfigFileTest, DirectoryIsRefusedNamingThePath) {
  const std::string path = ::testing::TempDir();
  absl::StatusOr<Config> config = LoadConfigFile(path);
  EXPECT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr(path));
}

TEST_F(LoadConfigFileTest, EmptyFileIsRefused) {
  const std::string path = WriteFile("");
  absl::StatusOr<Config> config = LoadConfigFile(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), AllOf(HasSubstr(path), HasSubstr("empty")));
}

TEST_F(LoadConfigFileTest, HugeFileIsRefused) {
  const std::string path = WriteFile(std::string(5 << 20, ' '));
  absl::StatusOr<Config> config = LoadConfigFile(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), AllOf(HasSubstr(path), HasSubstr("larger")));
}

TEST(ExampleConfigTest, DocumentedExampleParsesAndValidates) {
  const std::string path = std::string(WIREHUB_SOURCE_DIR) + "/docs/config.example.json";
  absl::StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->defaults().history_size(), 0u);
  EXPECT_FALSE(config->defaults().allow_recovery());
  ASSERT_EQ(config->namespaces_size(), 5);
  EXPECT_EQ(config->namespaces(0).name(), "conversation");
  EXPECT_EQ(config->namespaces(0).options().history_size(), 200u);
  EXPECT_EQ(DurationFromProto(config->namespaces(0).options().history_ttl()), absl::Seconds(600));
  EXPECT_TRUE(config->namespaces(0).options().allow_recovery());
  EXPECT_EQ(config->namespaces(1).name(), "memory");
  EXPECT_EQ(config->namespaces(1).options().history_size(), 50u);
  EXPECT_EQ(DurationFromProto(config->namespaces(1).options().history_ttl()), absl::Hours(1));
  EXPECT_TRUE(config->namespaces(1).options().allow_recovery());
  EXPECT_EQ(config->namespaces(2).name(), "export");
  EXPECT_EQ(config->namespaces(2).options().history_size(), 10u);
  EXPECT_EQ(DurationFromProto(config->namespaces(2).options().history_ttl()), absl::Hours(24));
  EXPECT_TRUE(config->namespaces(2).options().allow_recovery());
  EXPECT_EQ(config->namespaces(3).name(), "typing");
  EXPECT_EQ(config->namespaces(3).options().history_size(), 0u);
  EXPECT_FALSE(config->namespaces(3).options().allow_recovery());
  EXPECT_FALSE(config->namespaces(3).options().binary_data());
  EXPECT_EQ(config->namespaces(4).name(), "frames");
  EXPECT_TRUE(config->namespaces(4).options().binary_data());
}

// Each test starts and ends with the variable unset.
class ResolveSecretReferenceTest : public ::testing::Test {
 protected:
  static constexpr char kVar[] = "WIREHUB_CONFIG_LOADER_TEST_SECRET";
  void SetUp() override { ::unsetenv(kVar); }
  void TearDown() override { ::unsetenv(kVar); }
};

TEST_F(ResolveSecretReferenceTest, ReadsEnvironment) {
  ::setenv(kVar, "hunter2", 1);
  absl::StatusOr<std::string> secret =
      ResolveSecretReference("${WIREHUB_CONFIG_LOADER_TEST_SECRET}");
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, "hunter2");
}

TEST_F(ResolveSecretReferenceTest, UnsetVariableIsNamed) {
  absl::StatusOr<std::string> secret =
      ResolveSecretReference("${WIREHUB_CONFIG_LOADER_TEST_SECRET}");
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(secret.status().message(), AllOf(HasSubstr(kVar), HasSubstr("not set")));
}

TEST_F(ResolveSecretReferenceTest, EmptyVariableIsRefused) {
  ::setenv(kVar, "", 1);
  absl::StatusOr<std::string> secret =
      ResolveSecretReference("${WIREHUB_CONFIG_LOADER_TEST_SECRET}");
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(secret.status().message(), AllOf(HasSubstr(kVar), HasSubstr("empty")));
}

TEST_F(ResolveSecretReferenceTest, PlainValuesAreReturnedAsIs) {
  for (const std::string value : {"", "s3cret", "$NAME", "{NAME}", "a${NAME}", "$ {NAME}"}) {
    absl::StatusOr<std::string> secret = ResolveSecretReference(value);
    ASSERT_TRUE(secret.ok()) << value << ": " << secret.status();
    EXPECT_EQ(*secret, value);
  }
}

TEST_F(ResolveSecretReferenceTest, MalformedReferenceIsRefusedWithoutEchoingIt) {
  for (const std::string value :
       {"${", "${}", "${NAME", "${1NAME}", "${NA ME}", "${NAME}x", "${SUPERSECRET"}) {
    absl::StatusOr<std::string> secret = ResolveSecretReference(value);
    EXPECT_EQ(secret.status().code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_THAT(secret.status().message(), Not(HasSubstr("SUPERSECRET")));
  }
}

}  // namespace
}  // namespace wirehub
