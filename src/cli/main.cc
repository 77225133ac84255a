// kiln: the command-line entry point. `kiln serve` runs the FHIR server until SIGINT/SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"
#include "fhirpath/fhirpath.h"
#include "server/app.h"
#include "server/config.h"
#include "server/reindexer.h"
#include "store/sqlite/sqlite_store.h"

namespace {

const char* kUsage =
    "Usage: kiln <command> [flags]\n\n"
    "Commands:\n"
    "  serve     Serve the FHIR R4 REST API (kiln serve --help lists the flags)\n"
    "  reindex --data DIR\n"
    "            Rebuild the search index rows of every resource in the store in DIR\n"
    "            (offline: the server must be stopped; see docs/operations.md)\n"
    "  fhirpath EXPRESSION FILE.json\n"
    "            Evaluate a FHIRPath expression against a resource (FILE '-' reads stdin)\n"
    "            and print the result as typed JSON\n"
    "  version   Print the version\n"
    "  help      Print this text\n";

int Serve(const std::vector<std::string>& args) {
  bool help = false;
  auto config = kiln::server::LoadConfig(args, help);
  if (help) {
    std::fputs(kiln::server::ConfigHelp().c_str(), stdout);
    return 0;
  }
  if (!config.ok()) {
    std::fprintf(stderr, "kiln: %s\n", config.status().message().c_str());
    return 2;
  }

  // Signals are taken by one watcher thread (sigwait), never by an async handler: block them
  // here, before any other thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  kiln::server::App app(std::move(config).value());
  if (kiln::Status s = app.Start(); !s.ok()) {
    std::fprintf(stderr, "kiln: %s\n", s.message().c_str());
    return 1;
  }
  std::printf(
      "Kiln %s, a FHIR R4 server\n  FHIR base: %s\n  Listening: %s\n"
      "  Data:      %s (SQLite)\n  Press Ctrl-C to stop.\n",
      KILN_VERSION, app.base_url().c_str(), app.listen_url().c_str(), app.data_path().c_str());
  std::fflush(stdout);

  std::thread watcher([&app, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    kiln::core::LogInfo("stopping", {{"signal", static_cast<long long>(sig)}});
    std::thread second([signals] {
      int again = 0;
      sigwait(&signals, &again);  // a second Ctrl-C means: do not wait any longer
      _exit(130);
    });
    second.detach();
    app.Stop();
  });
  app.Wait();
  app.Stop();  // waits for the watcher's Stop() to finish closing the database
  // Wake the watcher if the server stopped for another reason.
  pthread_kill(watcher.native_handle(), SIGTERM);
  watcher.join();
  kiln::core::LogInfo("stopped", {});
  return 0;
}

const char* kReindexUsage =
    "Usage: kiln reindex --data DIR [--batch N]\n\n"
    "Rebuilds the search index rows of every current resource in the Kiln data directory DIR,\n"
    "with a progress line on stderr and a summary on stdout. The server must not be running on\n"
    "DIR (a running server rebuilds by itself in the background when needed; see\n"
    "kiln serve --reindex).\n\n"
    "  --data DIR   the data directory (as for kiln serve)\n"
    "  --batch N    resources per write (default 500)\n";

// kiln reindex --data DIR: the offline rebuild of every search index row.
int Reindex(const std::vector<std::string>& args) {
  std::string data_dir;
  int batch = 500;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
      has_value = true;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kReindexUsage, stdout);
      return 0;
    }
    if (arg != "--data" && arg != "--batch") {
      std::fprintf(stderr, "kiln reindex: unexpected argument '%s'\n\n%s", args[i].c_str(),
                   kReindexUsage);
      return 2;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "kiln reindex: %s needs a value\n", arg.c_str());
        return 2;
      }
      value = args[++i];
    }
    if (arg == "--data") {
      data_dir = value;
    } else {
      char* end = nullptr;
      long n = std::strtol(value.c_str(), &end, 10);  // NOLINT(google-runtime-int)
      if (value.empty() || *end != '\0' || n < 1 || n > 100000) {
        std::fprintf(stderr, "kiln reindex: --batch '%s' is not an integer between 1 and 100000\n",
                     value.c_str());
        return 2;
      }
      batch = static_cast<int>(n);
    }
  }
  if (data_dir.empty()) {
    std::fprintf(stderr, "kiln reindex: --data DIR is required\n\n%s", kReindexUsage);
    return 2;
  }
  std::error_code ec;
  if (!std::filesystem::exists(
          std::filesystem::path(data_dir) / kiln::store::sqlite::kDatabaseFileName, ec)) {
    std::fprintf(stderr, "kiln reindex: %s holds no Kiln database (%s)\n", data_dir.c_str(),
                 kiln::store::sqlite::kDatabaseFileName);
    return 1;
  }

  // Warnings (resources that cannot be indexed) and errors only: progress has its own line.
  kiln::core::SetLogLevel(kiln::core::LogLevel::kWarn);
  kiln::store::sqlite::SqliteOptions options;
  options.data_dir = data_dir;
  // A crash mid-way loses nothing that matters: the rebuild resumes or is run again.
  options.synchronous = kiln::store::sqlite::Synchronous::kNormal;
  auto store = kiln::store::sqlite::OpenSqliteStore(options);
  if (!store.ok()) {
    std::fprintf(stderr, "kiln reindex: %s\n", store.status().message().c_str());
    return 1;
  }

  const bool tty = isatty(STDERR_FILENO) != 0;
  kiln::server::ReindexOptions reindex_options;
  reindex_options.batch_size = batch;
  reindex_options.log_progress = false;
  reindex_options.progress_interval = std::chrono::milliseconds(1000);
  reindex_options.on_progress = [tty](const kiln::server::ReindexProgress& p) {
    double percent = p.total > 0 ? 100.0 * static_cast<double>(p.done) / p.total : 100.0;
    std::fprintf(stderr, "%sreindex: %lld/%lld resources (%.0f%%), %.0f resources/s%s",
                 tty ? "\r" : "", static_cast<long long>(p.done),   // NOLINT(google-runtime-int)
                 static_cast<long long>(p.total), percent, p.rate,  // NOLINT(google-runtime-int)
                 tty && p.running ? "\x1b[K" : "\n");
    std::fflush(stderr);
  };
  kiln::server::Reindexer reindexer(**store, reindex_options);
  kiln::server::ReindexPlan plan;
  plan.needed = true;
  plan.reason = "kiln reindex";
  kiln::Status status = reindexer.Run(plan);
  (*store)->Close();
  if (!status.ok()) {
    std::fprintf(stderr, "kiln reindex: failed: %s\n", status.message().c_str());
    return 1;
  }
  kiln::server::ReindexProgress p = reindexer.Progress();
  std::printf("Rebuilt the search index of %lld resources in %.1f s (%.0f resources/s)",
              static_cast<long long>(p.done), p.seconds, p.rate);  // NOLINT(google-runtime-int)
  if (p.failed > 0) {
    std::printf("; %lld could not be indexed and kept their old rows (see the warnings)",
                static_cast<long long>(p.failed));  // NOLINT(google-runtime-int)
  }
  std::printf(".\n");
  return 0;
}

