#include "mcpgw/gateway/secret_store.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

extern char** environ;

namespace mcpgw::gateway {
namespace {

namespace fs = std::filesystem;
using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::IsOkAndHolds;
using ::mcpgw::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Optional;

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::string& path, const std::string& text, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

// Every test gets its own XDG_CONFIG_HOME and an environment without MCPGW_SECRET* variables;
// the environment is restored afterwards.
class SecretStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mcpgw-secrets-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    for (char** e = environ; *e != nullptr; ++e) {
      saved_env_.emplace_back(*e);
    }
    for (const std::string& entry : saved_env_) {
      std::string name = entry.substr(0, entry.find('='));
      if (name.rfind("MCPGW_SECRET", 0) == 0) {
        unsetenv(name.c_str());
      }
    }
    Set("XDG_CONFIG_HOME", root_ + "/config");
    store_path_ = root_ + "/config/mcpgw/secrets.yaml";
  }

  void TearDown() override {
    std::vector<std::string> now;
    for (char** e = environ; *e != nullptr; ++e) {
      now.emplace_back(*e);
    }
    for (const std::string& entry : now) {
      unsetenv(entry.substr(0, entry.find('=')).c_str());
    }
    for (const std::string& entry : saved_env_) {
      size_t eq = entry.find('=');
      setenv(entry.substr(0, eq).c_str(), entry.substr(eq + 1).c_str(), 1);
    }
    std::error_code ec;
    fs::permissions(root_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(root_, ec);
  }

  static void Set(const std::string& name, const std::string& value) {
    ASSERT_EQ(setenv(name.c_str(), value.c_str(), 1), 0);
  }

  std::string root_;
  std::string store_path_;
  std::vector<std::string> saved_env_;
};

// ---- names and values -------------------------------------------------------------------

TEST(SecretNames, Validation) {
  for (const char* ok : {"github.token", "a", "GITHUB_TOKEN", "_x", "db-password.v2", "9lives"}) {
    EXPECT_TRUE(IsValidSecretName(ok)) << ok;
  }
  for (const char* bad : {"", ".", "..", ".hidden", "-flag", "a/b", "../x", "a b", "tök", "a=b"}) {
    EXPECT_FALSE(IsValidSecretName(bad)) << bad;
  }
  EXPECT_TRUE(IsValidSecretName(std::string(128, 'a')));
  EXPECT_FALSE(IsValidSecretName(std::string(129, 'a')));
  EXPECT_THAT(ValidateSecretName("a/b"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("A-Z a-z 0-9 _ . -")));
}

TEST(SecretNames, EnvVar) {
  EXPECT_EQ(SecretEnvVar("github.token"), "MCPGW_SECRET_GITHUB_TOKEN");
  EXPECT_EQ(SecretEnvVar("db-pass_2"), "MCPGW_SECRET_DB_PASS_2");
  EXPECT_EQ(SecretEnvVar("GITHUB_TOKEN"), "MCPGW_SECRET_GITHUB_TOKEN");
}

TEST(SecretValues, FromInputStripsOneNewlineAndRefusesEmpty) {
  EXPECT_THAT(SecretValueFromInput("abc\n"), IsOkAndHolds(std::string("abc")));
  EXPECT_THAT(SecretValueFromInput("abc\r\n"), IsOkAndHolds(std::string("abc")));
  EXPECT_THAT(SecretValueFromInput("abc"), IsOkAndHolds(std::string("abc")));
  EXPECT_THAT(SecretValueFromInput("abc\n\n"), IsOkAndHolds(std::string("abc\n")));
  EXPECT_THAT(SecretValueFromInput(" a b \n"), IsOkAndHolds(std::string(" a b ")));
  EXPECT_THAT(SecretValueFromInput(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(SecretValueFromInput("\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(SecretValueFromInput(std::string("ab\0cd", 5)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  std::string huge(kMaxSecretValueBytes + 1, 'x');
  absl::StatusOr<std::string> too_long = SecretValueFromInput(huge);
  EXPECT_THAT(too_long, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  EXPECT_THAT(std::string(too_long.status().message()), Not(HasSubstr("xxxx")));
}

TEST(SecretValues, MissingSecretMessage) {
  absl::Status s = MissingSecretError("github.token", "github", "GITHUB_TOKEN");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(),
            "server \"github\" needs secret \"github.token\" (env GITHUB_TOKEN): set it with "
            "`mcpgw secret set github.token` (value on stdin) or MCPGW_SECRET_GITHUB_TOKEN");
  EXPECT_EQ(MissingSecretError("db.pass", "pg", "").message(),
            "server \"pg\" needs secret \"db.pass\": set it with `mcpgw secret set db.pass` "
            "(value on stdin) or MCPGW_SECRET_DB_PASS");
  EXPECT_THAT(std::string(MissingSecretError("github.token", "github", "GITHUB_TOKEN",
                                             "a token from https://github.com/settings/tokens")
                              .message()),
              ::testing::EndsWith("MCPGW_SECRET_GITHUB_TOKEN; to get it: a token from "
                                  "https://github.com/settings/tokens"));
}

// ---- the file store ---------------------------------------------------------------------

TEST_F(SecretStoreTest, DefaultPathFollowsXdgThenHome) {
  EXPECT_THAT(FileSecretProvider::DefaultPath(), IsOkAndHolds(store_path_));
  Set("XDG_CONFIG_HOME", "relative/config");  // invalid per the XDG spec: ignored
  Set("HOME", root_ + "/home");
  EXPECT_THAT(FileSecretProvider::DefaultPath(),
              IsOkAndHolds(root_ + "/home/.config/mcpgw/secrets.yaml"));
  unsetenv("XDG_CONFIG_HOME");
  EXPECT_THAT(FileSecretProvider::DefaultPath(),
              IsOkAndHolds(root_ + "/home/.config/mcpgw/secrets.yaml"));
}

TEST_F(SecretStoreTest, FileSetCreatesPrivateDirectoryAndFile) {
  // Even with a permissive umask the store is 0600 and its new directories 0700.
  mode_t old_umask = umask(0);
  FileSecretProvider file(store_path_);
  absl::Status set = file.Set("github.token", "ghp_abcdef123456");
  umask(old_umask);
  ASSERT_THAT(set, IsOk());
  EXPECT_EQ(ModeOf(store_path_), 0600u);
  EXPECT_EQ(ModeOf(root_ + "/config/mcpgw"), 0700u);
  EXPECT_EQ(ModeOf(root_ + "/config"), 0700u);
  EXPECT_EQ(ModeOf(store_path_ + ".lock"), 0600u);
  EXPECT_THAT(file.Get("github.token"), IsOk());
  EXPECT_THAT(file.Get("github.token"), IsOkAndHolds(Optional(std::string("ghp_abcdef123456"))));
  EXPECT_THAT(file.Get("other"), IsOkAndHolds(Eq(std::nullopt)));
  std::string text = ReadText(store_path_);
  EXPECT_THAT(text, HasSubstr("version: 1"));
  EXPECT_THAT(text, HasSubstr("github.token: \"ghp_abcdef123456\""));
}

TEST_F(SecretStoreTest, FileSetKeepsAnExistingDirectoryMode) {
  fs::create_directories(root_ + "/config/mcpgw");
  chmod((root_ + "/config/mcpgw").c_str(), 0755);
  FileSecretProvider file(store_path_);
  ASSERT_THAT(file.Set("a", "value1"), IsOk());
  EXPECT_EQ(ModeOf(root_ + "/config/mcpgw"), 0755u);  // the user's choice; the file is private
  EXPECT_EQ(ModeOf(store_path_), 0600u);
}

TEST_F(SecretStoreTest, FileSetListRemove) {
  FileSecretProvider file(store_path_);
  EXPECT_THAT(file.List(), IsOkAndHolds(IsEmpty()));  // no file yet: an empty store
  ASSERT_THAT(file.Set("b.token", "value-b"), IsOk());
  ASSERT_THAT(file.Set("a.token", "value-a"), IsOk());
  ASSERT_THAT(file.Set("b.token", "value-b2"), IsOk());  // replaces
  EXPECT_THAT(file.List(), IsOkAndHolds(ElementsAre("a.token", "b.token")));
  EXPECT_THAT(file.Get("b.token"), IsOkAndHolds(Optional(std::string("value-b2"))));
  ASSERT_THAT(file.Remove("a.token"), IsOk());
  EXPECT_THAT(file.List(), IsOkAndHolds(ElementsAre("b.token")));
  EXPECT_THAT(file.Remove("a.token"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("a.token")));
  EXPECT_EQ(ModeOf(store_path_), 0600u);
}

TEST_F(SecretStoreTest, RemoveFromAnAbsentStoreCreatesNothing) {
  FileSecretProvider file(store_path_);
  EXPECT_THAT(file.Remove("x"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(fs::exists(root_ + "/config"));
}

TEST_F(SecretStoreTest, LooseModeIsRefusedWithTheFix) {
  FileSecretProvider file(store_path_);
  ASSERT_THAT(file.Set("github.token", "ghp_abcdef123456"), IsOk());
  std::string before = ReadText(store_path_);
  for (mode_t loose : {0644, 0640, 0604, 0660, 0606, 0700}) {
    SCOPED_TRACE(loose);
    ASSERT_EQ(chmod(store_path_.c_str(), loose), 0);
    if ((loose & 077) == 0) {
      // 0700 (executable) gives others nothing: accepted.
      EXPECT_THAT(file.Get("github.token"), IsOk());
      continue;
    }
    std::string fix = "`chmod 600 " + store_path_ + "`";
    EXPECT_THAT(file.Get("github.token"),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(fix)));
    EXPECT_THAT(file.List(), StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(fix)));
    // A write is refused too, and leaves the file as it was (no silent fix of the mode).
    EXPECT_THAT(file.Set("other", "value-other"),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(fix)));
    EXPECT_THAT(file.Remove("github.token"), StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_EQ(ModeOf(store_path_), loose);
    EXPECT_EQ(ReadText(store_path_), before);
  }
  ASSERT_EQ(chmod(store_path_.c_str(), 0644), 0);
  absl::Status refused = file.Get("github.token").status();
  EXPECT_THAT(std::string(refused.message()), HasSubstr("has mode 0644"));
  EXPECT_THAT(std::string(refused.message()), Not(HasSubstr("ghp_")));
  ASSERT_EQ(chmod(store_path_.c_str(), 0400), 0);  // stricter than 0600 is fine
  EXPECT_THAT(file.Get("github.token"), IsOkAndHolds(Optional(std::string("ghp_abcdef123456"))));
}

TEST_F(SecretStoreTest, FileOwnedBySomeoneElseIsRefused) {
  std::string path;
  if (geteuid() == 0) {
    path = root_ + "/not-mine.yaml";
    WriteText(path, "version: 1\n");
    ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
  } else {
    path = "/etc/passwd";  // root's, and readable: only the owner check can refuse it
  }
  FileSecretProvider file(path);
  EXPECT_THAT(file.List(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("is owned by uid")));
}

TEST_F(SecretStoreTest, SymlinkIsRefused) {
  fs::create_directories(root_ + "/config/mcpgw");
  WriteText(root_ + "/elsewhere.yaml", "version: 1\nsecrets: {a: value1}\n");
  fs::create_symlink(root_ + "/elsewhere.yaml", store_path_);
  FileSecretProvider file(store_path_);
  EXPECT_THAT(file.Get("a"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("symbolic link")));
}

TEST_F(SecretStoreTest, ValuesRoundTripExactly) {
  FileSecretProvider file(store_path_);
  std::vector<std::pair<std::string, std::string>> cases = {
      {"yes", "yes"},
      {"null", "null"},
      {"tilde", "~"},
      {"octal", "0123"},
      {"spaces", "  padded value  "},
      {"yaml", "a: b # not a comment"},
      {"quotes", "it's \"quoted\""},
      {"backslash", "C:\\path\\n"},
      {"unicode", "päss🔑word"},
      {"multiline", "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----"},
      {"control", "tab\there\x01\x7f\rcr"},
      {"trailing.newline", "ends with newline\n"},
      {"flow", "[not, a, list]"},
      {"anchor", "&anchor *alias"},
  };
  for (const auto& [name, value] : cases) {
    ASSERT_THAT(file.Set(name, value), IsOk()) << name;
  }
  FileSecretProvider reread(store_path_);
  for (const auto& [name, value] : cases) {
    EXPECT_THAT(reread.Get(name), IsOkAndHolds(Optional(value))) << name;
  }
}

TEST_F(SecretStoreTest, InvalidUtf8IsRefusedByTheFileStore) {
  FileSecretProvider file(store_path_);
  EXPECT_THAT(file.Set("bin", std::string("\xff\xfe\x80zz", 5)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
}

TEST_F(SecretStoreTest, MalformedFilesNameFileLineAndFieldButNoValue) {
  fs::create_directories(root_ + "/config/mcpgw");
  FileSecretProvider file(store_path_);
  struct Case {
    std::string text;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"- a\n- b\n", ":1: the secret store must be a map"},
      {"secrets: {a: SUPERSECRETVALUE}\n", ": missing `version: 1`"},
      {"version: 2\nsecrets: {}\n", ":1: version: must be 1"},
      {"version: 1\nsecrets: {a: SUPERSECRETVALUE}\nextra: 1\n", ":3: unknown field 'extra'"},
      {"version: 1\nsecrets:\n  ok: SUPERSECRETVALUE\n  bad name: SUPERSECRETVALUE\n",
       ":4: secrets: 'bad name' is not a valid secret name"},
      {"version: 1\nsecrets:\n  a: [SUPERSECRETVALUE]\n", ":3: secrets.a: the value must be"},
      {"version: 1\nsecrets:\n  a: \"\"\n", ":3: secrets.a: the value must be a non-empty"},
      {"version: 1\nsecrets:\n  a: SUPERSECRETVALUE\n  a: SUPERSECRETVALUE2\n",
       ":4: secrets.a: appears more than once"},
      {"version: 1\nsecrets: {a: SUPERSECRETVALUE\n", ":3: end of map flow not found"},
      {"version: 1\nsecrets:\n  a: \"SUPERSECRET\\qVALUE\"\n", ":3: unknown escape character"},
      {"version: 1\nsecrets: [a]\n", ":2: secrets: must be a map"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    WriteText(store_path_, c.text);
    absl::StatusOr<std::vector<std::string>> list = file.List();
    ASSERT_THAT(list,
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(store_path_ + c.expected)));
    EXPECT_THAT(std::string(list.status().message()), Not(HasSubstr("SUPERSECRET")));
  }
  WriteText(store_path_, "");  // empty: an empty store
  EXPECT_THAT(file.List(), IsOkAndHolds(IsEmpty()));
  WriteText(store_path_, "# hand-written\nversion: 1\nsecrets:\n  a: plain value\n");
  EXPECT_THAT(file.Get("a"), IsOkAndHolds(Optional(std::string("plain value"))));
}

// ---- atomicity and concurrency ----------------------------------------------------------

TEST_F(SecretStoreTest, WritesReplaceTheFileAtomically) {
  FileSecretProvider file(store_path_);
  ASSERT_THAT(file.Set("a", "value-a"), IsOk());
  struct stat first;
  ASSERT_EQ(stat(store_path_.c_str(), &first), 0);
  ASSERT_THAT(file.Set("b", "value-b"), IsOk());
  struct stat second;
  ASSERT_EQ(stat(store_path_.c_str(), &second), 0);
  // A new inode: the file was renamed into place, not rewritten where readers read it.
  EXPECT_NE(first.st_ino, second.st_ino);
  // No temporary file is left behind.
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(root_ + "/config/mcpgw")) {
    entries.push_back(e.path().filename().string());
  }
  std::sort(entries.begin(), entries.end());
  EXPECT_THAT(entries, ElementsAre("secrets.yaml", "secrets.yaml.lock"));
}

TEST_F(SecretStoreTest, ReadersNeverSeeAPartialFile) {
  FileSecretProvider writer(store_path_);
  ASSERT_THAT(writer.Set("seed", std::string(4096, 's')), IsOk());
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> failures{0};
  std::thread reader([&] {
    FileSecretProvider file(store_path_);
    while (!done.load()) {
      absl::StatusOr<std::optional<std::string>> seed = file.Get("seed");
      if (!seed.ok() || !seed->has_value() || (*seed)->size() != 4096) {
        failures.fetch_add(1);
      }
      reads.fetch_add(1);
    }
  });
  for (int i = 0; i < 60; ++i) {
    ASSERT_THAT(writer.Set("k" + std::to_string(i), std::string(100, 'v')), IsOk());
  }
  done.store(true);
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(SecretStoreTest, ConcurrentSetsFromThreadsLoseNothing) {
  constexpr int kThreads = 8;
  constexpr int kEach = 10;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      FileSecretProvider file(store_path_);  // an instance each, as separate processes have
      for (int i = 0; i < kEach; ++i) {
        std::string name = "t" + std::to_string(t) + ".s" + std::to_string(i);
        if (!file.Set(name, "value-" + name).ok()) {
          errors.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(errors.load(), 0);
  FileSecretProvider file(store_path_);
  MCPGW_ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, file.List());
  EXPECT_EQ(names.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_THAT(file.Get("t3.s7"), IsOkAndHolds(Optional(std::string("value-t3.s7"))));
}

TEST_F(SecretStoreTest, ConcurrentSetsFromProcessesLoseNothing) {
  constexpr int kProcesses = 4;
  constexpr int kEach = 10;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      FileSecretProvider file(store_path_);
      int failed = 0;
      for (int i = 0; i < kEach; ++i) {
        std::string name = "p" + std::to_string(p) + ".s" + std::to_string(i);
        failed += file.Set(name, "value-" + name).ok() ? 0 : 1;
      }
      _exit(failed == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  FileSecretProvider file(store_path_);
  MCPGW_ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, file.List());
  EXPECT_EQ(names.size(), static_cast<size_t>(kProcesses * kEach));
  EXPECT_EQ(ModeOf(store_path_), 0600u);
}

// ---- environment and directory providers ------------------------------------------------

TEST_F(SecretStoreTest, EnvProvider) {
  Set("MCPGW_SECRET_GITHUB_TOKEN", "ghp_fromenv");
  Set("MCPGW_SECRET_EMPTY", "");
  Set("MCPGW_SECRET_lower", "not-readable-by-any-name");
  EnvSecretProvider env;
  EXPECT_THAT(env.Get("github.token"), IsOkAndHolds(Optional(std::string("ghp_fromenv"))));
  EXPECT_THAT(env.Get("GITHUB_TOKEN"), IsOkAndHolds(Optional(std::string("ghp_fromenv"))));
  EXPECT_THAT(env.Get("github-token"), IsOkAndHolds(Optional(std::string("ghp_fromenv"))));
  EXPECT_THAT(env.Get("empty"), IsOkAndHolds(Eq(std::nullopt)));  // empty counts as unset
  EXPECT_THAT(env.Get("absent"), IsOkAndHolds(Eq(std::nullopt)));
  EXPECT_THAT(env.List(), IsOkAndHolds(ElementsAre("GITHUB_TOKEN")));
  EXPECT_EQ(env.Source("github.token"), "env MCPGW_SECRET_GITHUB_TOKEN");
  EXPECT_FALSE(env.Writable());
  EXPECT_THAT(env.Set("a", "value"), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(SecretStoreTest, DirectoryProvider) {
  std::string dir = root_ + "/run-secrets";
  fs::create_directories(dir + "/subdir");
  WriteText(dir + "/db.password", "hunter22\n", 0444);
  WriteText(dir + "/crlf", "value-crlf\r\n");
  WriteText(dir + "/two.newlines", "value\n\n");
  WriteText(dir + "/raw", "no-newline");
  WriteText(dir + "/empty", "");
  WriteText(dir + "/.hidden", "hidden-value");
  WriteText(dir + "/bad name", "bad-value");
  fs::create_directories(dir + "/..data");
  WriteText(dir + "/..data/linked", "via-link\n");
  fs::create_symlink(dir + "/..data/linked", dir + "/linked");  // Kubernetes' layout
  DirectorySecretProvider provider(dir);
  EXPECT_THAT(provider.Get("db.password"), IsOkAndHolds(Optional(std::string("hunter22"))));
  EXPECT_THAT(provider.Get("crlf"), IsOkAndHolds(Optional(std::string("value-crlf"))));
  EXPECT_THAT(provider.Get("two.newlines"), IsOkAndHolds(Optional(std::string("value\n"))));
  EXPECT_THAT(provider.Get("raw"), IsOkAndHolds(Optional(std::string("no-newline"))));
  EXPECT_THAT(provider.Get("linked"), IsOkAndHolds(Optional(std::string("via-link"))));
  EXPECT_THAT(provider.Get("empty"), IsOkAndHolds(Eq(std::nullopt)));
  EXPECT_THAT(provider.Get("subdir"), IsOkAndHolds(Eq(std::nullopt)));
  EXPECT_THAT(provider.Get("absent"), IsOkAndHolds(Eq(std::nullopt)));
  EXPECT_THAT(provider.Get("../x"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(provider.List(), IsOkAndHolds(ElementsAre("crlf", "db.password", "empty", "linked",
                                                        "raw", "two.newlines")));
  EXPECT_EQ(provider.Source("x"), "dir " + dir);
  EXPECT_THAT(provider.Remove("raw"), StatusIs(absl::StatusCode::kFailedPrecondition));

  DirectorySecretProvider missing(root_ + "/nope");
  EXPECT_THAT(missing.List(), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(missing.Get("a"), IsOkAndHolds(Eq(std::nullopt)));
}

// ---- the store --------------------------------------------------------------------------

class OrderedStoreTest : public SecretStoreTest {
 protected:
  void SetUp() override {
    SecretStoreTest::SetUp();
    dir_ = root_ + "/run-secrets";
    fs::create_directories(dir_);
    MCPGW_ASSERT_OK_AND_ASSIGN(store_, SecretStore::Default({.run_secrets_dir = dir_}));
  }
  std::string dir_;
  SecretStore store_;
};

TEST_F(OrderedStoreTest, DefaultOrderIsEnvDirFile) {
  ASSERT_EQ(store_.providers().size(), 3u);
  EXPECT_EQ(store_.providers()[0]->Kind(), "env");
  EXPECT_EQ(store_.providers()[1]->Source(""), "dir " + dir_);
  EXPECT_EQ(store_.providers()[2]->Source(""), "file " + store_path_);

  std::string extra = root_ + "/extra";
  fs::create_directories(extra);
  Set("MCPGW_SECRETS_DIR", extra);
  MCPGW_ASSERT_OK_AND_ASSIGN(SecretStore with_dir, SecretStore::Default({.run_secrets_dir = dir_}));
  ASSERT_EQ(with_dir.providers().size(), 4u);
  EXPECT_EQ(with_dir.providers()[1]->Source(""), "dir " + extra);
  EXPECT_EQ(with_dir.providers()[2]->Source(""), "dir " + dir_);

  Set("MCPGW_SECRETS_DIR", root_ + "/typo");
  EXPECT_THAT(SecretStore::Default({.run_secrets_dir = dir_}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("MCPGW_SECRETS_DIR")));
  unsetenv("MCPGW_SECRETS_DIR");
  MCPGW_ASSERT_OK_AND_ASSIGN(SecretStore no_run,
                             SecretStore::Default({.run_secrets_dir = root_ + "/absent"}));
  EXPECT_EQ(no_run.providers().size(), 2u);  // a missing /run/secrets is simply not used
}

TEST_F(OrderedStoreTest, FirstProviderWins) {
  ASSERT_THAT(store_.Set("shared", "from-file"), IsOk());
  ASSERT_THAT(store_.Set("fileonly", "from-file-only"), IsOk());
  WriteText(dir_ + "/shared", "from-dir\n");
  WriteText(dir_ + "/dironly", "from-dir-only\n");
  EXPECT_THAT(store_.Get("shared"), IsOkAndHolds(Optional(std::string("from-dir"))));
  Set("MCPGW_SECRET_SHARED", "from-env");
  EXPECT_THAT(store_.Get("shared"), IsOkAndHolds(Optional(std::string("from-env"))));
  EXPECT_THAT(store_.Get("fileonly"), IsOkAndHolds(Optional(std::string("from-file-only"))));
  EXPECT_THAT(store_.Get("dironly"), IsOkAndHolds(Optional(std::string("from-dir-only"))));
  EXPECT_THAT(store_.Get("absent"), IsOkAndHolds(Eq(std::nullopt)));
  EXPECT_THAT(store_.Get("bad/name"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(OrderedStoreTest, ListNamesTheServingProviderAndFoldsEnvAliases) {
  ASSERT_THAT(store_.Set("github.token", "ghp_fromfile"), IsOk());
  ASSERT_THAT(store_.Set("slack.token", "xoxb-fromfile"), IsOk());
  WriteText(dir_ + "/db.password", "hunter22\n");
  Set("MCPGW_SECRET_GITHUB_TOKEN", "ghp_fromenv");
  Set("MCPGW_SECRET_ONLY_ENV", "envvalue");
  MCPGW_ASSERT_OK_AND_ASSIGN(std::vector<SecretListing> list, store_.List());
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0].name, "ONLY_ENV");
  EXPECT_EQ(list[0].source, "env MCPGW_SECRET_ONLY_ENV");
  EXPECT_EQ(list[1].name, "db.password");
  EXPECT_EQ(list[1].kind, "dir");
  // GITHUB_TOKEN from the environment is the file's github.token: listed once, as the file
  // names it, served by the environment, overriding the file.
  EXPECT_EQ(list[2].name, "github.token");
  EXPECT_EQ(list[2].kind, "env");
  EXPECT_EQ(list[2].source, "env MCPGW_SECRET_GITHUB_TOKEN");
  EXPECT_THAT(list[2].overrides, ElementsAre("file " + store_path_));
  EXPECT_EQ(list[3].name, "slack.token");
  EXPECT_EQ(list[3].kind, "file");
  EXPECT_THAT(list[3].overrides, IsEmpty());
}

TEST_F(OrderedStoreTest, SetWritesTheFileAndSaysWhenShadowed) {
  MCPGW_ASSERT_OK_AND_ASSIGN(SecretSetResult plain, store_.Set("a.token", "value-a"));
  EXPECT_EQ(plain.written_to, "file " + store_path_);
  EXPECT_EQ(plain.shadowed_by, std::nullopt);
  Set("MCPGW_SECRET_A_TOKEN", "from-env");
  MCPGW_ASSERT_OK_AND_ASSIGN(SecretSetResult shadowed, store_.Set("a.token", "value-a2"));
  EXPECT_THAT(shadowed.shadowed_by, Optional(std::string("env MCPGW_SECRET_A_TOKEN")));
  EXPECT_THAT(store_.Set("a", ""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_.Set("no way", "v"), StatusIs(absl::StatusCode::kInvalidArgument));

  SecretStore read_only;
  read_only.AddProvider(std::make_unique<EnvSecretProvider>());
  EXPECT_THAT(read_only.Set("a", "value"), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(OrderedStoreTest, RemoveExplainsWhatItCannotRemove) {
  ASSERT_THAT(store_.Set("a.token", "value-a"), IsOk());
  MCPGW_ASSERT_OK_AND_ASSIGN(SecretRemoveResult removed, store_.Remove("a.token"));
  EXPECT_THAT(removed.removed_from, ElementsAre("file " + store_path_));
  EXPECT_EQ(removed.still_served_by, std::nullopt);
  EXPECT_THAT(store_.Remove("a.token"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("no secret named \"a.token\"; `mcpgw secret ls` lists them")));

  Set("MCPGW_SECRET_B", "from-env");
  EXPECT_THAT(store_.Remove("b"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("comes from env MCPGW_SECRET_B, which mcpgw cannot change")));
  ASSERT_THAT(store_.Set("b", "from-file"), IsOk());
  MCPGW_ASSERT_OK_AND_ASSIGN(SecretRemoveResult partly, store_.Remove("b"));
  EXPECT_THAT(partly.still_served_by, Optional(std::string("env MCPGW_SECRET_B")));
}

TEST_F(OrderedStoreTest, RequireNamesSecretServerAndFix) {
  EXPECT_THAT(store_.Require("github.token", {.server = "github", .env_var = "GITHUB_TOKEN"}),
              StatusIs(absl::StatusCode::kNotFound,
                       "server \"github\" needs secret \"github.token\" (env GITHUB_TOKEN): set "
                       "it with `mcpgw secret set github.token` (value on stdin) or "
                       "MCPGW_SECRET_GITHUB_TOKEN"));
  ASSERT_THAT(store_.Set("github.token", "ghp_abcdef"), IsOk());
  EXPECT_THAT(store_.Require("github.token", {.server = "github"}),
              IsOkAndHolds(std::string("ghp_abcdef")));
  // A provider's failure is reported with the server and secret, never the value.
  ASSERT_EQ(chmod(store_path_.c_str(), 0644), 0);
  absl::StatusOr<std::string> refused = store_.Require("github.token", {.server = "github"});
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kPermissionDenied,
                                HasSubstr("server \"github\" needs secret \"github.token\": "
                                          "secret store ")));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("chmod 600"));
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("ghp_abcdef")));
}

// ---- redaction --------------------------------------------------------------------------

TEST(Redactor, MasksEveryOccurrence) {
  Redactor r;
  r.Add("ghp_secret123");
  EXPECT_EQ(r.Redact("token=ghp_secret123 and again ghp_secret123!"), "token=*** and again ***!");
  EXPECT_EQ(r.Redact("nothing here"), "nothing here");
  EXPECT_EQ(r.Redact(""), "");
}

TEST(Redactor, ShortValuesAreNotRegistered) {
  Redactor r;
  r.Add("abc");
  r.Add("");
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(r.Redact("abcabc"), "abcabc");
  r.Add("abcd");
  r.Add("abcd");  // once
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(r.Redact("xabcdx"), "x***x");
}

TEST(Redactor, OverlappingValuesLeaveNoFragment) {
  Redactor r;
  r.Add("abcdef");
  r.Add("defghi");
  // The two overlap in "def": one mask over the union, not "***ghi" or "abc***".
  EXPECT_EQ(r.Redact("<abcdefghi>"), "<***>");
  EXPECT_EQ(r.Redact("<defghi abcdef>"), "<*** ***>");
}

TEST(Redactor, ValuesThatContainOneAnother) {
  for (bool short_first : {true, false}) {
    Redactor r;
    if (short_first) {
      r.Add("secret");
      r.Add("secret-extended-123");
    } else {
      r.Add("secret-extended-123");
      r.Add("secret");
    }
    // The longer value is masked whole, not as "***-extended-123".
    EXPECT_EQ(r.Redact("a secret-extended-123 b secret c"), "a *** b *** c");
  }
  Redactor inner;
  inner.Add("xx-inner-xx");
  inner.Add("inner");
  EXPECT_EQ(inner.Redact("[xx-inner-xx]"), "[***]");
}

TEST(Redactor, SelfOverlapAndAdjacency) {
  Redactor r;
  r.Add("aaaa");
  EXPECT_EQ(r.Redact("baaaaaab"), "b***b");  // occurrences overlapping themselves
  Redactor two;
  two.Add("1111");
  two.Add("2222");
  EXPECT_EQ(two.Redact("x11112222x"), "x***x");  // side by side: one mask
}

TEST(Redactor, MultiLineValuesAreMaskedLineByLine) {
  Redactor r;
  r.Add("-----BEGIN-----\r\nMIIEpAIBAAKCAQEA\nab\n-----END-----");
  EXPECT_EQ(r.Redact("key line: MIIEpAIBAAKCAQEA"), "key line: ***");
  EXPECT_EQ(r.Redact("ab"), "ab");  // a line too short to register
  EXPECT_EQ(r.Redact("whole: -----BEGIN-----\r\nMIIEpAIBAAKCAQEA\nab\n-----END-----."),
            "whole: ***.");
}

TEST(Redactor, RedactsStatusMessages) {
  Redactor r;
  r.Add("hunter22");
  absl::Status s = r.RedactStatus(absl::UnavailableError("server said: bad password hunter22"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "server said: bad password ***");
  EXPECT_THAT(r.RedactStatus(absl::OkStatus()), IsOk());
}

TEST(Redactor, ConcurrentAddAndRedact) {
  Redactor r;
  std::atomic<bool> done{false};
  std::thread redactor([&] {
    // Values arrive while text is being redacted (servers start while others' stderr flows).
    while (!done.load()) {
      // Each value is either masked whole or not yet known: never cut in part.
      for (absl::string_view word :
           absl::StrSplit(r.Redact("value-0000 value-0001 value-0099"), ' ')) {
        EXPECT_TRUE(word == "***" || absl::StartsWith(word, "value-00")) << word;
      }
    }
  });
  for (int i = 0; i < 100; ++i) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "value-%04d", i);
    r.Add(buf);
  }
  done.store(true);
  redactor.join();
  EXPECT_EQ(r.Redact("value-0000 value-0001 value-0099"), "*** *** ***");
}

}  // namespace
}  // namespace mcpgw::gateway
