#include "control/redis_presence_store.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "control/redis_keys.h"
#include "control/redis_scripts.h"

namespace wirehub::control {

namespace {

constexpr size_t kAdd = 0;
constexpr size_t kRemove = 1;
constexpr size_t kRead = 2;

std::string WithPrelude(std::string_view script) {
  return absl::StrCat(AsAbsl(kPresencePrelude), AsAbsl(script));
}

absl::Status StatusOf(const absl::StatusOr<RedisReply>& reply) {
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) {
    return absl::UnavailableError(absl::StrCat("redis refused the presence read: ", reply->str));
  }
  return absl::OkStatus();
}

}  // namespace

RedisPresenceStore::RedisPresenceStore(RedisPresenceStoreOptions options)
    : options_(std::move(options)),
      scripts_("presence", {WithPrelude(kPresenceAddScript), WithPrelude(kPresenceRemoveScript),
                            WithPrelude(kPresenceReadScript)}) {
  RedisConnectionOptions connection = options_.connection;
  connection.name = "wirehub-control:presence";
  connection.subscriber = false;
  connection_ =
      std::make_unique<RedisConnection>(connection, [this](bool up, const std::string& run_id) {
        scripts_.OnState(connection_.get(), up, run_id);
        if (up) {
          // Whatever was written while Redis was away is written again now.
          absl::MutexLock lock(&mu_);
          next_refresh_ = absl::InfinitePast();
        }
      });
}

RedisPresenceStore::~RedisPresenceStore() { Stop(); }

void RedisPresenceStore::Start() { connection_->Start(); }

void RedisPresenceStore::Stop() { connection_->Stop(); }

absl::Status RedisPresenceStore::Ready() const { return scripts_.Get().status(); }

void RedisPresenceStore::Run(size_t index, const std::string& key, bool announce,
                             std::vector<std::string> args, RedisConnection::Callback done) const {
  absl::StatusOr<RedisScriptSet::Loaded> scripts = scripts_.Get();
  if (!scripts.ok()) {
    if (done != nullptr) done(scripts.status());
    return;
  }
  std::vector<std::string> command = {"EVALSHA",
                                      scripts->shas[index],
                                      "3",
                                      redis_keys::PresenceEntries(options_.key_prefix, key),
                                      redis_keys::PresenceDeadlines(options_.key_prefix, key),
                                      redis_keys::PresenceUsers(options_.key_prefix, key),
                                      key,
                                      redis_keys::PubSub(options_.key_prefix, key),
                                      announce ? "1" : "0"};
  for (std::string& arg : args) command.push_back(std::move(arg));
  const std::string run_id = scripts->run_id;
  connection_->Command(
      std::move(command),
      [this, run_id, done = std::move(done)](absl::StatusOr<RedisReply> reply) {
        if (reply.ok() && reply->is_error() && reply->str.rfind("NOSCRIPT", 0) == 0) {
          scripts_.Reload(connection_.get(), run_id);
        }
        if (done != nullptr) done(std::move(reply));
      },
      1, run_id);
}

void RedisPresenceStore::SendAdd(const std::string& key, const v1::ClientInfo& info,
                                 bool announce) const {
  Run(kAdd, key, announce,
      {std::to_string(absl::ToInt64Milliseconds(options_.ttl)), info.client(), info.user(),
       info.SerializeAsString()},
      nullptr);
}

bool RedisPresenceStore::Add(Owner owner, const std::string& key, const v1::ClientInfo& info,
                             bool announce) {
  {
    absl::MutexLock lock(&mu_);
    owned_.Add(owner, key, info);
  }
  SendAdd(key, info, announce);
  return false;
}

std::optional<v1::ClientInfo> RedisPresenceStore::Remove(Owner owner, const std::string& key,
                                                         const std::string& client, bool announce) {
  {
    absl::MutexLock lock(&mu_);
    // Only the owner's entry: a client that moved to another edge keeps
    // the entry that edge made.
    if (!owned_.Remove(owner, key, client).has_value()) return std::nullopt;
  }
  Run(kRemove, key, announce, {client}, nullptr);
  return std::nullopt;
}

