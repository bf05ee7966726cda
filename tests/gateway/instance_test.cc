// GatewayInstance, ProbeOwner and SweepDeadGateways with real processes: a lock held by another
// process is seen as alive, and as dead once that process is killed (SIGKILL: nothing of it
// runs to clean up); sweeps remove only what dead gateways left; the lock directory must be
// private.
#include "mcpgw/gateway/instance.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/container/process_runtime.h"
#include "mcpgw/gateway/profile.h"
#include "testing/status_matchers.h"

namespace mcpgw::gateway {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::IsOkAndHolds;
using ::mcpgw::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::UnorderedElementsAre;

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

// A gateway instance held by instance_lock_helper, a process of its own.
class LockHolder {
 public:
  LockHolder(container::Runtime& runtime, const std::string& dir, bool containers = false) {
    container::RunSpec spec;
    spec.command = MCPGW_INSTANCE_LOCK_HELPER;
    spec.args = {dir};
    if (containers) {
      spec.args.push_back("containers");
    }
    absl::StatusOr<container::InstancePtr> run = runtime.Run(spec);
    EXPECT_THAT(run.status(), IsOk());
    if (!run.ok()) {
      return;
    }
    process_ = *std::move(run);
    stdio_ = process_->TakeStdio();
    absl::Status started =
        stdio_->Start({.on_data =
                           [this](absl::string_view bytes) {
                             absl::MutexLock lock(&mu_);
                             out_.append(bytes.data(), bytes.size());
                             if (out_.find('\n') != std::string::npos && !line_.HasBeenNotified()) {
                               line_.Notify();
                             }
                           },
                       .on_closed =
                           [this](absl::Status) {
                             if (!line_.HasBeenNotified()) {
                               line_.Notify();
                             }
                           }});
    EXPECT_THAT(started, IsOk());
  }
  ~LockHolder() {
    if (stdio_ != nullptr) {
      stdio_->Close();
    }
    if (process_ != nullptr) {
      process_->Stop(absl::ZeroDuration());
      process_->WaitForExit(absl::Seconds(10)).IgnoreError();  // ended, or the test failed
    }
  }

  // The id the helper printed once it held its lock; empty if it failed.
  std::string Id() {
    if (process_ == nullptr || !line_.WaitForNotificationWithTimeout(absl::Seconds(30))) {
      return "";
    }
    absl::MutexLock lock(&mu_);
    size_t nl = out_.find('\n');
    return nl == std::string::npos ? "" : out_.substr(0, nl);
  }

  absl::StatusOr<container::ExitStatus> Kill() {
    process_->Stop(absl::ZeroDuration());
    return process_->WaitForExit(absl::Seconds(30));
  }

  absl::StatusOr<container::ExitStatus> EndInput() {
    stdio_->CloseWrite();
    return process_->WaitForExit(absl::Seconds(30));
  }

  std::string StderrTail() const { return process_ ? process_->StderrTail(10) : ""; }

 private:
  container::InstancePtr process_;
  base::ByteChannelPtr stdio_;
  absl::Mutex mu_;
  std::string out_;
  absl::Notification line_;
};

// Containers in memory: List by labels, Remove by id (a failure can be injected).
class FakeContainers : public container::Runtime {
 public:
  void Add(std::string id, container::Labels labels) {
    absl::MutexLock lock(&mu_);
    labels["io.mcpgw.managed"] = "true";
    containers_.push_back({.id = std::move(id), .labels = std::move(labels)});
  }
  void FailRemovals(absl::Status status) {
    absl::MutexLock lock(&mu_);
    remove_error_ = std::move(status);
  }
  std::vector<std::string> Ids() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> ids;
    for (const container::InstanceInfo& c : containers_) {
      ids.push_back(c.id);
    }
    return ids;
  }

  absl::StatusOr<container::InstancePtr> Run(const container::RunSpec&) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<container::Prepared> Prepare(const container::RunSpec&,
                                              container::PullProgressCallback) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<std::vector<container::InstanceInfo>> List(
      const container::Labels& selector) override {
    absl::MutexLock lock(&mu_);
    std::vector<container::InstanceInfo> out;
    for (const container::InstanceInfo& c : containers_) {
      bool all = true;
      for (const auto& [k, v] : selector) {
        auto it = c.labels.find(k);
        all = all && it != c.labels.end() && it->second == v;
      }
      if (all) {
        out.push_back(c);
      }
    }
    return out;
  }
  absl::Status Remove(absl::string_view id) override {
    absl::MutexLock lock(&mu_);
    if (!remove_error_.ok()) {
      return remove_error_;
    }
    for (auto it = containers_.begin(); it != containers_.end(); ++it) {
      if (it->id == id) {
        containers_.erase(it);
        return absl::OkStatus();
      }
    }
    return absl::NotFoundError("no such container");
  }

