#include "edge/control_targets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace wirehub::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kInitial = absl::Milliseconds(100);
constexpr absl::Duration kMax = absl::Seconds(5);

std::vector<ControlTarget> Parse(absl::string_view list) {
  absl::StatusOr<std::vector<ControlTarget>> targets = ParseControlTargets(list);
  EXPECT_TRUE(targets.ok()) << list << ": " << targets.status();
  return targets.ok() ? *std::move(targets) : std::vector<ControlTarget>();
}

std::string ParseError(absl::string_view list) {
  absl::StatusOr<std::vector<ControlTarget>> targets = ParseControlTargets(list);
  EXPECT_EQ(targets.status().code(), absl::StatusCode::kInvalidArgument) << list;
  return std::string(targets.status().message());
}

// Thread-compatible. A DNS stand-in: names map to address lists (or fail
// with Unavailable), and every lookup is counted.
class FakeDns {
 public:
  void Set(const std::string& host, std::vector<std::string> addresses) {
    answers_[host] = std::move(addresses);
  }
  void Fail(const std::string& host) { answers_.erase(host); }
  int lookups(const std::string& host) const {
    auto it = lookups_.find(host);
    return it == lookups_.end() ? 0 : it->second;
  }

  ControlTargets::Resolver resolver() {
    return [this](const std::string& host) -> absl::StatusOr<std::vector<std::string>> {
      ++lookups_[host];
      auto it = answers_.find(host);
      if (it == answers_.end()) return absl::UnavailableError("no such host");
      return it->second;
    };
  }

 private:
  std::map<std::string, std::vector<std::string>> answers_;
  std::map<std::string, int> lookups_;
};

// The Describe() of the next `count` endpoints, with no attach among them.
std::vector<std::string> NextAddresses(ControlTargets& targets, int count) {
  std::vector<std::string> described;
  for (int i = 0; i < count; ++i) {
    targets.NextDelay();
    described.push_back(targets.Next().Describe());
  }
  return described;
}

TEST(ParseControlTargetsTest, TakesOneOrSeveralHostPortsOfEveryKind) {
  std::vector<ControlTarget> one = Parse("127.0.0.1:7101");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].host, "127.0.0.1");
  EXPECT_EQ(one[0].port, 7101);
  EXPECT_TRUE(one[0].literal);

  std::vector<ControlTarget> several =
      Parse("10.0.0.7:7101, control-1.wirehub.svc:7102 ,[fd00::7]:7103,localhost:1");
  ASSERT_EQ(several.size(), 4u);
  EXPECT_EQ(several[1].host, "control-1.wirehub.svc");
  EXPECT_FALSE(several[1].literal);
  EXPECT_EQ(several[1].Authority(), "control-1.wirehub.svc:7102");
  EXPECT_EQ(several[2].host, "fd00::7");
  EXPECT_TRUE(several[2].literal);
  EXPECT_EQ(several[2].Authority(), "[fd00::7]:7103");
  EXPECT_EQ(several[3].port, 1);
}

TEST(ParseControlTargetsTest, RefusesBadItemsNamingThem) {
  EXPECT_THAT(ParseError(""), HasSubstr("the list is empty"));
  EXPECT_THAT(ParseError("a:1,,b:2"), HasSubstr("item 2 of 'a:1,,b:2' is empty"));
  EXPECT_THAT(ParseError("a:1,"), HasSubstr("item 2 of 'a:1,' is empty"));
  EXPECT_THAT(ParseError("a:1,control"), HasSubstr("item 2 'control' has no port"));
  EXPECT_THAT(ParseError("control:0"),
              HasSubstr("item 1 'control:0' has a bad port '0' (1-65535)"));
  EXPECT_THAT(ParseError("control:65536"), HasSubstr("bad port '65536'"));
  EXPECT_THAT(ParseError("control:http"), HasSubstr("bad port 'http'"));
  EXPECT_THAT(ParseError("control:"), HasSubstr("bad port ''"));
  EXPECT_THAT(ParseError(":7101"), HasSubstr("has no valid host name or address"));
  EXPECT_THAT(ParseError("dns:///control:7101"), HasSubstr("has no valid host name or address"));
  EXPECT_THAT(ParseError("fd00::7:7101"), HasSubstr("needs brackets around its IPv6 address"));
  EXPECT_THAT(ParseError("[control]:7101"), HasSubstr("holds no IPv6 address in its brackets"));
  EXPECT_THAT(ParseError("[fd00::7]"), HasSubstr("has no port after its bracketed address"));
}

