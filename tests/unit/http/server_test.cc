// The Beast server over real loopback sockets: framing, keep-alive, limits, timeouts, request ids,
// asynchronous answers, handler failures and graceful stop.
#include "http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_client.h"

namespace kiln::http {
namespace {

using std::chrono::milliseconds;
using testing::Client;
using testing::RawResponse;
using Clock = std::chrono::steady_clock;

class FunctionHandler : public Handler {
 public:
  std::function<void(Request&&, Responder)> handle;
  void Handle(Request&& request, Responder respond) override {
    handle(std::move(request), std::move(respond));
  }
};

Response TextResponse(std::string body, int status = 200) {
  Response response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "text/plain");
  response.body = std::move(body);
  response.interaction = "test";
  return response;
}

long ElapsedMs(Clock::time_point since) {
  return static_cast<long>(std::chrono::duration_cast<milliseconds>(Clock::now() - since).count());
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() {
    // Echo: "<method> <target> <body>", with the request id and peer in headers.
    handler_.handle = [this](Request&& request, Responder respond) {
      ++handled_;
      Response response = TextResponse(request.method + " " + request.target + " " + request.body);
      response.headers.emplace_back("X-Seen-Id", request.request_id);
      response.headers.emplace_back("X-Remote", request.remote_address);
      response.headers.emplace_back("X-Custom-Echo", std::string(request.Header("x-custom")));
      respond(std::move(response));
    };
  }

  void StartServer(ServerOptions options = {}) {
    options.port = 0;
    server_ = MakeServer(options, handler_, [this](const RequestRecord& record) {
      std::lock_guard<std::mutex> lock(mu_);
      records_.push_back({std::string(record.method), std::string(record.target),
                          std::string(record.request_id), std::string(record.interaction),
                          record.status, record.seconds, record.response_bytes});
    });
    Status status = server_->Start();
    ASSERT_TRUE(status.ok()) << status.message();
    ASSERT_NE(server_->port(), 0);
  }

  void TearDown() override {
    if (server_) server_->Stop();
    // Responders must be called or dropped before the server goes away.
    for (auto& thread : helpers_) thread.join();
    server_.reset();
  }

  struct Record {
    std::string method, target, request_id, interaction;
    int status;
    double seconds;
    size_t response_bytes;
  };
  std::vector<Record> records() {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
  }

  // Runs `work` on a thread joined in TearDown (before the server is destroyed).
  void Spawn(std::function<void()> work) {
    std::lock_guard<std::mutex> lock(mu_);
    helpers_.emplace_back(std::move(work));
  }

  FunctionHandler handler_;
  std::unique_ptr<Server> server_;
  std::vector<std::thread> helpers_;
  std::atomic<int> handled_{0};
  std::mutex mu_;
  std::vector<Record> records_;
};

TEST_F(ServerTest, SimpleGet) {
  StartServer();
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  auto response = client.RoundTrip(
      "GET /fhir/Patient/1?_format=json HTTP/1.1\r\nHost: x\r\n"
      "X-Custom: hello\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /fhir/Patient/1?_format=json ");
  EXPECT_EQ(response->Header("Content-Type"), "text/plain");
  EXPECT_EQ(response->Header("Content-Length"), std::to_string(response->body.size()));
  EXPECT_EQ(response->Header("Server"), "kiln");
  EXPECT_NE(response->Header("Date").find(" GMT"), std::string::npos);
  EXPECT_EQ(response->Header("X-Remote"), "127.0.0.1");
  EXPECT_EQ(response->Header("X-Custom-Echo"), "hello");
  EXPECT_FALSE(response->HasHeader("Connection"));
}

TEST_F(ServerTest, PostBodyReachesTheHandler) {
  StartServer();
  Client client(server_->port());
  auto response = client.RoundTrip(
      "POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "POST /fhir/Patient hello world");
}

TEST_F(ServerTest, ChunkedBodyReachesTheHandler) {
  StartServer();
  Client client(server_->port());
  ASSERT_TRUE(
      client.Send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n"));
  std::this_thread::sleep_for(milliseconds(50));  // the rest arrives later
  auto response = client.RoundTrip("6\r\n world\r\n0\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "POST /x hello world");
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  Client client(server_->port());
  for (int i = 0; i < 5; ++i) {
    std::string target = "/r" + std::to_string(i);
    auto response = client.RoundTrip("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->body, "GET " + target + " ");
  }
  EXPECT_EQ(server_->open_connections(), 1);
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  // The first answer comes last in time (from another thread); the order must hold anyway.
  handler_.handle = [this](Request&& request, Responder respond) {
    std::string target = request.target;
    if (target == "/slow") {
      Spawn([respond = std::move(respond), target] {
        std::this_thread::sleep_for(milliseconds(100));
        respond(TextResponse(target));
      });
    } else {
      respond(TextResponse(target));
    }
  };
  StartServer();
  Client client(server_->port());
  ASSERT_TRUE(
      client.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                  "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"));
  for (std::string expected : {"/slow", "/b", "/c"}) {
    auto response = client.Read();
    ASSERT_TRUE(response) << expected;
    EXPECT_EQ(response->body, expected);
  }
}

TEST_F(ServerTest, AnswersFromAnotherThreadLater) {
  handler_.handle = [this](Request&& request, Responder respond) {
    Spawn([respond = std::move(respond)] {
      std::this_thread::sleep_for(milliseconds(100));
      respond(TextResponse("later", 201));
    });
  };
  StartServer();
  Client client(server_->port());
  auto response = client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "later");
  // The connection still works afterwards.
  response = client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "later");
}

TEST_F(ServerTest, AnswerAfterTheClientLeftIsHarmless) {
  std::promise<Responder> held;
  handler_.handle = [&held](Request&&, Responder respond) { held.set_value(std::move(respond)); };
  StartServer();
  auto client = std::make_unique<Client>(server_->port());
  ASSERT_TRUE(client->Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto future = held.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  Responder respond = future.get();
  client.reset();  // the client leaves before the answer
  respond(TextResponse("too late"));
  respond(TextResponse("twice"));  // a second call is ignored
  // The server still serves others.
  Client other(server_->port());
  handler_.handle = [](Request&&, Responder respond) { respond(TextResponse("fine")); };
  auto response = other.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "fine");
}

TEST_F(ServerTest, DeclaredBodyOverTheLimitIs413WithoutReadingIt) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  Client client(server_->port());
  auto start = Clock::now();
  // Only the header is sent: the answer must not wait for the 10 MB that are announced.
  auto response = client.RoundTrip(
      "POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_LT(ElapsedMs(start), 1000);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->Header("Content-Type"), "application/fhir+json");
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_EQ(response->body,
            R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"too-long",)"
            R"("diagnostics":"Request body exceeds the limit of 1024 bytes"}]})");
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(ServerTest, ChunkedBodyOverTheLimitIs413) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  Client client(server_->port());
  std::string chunk(800, 'a');
  auto response =
      client.RoundTrip("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" +
                       chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_NE(response->body.find("\"too-long\""), std::string::npos);
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(ServerTest, BodyAtTheLimitIsAccepted) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  Client client(server_->port());
  auto response = client.RoundTrip("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" +
                                   std::string(1024, 'b'));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body.size(), std::string("POST /x ").size() + 1024);
}

TEST_F(ServerTest, HugeHeaderIs431) {
  ServerOptions options;
  options.max_header_bytes = 1024;
  StartServer(options);
  Client client(server_->port());
  auto response = client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'h') +
                                   "\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->Header("Content-Type"), "application/fhir+json");
  EXPECT_NE(response->body.find("Request header block exceeds the limit of 1024 bytes"),
            std::string::npos);
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
}