 private:
  absl::Mutex mu_;
  std::vector<container::InstanceInfo> containers_ ABSL_GUARDED_BY(mu_);
  absl::Status remove_error_ ABSL_GUARDED_BY(mu_);
};

class GatewayInstanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = absl::StrCat(::testing::TempDir(), "/mcpgw-instance-test-", getpid(), "-",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    ASSERT_EQ(mkdir(root_.c_str(), 0700), 0);
    dir_ = root_ + "/instances";
    MCPGW_ASSERT_OK_AND_ASSIGN(runtime_, container::ProcessRuntime::Create({}));
  }
  void TearDown() override {
    runtime_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  std::string LockPath(const std::string& id) const { return dir_ + "/" + id + ".lock"; }

  std::string root_;
  std::string dir_;
  std::unique_ptr<container::ProcessRuntime> runtime_;
};

TEST_F(GatewayInstanceTest, AcquireHoldsALockedPrivateFileUntilDestroyed) {
  MCPGW_ASSERT_OK_AND_ASSIGN(std::unique_ptr<GatewayInstance> self, GatewayInstance::Acquire(dir_));
  EXPECT_THAT(self->id(), MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(self->lock_path(), LockPath(self->id()));
  EXPECT_EQ(ModeOf(dir_), 0700u);  // created private
  EXPECT_EQ(ModeOf(self->lock_path()), 0600u);
  // Only the lock file: the temporary name it was made under is gone.
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_THAT(names, ElementsAre(self->id() + ".lock"));
  // Seen as alive, from this process too (flock excludes other open file descriptions).
  EXPECT_THAT(ProbeOwner(dir_, self->id()), IsOkAndHolds(OwnerState::kAlive));

  // Close-on-exec: servers the gateway starts do not inherit (and hold) the lock.
  int lock_fd = -1;
  const std::filesystem::path lock_file = std::filesystem::canonical(self->lock_path());
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(entry.path(), ec) == lock_file) {
      lock_fd = std::stoi(entry.path().filename().string());
    }
  }
  ASSERT_GE(lock_fd, 0);
  EXPECT_NE(fcntl(lock_fd, F_GETFD) & FD_CLOEXEC, 0);

  MCPGW_ASSERT_OK_AND_ASSIGN(std::unique_ptr<GatewayInstance> other,
                             GatewayInstance::Acquire(dir_));
  EXPECT_NE(other->id(), self->id());

  std::string id = self->id();
  self.reset();
  EXPECT_FALSE(Exists(LockPath(id)));
  EXPECT_THAT(ProbeOwner(dir_, id), IsOkAndHolds(OwnerState::kUnknown));
  EXPECT_THAT(ProbeOwner(dir_, other->id()), IsOkAndHolds(OwnerState::kAlive));
}

TEST_F(GatewayInstanceTest, KeepLockFileLeavesTheFileButReleasesTheLock) {
  MCPGW_ASSERT_OK_AND_ASSIGN(std::unique_ptr<GatewayInstance> self, GatewayInstance::Acquire(dir_));
  std::string id = self->id();
  self->KeepLockFile();
  self.reset();
  EXPECT_TRUE(Exists(LockPath(id)));
  EXPECT_THAT(ProbeOwner(dir_, id), IsOkAndHolds(OwnerState::kDead));
}

TEST_F(GatewayInstanceTest, ALockHeldByAnotherProcessIsAliveUntilThatProcessIsKilled) {
  LockHolder holder(*runtime_, dir_);
  std::string id = holder.Id();
  ASSERT_THAT(id, MatchesRegex("[0-9a-f]{32}")) << holder.StderrTail();
  EXPECT_THAT(ProbeOwner(dir_, id), IsOkAndHolds(OwnerState::kAlive));
  // Probing twice changes nothing (closing our descriptor does not drop the owner's lock).
  EXPECT_THAT(ProbeOwner(dir_, id), IsOkAndHolds(OwnerState::kAlive));

  absl::StatusOr<container::ExitStatus> end = holder.Kill();
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(end->signal, SIGKILL);
  // Nothing of it ran after the kill: its file is still there, and its lock is free.
  EXPECT_TRUE(Exists(LockPath(id)));
  EXPECT_THAT(ProbeOwner(dir_, id), IsOkAndHolds(OwnerState::kDead));
}

TEST_F(GatewayInstanceTest, ANormalExitRemovesTheLockFile) {
  LockHolder holder(*runtime_, dir_);
  std::string id = holder.Id();
  ASSERT_THAT(id, MatchesRegex("[0-9a-f]{32}")) << holder.StderrTail();
  absl::StatusOr<container::ExitStatus> end = holder.EndInput();
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_TRUE(end->success()) << end->ToString() << holder.StderrTail();
  EXPECT_FALSE(Exists(LockPath(id)));
  EXPECT_THAT(ProbeOwner(dir_, id), IsOkAndHolds(OwnerState::kUnknown));
}

