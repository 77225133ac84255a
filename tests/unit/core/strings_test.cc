#include "core/strings.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

namespace kiln::core {
namespace {

TEST(StringsTest, HexDigitValueTakesBothCasesAndRefusesTheRest) {
  const std::string digits = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(HexDigitValue(digits[i]), i) << digits[i];
    EXPECT_EQ(HexDigitValue(static_cast<char>(std::toupper(digits[i]))), i) << digits[i];
  }
  for (char c : std::string("gG/:@` \0\xff", 10)) EXPECT_EQ(HexDigitValue(c), -1) << int(c);
}

}  // namespace
}  // namespace kiln::core
