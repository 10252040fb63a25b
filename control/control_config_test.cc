#include "control/control_config.h"

#include <unistd.h>

#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "control/testing/test_pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::HasSubstr;

std::string HexSha256(std::string_view key) {
  std::array<uint8_t, 32> digest = Sha256(key);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

// One api_keys entry; its key is "wh_" + name unless `key` is given.
std::string KeyJson(absl::string_view name, absl::string_view key = "") {
  return absl::StrCat(R"({"name": ")", name, R"(", "sha256": ")",
                      HexSha256(key.empty() ? absl::StrCat("wh_", name) : std::string(key)),
                      R"("})");
}

// A configuration file with `api_keys` (a JSON list's items) and, when
// given, "api_keys_file": `key_file`.
std::string ConfigWithKeys(absl::string_view name, absl::string_view api_keys,
                           absl::string_view key_file) {
  std::string json =
      absl::StrCat(R"({"namespaces": [{"name": "news"}], "api_keys": [)", api_keys, "]");
  if (!key_file.empty()) absl::StrAppend(&json, R"(, "api_keys_file": ")", key_file, "\"");
  return testing::WriteTestFile(AsStd(name), absl::StrCat(json, "}"));
}

TEST(ControlConfigTest, WithoutApiKeysFileTheConfigsKeysAreUsed) {
  const std::string path = ConfigWithKeys("plain.json", KeyJson("ops"), "");
  absl::StatusOr<ControlConfig> config = LoadControlConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->api_keys.size(), 1u);
  EXPECT_EQ(config->namespace_names, std::vector<std::string>{"news"});
}

TEST(ControlConfigTest, ApiKeysFileEntriesAreAddedToTheConfigsKeys) {
  const std::string key_file = testing::WriteTestFile(
      "merged_keys.json",
      absl::StrCat(R"({"api_keys": [)", KeyJson("billing"), ", ", KeyJson("search"), "]}"));
  const std::string path = ConfigWithKeys("merged.json", KeyJson("ops"), key_file);
  absl::StatusOr<ControlConfig> config = LoadControlConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->api_keys.size(), 3u);
  for (const char* key : {"wh_ops", "wh_billing", "wh_search"}) {
    absl::StatusOr<const ApiKey*> found =
        config->api_keys.Authenticate(absl::StrCat("apikey ", key));
    EXPECT_TRUE(found.ok()) << key << ": " << found.status();
  }
}

TEST(ControlConfigTest, ApiKeysFileAloneGivesTheKeys) {
  const std::string key_file = testing::WriteTestFile(
      "alone_keys.json", absl::StrCat(R"({"apiKeys": [)", KeyJson("billing"), "]}"));
  const std::string path = ConfigWithKeys("alone.json", "", key_file);
  absl::StatusOr<ControlConfig> config = LoadControlConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->api_keys.size(), 1u);
}

TEST(ControlConfigTest, ApiKeysFileMayBeRelativeToTheWorkingDirectory) {
  const std::string key_file = testing::WriteTestFile(
      "relative_keys.json", absl::StrCat(R"({"api_keys": [)", KeyJson("billing"), "]}"));
  const std::string dir = key_file.substr(0, key_file.rfind('/'));
  const std::string path = ConfigWithKeys("relative.json", KeyJson("ops"), "relative_keys.json");
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir(dir.c_str()), 0);
  absl::StatusOr<ControlConfig> config = LoadControlConfig(path);
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->api_keys.size(), 2u);
}

TEST(ControlConfigTest, ANameInBothListsIsRefusedNamingTheFileAndEntry) {
  const std::string key_file = testing::WriteTestFile(
      "dup_name_keys.json",
      absl::StrCat(R"({"api_keys": [)", KeyJson("search"), ", ", KeyJson("ops", "wh_other"), "]}"));
  const std::string path = ConfigWithKeys("dup_name.json", KeyJson("ops"), key_file);
  absl::StatusOr<ControlConfig> config = LoadControlConfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr(absl::StrCat(key_file,
                                     ": api_keys[1] (\"ops\"): name is used by an "
                                     "earlier key (",
                                     path, ": api_keys[0])")));
}