TEST_F(GatewayInstanceTest, ProbeOwnerRefusesWhatIsNotAnId) {
  EXPECT_THAT(ProbeOwner(dir_, "../../etc/passwd"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32 hex digits")));
  EXPECT_THAT(ProbeOwner(dir_, std::string(32, 'A')), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(GatewayInstanceTest, ASweepRemovesOnlyWhatDeadGatewaysLeft) {
  MCPGW_ASSERT_OK_AND_ASSIGN(std::unique_ptr<GatewayInstance> self, GatewayInstance::Acquire(dir_));
  LockHolder live(*runtime_, dir_, /*containers=*/true);
  LockHolder dead(*runtime_, dir_, /*containers=*/true);
  LockHolder dead_local(*runtime_, dir_);  // ran only local processes
  std::string live_id = live.Id(), dead_id = dead.Id(), dead_local_id = dead_local.Id();
  ASSERT_THAT(live_id, MatchesRegex("[0-9a-f]{32}")) << live.StderrTail();
  ASSERT_THAT(dead_id, MatchesRegex("[0-9a-f]{32}")) << dead.StderrTail();
  ASSERT_THAT(dead_local_id, MatchesRegex("[0-9a-f]{32}")) << dead_local.StderrTail();
  ASSERT_THAT(dead.Kill().status(), IsOk());
  ASSERT_THAT(dead_local.Kill().status(), IsOk());

  const std::string unknown_id(32, 'e');  // a gateway with no lock file here
  FakeContainers containers;
  containers.Add("c-self", {{"io.mcpgw.gateway", self->id()}});
  containers.Add("c-live", {{"io.mcpgw.gateway", live_id}});
  containers.Add("c-dead-1", {{"io.mcpgw.gateway", dead_id}, {"io.mcpgw.server", "fetch"}});
  containers.Add("c-dead-2", {{"io.mcpgw.gateway", dead_id}, {"io.mcpgw.server", "time"}});
  containers.Add("c-unknown", {{"io.mcpgw.gateway", unknown_id}});
  containers.Add("c-unlabelled", {});
  // Not lock files: left alone.
  std::ofstream(dir_ + "/notes.txt") << "x";
  const std::string not_a_file = dir_ + "/" + std::string(32, 'a') + ".lock";
  std::filesystem::create_directory(not_a_file);

  MCPGW_ASSERT_OK_AND_ASSIGN(SweepReport report, SweepDeadGateways(dir_, self->id(), &containers));
  EXPECT_THAT(report.errors, IsEmpty());
  EXPECT_THAT(containers.Ids(),
              UnorderedElementsAre("c-self", "c-live", "c-unknown", "c-unlabelled"));
  EXPECT_THAT(report.removed,
              UnorderedElementsAre(AllOf(Field(&SweepReport::Removed::gateway, dead_id),
                                         Field(&SweepReport::Removed::container, "c-dead-1"),
                                         Field(&SweepReport::Removed::server, "fetch")),
                                   AllOf(Field(&SweepReport::Removed::gateway, dead_id),
                                         Field(&SweepReport::Removed::container, "c-dead-2"),
                                         Field(&SweepReport::Removed::server, "time"))));
  EXPECT_THAT(report.dead_gateways, UnorderedElementsAre(dead_id, dead_local_id));
  EXPECT_THAT(report.kept, IsEmpty());
  EXPECT_FALSE(Exists(LockPath(dead_id)));
  EXPECT_FALSE(Exists(LockPath(dead_local_id)));
  EXPECT_TRUE(Exists(LockPath(live_id)));
  EXPECT_TRUE(Exists(self->lock_path()));
  EXPECT_TRUE(Exists(dir_ + "/notes.txt"));
  EXPECT_TRUE(Exists(not_a_file));
  EXPECT_THAT(ProbeOwner(dir_, live_id), IsOkAndHolds(OwnerState::kAlive));

  // A second sweep finds nothing more to do.
  MCPGW_ASSERT_OK_AND_ASSIGN(SweepReport again, SweepDeadGateways(dir_, self->id(), &containers));
  EXPECT_THAT(again.removed, IsEmpty());
  EXPECT_THAT(again.dead_gateways, IsEmpty());
}

TEST_F(GatewayInstanceTest, ADeadGatewayThatUsedContainersWaitsForASweepWithAnEngine) {
  LockHolder dead(*runtime_, dir_, /*containers=*/true);
  std::string dead_id = dead.Id();
  ASSERT_THAT(dead_id, MatchesRegex("[0-9a-f]{32}")) << dead.StderrTail();
  ASSERT_THAT(dead.Kill().status(), IsOk());

  // A gateway without an engine cannot tell whether containers are left: the file stays.
  MCPGW_ASSERT_OK_AND_ASSIGN(SweepReport local, SweepDeadGateways(dir_, "", nullptr));
  EXPECT_THAT(local.kept, ElementsAre(dead_id));
  EXPECT_TRUE(Exists(LockPath(dead_id)));

  // An engine that fails to remove: still kept, and said why.
  FakeContainers containers;
  containers.Add("c-dead", {{"io.mcpgw.gateway", dead_id}});
  containers.FailRemovals(absl::UnavailableError("engine went away"));
  MCPGW_ASSERT_OK_AND_ASSIGN(SweepReport failed, SweepDeadGateways(dir_, "", &containers));
  EXPECT_THAT(failed.kept, ElementsAre(dead_id));
  ASSERT_EQ(failed.errors.size(), 1u);
  EXPECT_THAT(failed.errors[0], StatusIs(absl::StatusCode::kUnavailable,
                                         AllOf(HasSubstr("c-dead"), HasSubstr(dead_id),
                                               HasSubstr("engine went away"))));
  EXPECT_TRUE(Exists(LockPath(dead_id)));

  containers.FailRemovals(absl::OkStatus());
  MCPGW_ASSERT_OK_AND_ASSIGN(SweepReport done, SweepDeadGateways(dir_, "", &containers));
  EXPECT_THAT(done.dead_gateways, ElementsAre(dead_id));
  EXPECT_THAT(containers.Ids(), IsEmpty());
  EXPECT_FALSE(Exists(LockPath(dead_id)));
}

TEST_F(GatewayInstanceTest, ASweepRemovesTheTemporaryFileOfAGatewayThatDiedStarting) {
  ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0);
  std::string temp = dir_ + "/." + std::string(32, 'b') + ".tmp";
  std::ofstream(temp) << "mcpgw gateway\n";
  ASSERT_THAT(SweepDeadGateways(dir_, "", nullptr).status(), IsOk());
  EXPECT_FALSE(Exists(temp));
}

TEST_F(GatewayInstanceTest, TheDirectoryMustBeAPrivateDirectoryOfThisUser) {
  // Open to other users: refused, saying how to fix it.
  ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0);
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  EXPECT_THAT(
      GatewayInstance::Acquire(dir_),
      StatusIs(absl::StatusCode::kPermissionDenied,
               AllOf(HasSubstr(dir_), HasSubstr("mode 0755"), HasSubstr("chmod 700 " + dir_))));
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
  EXPECT_THAT(GatewayInstance::Acquire(dir_).status(), IsOk());

  // A symbolic link (to a private directory even): refused.
  std::string link = root_ + "/link";
  ASSERT_EQ(symlink(dir_.c_str(), link.c_str()), 0);
  EXPECT_THAT(GatewayInstance::Acquire(link),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("symbolic link")));

  // Not a directory.
  std::string file = root_ + "/file";
  std::ofstream(file) << "x";
  EXPECT_THAT(GatewayInstance::Acquire(file),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a directory")));

  // Owned by another user.
  std::string theirs = root_ + "/theirs";
  if (geteuid() == 0) {
    ASSERT_EQ(mkdir(theirs.c_str(), 0700), 0);
    ASSERT_EQ(chown(theirs.c_str(), 65534, 65534), 0);
  } else {
    theirs = "/";  // root's
  }
  EXPECT_THAT(GatewayInstance::Acquire(theirs),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("is owned by uid"), HasSubstr("not by you"))));
}