TEST_F(ServerTest, GarbageIs400) {
  StartServer();
  Client client(server_->port());
  auto response = client.RoundTrip("HELLO THERE\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_NE(response->body.find(R"("resourceType":"OperationOutcome")"), std::string::npos);
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));

  Client bad_length(server_->port());
  response = bad_length.RoundTrip("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
}

TEST_F(ServerTest, SlowLorisIsCutOffAtTheReadTimeout) {
  ServerOptions options;
  options.read_timeout = milliseconds(300);
  StartServer(options);
  Client client(server_->port());
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\nX-Drip: " + std::string(100, 'd');
  auto start = Clock::now();
  long closed_after = -1;
  // One byte every 25 ms: each byte arrives well within any per-read timeout, but the whole
  // request cannot arrive within 300 ms.
  for (char c : request) {
    if (!client.Send(std::string_view(&c, 1)) || client.WaitClosed(milliseconds(25))) {
      closed_after = ElapsedMs(start);
      break;
    }
  }
  ASSERT_GE(closed_after, 0) << "the trickling client was never cut off";
  EXPECT_GE(closed_after, 250);
  EXPECT_LT(closed_after, 2000);  // the whole trickle would take over 3 s
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  ServerOptions options;
  options.idle_timeout = milliseconds(300);
  options.read_timeout = milliseconds(5000);
  StartServer(options);
  Client client(server_->port());
  ASSERT_TRUE(client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto start = Clock::now();
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
  long closed_after = ElapsedMs(start);
  EXPECT_GE(closed_after, 250);
  EXPECT_LT(closed_after, 2500);
  // Poll until the server has counted the close.
  for (int i = 0; i < 100 && server_->open_connections() != 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(server_->open_connections(), 0);
}

TEST_F(ServerTest, ReadTimeoutRestartsForEachKeepAliveRequest) {
  // A connection that lives longer than read_timeout is fine as long as each request is quick.
  ServerOptions options;
  options.read_timeout = milliseconds(300);
  options.idle_timeout = milliseconds(5000);
  StartServer(options);
  Client client(server_->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) << i;
    std::this_thread::sleep_for(milliseconds(200));
  }
}

TEST_F(ServerTest, WriteTimeoutClosesAClientThatStopsReading) {
  std::atomic<bool> answered{false};
  handler_.handle = [&answered](Request&&, Responder respond) {
    respond(TextResponse(std::string(64 * 1024 * 1024, 'w')));  // far beyond socket buffers
    answered = true;
  };
  ServerOptions options;
  options.write_timeout = milliseconds(300);
  StartServer(options);
  Client client(server_->port());
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 500 && !answered; ++i) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_TRUE(answered);
  ASSERT_EQ(server_->open_connections(), 1);
  // The client reads nothing; the server must give up on the write and close.
  auto start = Clock::now();
  while (server_->open_connections() != 0 && ElapsedMs(start) < 3000) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(server_->open_connections(), 0);
  EXPECT_GE(ElapsedMs(start), 250);
}

