// The value normalisations both sides of search share: string folding, decimal precision ranges
// and the small UCUM canonical-unit table (declared in index.h).

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <iterator>

#include "core/strings.h"
#include "search/index.h"

namespace kiln::search {
namespace {

// What a code point becomes in a normalised string.
enum class Fold : uint8_t { kKeep, kDrop, kSpace };

// Latin-1 Supplement letters U+00C0..U+00FF to lower-case base letters; "" marks the two
// operators (multiplication and division signs), which separate like punctuation.
constexpr std::array<std::string_view, 64> kLatin1 = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",   // C0
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss",  // D0
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",   // E0
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y",   // F0
};

// Latin Extended-A U+0100..U+017F to lower-case base letters.
constexpr std::array<std::string_view, 128> kLatinExtendedA = {
    "a", "a", "a",  "a",  "a", "a", "c", "c", "c", "c", "c", "c", "c", "c", "d", "d",  // 100
    "d", "d", "e",  "e",  "e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g", "g",  // 110
    "g", "g", "g",  "g",  "h", "h", "h", "h", "i", "i", "i", "i", "i", "i", "i", "i",  // 120
    "i", "i", "ij", "ij", "j", "j", "k", "k", "k", "l", "l", "l", "l", "l", "l", "l",  // 130
    "l", "l", "l",  "n",  "n", "n", "n", "n", "n", "n", "n", "n", "o", "o", "o", "o",  // 140
    "o", "o", "oe", "oe", "r", "r", "r", "r", "r", "r", "s", "s", "s", "s", "s", "s",  // 150
    "s", "s", "t",  "t",  "t", "t", "t", "t", "u", "u", "u", "u", "u", "u", "u", "u",  // 160
    "u", "u", "u",  "u",  "w", "w", "y", "y", "y", "z", "z", "z", "z", "z", "z", "s",  // 170
};

// Decodes one UTF-8 sequence at text[pos]; returns the code point (or -1 for an invalid byte)
// and advances pos.
int32_t NextCodePoint(std::string_view text, size_t& pos) {
  const auto b0 = static_cast<unsigned char>(text[pos]);
  if (b0 < 0x80) {
    ++pos;
    return b0;
  }
  int len = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 0;
  if (len == 0 || b0 > 0xF4 || pos + len > text.size()) {
    ++pos;
    return -1;
  }
  int32_t cp = b0 & (0x3F >> (len - 1));
  for (int i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(text[pos + i]);
    if ((b & 0xC0) != 0x80) {
      ++pos;
      return -1;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  pos += len;
  return cp;
}


// Classifies the non-letter code points: whitespace and punctuation separate words; combining
// marks, apostrophes (they join the parts of one word: O'Brien), soft hyphens and zero-width
// characters vanish.
Fold Classify(int32_t cp) {
  if (cp < 0x80) {
    if (cp == '\'' || cp == '`') return Fold::kDrop;
    if (cp <= 0x20 || cp == 0x7F) return Fold::kSpace;
    if ((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) {
      return Fold::kKeep;
    }
    return Fold::kSpace;  // ASCII punctuation
  }
  if (cp == 0xAD || cp == 0xA8 || cp == 0xB4 || cp == 0x2BC || cp == 0x2018 || cp == 0x2019) {
    return Fold::kDrop;  // soft hyphen, spacing diaeresis and acute, apostrophes
  }
  if (cp >= 0x300 && cp <= 0x36F) return Fold::kDrop;  // combining diacritical marks
  if ((cp >= 0x1AB0 && cp <= 0x1AFF) || (cp >= 0x1DC0 && cp <= 0x1DFF) ||
      (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0xFE20 && cp <= 0xFE2F)) {
    return Fold::kDrop;
  }
  if ((cp >= 0x200B && cp <= 0x200D) || cp == 0xFEFF || cp == 0x2060) return Fold::kDrop;
  if (cp == 0x85 || (cp >= 0x80 && cp < 0xA0)) return Fold::kSpace;  // C1 controls
  if (cp >= 0xA0 && cp <= 0xBF && cp != 0xAA && cp != 0xB2 && cp != 0xB3 && cp != 0xB5 &&
      cp != 0xB9 && cp != 0xBA) {
    return Fold::kSpace;  // NBSP and Latin-1 punctuation and symbols
  }
  if (cp == 0xD7 || cp == 0xF7) return Fold::kSpace;
  if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || (cp >= 0x2010 && cp <= 0x2027) ||
      (cp >= 0x2028 && cp <= 0x205F) || cp == 0x3000 || (cp >= 0x3001 && cp <= 0x3003)) {
    return Fold::kSpace;  // Unicode spaces and general punctuation
  }
  return Fold::kKeep;
}

// Appends the folded form of a kept code point.
void AppendFolded(std::string& out, int32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp));
    return;
  }
  if (cp >= 0xC0 && cp <= 0xFF) {
    out.append(kLatin1[cp - 0xC0]);
    return;
  }
  if (cp >= 0x100 && cp <= 0x17F) {
    out.append(kLatinExtendedA[cp - 0x100]);
    return;
  }
  switch (cp) {
    case 0xAA:
      out.push_back('a');
      return;  // feminine ordinal
    case 0xBA:
      out.push_back('o');
      return;  // masculine ordinal
    case 0xB2:
      out.push_back('2');
      return;  // superscripts
    case 0xB3:
      out.push_back('3');
      return;
    case 0xB9:
      out.push_back('1');
      return;
    case 0xB5:
      core::AppendUtf8(out, static_cast<uint32_t>(0x3BC));
      return;  // micro sign -> Greek mu
    // Latin Extended-B letters common in European names: Romanian comma-below, Vietnamese horn,
    // pinyin caron vowels.
    case 0x218:
    case 0x219:
      out.push_back('s');
      return;
    case 0x21A:
    case 0x21B:
      out.push_back('t');
      return;
    case 0x1A0:
    case 0x1A1:
      out.push_back('o');
      return;
    case 0x1AF:
    case 0x1B0:
      out.push_back('u');
      return;
    case 0x1CD:
    case 0x1CE:
      out.push_back('a');
      return;
    case 0x1CF:
    case 0x1D0:
      out.push_back('i');
      return;
    case 0x1D1:
    case 0x1D2:
      out.push_back('o');
      return;
    default:
      break;
  }
  if (cp >= 0x1D3 && cp <= 0x1DC) {
    out.push_back('u');
    return;
  }
  if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) {  // Greek capitals
    core::AppendUtf8(out, static_cast<uint32_t>(cp + 0x20));
    return;
  }
  if (cp >= 0x410 && cp <= 0x42F) {  // Cyrillic capitals
    core::AppendUtf8(out, static_cast<uint32_t>(cp + 0x20));
    return;
  }
  if (cp >= 0x400 && cp <= 0x40F) {
    core::AppendUtf8(out, static_cast<uint32_t>(cp + 0x50));
    return;
  }
  core::AppendUtf8(out, static_cast<uint32_t>(cp));
}

