#include "common/directory_watcher.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"

namespace wirehub {
namespace {

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<std::unique_ptr<DirectoryWatcher>> DirectoryWatcher::Start(
    const std::vector<std::string>& files, absl::Duration settle, std::function<void()> on_change) {
  std::set<std::string> directories;
  for (const std::string& file : files) {
    directories.insert(DirectoryOf(file));
    char resolved[PATH_MAX];
    if (realpath(file.c_str(), resolved) != nullptr) directories.insert(DirectoryOf(resolved));
  }
  int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) {
    return absl::UnavailableError(absl::StrCat("inotify_init1: ", std::strerror(errno)));
  }
  for (const std::string& directory : directories) {
    constexpr uint32_t kEvents = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM |
                                 IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
    if (inotify_add_watch(inotify_fd, directory.c_str(), kEvents) < 0) {
      int error = errno;
      close(inotify_fd);
      return absl::UnavailableError(
          absl::StrCat("cannot watch ", directory, ": ", std::strerror(error)));
    }
  }
  int stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd < 0) {
    int error = errno;
    close(inotify_fd);
    return absl::UnavailableError(absl::StrCat("eventfd: ", std::strerror(error)));
  }
  auto* watcher = new DirectoryWatcher(inotify_fd, stop_fd, settle, std::move(on_change));
  watcher->thread_ = std::thread([watcher] { watcher->Run(); });
  return std::unique_ptr<DirectoryWatcher>(watcher);
}

DirectoryWatcher::DirectoryWatcher(int inotify_fd, int stop_fd, absl::Duration settle,
                                   std::function<void()> on_change)
    : inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      settle_(settle),
      on_change_(std::move(on_change)) {}

DirectoryWatcher::~DirectoryWatcher() {
  uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  close(inotify_fd_);
  close(stop_fd_);
}

void DirectoryWatcher::Run() {
  bool pending = false;
  const int settle_ms = static_cast<int>(absl::ToInt64Milliseconds(settle_));
  while (true) {
    struct pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    // Waiting for quiet: a change restarts the settle time.
    int ready = poll(fds, 2, pending ? settle_ms : -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if (ready == 0) {
      pending = false;
      on_change_();
      continue;
    }
    if (fds[0].revents != 0) {
      alignas(struct inotify_event) char buffer[4096];
      while (read(inotify_fd_, buffer, sizeof(buffer)) > 0) {
      }
      pending = true;
    }
  }
}

}  // namespace wirehub