TEST_F(ServerTest, RequestIdIsEchoedWhenSaneElseGenerated) {
  StartServer();
  Client client(server_->port());
  auto response =
      client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-123_x.y:z\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("X-Request-Id"), "abc-123_x.y:z");
  EXPECT_EQ(response->Header("X-Seen-Id"), "abc-123_x.y:z");

  response = client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: a b<script>\r\n\r\n");
  ASSERT_TRUE(response);
  std::string generated = response->Header("X-Request-Id");
  EXPECT_EQ(generated.size(), 16u);
  EXPECT_EQ(generated.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(response->Header("X-Seen-Id"), generated);

  response = client.RoundTrip(
      "GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + std::string(129, 'a') + "\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("X-Request-Id").size(), 16u);

  auto other = client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->Header("X-Request-Id").size(), 16u);
  EXPECT_NE(other->Header("X-Request-Id"), generated);
}

TEST_F(ServerTest, HandlerExceptionIs500WithoutInternals) {
  handler_.handle = [](Request&&, Responder) {
    throw std::runtime_error("secret table kiln_resource is corrupt");
  };
  StartServer();
  Client client(server_->port());
  auto response = client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: boom-1\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->Header("Content-Type"), "application/fhir+json");
  EXPECT_EQ(response->body.find("secret"), std::string::npos);
  EXPECT_NE(response->body.find(R"("code":"exception")"), std::string::npos);
  EXPECT_NE(response->body.find("boom-1"), std::string::npos);
  // The connection survives a handler failure.
  response = client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
}