struct UcumUnit {
  std::string_view code;
  std::string_view canonical;
  double factor;
};

// Sorted by code (byte-wise) for the binary search.
constexpr UcumUnit kUcumUnits[] = {
    {"L", "L", 1},        {"a", "s", 31557600},  // Julian year, 365.25 d
    {"cL", "L", 1e-2},    {"cm", "m", 1e-2},    {"d", "s", 86400},   {"dL", "L", 1e-1},
    {"dl", "L", 1e-1},    {"g", "g", 1},        {"h", "s", 3600},    {"kg", "g", 1e3},
    {"km", "m", 1e3},     {"l", "L", 1},        {"m", "m", 1},       {"mL", "L", 1e-3},
    {"mg", "g", 1e-3},    {"min", "s", 60},     {"ml", "L", 1e-3},   {"mm", "m", 1e-3},
    {"mo", "s", 2629800},  // a / 12
    {"ms", "s", 1e-3},    {"ng", "g", 1e-9},    {"nm", "m", 1e-9},   {"pg", "g", 1e-12},
    {"s", "s", 1},        {"uL", "L", 1e-6},    {"ug", "g", 1e-6},   {"ul", "L", 1e-6},
    {"um", "m", 1e-6},    {"us", "s", 1e-6},    {"wk", "s", 604800},
};

}  // namespace

