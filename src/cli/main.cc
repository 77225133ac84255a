// kiln: the command-line entry point. `kiln serve` runs the FHIR server until SIGINT/SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
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

namespace {

const char* kUsage =
    "Usage: kiln <command> [flags]\n\n"
    "Commands:\n"
    "  serve     Serve the FHIR R4 REST API (kiln serve --help lists the flags)\n"
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
  std::fprintf(stderr, "kiln: unknown command '%s'\n\n%s", args[0].c_str(), kUsage);
  return 2;
}