TEST(ControlConfigTest, AHashInBothListsIsRefusedNamingTheFileAndEntry) {
  const std::string key_file = testing::WriteTestFile(
      "dup_hash_keys.json", absl::StrCat(R"({"api_keys": [)", KeyJson("billing", "wh_ops"), "]}"));
  const std::string path = ConfigWithKeys("dup_hash.json", KeyJson("ops"), key_file);
  absl::StatusOr<ControlConfig> config = LoadControlConfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr(absl::StrCat(key_file,
                                     ": api_keys[0] (\"billing\"): sha256 is that of "
                                     "an earlier key (",
                                     path, ": api_keys[0])")));
}

TEST(ControlConfigTest, ADuplicateWithinTheFileNamesItsEntries) {
  const std::string key_file = testing::WriteTestFile(
      "dup_inside_keys.json", absl::StrCat(R"({"api_keys": [)", KeyJson("billing"), ", ",
                                           KeyJson("billing", "wh_other"), "]}"));
  const std::string path = ConfigWithKeys("dup_inside.json", "", key_file);
  absl::StatusOr<ControlConfig> config = LoadControlConfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr(absl::StrCat(key_file,
                                     ": api_keys[1] (\"billing\"): name is used by an "
                                     "earlier key (api_keys[0])")));
}

TEST(ControlConfigTest, AnInvalidEntryInTheFileNamesTheFile) {
  const std::string key_file = testing::WriteTestFile(
      "bad_scope_keys.json", absl::StrCat(R"({"api_keys": [{"name": "billing", "sha256": ")",
                                          HexSha256("wh_billing"), R"(", "scope": "admin"}]})"));
  const std::string path = ConfigWithKeys("bad_scope.json", "", key_file);
  absl::StatusOr<ControlConfig> config = LoadControlConfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr(absl::StrCat(key_file, ": api_keys[0] (\"billing\"): scope must be")));
}

TEST(ControlConfigTest, AMissingApiKeysFileIsRefusedWithItsPath) {
  const std::string missing = testing::WriteTestFile("placeholder.json", "") + ".missing";
  const std::string path = ConfigWithKeys("missing.json", KeyJson("ops"), missing);
  absl::StatusOr<ControlConfig> config = LoadControlConfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(missing));
}

TEST(ControlConfigTest, AnUnknownKeyInTheApiKeysFileIsRefused) {
  const std::string top = testing::WriteTestFile(
      "unknown_top_keys.json",
      absl::StrCat(R"({"api_keys": [)", KeyJson("billing"), R"(], "namespaces": []})"));
  absl::StatusOr<ControlConfig> config =
      LoadControlConfig(ConfigWithKeys("unknown_top.json", "", top));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(absl::StrCat(top, ": ")));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("namespaces"));

  const std::string nested =
      testing::WriteTestFile("unknown_nested_keys.json",
                             absl::StrCat(R"({"api_keys": [{"name": "billing", "sha256": ")",
                                          HexSha256("wh_billing"), R"(", "scopes": "publish"}]})"));
  config = LoadControlConfig(ConfigWithKeys("unknown_nested.json", "", nested));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(absl::StrCat(nested, ": ")));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("scopes"));
}

TEST(ControlConfigTest, AnApiKeysFileMustBeStrictJson) {
  for (const char* text :
       {"", "{\"api_keys\": [],}", "{\"api_keys\": [], \"api_keys\": []}", "[]"}) {
    const std::string key_file = testing::WriteTestFile("strict_keys.json", text);
    absl::StatusOr<ControlConfig> config =
        LoadControlConfig(ConfigWithKeys("strict.json", "", key_file));
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(absl::StrCat(key_file, ": ")))
        << text;
  }
}

}  // namespace
}  // namespace wirehub::control
