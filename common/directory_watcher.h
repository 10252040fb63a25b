// DirectoryWatcher: tells when files may have changed, by watching their
// directories.
#ifndef WIREHUB_COMMON_DIRECTORY_WATCHER_H_
#define WIREHUB_COMMON_DIRECTORY_WATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wirehub {

// DirectoryWatcher watches (inotify) the directories holding some files and
// calls `on_change` once things have been quiet for `settle` after any
// change there. Directories, not files: Kubernetes updates a mounted Secret
// by pointing the directory's "..data" symlink at a new directory, which
// changes no watched file itself. For a path that is a symlink the
// directory of its target is watched too. The callback may fire for
// unrelated changes in those directories; callers compare what they read.
// Thread-safe: the callback runs on the watcher's own thread; the
// destructor stops that thread and returns after any callback in progress.
class DirectoryWatcher {
 public:
  static absl::StatusOr<std::unique_ptr<DirectoryWatcher>> Start(
      const std::vector<std::string>& files, absl::Duration settle,
      std::function<void()> on_change);
  ~DirectoryWatcher();
  DirectoryWatcher(const DirectoryWatcher&) = delete;
  DirectoryWatcher& operator=(const DirectoryWatcher&) = delete;

 private:
  DirectoryWatcher(int inotify_fd, int stop_fd, absl::Duration settle,
                   std::function<void()> on_change);
  void Run();

  const int inotify_fd_;
  const int stop_fd_;
  const absl::Duration settle_;
  const std::function<void()> on_change_;
  std::thread thread_;
};

}  // namespace wirehub

#endif  // WIREHUB_COMMON_DIRECTORY_WATCHER_H_
