// startup_probe: measures how long a server takes from exec to its first answered request.
//
// Forks and execs the given command (stdout and stderr to /dev/null), then polls
// `GET /healthz` on 127.0.0.1:PORT as fast as it can (a fresh connection every ~100 us, which
// costs the server almost nothing while it is not listening yet) until one answers 200. It then
// waits SETTLE_MS, reads the child's VmRSS and VmHWM from /proc, stops it with SIGTERM (SIGKILL
// after 5 s) and prints one line:
//
//   startup_ms=12.34 rss_kb=10240 hwm_kb=10300
//
// The clock starts just before fork(), so the figure includes exec, dynamic linking, opening the
// data directory and binding the port: what an orchestrator waiting on a health check sees.
// Exit status: 0 on success, 2 when the server exited or did not answer within TIMEOUT_MS.
// Single-threaded; used only by bench/run.sh.
//
// Usage: startup_probe PORT SETTLE_MS TIMEOUT_MS COMMAND [ARGS...]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

// One attempt: true when the server answered `GET /healthz` with status 200.
bool HealthzOk(unsigned short port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static constexpr char kRequest[] =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) == sizeof kRequest - 1) {
      char buf[64];
      size_t got = 0;
      while (got < 12) {
        const ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      buf[got] = '\0';
      ok = got >= 12 && std::strncmp(buf, "HTTP/1.", 7) == 0 && std::strncmp(buf + 9, "200", 3) == 0;
    }
  }
  close(fd);
  return ok;
}

// A "VmXXX:   1234 kB" field of /proc/PID/status in kB, or -1.
long StatusKb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const size_t len = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':') {
      return std::strtol(line.c_str() + len + 1, nullptr, 10);
    }
  }
  return -1;
}

void Stop(pid_t pid) {
  kill(pid, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: startup_probe PORT SETTLE_MS TIMEOUT_MS COMMAND [ARGS...]\n");
    return 2;
  }
  const auto port = static_cast<unsigned short>(std::atoi(argv[1]));
  const int settle_ms = std::atoi(argv[2]);
  const int timeout_ms = std::atoi(argv[3]);

  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("startup_probe: fork");
    return 2;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the probe
    const int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, STDOUT_FILENO);
    dup2(null_fd, STDERR_FILENO);
    execv(argv[4], argv + 4);
    _exit(127);
  }

  const auto deadline = start + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (HealthzOk(port)) break;
    if (waitpid(pid, nullptr, WNOHANG) == pid) {
      std::fprintf(stderr, "startup_probe: %s exited before answering\n", argv[4]);
      return 2;
    }
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "startup_probe: no 200 from /healthz within %d ms\n", timeout_ms);
      Stop(pid);
      return 2;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const double startup_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();

  std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
  const long rss_kb = StatusKb(pid, "VmRSS");
  const long hwm_kb = StatusKb(pid, "VmHWM");
  Stop(pid);
  std::printf("startup_ms=%.2f rss_kb=%ld hwm_kb=%ld\n", startup_ms, rss_kb, hwm_kb);
  return 0;
}
