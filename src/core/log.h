// Structured logging: one JSON object per line on stderr.
//
// Each line is written with a single write(2), so concurrent lines never interleave. Thread-safe.
// Nothing logged here may contain resource bodies (they can hold patient data).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kiln::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// The minimum level printed (default kInfo). Set once at start-up.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool ParseLogLevel(std::string_view text, LogLevel& out);

// A field value: text, integer or floating point.
using LogValue = std::variant<std::string_view, long long, double>;
using LogField = std::pair<std::string_view, LogValue>;

// Writes {"ts":"...","level":"info","msg":"...", <fields>} as one line.
void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

inline void LogInfo(std::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, msg, fields);
}
inline void LogWarn(std::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarn, msg, fields);
}
inline void LogError(std::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, msg, fields);
}

}  // namespace kiln::core
