// A blocking HTTP/1.1 test client on plain POSIX sockets, for the http server tests.
//
// Deliberately naive (it sends bytes exactly as given, so tests can send garbage, trickle bytes or
// pipeline) and free of Boost so the test binary compiles fast. Every read has a deadline, so a
// server bug fails a test instead of hanging it. One Client per thread; not thread-safe.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::http::testing {

struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first header named `name` (case-insensitive), or "" if absent.
  std::string Header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (SameName(key, name)) return value;
    }
    return "";
  }
  bool HasHeader(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (SameName(key, name)) return true;
    }
    return false;
  }

 private:
  static bool SameName(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i]))) {
        return false;
      }
    }
    return true;
  }
};

class Client {
 public:
  using Millis = std::chrono::milliseconds;

  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response. `head` says the request was HEAD (no body despite Content-Length).
  // nullopt if the connection closes or `timeout` passes first.
  std::optional<RawResponse> Read(Millis timeout = Millis(5000), bool head = false) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    RawResponse response;
    std::string_view head_text(buffer_.data(), end);
    size_t line_end = head_text.find("\r\n");
    std::string_view status_line = head_text.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    response.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    size_t pos = line_end == std::string_view::npos ? head_text.size() : line_end + 2;
    while (pos < head_text.size()) {
      size_t next = head_text.find("\r\n", pos);
      if (next == std::string_view::npos) next = head_text.size();
      std::string_view line = head_text.substr(pos, next - pos);
      size_t colon = line.find(':');
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      response.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
      pos = next + 2;
    }
    buffer_.erase(0, end + 4);
    size_t length = 0;
    std::string declared = response.Header("Content-Length");
    if (!declared.empty() && !head) length = std::strtoull(declared.c_str(), nullptr, 10);
    while (buffer_.size() < length) {
      if (!Fill(deadline)) return std::nullopt;
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
  }

  // Sends a request and reads its response.
  std::optional<RawResponse> RoundTrip(std::string_view request, Millis timeout = Millis(5000)) {
    if (!Send(request)) return std::nullopt;
    return Read(timeout, request.substr(0, 5) == "HEAD ");
  }

  // True if the server closes the connection (EOF or reset) within `timeout`; unread response
  // bytes are discarded.
  bool WaitClosed(Millis timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (Fill(deadline)) buffer_.clear();
    return closed_;
  }

 private:
  // Appends what arrives before `deadline`; false on EOF, error or timeout.
  bool Fill(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready <= 0) return false;
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string buffer_;
};

}  // namespace kiln::http::testing