TEST(ControlTargetsTest, OneTargetBacksOffExponentiallyAsASingleAddressDid) {
  ControlTargets targets(Parse("127.0.0.1:7101"), kInitial, absl::Milliseconds(800));
  EXPECT_EQ(targets.NextDelay(), absl::ZeroDuration());
  EXPECT_EQ(targets.Next().grpc_target, "ipv4:127.0.0.1:7101");
  // Each failure is a failed round: the pause doubles up to the maximum,
  // each drawn from [b/2, b].
  for (absl::Duration bound :
       {absl::Milliseconds(100), absl::Milliseconds(200), absl::Milliseconds(400),
        absl::Milliseconds(800), absl::Milliseconds(800)}) {
    absl::Duration delay = targets.NextDelay();
    EXPECT_GE(delay, bound / 2);
    EXPECT_LE(delay, bound);
    EXPECT_EQ(targets.Next().Describe(), "127.0.0.1:7101");
  }
  // An attach resets it.
  targets.Attached();
  EXPECT_LE(targets.NextDelay(), kInitial);
  targets.Next();
  EXPECT_LE(targets.NextDelay(), kInitial);
}

TEST(ControlTargetsTest, TriesTheListInOrderWithShortPausesAndBacksOffOnlyAfterAWholeRound) {
  ControlTargets targets(Parse("10.0.0.1:7101,10.0.0.2:7101,10.0.0.3:7101"), kInitial, kMax);
  EXPECT_EQ(targets.NextDelay(), absl::ZeroDuration());
  EXPECT_EQ(targets.Next().Describe(), "10.0.0.1:7101");
  for (const char* expected : {"10.0.0.2:7101", "10.0.0.3:7101"}) {
    EXPECT_LE(targets.NextDelay(), kInitial) << "untried replicas remain: no backoff";
    EXPECT_EQ(targets.Next().Describe(), expected);
  }
  // Every replica failed: the next round backs off, then grows.
  absl::Duration bound = kInitial;
  for (int round = 0; round < 4; ++round) {
    absl::Duration delay = targets.NextDelay();
    EXPECT_GE(delay, bound / 2) << "round " << round;
    EXPECT_LE(delay, bound) << "round " << round;
    EXPECT_EQ(targets.Next().Describe(), "10.0.0.1:7101");
    EXPECT_LE(targets.NextDelay(), kInitial);
    EXPECT_EQ(targets.Next().Describe(), "10.0.0.2:7101");
    EXPECT_LE(targets.NextDelay(), kInitial);
    EXPECT_EQ(targets.Next().Describe(), "10.0.0.3:7101");
    bound *= 2;
  }
}

TEST(ControlTargetsTest, AfterAnAttachTheOthersAreTriedFirstAndItLast) {
  for (int attached = 0; attached < 3; ++attached) {
    ControlTargets targets(Parse("10.0.0.1:7101,10.0.0.2:7101,10.0.0.3:7101"), kInitial, kMax);
    std::vector<std::string> tried = NextAddresses(targets, attached + 1);
    targets.Attached();
    // The attached replica went away: the one after it, at once.
    EXPECT_LE(targets.NextDelay(), kInitial);
    std::vector<std::string> after = NextAddresses(targets, 3);
    EXPECT_EQ(after.back(), tried.back()) << "the replica that went away is tried last";
    EXPECT_THAT(after, UnorderedElementsAre("10.0.0.1:7101", "10.0.0.2:7101", "10.0.0.3:7101"));
    EXPECT_EQ(after[0], absl::StrCat("10.0.0.", (attached + 1) % 3 + 1, ":7101"));
  }
}

