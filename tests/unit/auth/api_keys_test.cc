#include "auth/api_keys.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace kiln::auth {
namespace {

TEST(ApiKeys, AcceptsOnlyConfiguredKeys) {
  auto keys = ApiKeys::FromKeys({"k1-0123456789abcdef", "k2-0123456789abcdef"});
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(keys->Accepts("k1-0123456789abcdef"));
  EXPECT_TRUE(keys->Accepts("k2-0123456789abcdef"));
  EXPECT_FALSE(keys->Accepts(""));
  EXPECT_FALSE(keys->Accepts("k1-0123456789abcde"));
  EXPECT_FALSE(keys->Accepts("k1-0123456789abcdefX"));
  EXPECT_FALSE(keys->Accepts("K1-0123456789ABCDEF"));
  EXPECT_FALSE(ApiKeys::FromKeys({"short"}).ok());
  EXPECT_FALSE(ApiKeys::FromKeys({"has a space in it....."}).ok());
}

TEST(ApiKeys, LoadsAFile) {
  std::string path = ::testing::TempDir() + "/kiln-api-keys";
  {
    std::ofstream out(path);
    out << "# keys\n\n  first-key-0123456789  # a comment\nsecond-key-0123456789\r\n";
  }
  auto keys = ApiKeys::Load(path);
  ASSERT_TRUE(keys.ok()) << keys.status().message();
  EXPECT_TRUE(keys->Accepts("first-key-0123456789"));
  EXPECT_TRUE(keys->Accepts("second-key-0123456789"));
  {
    std::ofstream out(path);
    out << "# nothing\n";
  }
  EXPECT_FALSE(ApiKeys::Load(path).ok());
  {
    std::ofstream out(path);
    out << "ok-key-0123456789abc\ntiny\n";
  }
  auto bad = ApiKeys::Load(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(":2"), std::string::npos);
  EXPECT_FALSE(ApiKeys::Load(path + "-missing").ok());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kiln::auth