// kiln fhirpath EXPRESSION FILE.json: for users debugging search parameters and invariants.
int FhirPath(const std::vector<std::string>& args) {
  if (args.size() != 2) {
    std::fputs("Usage: kiln fhirpath EXPRESSION FILE.json   (FILE '-' reads stdin)\n", stderr);
    return 2;
  }
  std::stringstream text;
  if (args[1] == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(args[1]);
    if (!in) {
      std::fprintf(stderr, "kiln fhirpath: cannot read %s\n", args[1].c_str());
      return 1;
    }
    text << in.rdbuf();
  }
  auto result = kiln::fhirpath::EvaluateToTypedJson(args[0], text.str());
  if (!result.ok()) {
    std::fprintf(stderr, "kiln fhirpath: %s\n", result.status().message().c_str());
    return 1;
  }
  std::printf("%s\n", result->c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::printf("kiln %s (FHIR R4 4.0.1)\n", KILN_VERSION);
    return 0;
  }
  if (args[0] == "serve") return Serve({args.begin() + 1, args.end()});
  if (args[0] == "fhirpath") return FhirPath({args.begin() + 1, args.end()});
  if (args[0] == "reindex") return Reindex({args.begin() + 1, args.end()});
  std::fprintf(stderr, "kiln: unknown command '%s'\n\n%s", args[0].c_str(), kUsage);
  return 2;
}