TEST(ControlTargetsTest, ANameIsResolvedPerRoundIntoOneEndpointPerAddress) {
  FakeDns dns;
  dns.Set("control.svc", {"10.1.0.1", "10.1.0.2", "fd00::3"});
  ControlTargets targets(Parse("control.svc:7101"), kInitial, kMax, dns.resolver(), /*seed=*/7);
  std::vector<ControlEndpoint> round;
  for (int i = 0; i < 3; ++i) round.push_back(targets.Next());
  EXPECT_EQ(dns.lookups("control.svc"), 1);
  std::vector<std::string> grpc_targets;
  for (const ControlEndpoint& endpoint : round) {
    EXPECT_EQ(endpoint.authority, "control.svc:7101") << "TLS checks the configured name";
    grpc_targets.push_back(endpoint.grpc_target);
  }
  EXPECT_THAT(grpc_targets, UnorderedElementsAre("ipv4:10.1.0.1:7101", "ipv4:10.1.0.2:7101",
                                                 "ipv6:[fd00::3]:7101"));
  EXPECT_THAT(targets.round().front().Describe(), HasSubstr("control.svc:7101 (10."));

  // The next round looks again and sees a replica replaced.
  dns.Set("control.svc", {"10.1.0.2", "10.1.0.4"});
  std::vector<std::string> next = NextAddresses(targets, 2);
  EXPECT_EQ(dns.lookups("control.svc"), 2);
  EXPECT_THAT(next, UnorderedElementsAre("control.svc:7101 (10.1.0.2:7101)",
                                         "control.svc:7101 (10.1.0.4:7101)"));
}

TEST(ControlTargetsTest, ShufflesTheAddressesOfANameSoEdgesSpreadOverReplicas) {
  FakeDns dns;
  dns.Set("control.svc", {"10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"});
  std::map<std::string, int> first_choices;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    ControlTargets targets(Parse("control.svc:7101"), kInitial, kMax, dns.resolver(), seed);
    ++first_choices[targets.Next().address];
  }
  EXPECT_EQ(first_choices.size(), 4u) << "every replica is some edge's first choice";
}

TEST(ControlTargetsTest, ANameThatStopsResolvingKeepsItsAddressesAndOneNeverResolvedIsLeftToGrpc) {
  FakeDns dns;
  dns.Set("a.svc", {"10.1.0.1"});
  ControlTargets targets(Parse("a.svc:7101,b.svc:7102"), kInitial, kMax, dns.resolver());
  std::vector<ControlEndpoint> round = {targets.Next(), targets.Next()};
  EXPECT_EQ(round[0].grpc_target, "ipv4:10.1.0.1:7101");
  // gRPC resolves it itself, and its failure says why.
  EXPECT_EQ(round[1].grpc_target, "dns:///b.svc:7102");
  EXPECT_EQ(round[1].address, "");
  EXPECT_EQ(round[1].Describe(), "b.svc:7102");

  dns.Fail("a.svc");
  EXPECT_THAT(NextAddresses(targets, 2), ElementsAre("a.svc:7101 (10.1.0.1:7101)", "b.svc:7102"));
  EXPECT_EQ(dns.lookups("a.svc"), 2);
}

TEST(ControlTargetsTest, TheSameAddressListedTwiceIsTriedOncePerRound) {
  ControlTargets targets(Parse("10.0.0.1:7101,10.0.0.1:7101,10.0.0.2:7101"), kInitial, kMax);
  EXPECT_THAT(NextAddresses(targets, 3),
              ElementsAre("10.0.0.1:7101", "10.0.0.2:7101", "10.0.0.1:7101"));
  EXPECT_EQ(targets.round().size(), 2u);
}

TEST(ResolveHostTest, ResolvesLiteralsAndLocalhostAndNamesTheHostItCannotResolve) {
  absl::StatusOr<std::vector<std::string>> literal = ResolveHost("127.0.0.1");
  ASSERT_TRUE(literal.ok()) << literal.status();
  EXPECT_THAT(*literal, ElementsAre("127.0.0.1"));

  absl::StatusOr<std::vector<std::string>> localhost = ResolveHost("localhost");
  ASSERT_TRUE(localhost.ok()) << localhost.status();
  EXPECT_THAT(*localhost, ::testing::Contains(::testing::AnyOf("127.0.0.1", "::1")));

  // .invalid never resolves (RFC 6761).
  absl::StatusOr<std::vector<std::string>> missing = ResolveHost("no-such-control.invalid");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("no-such-control.invalid"));
}

}  // namespace
}  // namespace wirehub::edge