TEST_F(GatewayInstanceTest, TheDefaultDirectoryIsUnderXdgRuntimeDir) {
  const char* saved = getenv("XDG_RUNTIME_DIR");
  std::string saved_value = saved != nullptr ? saved : "";
  setenv("XDG_RUNTIME_DIR", root_.c_str(), 1);
  absl::StatusOr<std::string> dir = DefaultInstanceDir();
  EXPECT_THAT(dir, IsOkAndHolds(root_ + "/mcpgw/instances"));
  EXPECT_EQ(ModeOf(root_ + "/mcpgw"), 0700u);
  ASSERT_EQ(chmod((root_ + "/mcpgw").c_str(), 0770), 0);
  EXPECT_THAT(DefaultInstanceDir(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("chmod 700")));
  // Unset (or not absolute): under /tmp, per user.
  setenv("XDG_RUNTIME_DIR", "relative/dir", 1);
  EXPECT_THAT(DefaultInstanceDir(),
              IsOkAndHolds(absl::StrCat("/tmp/mcpgw-", geteuid(), "/instances")));
  if (saved != nullptr) {
    setenv("XDG_RUNTIME_DIR", saved_value.c_str(), 1);
  } else {
    unsetenv("XDG_RUNTIME_DIR");
  }
}

}  // namespace
}  // namespace mcpgw::gateway