std::vector<PresenceTable::Entry> RedisPresenceStore::RemoveOwner(Owner owner,
                                                                  const AnnounceFor& announce_for) {
  std::vector<PresenceTable::Entry> gone;
  {
    absl::MutexLock lock(&mu_);
    gone = owned_.RemoveOwner(owner);
  }
  for (const PresenceTable::Entry& entry : gone) {
    Run(kRemove, entry.key, announce_for(entry.key), {entry.info.client()}, nullptr);
  }
  return {};
}

void RedisPresenceStore::List(const std::string& key, size_t page_size,
                              const std::string& page_token, PageDone done) const {
  Run(kRead, key, /*announce=*/false, {"list"},
      [page_size, page_token, done = std::move(done)](absl::StatusOr<RedisReply> reply) {
        absl::Status status = StatusOf(reply);
        if (!status.ok()) {
          done(status);
          return;
        }
        if (!reply->is_array() || reply->elements.size() % 2 != 0) {
          done(absl::InternalError(
              absl::StrCat("redis: unexpected presence answer ", reply->DebugString())));
          return;
        }
        // (client, value) pairs: value is "LEN:USER" then the ClientInfo.
        std::vector<std::pair<std::string_view, std::string_view>> entries;
        for (size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
          std::string_view client = reply->elements[i].str;
          if (!page_token.empty() && client <= page_token) continue;
          entries.emplace_back(client, reply->elements[i + 1].str);
        }
        std::sort(entries.begin(), entries.end());
        PresenceTable::Page page;
        for (const auto& [client, value] : entries) {
          if (page.clients.size() == page_size) {
            page.next_page_token = page.clients.back().client();
            break;
          }
          const size_t colon = value.find(':');
          size_t length = 0;
          if (colon != std::string_view::npos) {
            length = static_cast<size_t>(
                std::strtoull(std::string(value.substr(0, colon)).c_str(), nullptr, 10));
          }
          v1::ClientInfo info;
          if (colon == std::string_view::npos || colon + 1 + length > value.size() ||
              !info.ParseFromArray(value.data() + colon + 1 + length,
                                   static_cast<int>(value.size() - colon - 1 - length))) {
            done(absl::DataLossError(absl::StrCat("redis: the presence entry of client ",
                                                  AsAbsl(client), " is malformed")));
            return;
          }
          page.clients.push_back(std::move(info));
        }
        done(std::move(page));
      });
}

void RedisPresenceStore::Count(const std::string& key, CountsDone done) const {
  Run(kRead, key, /*announce=*/false, {"count"},
      [done = std::move(done)](absl::StatusOr<RedisReply> reply) {
        absl::Status status = StatusOf(reply);
        if (!status.ok()) {
          done(status);
          return;
        }
        if (!reply->is_array() || reply->elements.size() != 2 || !reply->elements[0].is_integer() ||
            !reply->elements[1].is_integer()) {
          done(absl::InternalError(
              absl::StrCat("redis: unexpected presence answer ", reply->DebugString())));
          return;
        }
        PresenceTable::Counts counts;
        counts.clients = static_cast<uint64_t>(reply->elements[0].integer);
        counts.users = static_cast<uint64_t>(reply->elements[1].integer);
        done(counts);
      });
}

size_t RedisPresenceStore::size() const {
  absl::MutexLock lock(&mu_);
  return owned_.size();
}

void RedisPresenceStore::Maintain(absl::Time now, const AnnounceFor& announce_for) {
  if (!scripts_.Get().ok()) return;  // Retries a failed load.
  std::vector<PresenceTable::Entry> refresh;
  {
    absl::MutexLock lock(&mu_);
    if (now < next_refresh_) return;
    next_refresh_ = now + options_.ttl / 3;
    refresh.reserve(owned_.size());
    owned_.ForEach([&](const std::string& key, const v1::ClientInfo& info) {
      refresh.push_back(PresenceTable::Entry{key, info});
    });
  }
  // Each refresh also expires the channel's entries that others stopped
  // refreshing, announcing their leaves.
  for (const PresenceTable::Entry& entry : refresh) {
    SendAdd(entry.key, entry.info, announce_for(entry.key));
  }
}

}  // namespace wirehub::control