TEST_F(ServerTest, Http10ClosesAfterTheResponseUnlessKeepAlive) {
  StartServer();
  Client client(server_->port());
  auto response = client.RoundTrip("GET /old HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /old ");
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));

  Client keep(server_->port());
  response = keep.RoundTrip("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("Connection"), "keep-alive");
  response = keep.RoundTrip("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /b ");
}

TEST_F(ServerTest, ResponseCloseFlagAndConnectionCloseRequestClose) {
  handler_.handle = [](Request&& request, Responder respond) {
    Response response = TextResponse("bye");
    response.close = request.target == "/close";
    respond(std::move(response));
  };
  StartServer();
  Client client(server_->port());
  auto response = client.RoundTrip("GET /close HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));

  Client other(server_->port());
  response = other.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(other.WaitClosed(milliseconds(3000)));
}

TEST_F(ServerTest, HeadAnswerHasLengthButNoBody) {
  StartServer();
  Client client(server_->port());
  auto response = client.RoundTrip("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("Content-Length"), std::to_string(std::string("HEAD /h ").size()));
  // Nothing follows the header: the next response starts right away.
  response = client.RoundTrip("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /next ");
}

TEST_F(ServerTest, NoContentHasNoBody) {
  handler_.handle = [](Request&&, Responder respond) { respond(TextResponse("ignored", 204)); };
  StartServer();
  Client client(server_->port());
  auto response = client.RoundTrip("DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 204);
  EXPECT_FALSE(response->HasHeader("Content-Length"));
  response = client.RoundTrip("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 204);
}

TEST_F(ServerTest, ExpectContinueIsHonoured) {
  StartServer();
  Client client(server_->port());
  ASSERT_TRUE(client.Send(
      "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = client.Read(milliseconds(3000));
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  auto response = client.RoundTrip("data");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "PUT /x data");
}

TEST_F(ServerTest, UnsafeResponseHeadersAreDropped) {
  handler_.handle = [](Request&&, Responder respond) {
    Response response = TextResponse("ok");
    response.headers.emplace_back("Location", "/a\r\nSet-Cookie: evil=1");
    respond(std::move(response));
  };
  StartServer();
  Client client(server_->port());
  auto response = client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_FALSE(response->HasHeader("Set-Cookie"));
  EXPECT_FALSE(response->HasHeader("Location"));
}

TEST_F(ServerTest, ObserverSeesEveryAnsweredRequest) {
  StartServer();
  Client client(server_->port());
  ASSERT_TRUE(client.RoundTrip("GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Request-Id: obs-1\r\n\r\n"));
  Client big(server_->port());
  ASSERT_TRUE(
      big.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'h') + "\r\n\r\n"));
  // The observer runs after the write completes: poll briefly.
  for (int i = 0; i < 100 && records().size() < 2; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  auto seen = records();
  ASSERT_EQ(seen.size(), 2u);
  // The two connections are served by different I/O threads, so their records may arrive in
  // either order.
  if (seen[0].status != 200) std::swap(seen[0], seen[1]);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/a?b=c");
  EXPECT_EQ(seen[0].request_id, "obs-1");
  EXPECT_EQ(seen[0].interaction, "test");
  EXPECT_EQ(seen[0].status, 200);
  EXPECT_EQ(seen[0].response_bytes, std::string("GET /a?b=c ").size());
  EXPECT_GE(seen[0].seconds, 0.0);
  EXPECT_LT(seen[0].seconds, 5.0);
  EXPECT_EQ(seen[1].status, 431);
  EXPECT_EQ(seen[1].interaction, "rejected");
}

TEST_F(ServerTest, ConnectionsBeyondTheLimitAreTurnedAway) {
  ServerOptions options;
  options.max_connections = 1;
  StartServer(options);
  Client first(server_->port());
  ASSERT_TRUE(first.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  Client second(server_->port());
  auto response = second.Read(milliseconds(3000));
  if (response) {
    EXPECT_EQ(response->status, 503);
  }
  EXPECT_TRUE(second.WaitClosed(milliseconds(3000)));
  // The admitted connection is unaffected.
  ASSERT_TRUE(first.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
}

TEST_F(ServerTest, StopFinishesInFlightRequestsAndClosesIdleConnections) {
  std::atomic<bool> in_flight{false};
  handler_.handle = [&](Request&& request, Responder respond) {
    if (request.target != "/slow") return respond(TextResponse("fast"));
    in_flight = true;
    Spawn([respond = std::move(respond)] {
      std::this_thread::sleep_for(milliseconds(300));
      respond(TextResponse("finished"));
    });
  };
  ServerOptions options;
  options.shutdown_grace = milliseconds(5000);
  StartServer(options);

  Client idle(server_->port());
  ASSERT_TRUE(idle.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  Client busy(server_->port());
  ASSERT_TRUE(busy.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 200 && !in_flight; ++i) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_TRUE(in_flight);

  auto start = Clock::now();
  std::thread stopper([this] { server_->Stop(); });
  EXPECT_TRUE(idle.WaitClosed(milliseconds(1000)));  // idle: closed at once
  auto response = busy.Read(milliseconds(3000));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "finished");
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(busy.WaitClosed(milliseconds(3000)));
  stopper.join();
  long stopped_after = ElapsedMs(start);
  EXPECT_GE(stopped_after, 200);   // waited for the in-flight request
  EXPECT_LT(stopped_after, 3000);  // and not for the grace period
  EXPECT_EQ(server_->open_connections(), 0);
  server_->Wait();  // returns at once after a stop

  Client late(server_->port());
  EXPECT_TRUE(!late.connected() || late.WaitClosed(milliseconds(1000)));
}

TEST_F(ServerTest, StopGivesUpOnInFlightRequestsAfterTheGrace) {
  std::promise<Responder> held;
  handler_.handle = [&held](Request&&, Responder respond) { held.set_value(std::move(respond)); };
  ServerOptions options;
  options.shutdown_grace = milliseconds(300);
  StartServer(options);
  Client client(server_->port());
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto future = held.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  Responder respond = future.get();
  auto start = Clock::now();
  server_->Stop();
  long stopped_after = ElapsedMs(start);
  EXPECT_GE(stopped_after, 250);
  EXPECT_LT(stopped_after, 2000);
  respond(TextResponse("after the stop"));  // harmless: nothing runs it any more
}

TEST_F(ServerTest, StopFromAHandlerAndTwiceDoesNotDeadlock) {
  handler_.handle = [this](Request&&, Responder respond) {
    server_->Stop();  // on an I/O thread: starts the stop and returns
    server_->Stop();
    respond(TextResponse("stopping"));
  };
  StartServer();
  Client client(server_->port());
  auto response = client.RoundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "stopping");
  EXPECT_EQ(response->Header("Connection"), "close");
  auto waited = std::async(std::launch::async, [this] { server_->Wait(); });
  EXPECT_EQ(waited.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  server_->Stop();
}

TEST_F(ServerTest, StartFailsOnAPortInUse) {
  StartServer();
  ServerOptions options;
  options.port = server_->port();
  auto second = MakeServer(options, handler_, nullptr);
  Status status = second->Start();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("127.0.0.1:" + std::to_string(server_->port())),
            std::string::npos);
  second->Stop();  // never started: returns at once
}

TEST_F(ServerTest, ManyConcurrentClients) {
  ServerOptions options;
  options.io_threads = 2;
  StartServer(options);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      Client client(server_->port());
      for (int i = 0; i < 50; ++i) {
        std::string target = "/c" + std::to_string(c) + "/" + std::to_string(i);
        auto response = client.RoundTrip("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
        if (response && response->body == "GET " + target + " ") ++ok;
      }
    });
  }
  for (auto& thread : clients) thread.join();
  EXPECT_EQ(ok.load(), 400);
}

}  // namespace
}  // namespace kiln::http