// What each ASCII character becomes: Classify() and AppendFolded() worked out once, into a
// table, since nearly every character of a value is ASCII and the two calls per character were
// most of the cost of normalising.
struct AsciiFolds {
  std::array<Fold, 0x80> fold;
  std::array<char, 0x80> folded;  // for kKeep
};

const AsciiFolds& Ascii() {
  static const AsciiFolds table = [] {
    AsciiFolds t;
    for (int32_t c = 0; c < 0x80; ++c) {
      t.fold[c] = Classify(c);
      std::string one;
      AppendFolded(one, c);
      t.folded[c] = one.size() == 1 ? one[0] : '\0';
    }
    return t;
  }();
  return table;
}

// NormalizeString of an all-ASCII text, written straight into place: each character gives at most
// one, and a run of separators one space, so the text's length is enough.
std::string NormalizeAscii(std::string_view text, const AsciiFolds& ascii) {
  std::string out(text.size(), ' ');
  char* d = out.data();
  size_t n = 0;
  bool pending_space = false;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ascii.fold[c]) {
      case Fold::kDrop:
        continue;
      case Fold::kSpace:
        pending_space = true;
        continue;
      case Fold::kKeep:
        break;
    }
    if (pending_space && n > 0) d[n++] = ' ';
    pending_space = false;
    d[n++] = ascii.folded[c];
  }
  out.resize(n);
  return out;
}

std::string NormalizeString(std::string_view text) {
  const AsciiFolds& ascii = Ascii();
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return NormalizeAscii(text, ascii);
  }
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  // Whether a character of class `fold` is appended; a kept one is preceded by the space that
  // earlier spaces left pending (none at the start).
  auto keep = [&](Fold fold) {
    switch (fold) {
      case Fold::kDrop:
        return false;
      case Fold::kSpace:
        pending_space = true;
        return false;
      case Fold::kKeep:
        break;
    }
    if (pending_space && !out.empty()) out.push_back(' ');
    pending_space = false;
    return true;
  };
  size_t pos = 0;
  while (pos < text.size()) {
    const auto c = static_cast<unsigned char>(text[pos]);
    if (c < 0x80) {
      // The table holds exactly what the general path below does for an ASCII character.
      ++pos;
      if (keep(ascii.fold[c])) out.push_back(ascii.folded[c]);
      continue;
    }
    int32_t cp = NextCodePoint(text, pos);
    if (cp >= 0 && keep(Classify(cp))) AppendFolded(out, cp);
  }
  return out;
}

std::optional<NumberRange> ParseNumberRange(std::string_view text) {
  // decimal: -?digits(.digits)?((e|E)[+-]?digits)?
  size_t pos = 0;
  if (pos < text.size() && (text[pos] == '-' || text[pos] == '+')) ++pos;
  size_t int_digits = 0, frac_digits = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos, ++int_digits;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos, ++frac_digits;
    if (frac_digits == 0) return std::nullopt;
  }
  if (int_digits == 0) return std::nullopt;
  int64_t exponent = 0;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    bool negative = false;
    if (pos < text.size() && (text[pos] == '-' || text[pos] == '+')) negative = text[pos++] == '-';
    size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 6) {
      exponent = exponent * 10 + (text[pos++] - '0');
    }
    if (pos == start) return std::nullopt;
    if (negative) exponent = -exponent;
  }
  if (pos != text.size()) return std::nullopt;
  const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
  double value = 0;
  auto [end, ec] = std::from_chars(begin, text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  // The last written digit is worth 10^(exponent - frac_digits); the value stands for anything
  // that rounds to it, i.e. half of that either side.
  const double half = 0.5 * std::pow(10.0, static_cast<double>(exponent - int64_t(frac_digits)));
  return NumberRange{value, value - half, value + half};
}

std::optional<UcumCanonical> CanonicalUcumUnit(std::string_view ucum_code) {
  const UcumUnit* begin = std::begin(kUcumUnits);
  const UcumUnit* end = std::end(kUcumUnits);
  const UcumUnit* it =
      std::lower_bound(begin, end, ucum_code,
                       [](const UcumUnit& u, std::string_view code) { return u.code < code; });
  if (it == end || it->code != ucum_code) return std::nullopt;
  return UcumCanonical{it->canonical, it->factor};
}

}  // namespace kiln::search
